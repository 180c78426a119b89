"""atheris harness: emfast.load on arbitrary bytes (plain or gzip emfast JSON).

    python fuzz/fuzz_load.py fuzz/corpus/json -dict=fuzz/json.dict -max_total_time=600
"""
import io

from _common import ACCEPTED, BayesianNetwork, check_network, emfast, run


def test_one_input(data: bytes):
    try:
        spec = emfast.io.load_spec(io.BytesIO(data))
    except ACCEPTED:
        return
    try:
        bn = BayesianNetwork.from_spec(spec)
    except ACCEPTED:
        return
    check_network(bn)
    again = BayesianNetwork.from_spec(emfast.io.network_from_dict(emfast.io.network_to_dict(bn)))
    for v in bn.variables:
        assert (again.cpts[v] == bn.cpts[v]).all(), v


if __name__ == "__main__":
    run(test_one_input)
