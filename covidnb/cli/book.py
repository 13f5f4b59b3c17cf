"""``covidnb book``: execute the notebooks of ``_toc.yml`` (papermill, cached) and build ``_build/html``."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("book", help="execute the book's notebooks and build the HTML book")
    p.add_argument("--profile", default="reference", choices=["reference", "smoke", "cpu", "paper"],
                   help="reference (default): every page reads its chapter's committed reference "
                        "records (results/) at their profile and trains nothing; smoke|cpu|paper: "
                        "every notebook runs at that profile and trains what it needs (smoke: CI)")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    p.add_argument("--force", action="store_true", help="re-execute even when cached")
    p.add_argument("--only", nargs="+", metavar="TEXT",
                   help="execute only notebooks whose path contains one of these")
    p.add_argument("--no-execute", action="store_true",
                   help="build from the notebooks as committed (a structure and link check)")
    p.add_argument("--no-strict", action="store_true", help="do not turn Sphinx warnings into errors")
    p.set_defaults(func=run)


def run(args) -> int:
    from covidnb import book

    failed = 0
    if args.only:
        known = [str(nb) for nb in book.toc_notebooks()]
        if not any(s in k for s in args.only for k in known):
            print(f"covidnb book: --only {' '.join(args.only)} matches no notebook of _toc.yml",
                  file=sys.stderr)
            return 2
    if not args.no_execute:
        results = book.execute_notebooks(args.profile, args.kernel, args.force, args.only)
        print(book.summarise(results))
        failed = sum(r.status == "failed" for r in results)
    rc = book.build_html(strict=not args.no_strict, use_executed=not args.no_execute)
    if rc == 0:
        print(f"book built: {book.REPO_ROOT / '_build' / 'html' / 'index.html'}")
    if failed:
        print(f"{failed} notebook(s) failed; their pages show the notebook as far as it ran", file=sys.stderr)
    return 1 if (failed or rc) else 0
