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
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import math
import os
import re
import shutil
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from covidnb.metrics.summary import flatten
from covidnb.paths import runs_root
from covidnb.runs.atomic import atomic_write_csv, atomic_write_json
from covidnb.runs.provenance import collect_provenance, now

KEY_PREFIX = 12
STATUSES = ("running", "done", "failed")


def canonical(obj: Any, where: str = "config") -> Any:
    """A JSON-ready copy: tuples → lists, numpy/Path/dataclass → plain values, 1.0 → 1."""
    import numpy as np

    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {k!r}")
            out[k] = canonical(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{where}: {obj} cannot be part of a run key")
        return int(obj) if obj.is_integer() else obj
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise TypeError(f"{where}: {type(obj).__name__} {obj!r} is not a JSON value")


def canonical_json(config: dict) -> str:
    return json.dumps(canonical(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_key(config: dict, ignore: tuple[str, ...] = ()) -> str:
    """sha256 (hex) of the canonical JSON of ``config`` without the dotted paths in ``ignore``."""
    import hashlib

    return hashlib.sha256(canonical_json(_without(canonical(config), ignore)).encode()).hexdigest()


def _without(config: dict, ignore: tuple[str, ...]) -> dict:
    config = json.loads(json.dumps(config))
    for dotted in ignore:
        *parents, leaf = dotted.split(".")
        node = config
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(leaf, None)
    return config


FORCE_DIR = ".force"


class UnreadableRecord(ValueError):
    """A run record file that cannot be read; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{self.path}: {reason}")


class UnreadableRecordWarning(UserWarning):
    """A reader skipped an unreadable run record (the message names the file and the reason)."""


def _read_json(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise UnreadableRecord(path, f"not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise UnreadableRecord(path, f"cannot be read ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableRecord(path, f"not valid JSON ({exc})") from exc


def _read_object(path: Path, required: tuple[str, ...] = ()) -> dict | None:
    """A JSON object with the ``required`` keys, ``None`` when the file is absent."""
    data = _read_json(path)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UnreadableRecord(path, f"expected a JSON object, got {type(data).__name__}")
    missing = [k for k in required if k not in data]
    if missing:
        raise UnreadableRecord(path, f"lacks the field(s) {missing}")
    return data


class Run:
    """One run directory. Reading attributes reads the files; the ``save_*`` methods write them."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- reading -----------------------------------------------------------------------------
    @property
    def record(self) -> dict:
        rec = _read_object(self.path / "config.json", ("key", "config"))
        if rec is None:
            raise FileNotFoundError(f"{self.path / 'config.json'}: no run recorded here")
        return rec

    @property
    def problem(self) -> str | None:
        """``None`` when the record reads, else ``"<file>: <reason>"`` for its first bad file.

        Checked: ``config.json`` (a JSON object with ``key`` and ``config``), ``status.json``
        (an object with ``status`` one of running/done/failed) and, for a run that says it is
        done, ``metrics.json`` (a JSON object)."""
        try:
            _ = self.record
            status = _read_object(self.path / "status.json", ("status",))
            if status is not None and status["status"] not in STATUSES:
                raise UnreadableRecord(
                    self.path / "status.json", f"unknown status {status['status']!r}"
                )
            if status is not None and status["status"] == "done":
                if _read_object(self.path / "metrics.json") is None:
                    raise UnreadableRecord(self.path / "metrics.json", "missing in a done run")
            elif (self.path / "metrics.json").exists():
                _read_object(self.path / "metrics.json")
        except UnreadableRecord as exc:
            return str(exc)
        except FileNotFoundError as exc:
            return str(exc)
        return None

    @property
    def key(self) -> str:
        return self.record["key"]

    @property
    def config(self) -> dict:
        return self.record["config"]

    @property
    def provenance(self) -> dict:
        return self.record.get("provenance", {})

    @property
    def status(self) -> dict:
        """``status.json``; ``{"status": "unreadable", "reason": …}`` when the record cannot be
        read (see :attr:`problem`), ``{"status": "missing"}`` when there is none."""
        problem = self.problem
        if problem is not None:
            return {"status": "unreadable", "reason": problem}
        return _read_object(self.path / "status.json") or {"status": "missing"}

    @property
    def done(self) -> bool:
        return self.status.get("status") == "done"

    @property
    def metrics(self) -> dict:
        return _read_object(self.path / "metrics.json") or {}

    @property
    def predictions(self) -> pd.DataFrame:
        df = self._csv(
            "predictions.csv", dtype={"sample_id": str, "patient_id": str, "source": str}
        )
        for col in (
            "sample_id",
            "patient_id",
            "source",
        ):  # "" (unknown patient) must not read as NaN
            if col in df:
                df[col] = df[col].fillna("")
        return df

    @property
    def history(self) -> pd.DataFrame:
        return self._csv("history.csv")

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def synthetic(self) -> bool:
        return bool(self.config.get("synthetic") or self.metrics.get("synthetic"))

    def _csv(self, name: str, **kw) -> pd.DataFrame:
        p = self.path / name
        if not p.exists():
            return pd.DataFrame()
        return pd.read_csv(p, **kw)

    # -- writing -----------------------------------------------------------------------------
    def save_metrics(self, metrics: dict) -> None:
        atomic_write_json(self.path / "metrics.json", metrics)

    def save_predictions(self, frame: pd.DataFrame) -> None:
        atomic_write_csv(self.path / "predictions.csv", frame)

    def save_history(self, history: pd.DataFrame | list[dict]) -> None:
        frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
        atomic_write_csv(self.path / "history.csv", frame)

    def update_provenance(self, **fields: Any) -> None:
        rec = self.record
        rec.setdefault("provenance", {}).update(fields)
        atomic_write_json(self.path / "config.json", rec)

    def _set_status(self, status: str, **fields: Any) -> None:
        atomic_write_json(self.path / "status.json", {"status": status, "updated": now(), **fields})

    def _set_failed(self, **fields: Any) -> None:
        """``status.json`` = failed, even on a full disk: when the atomic write (a new file)
        cannot be made, the old file is overwritten in place (it needs no new block)."""
        try:
            self._set_status("failed", **fields)
        except OSError:
            text = json.dumps({"status": "failed", "updated": now(), **fields}, default=str)
            short = json.dumps({"status": "failed", "reason": fields.get("reason", "")})
            path = self.path / "status.json"
            for body in (text, short):
                try:
                    with open(path, "r+" if path.exists() else "w", encoding="utf-8") as fh:
                        fh.write(body + "\n")
                        fh.truncate()
                    return
                except OSError:
                    continue
            raise

    def __repr__(self) -> str:
        try:
            return f"<Run {self.path.parent.name}/{self.path.name} {self.status.get('status')}>"
        except ValueError:
            return f"<Run {self.path} unreadable>"


class LockTimeout(TimeoutError):
    pass


@contextmanager
def file_lock(path: Path, timeout: float | None = None, poll: float = 0.2) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on ``path``; released when the block ends or the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockTimeout(
                            f"{path}: another process holds this run's lock"
                        ) from None
                    time.sleep(poll)
        yield
    finally:
        os.close(fd)  # closing releases the flock


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
                _drop_unreadable(path)
                previous = {"status": "unreadable"}
            else:
                previous = _read_object(path / "status.json") or {}
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


def _drop_unreadable(path: Path) -> None:
    """Remove the record files of ``path`` that cannot be read (they are about to be rewritten)."""
    for name in ("config.json", "status.json", "metrics.json"):
        try:
            _read_object(path / name)
        except UnreadableRecord:
            (path / name).unlink(missing_ok=True)


def _finish_forced(path: Path, log: Callable[[str], None]) -> None:
    """Move a finished forced re-run (``path/.force``) over the stored record: every file by an
    atomic rename, files the new record lacks removed, ``status.json`` last. Call with the run's
    lock held. An unfinished ``.force`` is left alone (the stored record stays as it was)."""
    forced = path / FORCE_DIR
    try:
        status = _read_object(forced / "status.json")
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
