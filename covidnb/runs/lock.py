"""The file lock that serialises two writers of one run (or of one ledger).

:func:`file_lock` holds an exclusive ``fcntl.flock`` on a lock file for the length of a ``with``
block; the kernel releases it when the block ends or the process dies, so a crashed writer never
leaves a stale lock. With a ``timeout`` it raises :class:`LockTimeout` naming the file instead
of waiting for ever.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
