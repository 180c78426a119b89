"""The ``emfast`` command.

``emfast demo``
    Learn the bundled ALARM network back from sampled data with 20% of the
    cells missing and one variable hidden; prints how close the learned CPTs
    are to the truth and the time taken.
``emfast fit NETWORK DATA.csv -o OUT``
    Fit the CPTs of a network (BIF or emfast JSON) to a CSV of state labels
    (empty cell = missing; variables without a column are hidden) and write
    the fitted network (BIF, or JSON when OUT ends in ``.json``).
``emfast impute NETWORK DATA.csv -o OUT.csv``
    Fill the empty cells of a CSV with the most probable joint completion
    (``--method map``) or a draw from the exact posterior (``--method sample``).
``emfast info``
    Version, OpenMP status and thread count.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings


def _cmd_info(args) -> int:
    from ._config import show_config

    show_config()
    return 0


def _is_json(path) -> bool:
    p = os.fspath(path).lower()
    return p.endswith(".json") or p.endswith(".json.gz")


def _check_input(path, what: str) -> None:
    """A clear message for an input path that cannot be read, before opening it."""
    if not os.path.exists(path):
        raise ValueError(f"{what} file {path!r} does not exist.")
    if os.path.isdir(path):
        raise ValueError(f"{what} file {path!r} is a directory; give a file.")


def _check_output(path, what: str) -> None:
    """Refuse an output path that cannot be written *before* the work starts (a
    missing directory used to be found only after a long fit)."""
    p = os.fspath(path)
    if not p:
        raise ValueError(f"the {what} path is empty.")
    if os.path.isdir(p):
        raise ValueError(f"the {what} {p!r} is a directory; give a file name.")
    d = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(d):
        raise ValueError(f"the directory {d!r} of the {what} {p!r} does not exist; create "
                         "it first.")
    if not os.access(d, os.W_OK) or (os.path.exists(p) and not os.access(p, os.W_OK)):
        raise ValueError(f"the {what} {p!r} cannot be written (permission denied).")


def _load_network(path):
    from .bayesnet import load, read_bif

    _check_input(path, "network")
    return load(path) if _is_json(path) else read_bif(path)


def _full_codes(bn, codes, columns):
    """Codes for every network variable (-1 for variables without a CSV column)."""
    import numpy as np

    full = np.full((codes.shape[0], len(bn.variables)), -1, dtype=np.int32)
    for j, c in enumerate(columns):
        full[:, bn.variables.index(c)] = codes[:, j]
    return full


def _read_data(bn, path, sep=","):
    from .io import read_csv_states

    _check_input(path, "data")
    codes, columns = read_csv_states(path, bn, sep=sep)
    if codes.shape[0] == 0:
        raise ValueError(f"{path} has a header but no data rows.")
    return codes, columns


def _cmd_fit(args) -> int:
    from .io import check_bif_names, save, write_bif

    _check_output(args.output, "output network")
    bn = _load_network(args.network)
    if not _is_json(args.output):
        check_bif_names(bn)           # a name BIF cannot hold: say so before the fit
    codes, columns = _read_data(bn, args.data, args.sep)
    hidden = [v for v in bn.variables if v not in columns]
    out = sys.stdout
    print(f"{args.data}: {codes.shape[0]:,} rows, {len(columns)} of {len(bn.variables)} "
          f"variables observed, {float((codes < 0).mean()) if codes.size else 0.0:.1%} of "
          "their cells missing", file=out)
    if hidden:
        print(f"hidden (no column): {', '.join(hidden)}", file=out)
    t0 = time.perf_counter()
    bn.fit(_full_codes(bn, codes, columns), max_iter=args.max_iter, tol=args.tol,
           n_init=args.n_init, init=args.init, pseudocount=args.pseudocount,
           random_state=args.seed, n_jobs=args.n_jobs, verbose=not args.quiet)
    dt = time.perf_counter() - t0
    print(f"{bn.n_iter_} iterations in {dt:.2f} s, converged={bn.converged_}, "
          f"log-likelihood {bn.log_likelihood_:.6f} ({bn.log_likelihood_ / codes.shape[0]:.6f} "
          "per row)", file=out)
    if _is_json(args.output):
        save(bn, args.output)
    else:
        write_bif(bn, args.output)
    print(f"wrote {args.output}", file=out)
    return 0


def _cmd_impute(args) -> int:
    from .io import write_csv_states

    _check_output(args.output, "output CSV")
    bn = _load_network(args.network)
    codes, columns = _read_data(bn, args.data, args.sep)
    n_missing = int((codes < 0).sum())
    full = _full_codes(bn, codes, columns)
    t0 = time.perf_counter()
    filled = bn.impute(full, method=args.method, random_state=args.seed)
    dt = time.perf_counter() - t0
    cols = list(columns) + [v for v in bn.variables if v not in columns] if args.all_variables \
        else list(columns)
    import numpy as np

    idx = [bn.variables.index(c) for c in cols]
    write_csv_states(args.output, np.asarray(filled)[:, idx], cols, bn, sep=args.sep)
    print(f"imputed {n_missing:,} missing cells in {codes.shape[0]:,} rows "
          f"({args.method}) in {dt:.2f} s; wrote {args.output}", file=sys.stdout)
    return 0


def _cmd_demo(args) -> int:
    from ._demo import run_demo

    run_demo(n_rows=args.rows, missing=args.missing, hide=None if args.hide == "none" else args.hide,
             seed=args.seed, max_iter=args.max_iter, tol=args.tol, n_jobs=args.n_jobs,
             verbose=not args.quiet)
    return 0


def _positive_int(s):
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {s}")
    return v


def _fraction(s):
    v = float(s)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1); got {s}")
    return v


def _separator(s):
    from .io import _check_sep

    try:
        return _check_sep(s)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_sep_option(s):
    s.add_argument("--sep", type=_separator, default=",",
                   help="field separator of the CSV (one character; '\\t' for a tab; "
                        "default ',')")


def _add_em_options(s, *, max_iter, tol):
    s.add_argument("--max-iter", type=_positive_int, default=max_iter,
                   help=f"maximum number of EM iterations (default {max_iter})")
    s.add_argument("--tol", type=float, default=tol,
                   help=f"stop when the mean per-row log-likelihood improves by less than this "
                        f"(default {tol:g})")
    s.add_argument("--n-jobs", type=int, default=None,
                   help="threads for the E-step (default: all OpenMP threads)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = argparse.ArgumentParser(
        prog="emfast",
        description="Fast EM for discrete latent-variable models with missing data.")
    p.add_argument("--version", action="version", version=f"emfast {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("info", help="print version, OpenMP status and thread count")
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser(
        "demo", help="learn the bundled ALARM network back from incomplete data",
        description="Sample data from the bundled ALARM network, blank cells at random, hide "
                    "one variable, fit by EM from a random start and report how close the "
                    "learned CPTs are to the truth.")
    s.add_argument("--rows", type=_positive_int, default=20_000,
                   help="rows to sample (default 20000)")
    s.add_argument("--missing", type=_fraction, default=0.2,
                   help="fraction of cells blanked completely at random (default 0.2)")
    s.add_argument("--hide", default="HR",
                   help="variable hidden in every row, or 'none' (default HR: heart rate, "
                        "measured by its three noisy children HRBP, HREKG, HRSAT)")
    _add_em_options(s, max_iter=100, tol=1e-6)
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser(
        "fit", help="fit a network's CPTs to a CSV by EM and write the fitted network",
        description="Fit the CPTs of NETWORK (BIF, or emfast JSON when it ends in .json) to "
                    "DATA.csv by EM. The CSV header names variables of the network; cells are "
                    "state labels; an empty cell is missing; a variable without a column is "
                    "hidden.")
    s.add_argument("network", help="network file: .bif, .bif.gz, .json or .json.gz")
    s.add_argument("data", help="CSV of state labels (empty cell = missing); gzip-compressed "
                               "files (.csv.gz) are read directly")
    s.add_argument("-o", "--output", required=True,
                   help="output network: BIF, or emfast JSON when it ends in .json")
    _add_sep_option(s)
    _add_em_options(s, max_iter=100, tol=1e-6)
    s.add_argument("--n-init", type=_positive_int, default=1,
                   help="random restarts; the best is kept (default 1)")
    s.add_argument("--init", choices=["random", "uniform", "current"], default="random",
                   help="starting CPTs: random Dirichlet draws, uniform, or the network's own "
                        "(default random)")
    s.add_argument("--pseudocount", type=float, default=0.0,
                   help="Dirichlet pseudocount added to every expected count (default 0: "
                        "maximum likelihood)")
    s.set_defaults(func=_cmd_fit)

    s = sub.add_parser(
        "impute", help="fill the empty cells of a CSV using a network",
        description="Fill the empty cells of DATA.csv with the most probable joint completion "
                    "of each row (map) or a draw from the exact posterior (sample) under "
                    "NETWORK.")
    s.add_argument("network", help="network file: .bif, .bif.gz, .json or .json.gz")
    s.add_argument("data", help="CSV of state labels (empty cell = missing); gzip-compressed "
                               "files (.csv.gz) are read directly")
    s.add_argument("-o", "--output", required=True,
                   help="output CSV (gzip-compressed when it ends in .gz; same separator as DATA)")
    _add_sep_option(s)
    s.add_argument("--method", choices=["map", "sample"], default="map",
                   help="map: most probable joint completion; sample: posterior draw "
                        "(default map)")
    s.add_argument("--all-variables", action="store_true",
                   help="also write the network variables that have no column in DATA.csv")
    s.add_argument("--seed", type=int, default=0, help="random seed for --method sample")
    s.set_defaults(func=_cmd_impute)
    return p


#: What a command reports as a one-line error (anything else is a bug in emfast and
#: keeps its traceback). gzip.BadGzipFile and the OSErrors of open() (FileNotFoundError,
#: IsADirectoryError, PermissionError) are OSErrors.
_USER_ERRORS = (ValueError, OSError, EOFError, csv.Error, MemoryError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {os.fsdecode(exc.filename)!r}"
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + str(exc) if str(exc) else ''}."
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (EOFError, csv.Error)) or type(exc).__name__ == "BadGzipFile":
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())     # one line


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prog = f"emfast {args.command}"

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{prog}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show_warning     # one line, not the source location
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        except _USER_ERRORS as exc:
            if os.environ.get("EMFAST_DEBUG"):
                raise
            print(f"{prog}: error: {_describe(exc)}", file=sys.stderr)
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
