"""One run directory (:class:`Run`): reading its record files and writing them atomically.

Reading an attribute reads the file (``config.json``, ``status.json``, ``metrics.json``,
``predictions.csv``, ``history.csv``); an unreadable record reads as status ``unreadable`` with
the file and the reason (:attr:`Run.problem`). The ``save_*`` methods write through
:mod:`covidnb.runs.atomic`; :meth:`Run._set_failed` records a failure even on a full disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from covidnb.runs.atomic import atomic_write_csv, atomic_write_json
from covidnb.runs.provenance import now
from covidnb.runs.records import STATUSES, UnreadableRecord, read_object


class Run:
    """One run directory. Reading attributes reads the files; the ``save_*`` methods write them."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- reading -----------------------------------------------------------------------------
    @property
    def record(self) -> dict:
        rec = read_object(self.path / "config.json", ("key", "config"))
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
            status = read_object(self.path / "status.json", ("status",))
            if status is not None and status["status"] not in STATUSES:
                raise UnreadableRecord(
                    self.path / "status.json", f"unknown status {status['status']!r}"
                )
            if status is not None and status["status"] == "done":
                if read_object(self.path / "metrics.json") is None:
                    raise UnreadableRecord(self.path / "metrics.json", "missing in a done run")
            elif (self.path / "metrics.json").exists():
                read_object(self.path / "metrics.json")
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
        return read_object(self.path / "status.json") or {"status": "missing"}

    @property
    def done(self) -> bool:
        return self.status.get("status") == "done"

    @property
    def metrics(self) -> dict:
        return read_object(self.path / "metrics.json") or {}

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

