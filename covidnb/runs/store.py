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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


class Run:
    """One run directory. Reading attributes reads the files; the ``save_*`` methods write them."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- reading -----------------------------------------------------------------------------
    @property
    def record(self) -> dict:
        rec = _read_json(self.path / "config.json")
        if rec is None:
            raise FileNotFoundError(f"{self.path / 'config.json'}: no run recorded here")
        return rec

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
        return _read_json(self.path / "status.json") or {"status": "missing"}

    @property
    def done(self) -> bool:
        return self.status.get("status") == "done"

    @property
    def metrics(self) -> dict:
        return _read_json(self.path / "metrics.json") or {}

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

    def key(self, config: dict) -> str:
        return config_key(config, self.ignore)

    def path_for(self, config: dict) -> Path:
        chapter = str(config.get("chapter") or "_misc")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", chapter) or chapter in {".", ".."}:
            raise ValueError(f"config['chapter'] must be a plain folder name, got {chapter!r}")
        return self.root / chapter / self.key(config)[:KEY_PREFIX]

    def get(self, config: dict) -> Run | None:
        """The recorded run of ``config`` (any status), or ``None``."""
        path = self.path_for(config)
        if not (path / "config.json").exists():
            return None
        run = Run(path)
        if run.key != self.key(config):
            raise RuntimeError(
                f"{path}: holds run {run.key}, not {self.key(config)} (key prefix collision)"
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
            previous = _read_json(path / "status.json") or {}
            if previous.get("status") == "done" and not force:
                if run.key != key:
                    raise RuntimeError(
                        f"{path}: holds run {run.key}, not {key} (key prefix collision)"
                    )
                log(f"[reused] {path}")
                return run
            if force:
                for child in path.iterdir():
                    if child.name != ".lock":
                        shutil.rmtree(child) if child.is_dir() else child.unlink()
                previous = {}
            attempt = int(previous.get("attempt", 0)) + 1
            note = {
                "running": "resuming an interrupted run",
                "failed": "retrying a failed run",
            }.get(previous.get("status"), "new run")
            prov = collect_provenance()
            prov.update(provenance or {})
            atomic_write_json(
                path / "config.json", {"key": key, "config": config, "provenance": prov}
            )
            run._set_status(
                "running",
                pid=os.getpid(),
                host=prov.get("hostname"),
                attempt=attempt,
                note=note,
                started=prov.get("started", now()),
            )
            log(f"[{note}] {path}")
            try:
                fn(run)
            except BaseException as exc:
                tb = traceback.format_exc().splitlines()
                detail = getattr(exc, "reason", None)  # e.g. NonFiniteLossError: epoch, step, value
                run._set_status(
                    "failed",
                    reason=f"{type(exc).__name__}: {exc}",
                    attempt=attempt,
                    traceback="\n".join(tb[-25:]),
                    **({"detail": detail} if isinstance(detail, dict) else {}),
                )
                raise
            run.update_provenance(finished=now())
            run._set_status("done", attempt=attempt)
            return run

    def runs(self, *, status: str | None = None, **filters: Any) -> list[Run]:
        """Recorded runs whose flattened config matches every filter (``train__lr=1e-3`` means
        ``train.lr``; a callable filter is a predicate), optionally of one ``status``."""
        want = {k.replace("__", "."): v for k, v in filters.items()}
        out = []
        for cfg_path in sorted(self.root.glob("*/*/config.json")):
            run = Run(cfg_path.parent)
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
