"""On-disk cache of decoded, resized images, so later epochs skip decoding.

Each image is one uint8 ``.npy`` file (``H×W×C``) under
``<COVIDNB_CACHE or ~/.cache/covidnb>/arrays/<dataset>/<H>x<W>_c<C>/<key[:2]>/<key>.npy``.
The key hashes the file's resolved path, size and modification time (a changed file gets a new
entry) and :data:`CACHE_VERSION` (bumped when decoding changes). Writes go to a temporary file in
the same folder and are renamed into place (atomic on POSIX), so concurrent readers never see a
partial array; two writers of the same entry write identical bytes and the last rename wins. An
unreadable entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from covidnb.paths import default_cache_root

CACHE_VERSION = 1


class ImageCache:
    """Decoded-image cache for one (dataset, image size, channels) combination."""

    def __init__(
        self,
        dataset: str,
        image_size: int | tuple[int, int],
        channels: int,
        root: str | os.PathLike | None = None,
    ):
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.dataset, self.size, self.channels = dataset, size, channels
        base = Path(root) if root is not None else default_cache_root()
        self.dir = base / "arrays" / dataset / f"{size[0]}x{size[1]}_c{channels}"
        self.hits = 0
        self.misses = 0

    def key(self, path: str | os.PathLike) -> str:
        p = Path(path)
        st = p.stat()
        ident = f"v{CACHE_VERSION}|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        return hashlib.sha256(ident.encode()).hexdigest()[:32]

    def entry(self, path: str | os.PathLike) -> Path:
        k = self.key(path)
        return self.dir / k[:2] / f"{k}.npy"

    def get(self, path: str | os.PathLike, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array for ``path``, computing and storing it with ``compute()`` if absent."""
        entry = self.entry(path)
        if entry.exists():
            try:
                arr = np.load(entry, allow_pickle=False)
                if arr.dtype == np.uint8 and arr.shape[:2] == self.size:
                    self.hits += 1
                    return arr
            except (OSError, ValueError, EOFError):
                pass  # damaged entry (e.g. disk full during an old write): rebuild it
        arr = compute()
        self.misses += 1
        self._write(entry, arr)
        return arr

    def _write(self, entry: Path, arr: np.ndarray) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=entry.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.ascontiguousarray(arr, dtype=np.uint8), allow_pickle=False)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self) -> int:
        """Delete this combination's entries; returns how many were removed."""
        n = 0
        if self.dir.exists():
            for f in self.dir.rglob("*.npy"):
                f.unlink(missing_ok=True)
                n += 1
        return n


def make_cache(cache: Any, name: str, image_size, channels: int) -> ImageCache | None:
    """``True`` → the default cache; ``False``/``None`` → none; a path → a cache rooted there;
    an :class:`ImageCache` → itself."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, ImageCache):
        return cache
    if cache is True:
        return ImageCache(name, image_size, channels)
    return ImageCache(name, image_size, channels, root=cache)
