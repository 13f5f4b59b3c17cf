"""The run store: one directory per configuration, reused instead of re-trained.

A run's key is the sha256 of the canonical JSON of its configuration (sorted keys, no spaces,
integral floats written as integers so ``1.0`` and ``1`` are one value); fields listed in
``RunStore.ignore`` (default ``train.progress``) are stored but not hashed. Layout::

    <root>/<chapter>/<key[:12]>/
        config.json       {"key", "config", "provenance"}
        status.json       {"status": running|done|failed, "reason", "traceback", "attempt", …}
        metrics.json  predictions.csv  history.csv
        cams.npz          Grad-CAMs of fixed test slices (optional; covidnb.cam.save_run_cams)
        checkpoints/      fit's last.pt / best.pt (optional)
        .lock             fcntl lock serialising writers of this key

:meth:`RunStore.run` takes the lock (a second process waits, then finds the run done and reuses
it), re-runs a failed or interrupted run (status ``running`` while nobody holds the lock means its
process died; its checkpoints let it resume), and records a failure with its reason before
re-raising. Every file is written atomically.

An *unreadable* record (a ``config.json``, ``status.json`` or ``metrics.json`` that is not valid
JSON or lacks its fields) never breaks a reader: :attr:`Run.problem` names the file and the
reason, :attr:`Run.status` reads ``{"status": "unreadable", "reason": …}``, :attr:`Run.done` is
false, :meth:`RunStore.runs` and :meth:`RunStore.table` skip it with an
:class:`UnreadableRecordWarning` (and list it in ``store.unreadable``), and the next
:meth:`RunStore.run` of its configuration retrains it.

``force=True`` retrains into ``<run>/.force/`` and replaces the stored record only once the new
one is done (file by file, ``status.json`` last); interrupting it leaves the old record as it was,
and a finished ``.force/`` whose replacement was interrupted is completed by the next call.

This module holds :class:`RunStore` (lookup, the locked run, filters, the table) and the forced
re-run's replacement; the pieces it is built from live beside it and are re-exported here:
:mod:`~covidnb.runs.keys` (canonical JSON, run keys), :mod:`~covidnb.runs.run` (:class:`Run`),
:mod:`~covidnb.runs.records` (reading record files, unreadable records) and
:mod:`~covidnb.runs.lock` (the file lock).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
import shutil
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from covidnb.metrics.summary import flatten
from covidnb.paths import runs_root
from covidnb.runs.atomic import atomic_write_json
from covidnb.runs.keys import KEY_PREFIX, canonical, canonical_json, config_key
from covidnb.runs.lock import LockTimeout, file_lock
from covidnb.runs.provenance import collect_provenance, now
from covidnb.runs.records import (
    STATUSES,
    UnreadableRecord,
    UnreadableRecordWarning,
    drop_unreadable,
    read_object,
)
from covidnb.runs.run import Run

__all__ = [  # the names callers import from here (several now live in the modules above)
    "FORCE_DIR",
    "KEY_PREFIX",
    "STATUSES",
    "LockTimeout",
    "Run",
    "RunStore",
    "UnreadableRecord",
    "UnreadableRecordWarning",
    "canonical",
    "canonical_json",
    "config_key",
    "file_lock",
]

FORCE_DIR = ".force"


class RunStore:
    """Runs keyed by configuration under ``root`` (default ``COVIDNB_RUNS`` or ``<repo>/runs``)."""

    def __init__(
        self, root: str | os.PathLike | None = None, ignore: tuple[str, ...] = ("train.progress",)
    ):
        self.root = Path(root) if root is not None else runs_root()
        self.ignore = tuple(ignore)
        self.unreadable: list[tuple[Path, str]] = []  # what the last runs() scan skipped

    def key(self, config: dict) -> str:
        return config_key(config, self.ignore)

    def path_for(self, config: dict) -> Path:
        chapter = str(config.get("chapter") or "_misc")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", chapter) or chapter in {".", ".."}:
            raise ValueError(f"config['chapter'] must be a plain folder name, got {chapter!r}")
        return self.root / chapter / self.key(config)[:KEY_PREFIX]

    def get(self, config: dict) -> Run | None:
        """The recorded run of ``config`` (any status, ``unreadable`` included: its
        :attr:`Run.status` says why), or ``None``."""
        path = self.path_for(config)
        if not (path / "config.json").exists():
            return None
        run = Run(path)
        try:
            key = run.key
        except UnreadableRecord:
            return run  # its status reads "unreadable"; the next run() of config repairs it
        if key != self.key(config):
            raise RuntimeError(
                f"{path}: holds run {key}, not {self.key(config)} (key prefix collision)"
            )
        return run

    def run(
        self,
        config: dict,
        fn: Callable[[Run], Any],
        *,
        force: bool = False,
        provenance: dict | None = None,
        lock_timeout: float | None = None,
        log: Callable[[str], None] = print,
    ) -> Run:
        """Run ``fn(run)`` for ``config`` unless it is already done (then return the stored run).

        ``fn`` writes through ``run.save_metrics`` / ``save_predictions`` / ``save_history``. On an
        exception the run is recorded as failed (reason and traceback tail) and the exception
        re-raised; the next call retries it. ``force=True`` clears the directory and re-runs.
        """
        config = canonical(config)
        key = self.key(config)
        path = self.path_for(config)
        with file_lock(path / ".lock", lock_timeout):
            run = Run(path)
            _finish_forced(path, log)
            problem = run.problem if (path / "config.json").exists() else None
            if problem is not None:
                log(f"[unreadable record] {problem}")
                drop_unreadable(path)
                previous = {"status": "unreadable"}
            else:
                previous = read_object(path / "status.json") or {}
            if previous.get("status") == "done" and not force:
                if run.key != key:
                    raise RuntimeError(
                        f"{path}: holds run {run.key}, not {key} (key prefix collision)"
                    )
                log(f"[reused] {path}")
                return run
            target = run
            if force and previous.get("status") in ("done", "failed", "running"):
                # Train beside the stored record; it is replaced only when the new one is done.
                forced = path / FORCE_DIR
                shutil.rmtree(forced, ignore_errors=True)
                forced.mkdir(parents=True)
                target = Run(forced)
                previous = {}
            attempt = int(previous.get("attempt", 0)) + 1
            note = {
                "running": "resuming an interrupted run",
                "failed": "retrying a failed run",
                "unreadable": "re-running an unreadable record",
            }.get(previous.get("status"), "forced re-run" if target is not run else "new run")
            prov = collect_provenance()
            prov.update(provenance or {})
            atomic_write_json(
                target.path / "config.json", {"key": key, "config": config, "provenance": prov}
            )
            target._set_status(
                "running",
                pid=os.getpid(),
                host=prov.get("hostname"),
                attempt=attempt,
                note=note,
                started=prov.get("started", now()),
            )
            log(f"[{note}] {target.path}")
            try:
                fn(target)
            except BaseException as exc:
                tb = traceback.format_exc().splitlines()
                detail = getattr(exc, "reason", None)  # e.g. NonFiniteLossError: epoch, step, value
                try:
                    target._set_failed(
                        reason=f"{type(exc).__name__}: {exc}",
                        attempt=attempt,
                        traceback="\n".join(tb[-25:]),
                        **({"detail": detail} if isinstance(detail, dict) else {}),
                    )
                except OSError as write_exc:  # e.g. the disk is full: say so, keep the cause
                    log(f"[status not written] {target.path / 'status.json'}: {write_exc}")
                raise
            target.update_provenance(finished=now())
            target._set_status("done", attempt=attempt, note=note)
            if target is not run:
                _finish_forced(path, log)
            return run

    def runs(self, *, status: str | None = None, **filters: Any) -> list[Run]:
        """Recorded runs whose flattened config matches every filter (``train__lr=1e-3`` means
        ``train.lr``; a callable filter is a predicate), optionally of one ``status``."""
        want = {k.replace("__", "."): v for k, v in filters.items()}
        out = []
        self.unreadable: list[tuple[Path, str]] = []
        for cfg_path in sorted(self.root.glob("*/*/config.json")):
            run = Run(cfg_path.parent)
            problem = run.problem
            if problem is not None:  # reported and skipped: one bad record must not hide the rest
                self.unreadable.append((run.path, problem))
                warnings.warn(
                    f"skipped an unreadable run record: {problem}",
                    UnreadableRecordWarning,
                    stacklevel=2,
                )
                continue
            flat = flatten(run.config)
            if status is not None and run.status.get("status") != status:
                continue
            if all(_match(flat.get(k, _MISSING), v) for k, v in want.items()):
                out.append(run)
        return out

    def table(
        self, metrics: list[str] | None = None, *, status: str | None = "done", **filters: Any
    ) -> pd.DataFrame:
        """One row per run: ``key``, ``status``, ``synthetic``, every config field (flattened, dotted
        names) and the chosen metrics (dotted names; ``fnmatch`` patterns such as
        ``per_class.*.auc`` allowed; ``None`` → every scalar metric)."""
        rows = []
        for run in self.runs(status=status, **filters):
            m = {k: v for k, v in flatten(run.metrics).items() if not isinstance(v, (list, dict))}
            if metrics is not None:
                m = {
                    k: v
                    for k, v in m.items()
                    if any(fnmatch.fnmatchcase(k, pat) for pat in metrics)
                }
            cfg = {
                k: (json.dumps(v) if isinstance(v, list) else v)
                for k, v in flatten(run.config).items()
            }
            rows.append(
                {
                    "key": run.key[:KEY_PREFIX],
                    "status": run.status.get("status"),
                    "synthetic": run.synthetic,
                    **cfg,
                    **m,
                }
            )
        return pd.DataFrame(rows)


_MISSING = object()


def _finish_forced(path: Path, log: Callable[[str], None]) -> None:
    """Move a finished forced re-run (``path/.force``) over the stored record: every file by an
    atomic rename, files the new record lacks removed, ``status.json`` last. Call with the run's
    lock held. An unfinished ``.force`` is left alone (the stored record stays as it was)."""
    forced = path / FORCE_DIR
    try:
        status = read_object(forced / "status.json")
    except UnreadableRecord:
        status = None
    if not forced.is_dir() or not status or status.get("status") != "done":
        return
    new = {c.name for c in forced.iterdir()}
    for child in path.iterdir():
        if child.name in (".lock", FORCE_DIR, "status.json") or child.name in new:
            continue
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    for child in sorted(forced.iterdir(), key=lambda c: c.name == "status.json"):
        dest = path / child.name
        if child.is_dir() and dest.exists():
            shutil.rmtree(dest)
        os.replace(child, dest)
    shutil.rmtree(forced, ignore_errors=True)
    log(f"[replaced by the forced re-run] {path}")


def _match(value: Any, wanted: Any) -> bool:
    if callable(wanted):
        return value is not _MISSING and bool(wanted(value))
    if value is _MISSING:
        return False
    if isinstance(wanted, float) or isinstance(value, float):
        try:
            return math.isclose(float(value), float(wanted), rel_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return value == wanted
