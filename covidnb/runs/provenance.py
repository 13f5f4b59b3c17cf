"""Where and with what a run was made: stored beside its configuration, never hashed into its key.

Two runs of one configuration on two machines share a key (so a GPU batch and a later book build
share results); the provenance says how they differed: git commit and dirty flag, package versions,
device, host, the datasets' ``info()`` (with their checksums), start and end times.
"""

from __future__ import annotations

import datetime as _dt
import platform
import socket
import subprocess
from importlib import metadata
from typing import Any

from covidnb.paths import REPO_ROOT

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "scikit-learn", "grad-cam", "covidnb")


def now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git(repo, *args: str) -> str | None:
    """``git -C repo args…``'s stdout, ``None`` when git is missing or the command fails."""
    try:
        r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                           timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state(repo=REPO_ROOT) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the repository holding covidnb (``None`` values outside git).

    ``dirty`` counts changes to tracked files only: untracked outputs (runs, builds) do not make
    a checkout dirty.
    """
    commit = _git(repo, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    changed = changed_files(repo)
    return {"commit": commit, "dirty": bool(changed) if changed is not None else None}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def collect_provenance(
    device=None, datasets: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """Everything about a run that is not a parameter. ``datasets``: split → ``dataset.info()``."""
    import torch

    from covidnb.train.device import device_name

    prov = {
        "git": git_state(),
        "versions": versions(),
        "device": device_name(device),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "started": now(),
    }
    if datasets is not None:
        prov["datasets"] = datasets
    prov.update(extra)
    return prov


class DirtyCheckout(RuntimeError):
    """Reference results may only be written from a committed checkout (see
    :func:`require_clean_checkout`)."""


def changed_files(repo=REPO_ROOT) -> list[str] | None:
    """Tracked files that differ from ``HEAD`` (``None`` outside git)."""
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    # "XY path" per line; the status letters are split off rather than cut at a fixed column
    return None if status is None else [line.split(maxsplit=1)[1] for line in status.splitlines() if line.strip()]


def require_clean_checkout(what: str, repo=REPO_ROOT) -> str:
    """The ``HEAD`` commit, or :class:`DirtyCheckout` naming the changed files.

    A reference record names the commit that made it so that anyone can check its code out; a
    record made with uncommitted changes names code that exists nowhere. ``what`` says what was
    refused (e.g. ``"writing into results/"``).
    """
    commit = _git(repo, "rev-parse", "HEAD")
    changed = changed_files(repo) if commit is not None else None
    if commit is None or changed is None:
        raise DirtyCheckout(f"{what}: {repo} is not a git checkout, so the record could not name "
                            "the code that made it")
    if changed:
        shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
        raise DirtyCheckout(f"{what} needs a clean checkout: commit or stash the changes to {shown} "
                            f"(HEAD is {commit[:12]})")
    return commit
