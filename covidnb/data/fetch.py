"""Download a dataset from its manifest's sources, check sha256 before use, unpack, verify.

Each source is downloaded to a temporary file beside the destination (with a tqdm progress
bar), hashed while it streams, and compared with the manifest's sha256 *before* anything is
unpacked: a mismatch removes the partial file and raises :class:`FetchError` naming the URL,
the expected and the received digest. Archives are unpacked into a staging folder first and
moved into place only when no existing file would be overwritten with different content.
Sources without a known sha256 are fetched with a warning that prints the digest received (the
manifest says why in ``unchecked``); an archive with a ``contents`` list has every listed file
checked against its sha256 after unpacking, before anything is placed. A download shorter than
its ``Content-Length`` or the manifest's ``size`` is refused as truncated, whatever its digest.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from covidnb.data.manifest import Manifest, load_manifest
from covidnb.paths import default_cache_root

log = logging.getLogger("covidnb.data")

CHUNK = 1 << 16


class FetchError(RuntimeError):
    """A download, checksum or unpacking failure; the message says what to do by hand."""


def _format_of(src: dict[str, Any]) -> str:
    if "format" in src:
        return src["format"]
    url = src["url"].split("?")[0].lower()
    for ext, fmt in (
        (".zip", "zip"),
        (".tar.gz", "tar.gz"),
        (".tgz", "tgz"),
        (".tar.bz2", "tar.bz2"),
        (".tar", "tar"),
    ):
        if url.endswith(ext):
            return fmt
    return "file"


def download(
    url: str,
    dest_dir: Path,
    expected_sha256: str | None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
    expected_size: int | None = None,
) -> tuple[Path, str]:
    """Stream ``url`` into a temporary file in ``dest_dir``; returns (temp path, sha256).

    The length (the server's ``Content-Length`` and ``expected_size``) and the sha256 are checked
    before returning; on a mismatch or error the temporary file is removed.
    """
    from tqdm.auto import tqdm

    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    received = 0
    total = None
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "covidnb-fetch"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=PurePosixPath(url.split("?")[0]).name,
                    disable=not progress,
                    leave=False,
                ) as bar:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        out.write(block)
                        h.update(block)
                        received += len(block)
                        bar.update(len(block))
    except http.client.IncompleteRead as exc:
        tmp.unlink(missing_ok=True)
        raise FetchError(
            f"truncated download of {url}: the connection closed after "
            f"{received + len(exc.partial)} of {total or '?'} bytes. Nothing was unpacked; "
            "try again."
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for what, want in (("the server's Content-Length", total), ("the manifest's size", expected_size)):
        if want is not None and received != want:
            tmp.unlink(missing_ok=True)
            raise FetchError(
                f"{'truncated' if received < want else 'oversized'} download of {url}: received "
                f"{received} bytes, {what} is {want}. The download was discarded; nothing was "
                "unpacked or overwritten."
            )
    got = h.hexdigest()
    if expected_sha256 and got != expected_sha256.lower():
        tmp.unlink(missing_ok=True)
        raise FetchError(
            f"checksum mismatch for {url}: expected sha256 {expected_sha256}, got {got}. "
            "The download was discarded; nothing was unpacked or overwritten."
        )
    return tmp, got


def _safe_members_zip(zf: zipfile.ZipFile, archive: str) -> None:
    for name in zf.namelist():
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts:
            raise FetchError(
                f"{archive}: member {name!r} would unpack outside the destination; refused"
            )


def _strip(staging: Path, n: int) -> Path:
    """The folder inside ``staging`` after dropping ``n`` leading path components."""
    cur = staging
    for _ in range(n):
        entries = [e for e in cur.iterdir() if not e.name.startswith("__MACOSX")]
        if len(entries) != 1 or not entries[0].is_dir():
            raise FetchError(
                f"strip_components={n}: expected one top-level folder in the archive, found "
                f"{', '.join(e.name for e in entries) or 'nothing'}"
            )
        cur = entries[0]
    return cur


def _unpack(archive: Path, fmt: str, staging: Path, url: str) -> None:
    try:
        if fmt == "zip":
            with zipfile.ZipFile(archive) as zf:
                _safe_members_zip(zf, url)
                zf.extractall(staging)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(staging, filter="data")  # the 'data' filter refuses unsafe members
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise FetchError(f"{url}: cannot unpack the {fmt} archive ({exc})") from exc


def _plan_moves(src_dir: Path, dest: Path) -> list[tuple[Path, Path]]:
    """(source, target) pairs; raises if a target exists with different content."""
    from covidnb.data.base import file_sha256

    moves, conflicts = [], []
    for f in sorted(p for p in src_dir.rglob("*") if p.is_file()):
        target = dest / f.relative_to(src_dir)
        if target.exists():
            if not target.is_file() or file_sha256(target) != file_sha256(f):
                conflicts.append(str(target))
            continue  # identical file already there
        moves.append((f, target))
    if conflicts:
        raise FetchError(
            "refusing to overwrite existing files with different content: "
            + ", ".join(conflicts[:10])
            + (f" (and {len(conflicts) - 10} more)" if len(conflicts) > 10 else "")
            + ". Move them away or fetch into another --root."
        )
    return moves


def _check_contents(man: Manifest, src: dict[str, Any], content: Path) -> None:
    """Every file ``src['contents']`` lists must be in ``content`` with that sha256."""
    from covidnb.data.base import file_sha256
    from covidnb.data.verify import read_sha256sums

    listing = Path(man.path).parent / src["contents"]
    try:
        sums = read_sha256sums(listing)
    except (OSError, ValueError) as exc:
        raise FetchError(f"{src['url']}: cannot read its contents list {listing} ({exc})") from exc
    problems = []
    for rel, digest in sums.items():
        f = content / rel
        if not f.is_file():
            problems.append(f"{rel}: missing from the archive")
        else:
            got = file_sha256(f)
            if got != digest:
                problems.append(f"{rel}: sha256 {got}, expected {digest}")
    if problems:
        raise FetchError(
            f"{src['url']}: {len(problems)} of the {len(sums)} files listed in {listing.name} differ "
            f"from the archive: " + "; ".join(problems[:10])
            + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
            + ". Nothing was placed."
        )


def _manual_help(man: Manifest, dest: Path) -> str:
    return f"To get it by hand: {man.how_to_get()}\nPlace the data in {dest}"


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    verify_after: bool = True,
):
    """Download, check and unpack dataset ``name`` into ``<root>/<dirnames[0]>``.

    ``root`` defaults to ``~/.cache/covidnb`` (``COVIDNB_CACHE``). ``url`` replaces the
    manifest's sources with one URL (``sha256`` then gives its digest, if known). Returns the
    :class:`~covidnb.data.verify.VerifyReport` (or the destination path with
    ``verify_after=False``).
    """
    man = load_manifest(name)
    base = Path(root).expanduser() if root is not None else default_cache_root()
    dest = base / man.dirnames[0]
    if url is not None:
        sources = [{"url": url, "sha256": sha256}]
    else:
        sources = list(man.sources)
        if man.access != "download" or not sources:
            raise FetchError(
                f"{name} cannot be downloaded automatically (access: {man.access}).\n"
                + _manual_help(man, dest)
                + "\nOr pass --url with a location you have access to."
            )
    staging_root = Path(tempfile.mkdtemp(prefix=f".fetch-{name}-", dir=_ensure(base)))
    try:
        planned: list[tuple[Path, Path]] = []
        for i, src in enumerate(sources):
            fmt = _format_of(src)
            expected = src.get("sha256")
            try:
                tmp, got = download(src["url"], staging_root, expected, progress=progress,
                                    expected_size=src.get("size"))
            except FetchError:
                raise
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                raise FetchError(
                    f"could not download {src['url']}: {exc}.\n" + _manual_help(man, dest)
                ) from exc
            if not expected:
                how = ("its unpacked files are checked against " + src["contents"]
                       if src.get("contents") else "it is not checked")
                warnings.warn(
                    f"{src['url']}: the manifest has no sha256 for this file "
                    f"({src.get('unchecked') or 'no reason given'}); {how}; received sha256 {got}",
                    stacklevel=2,
                )
            stage = staging_root / f"src{i}"
            if fmt == "file":
                rel = src.get("path") or PurePosixPath(src["url"].split("?")[0]).name
                target = stage / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(tmp), target)
                content = stage
            else:
                unpack_dir = stage / "_unpacked"
                unpack_dir.mkdir(parents=True)
                _unpack(tmp, fmt, unpack_dir, src["url"])
                tmp.unlink(missing_ok=True)
                inner = _strip(unpack_dir, int(src.get("strip_components", 0)))
                content = stage / "_content"
                (content / src.get("unpack_to", "")).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(
                    str(inner),
                    content / src.get("unpack_to", "") if src.get("unpack_to") else content,
                )
            if src.get("contents") and url is None:
                _check_contents(man, src, content)
            planned += _plan_moves(content, dest)
        for f, target in planned:  # only now, with every source checked, touch the destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(f), target)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    log.info("%s: %d files placed in %s", name, len(planned), dest)
    if not verify_after:
        return dest
    from covidnb.data.locate import DatasetNotFound
    from covidnb.data.verify import verify

    try:
        return verify(name, root=base, search=False)  # the copy just made, not one elsewhere
    except DatasetNotFound as exc:
        raise FetchError(
            f"{name}: files were placed in {dest}, but they do not have the layout the "
            f"manifest expects (layout.detect: {man.layout.get('detect')}); the archive may "
            f"need strip_components/unpack_to.\n{exc}"
        ) from exc


def _ensure(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
