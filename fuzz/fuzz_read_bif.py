"""atheris harness: emfast.read_bif on arbitrary bytes (plain or gzip BIF).

    python fuzz/fuzz_read_bif.py fuzz/corpus/bif -dict=fuzz/bif.dict -max_total_time=600
"""
import io

from _common import ACCEPTED, BayesianNetwork, check_network, emfast, run


def test_one_input(data: bytes):
    try:
        spec = emfast.io.read_bif_spec(io.BytesIO(data))
    except ACCEPTED:
        return
    try:
        bn = BayesianNetwork.from_spec(spec)
    except ACCEPTED:
        return
    check_network(bn)
    # what was read writes back and reads back bit for bit (when BIF can hold the names)
    try:
        text = emfast.io.format_bif(bn)
    except ACCEPTED:
        return
    again = BayesianNetwork.from_spec(emfast.io.parse_bif(text))
    for v in bn.variables:
        assert (again.cpts[v] == bn.cpts[v]).all(), v


if __name__ == "__main__":
    run(test_one_input)
