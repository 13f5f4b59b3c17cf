"""Reading run record files, and what an unreadable one is.

A record file (``config.json``, ``status.json``, ``metrics.json``) that is not UTF-8, not valid
JSON, not an object or lacks its fields raises :class:`UnreadableRecord` (the file and the reason)
when read with :func:`read_object`; an absent one reads as ``None``. Readers that skip such a
record warn with :class:`UnreadableRecordWarning`; :func:`drop_unreadable` removes the bad files
of a record that is about to be rewritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATUSES = ("running", "done", "failed")


class UnreadableRecord(ValueError):
    """A run record file that cannot be read; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{self.path}: {reason}")


class UnreadableRecordWarning(UserWarning):
    """A reader skipped an unreadable run record (the message names the file and the reason)."""


def read_json(path: Path) -> Any:
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


def read_object(path: Path, required: tuple[str, ...] = ()) -> dict | None:
    """A JSON object with the ``required`` keys, ``None`` when the file is absent."""
    data = read_json(path)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UnreadableRecord(path, f"expected a JSON object, got {type(data).__name__}")
    missing = [k for k in required if k not in data]
    if missing:
        raise UnreadableRecord(path, f"lacks the field(s) {missing}")
    return data



def drop_unreadable(path: Path) -> None:
    """Remove the record files of ``path`` that cannot be read (they are about to be rewritten)."""
    for name in ("config.json", "status.json", "metrics.json"):
        try:
            read_object(path / name)
        except UnreadableRecord:
            (path / name).unlink(missing_ok=True)

