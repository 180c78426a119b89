"""The ``emfast`` command."""
from __future__ import annotations

import argparse
import sys


def _cmd_info(args) -> int:
    from ._config import show_config

    show_config()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = argparse.ArgumentParser(
        prog="emfast",
        description="Fast EM for discrete latent-variable models with missing data.")
    p.add_argument("--version", action="version", version=f"emfast {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("info", help="print version, OpenMP status and thread count")
    s.set_defaults(func=_cmd_info)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
