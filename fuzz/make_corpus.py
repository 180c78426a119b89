"""Write the seed corpora of the atheris harnesses into fuzz/corpus/{bif,json,csv}.

    PYTHONPATH=src python fuzz/make_corpus.py
"""
import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import emfast  # noqa: E402
from emfast.io import format_bif, write_csv_states  # noqa: E402

OLD_FORMAT = """network "n" { property "p"; }
variable A { type discrete [ 2 ] { a, b }; }
variable B { type discrete [ 2 ] { a, b }; }
probability ( A ) { table 0.3, 0.7; }
probability ( B | A ) { (a) 0.5, 0.5; default 0.1, 0.9; }
/* comment */ // another
"""


def main():
    out = {k: os.path.join(HERE, "corpus", k) for k in ("bif", "json", "csv")}
    for d in out.values():
        os.makedirs(d, exist_ok=True)

    def put(kind, name, data):
        with open(os.path.join(out[kind], name), "wb") as fh:
            fh.write(data)

    asia = emfast.datasets.load_network("asia")
    small = emfast.BayesianNetwork([("A", "B")], {"A": 2, "B": 3}, states={"A": ["x", "y"]})
    for name, bn in (("asia", asia), ("small", small)):
        text = format_bif(bn).encode()
        put("bif", f"{name}.bif", text)
        js = emfast.io.json.dumps(emfast.io.network_to_dict(bn), indent=1).encode()
        put("json", f"{name}.json", js)
    put("bif", "asia.bif.gz", gzip.compress(format_bif(asia).encode(), mtime=0))
    put("bif", "old_format.bif", OLD_FORMAT.encode())
    put("json", "small.json.gz", gzip.compress(
        emfast.io.json.dumps(emfast.io.network_to_dict(small)).encode(), mtime=0))
    X = asia.sample(20, random_state=0)
    X[X.sum(axis=1) % 3 == 0, 2] = -1
    tmp = os.path.join(out["csv"], "_tmp.csv")
    write_csv_states(tmp, X, asia.variables, asia)
    with open(tmp, "rb") as fh:
        csv = fh.read()
    os.remove(tmp)
    # the first byte picks the separator (fuzz_csv.py): ',' -> 0, ';' -> 1
    put("csv", "asia.csv", b"\x00" + csv)
    put("csv", "asia_semicolon.csv", b"\x01" + csv.replace(b",", b";"))
    put("csv", "asia.csv.gz", b"\x00" + gzip.compress(csv, mtime=0))


if __name__ == "__main__":
    main()
