"""``covidnb`` command line: ``covidnb data …``, ``covidnb run …``, ``covidnb report …``.

Each sub-command lives in its own module here and exposes ``add_parser(subparsers)``, which
registers its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

_COMMANDS = ("data", "run", "report", "book")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="covidnb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            mod = importlib.import_module(f"covidnb.cli.{name}")
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name != f"covidnb.cli.{name}":
                raise
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C: a message and the conventional status, no traceback
        print(f"covidnb {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
