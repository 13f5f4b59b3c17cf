"""``covidnb data list | verify NAME | fetch NAME``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _message(exc: BaseException) -> str:
    """The text of an error for the user (a KeyError's message without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def _user_errors() -> tuple[type[BaseException], ...]:
    """What a bad name, path, manifest or copy raises: shown as a message, never a traceback."""
    from covidnb.data.locate import DatasetNotFound
    from covidnb.data.manifest import ManifestError

    return (DatasetNotFound, ManifestError, KeyError, ValueError, OSError)


def _check_root(root: str | None) -> str | None:
    """The problem with an explicit ``--root`` (it must be an existing folder), or ``None``."""
    if root is None:
        return None
    p = Path(root).expanduser()
    if not p.exists():
        return f"--root {root}: the folder does not exist"
    if not p.is_dir():
        return f"--root {root}: not a folder"
    return None


def _list(args: argparse.Namespace) -> int:
    from covidnb.data.locate import try_find
    from covidnb.data.manifest import ManifestError, list_manifests, load_manifest

    problem = _check_root(args.root)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    rows = [("name", "modality", "chapters", "found at", "access")]
    invalid = []
    for name in list_manifests():
        try:
            man = load_manifest(name)
        except ManifestError as exc:  # one broken manifest must not hide the others
            invalid.append(str(exc))
            rows.append((name, "?", "?", "invalid manifest (see below)", "?"))
            continue
        found = try_find(name, args.root)
        rows.append(
            (
                name,
                man.modality,
                ",".join(man.chapters) or "-",
                str(found) if found else "not found",
                man.access,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    for text in invalid:
        print(f"error: invalid manifest: {text}", file=sys.stderr)
    return 1 if invalid else 0


def _print_report(make_report, errors: tuple[type[BaseException], ...]) -> int:
    """Print what ``make_report()`` returns (exit 0 when it is ok, 1 otherwise), or, when it
    raises one of ``errors``, the error on stderr (exit 1)."""
    try:
        report = make_report()
    except errors as exc:
        print(f"error: {_message(exc)}", file=sys.stderr)
        return 1
    print(report)
    return 0 if report.ok else 1


def _verify(args: argparse.Namespace) -> int:
    from covidnb.data.verify import verify

    problem = _check_root(args.root)
    if problem:
        print(f"error: {problem}; nothing was verified", file=sys.stderr)
        return 2
    decode = {"auto": "auto", "all": True, "none": False}[args.decode]
    # With --root only that copy is checked: finding another one would verify the wrong data.
    return _print_report(
        lambda: verify(args.name, args.root, decode=decode, subset=args.subset,
                       search=args.root is None),
        _user_errors(),
    )


def _fetch(args: argparse.Namespace) -> int:
    from covidnb.data.fetch import FetchError, fetch

    if args.sha256 is not None and args.url is None:
        print("error: --sha256 is the digest of --url; give --url too", file=sys.stderr)
        return 2
    return _print_report(
        lambda: fetch(
            args.name, args.root, url=args.url, sha256=args.sha256, progress=not args.quiet
        ),
        (FetchError, *_user_errors()),
    )


def _dataset_command(sub, command: str, func, summary: str, root_help: str):
    """A ``covidnb data <command> NAME [--root DIR]`` sub-command."""
    p = sub.add_parser(command, help=summary)
    p.add_argument("name")
    p.add_argument("--root", default=None, help=root_help)
    p.set_defaults(func=func)
    return p


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("data", help="list, verify and fetch datasets")
    sub = p.add_subparsers(dest="data_command", required=True)

    pl = sub.add_parser(
        "list", help="every dataset with its modality, chapters, location and access"
    )
    pl.add_argument("--root", default=None, help="an extra data root searched first")
    pl.set_defaults(func=_list)

    pv = _dataset_command(
        sub,
        "verify",
        _verify,
        summary="check a copy against its manifest (exit 1 on any problem)",
        root_help="data root (or the dataset folder itself) searched first",
    )
    pv.add_argument(
        "--decode",
        choices=("auto", "all", "none"),
        default="auto",
        help="decode files to find corrupt ones: auto = those not proven by SHA256SUMS",
    )
    pv.add_argument("--subset", default=None, help="compare with this declared staged subset")

    pf = _dataset_command(
        sub,
        "fetch",
        _fetch,
        summary="download (sha256-checked), unpack and verify a dataset",
        root_help="where to put it (default: ~/.cache/covidnb or COVIDNB_CACHE)",
    )
    pf.add_argument(
        "--url", default=None, help="download from this URL instead of the manifest's sources"
    )
    pf.add_argument("--sha256", default=None, help="expected sha256 of --url")
    pf.add_argument("--quiet", action="store_true", help="no progress bar")
    return p
