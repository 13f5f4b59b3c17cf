"""Check a copy of a dataset against its manifest.

A :class:`VerifyReport` lists missing files (listed by a label/split file, or required by the
layout, or named in a ``SHA256SUMS`` file, but absent), extra files (matching the layout's image
patterns but listed nowhere), corrupt files (sha256 differs from ``SHA256SUMS`` or from the
manifest's ``contents`` lists, or the file does not decode) and every split/class count that differs from the manifest.

A copy is first compared with the complete dataset; if that fails and the manifest declares a
staged subset (``staged_subsets``, e.g. what ``../shared/data`` holds), it is compared with the
subset, so a partial copy reads "the declared subset 'shared' of 75 files" rather than "13,000
files missing".
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from covidnb.data.base import Record, file_sha256
from covidnb.data.imageio import check_decodes
from covidnb.data.locate import find_dataset
from covidnb.data.manifest import Manifest, counts_for, load_manifest

MAX_LISTED = 20


@dataclass
class CountDiff:
    split: str
    cls: str
    expected: int
    got: int
    variant: str | None = None

    def __str__(self) -> str:
        where = f"{self.variant}/{self.split}" if self.variant else self.split
        return f"count {where}/{self.cls}: expected {self.expected}, found {self.got}"


@dataclass
class VerifyReport:
    name: str
    root: Path
    compared_to: str = "full dataset"
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    count_diffs: list[CountDiff] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    n_files: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.corrupt or self.count_diffs)

    def problems(self) -> list[str]:
        """One line per problem, naming the file or the count."""
        out = [f"missing: {m}" for m in self.missing]
        out += [f"extra: {e}" for e in self.extra]
        out += [f"corrupt: {p} ({why})" for p, why in self.corrupt]
        out += [str(d) for d in self.count_diffs]
        return out

    def __str__(self) -> str:
        state = "OK" if self.ok else "PROBLEMS"
        head = (
            f"{self.name} at {self.root}: {state} "
            f"(compared with the {self.compared_to}; {self.n_files} files checked)"
        )
        lines = [head] + [f"  note: {n}" for n in self.notes]
        probs = self.problems()
        lines += [f"  {p}" for p in probs[:MAX_LISTED]]
        if len(probs) > MAX_LISTED:
            kinds = Counter(p.split(":")[0] for p in probs)
            lines.append(
                f"  … and {len(probs) - MAX_LISTED} more "
                f"({', '.join(f'{k}: {v}' for k, v in kinds.items())})"
            )
        return "\n".join(lines)


def read_sha256sums(path: Path) -> dict[str, str]:
    """``sha256sum`` output → {relative path: hex digest}."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            digest, sep, rel = line.partition("  ")
            if not sep:
                digest, sep, rel = line.partition(" *")
            if not sep or len(digest) != 64:
                raise ValueError(f"{path}:{lineno}: not a sha256sum line: {line!r}")
            out[rel] = digest.lower()
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def manifest_sums(manifest: Manifest) -> dict[str, tuple[str, str]]:
    """``{relative path: (sha256, listing name)}`` from the ``contents`` lists of the manifest's
    sources (the files its archives unpack to)."""
    out: dict[str, tuple[str, str]] = {}
    base = Path(manifest.path).parent if manifest.path is not None else None
    for src in manifest.sources:
        if src.get("contents") and base is not None:
            for rel, digest in read_sha256sums(base / src["contents"]).items():
                out[rel] = (digest, src["contents"])
    return out


class _Checker:
    """Shared state of one verify call (hashes and decode results computed once)."""

    def __init__(self, root: Path, decode: bool | str, manifest: Manifest | None = None):
        self.root = root
        self.decode = decode
        self.sums: dict[str, str] = {}
        self.sum_ok: set[str] = set()
        self.sum_bad: set[str] = set()  # reported corrupt by a digest: not reported again
        self.sum_problems: tuple[list[str], list[tuple[str, str]]] = ([], [])
        sums_file = root / "SHA256SUMS"
        if sums_file.exists():
            self.sums = read_sha256sums(sums_file)
            missing = self.sum_problems[0]
            for rel, digest in self.sums.items():
                p = root / rel
                if not p.is_file():
                    missing.append(f"{rel} (named in SHA256SUMS)")
                    continue
                self._check_sum(p, rel, digest, "SHA256SUMS")
        # The manifest's contents lists: a present file that differs is corrupt (an absent one
        # is for the split listings to report, so a declared subset still verifies).
        for rel, (digest, listing) in (manifest_sums(manifest) if manifest else {}).items():
            p = root / rel
            if rel in self.sums or not p.is_file():
                continue
            self._check_sum(p, rel, digest, f"the manifest's {listing}")
        self._decoded: dict[str, str | None] = {}

    def _check_sum(self, path: Path, rel: str, digest: str, listed_in: str) -> None:
        """Hash ``path``: good → ``sum_ok``; else ``sum_bad`` and a corrupt entry naming where
        ``digest`` was listed."""
        got = file_sha256(path)
        if got == digest:
            self.sum_ok.add(str(path.resolve()))
        else:
            self.sum_bad.add(str(path.resolve()))
            self.sum_problems[1].append((rel, f"sha256 {got} differs from {listed_in} {digest}"))

    def decode_problem(self, path: Path) -> str | None:
        key = str(path.resolve())
        if self.decode is False or (self.decode == "auto" and key in self.sum_ok):
            return None  # byte-identical to a file known to be good
        if key in self.sum_bad:
            return None  # already reported: its digest differs
        if key not in self._decoded:
            self._decoded[key] = check_decodes(path)
        return self._decoded[key]


def _split_names(manifest: Manifest, expected: dict[str, dict[str, int]]) -> list[str]:
    if expected:
        return list(expected)
    opts = manifest.options
    return list(opts.get("splits") or ["all"])


def _count(records: list[Record], manifest: Manifest) -> dict[str, int]:
    labelled = [r for r in records if r.label is not None]
    out: dict[str, int] = {"total": len(labelled)}
    if manifest.multilabel:
        sums = (
            np.sum([r.label for r in labelled], axis=0)
            if labelled
            else np.zeros(len(manifest.classes))
        )
        out.update({c: int(s) for c, s in zip(manifest.classes, sums)})
    else:
        c = Counter(r.label for r in labelled)
        out.update({cls: int(c.get(i, 0)) for i, cls in enumerate(manifest.classes)})
    return out


def _compare(
    manifest: Manifest, root: Path, checker: _Checker, *, subset: str | None, search_root
) -> VerifyReport:
    from covidnb.data.registry import index_dataset

    spec_options = (
        dict((manifest.staged_subsets.get(subset) or {}).get("options") or {}) if subset else {}
    )
    desc = manifest.staged_subsets[subset]["description"].strip() if subset else ""
    report = VerifyReport(
        manifest.name,
        root,
        compared_to=f"declared subset {subset!r} ({desc})" if subset else "full dataset",
    )
    missing, corrupt = checker.sum_problems
    report.missing += missing
    report.corrupt += corrupt
    for pat in (manifest.layout or {}).get("required", []):
        if not glob.glob(os.path.join(glob.escape(str(root)), pat)):
            report.missing.append(f"{pat} (required by the layout)")

    variants: list[tuple[str | None, dict[str, Any]]] = [(None, {})]
    variants += [(v, dict(spec.get("options") or {})) for v, spec in manifest.variants.items()]
    referenced: dict[str, tuple[Path, str]] = {}
    unreadable = False
    for vname, vopts in variants:
        expected = counts_for(manifest, vname, subset)
        opts = {**spec_options, **vopts}
        for split in _split_names(manifest, expected):
            try:
                records = index_dataset(
                    manifest, root, split, options=opts, search_root=search_root, **vopts
                )
            except FileNotFoundError as exc:  # a split/label file itself is absent
                report.missing.append(str(exc))
                unreadable = True
                continue
            except (ValueError, UnicodeDecodeError) as exc:  # a listing that cannot be parsed
                report.corrupt.append((f"{vname + '/' if vname else ''}{split} listing", str(exc)))
                unreadable = True
                continue
            got = _count(records, manifest)
            report.counts[f"{vname}/{split}" if vname else split] = got
            for cls, n_exp in (expected.get(split) or {}).items():
                if got.get(cls, 0) != n_exp:
                    report.count_diffs.append(CountDiff(split, cls, n_exp, got.get(cls, 0), vname))
            for r in records:
                # masks and other companion files a record names are part of the dataset too
                for p in [r.path] + [v for v in r.extra.values() if isinstance(v, Path)]:
                    referenced.setdefault(str(p.resolve()) if p.exists() else str(p), (p, r.origin))
    present = []
    for p, origin in referenced.values():
        if p.is_file():
            present.append(p)
        else:
            report.missing.append(f"{_rel(p, root)} (listed in {origin})")
    for p in present:
        why = checker.decode_problem(p)
        if why:
            report.corrupt.append((_rel(p, root), why))
    ref_set = {str(p.resolve()) for p in present}
    if unreadable:  # files of an unreadable listing would all look extra
        report.notes.append("extra files not checked: a split/label file could not be read")
    for pat in [] if unreadable else (manifest.layout or {}).get("images", []):
        for f in sorted(glob.glob(os.path.join(glob.escape(str(root)), pat))):
            if os.path.isfile(f) and str(Path(f).resolve()) not in ref_set:
                report.extra.append(f"{_rel(Path(f), root)} (not listed by any split/label file)")
    report.n_files = len(present)
    n_expected_files = (manifest.staged_subsets.get(subset) or {}).get("files") if subset else None
    if n_expected_files is not None and n_expected_files != len(present):
        report.count_diffs.append(CountDiff("files", "total", n_expected_files, len(present)))
    if subset:
        report.notes.append(
            f"this is the declared subset {subset!r} of {len(present)} files, "
            "not the complete dataset"
        )
    return report


def verify(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    decode: bool | str = "auto",
    subset: str | None = None,
    search: bool = True,
) -> VerifyReport:
    """Verify dataset ``name`` found under the data roots (``root`` first).

    ``decode``: ``"auto"`` decodes every listed file not already proven intact by a matching
    ``SHA256SUMS`` entry; ``True`` decodes all; ``False`` none. ``subset`` forces the comparison
    with one declared staged subset; ``search=False`` checks the copy under ``root`` only, never
    one found elsewhere. Raises :class:`DatasetNotFound` when there is no copy.
    """
    manifest = load_manifest(name)
    droot = find_dataset(name, root, search=search)
    checker = _Checker(droot, decode, manifest)
    if subset is not None:
        if subset not in manifest.staged_subsets:
            raise KeyError(
                f"{name}: no staged subset {subset!r}; "
                f"declared: {', '.join(manifest.staged_subsets) or 'none'}"
            )
        return _compare(manifest, droot, checker, subset=subset, search_root=root)
    full = _compare(manifest, droot, checker, subset=None, search_root=root)
    if full.ok or not manifest.staged_subsets:
        return full
    claimed = None
    for sname, spec in manifest.staged_subsets.items():
        marker = spec.get("marker")
        if marker and not glob.glob(os.path.join(glob.escape(str(droot)), marker)):
            continue
        rep = _compare(manifest, droot, checker, subset=sname, search_root=root)
        if rep.ok:
            return rep
        claimed = claimed or rep
    if claimed is not None:
        claimed.notes.append(
            f"it is not the complete dataset either ({len(full.problems())} differences)"
        )
        return claimed
    return full
