"""Atomic file writes: write a temporary file beside the target, fsync, then ``os.replace``.

A reader (or a process killed mid-write) therefore sees the old file or the new one, never a
partial one, and a failed write leaves no temporary file behind. An ``OSError`` of the write (a
full disk, a read-only folder) is re-raised with the target's name in its message and
``filename``, since the bare error (``[Errno 28] No space left on device``) names no file.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path in the target's folder; on success it replaces ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _named(exc, path) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:  # the bytes must be on disk before the rename
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise _named(exc, path) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` again (same type and errno), its message naming ``path``."""
    if str(path) in str(exc):
        return exc
    code = exc.errno or _errno.EIO
    what = exc.strerror or str(exc) or type(exc).__name__
    hint = " (the disk is full)" if code == _errno.ENOSPC else ""
    try:
        return type(exc)(code, f"cannot write {path}: {what}{hint}", str(path))
    except TypeError:  # an OSError subclass with another signature
        return OSError(code, f"cannot write {path}: {what}{hint}", str(path))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(
        path,
        json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=True) + "\n",
    )


def atomic_write_csv(path: str | os.PathLike, frame) -> None:
    """A DataFrame as CSV; serialised fully in memory first so a failure never touches ``path``."""
    atomic_write_text(path, frame.to_csv(index=False))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__} {o!r}")
