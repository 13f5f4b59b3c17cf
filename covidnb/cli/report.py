"""``covidnb report``: the papers' reported tables and their consistency checks.

    covidnb report show dresunet            # list the chapter's reported tables
    covidnb report show dresunet 5.1        # one table as printed
    covidnb report check [CHAPTER ...]      # flags as a table, written to reports/flags.csv
    covidnb report check --strict           # exit 1 when a rule raises a flag
"""

from __future__ import annotations

import sys

DEFAULT_OUT = "reports/flags.csv"


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="reported tables of the papers and their consistency checks")
    rsub = p.add_subparsers(dest="report_command", required=True)

    c = rsub.add_parser("check", help="check the reported tables; print and save the flags")
    c.add_argument("chapters", nargs="*", metavar="CHAPTER",
                   help="chapter slug(s) (default: all five)")
    c.add_argument("--out", default=DEFAULT_OUT,
                   help=f"CSV of every finding (default: {DEFAULT_OUT}); '-' to skip")
    c.add_argument("--strict", action="store_true", help="exit with status 1 when a flag is raised")
    c.add_argument("--all", action="store_true",
                   help="print every check, not only flags and notes")
    c.add_argument("--rules", nargs="*", help="run only these rules")
    c.add_argument("--root", help="repository root holding nbs/<chapter>/reported (default: this one)")
    c.set_defaults(func=run_check)

    s = rsub.add_parser("show", help="list a chapter's reported tables, or print one")
    s.add_argument("chapter", metavar="CHAPTER")
    s.add_argument("table", nargs="?", help="table id (see the list)")
    s.add_argument("--root", help="repository root holding nbs/<chapter>/reported (default: this one)")
    s.set_defaults(func=run_show)


def _short(value, width: int = 48):
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_table(df, columns, width: int = 48) -> None:
    import pandas as pd

    shown = df[columns].copy()
    for c in shown.columns:
        if not pd.api.types.is_numeric_dtype(shown[c]):
            shown[c] = shown[c].map(lambda v: _short(v, width))
    with pd.option_context("display.max_rows", None, "display.max_columns", None,
                           "display.width", 250):
        print(shown.to_string(index=False))


def run_check(args) -> int:
    from covidnb.report import CHAPTERS, check, flags, write_flags
    from covidnb.report.load import reported_dir

    chapters = args.chapters or list(CHAPTERS)
    unknown = [c for c in chapters if not (reported_dir(c, args.root) / "tables.yaml").exists()]
    if unknown:
        print(f"no reported tables for {', '.join(unknown)}; chapters: {', '.join(CHAPTERS)}",
              file=sys.stderr)
        return 2
    try:
        findings = check(chapters, rules=args.rules, root=args.root)
    except KeyError as exc:
        print(str(exc).strip("'\""), file=sys.stderr)
        return 2
    shown = findings if args.all else flags(findings)
    cols = ["paper", "table", "row", "column", "rule", "status", "printed", "recomputed",
            "difference"]
    if shown.empty:
        print("no flags")
    else:
        _print_table(shown, cols)
    n_flag = int((findings.status == "flag").sum())
    n_note = int((findings.status == "note").sum())
    n_ok = int((findings.status == "ok").sum())
    print(f"\n{n_flag} flag(s), {n_note} note(s), {n_ok} check(s) passed "
          f"over {', '.join(chapters)}")
    if args.out and args.out != "-":
        path = write_flags(findings, args.out)
        print(f"all findings written to {path}")
    return 1 if (args.strict and n_flag) else 0


def run_show(args) -> int:
    from covidnb.report import load_chapter

    try:
        chapter = load_chapter(args.chapter, args.root)
        if args.table:
            chapter.table(args.table)
    except (FileNotFoundError, KeyError, ValueError) as exc:  # a bad chapter, table or --root
        print(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc),
              file=sys.stderr)
        return 2
    if not args.table:
        print(f"{chapter.spec.paper}\n")
        _print_table(chapter.overview(), ["id", "table", "location", "unit", "rows", "origin",
                                          "caption"], width=90)
        return 0
    t = chapter.table(args.table)
    print(f"{t.spec.label} — {t.spec.caption} ({t.spec.location}; unit: "
          f"{t.spec.defaults.get('unit') or 'per column'})\n")
    df = t.printed()
    _print_table(df, list(df.columns), width=40)
    for note in t.spec.notes:
        print(f"\nnote: {note}")
    return 0
