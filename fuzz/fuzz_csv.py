"""atheris harness: the CSV reader of the ``emfast`` command (emfast.io.read_csv_states)
on arbitrary bytes, against the bundled asia network. The first byte picks the
separator; the rest is the file (plain or gzip).

    python fuzz/fuzz_csv.py fuzz/corpus/csv -dict=fuzz/csv.dict -max_total_time=600
"""
import os
import tempfile

import numpy as np

from _common import ACCEPTED, emfast, run

BN = emfast.datasets.load_network("asia")
SEPS = [",", ";", "\t", "|"]
_DIR = tempfile.mkdtemp(prefix="emfast-fuzz-csv-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                        else None)
PATH = os.path.join(_DIR, "data.csv")


def test_one_input(data: bytes):
    if not data:
        return
    sep = SEPS[data[0] % len(SEPS)]
    with open(PATH, "wb") as fh:
        fh.write(data[1:])
    try:
        codes, cols = emfast.io.read_csv_states(PATH, BN, sep=sep)
    except ACCEPTED:
        return
    assert codes.dtype == np.int32 and codes.shape[1] == len(cols)
    for j, c in enumerate(cols):
        assert c in BN.variables
        assert codes[:, j].min(initial=0) >= -1
        assert codes[:, j].max(initial=0) < BN.cardinalities[c]


if __name__ == "__main__":
    run(test_one_input)
