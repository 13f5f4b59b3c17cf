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


def git_state(repo=REPO_ROOT) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the repository holding covidnb (``None`` values outside git).

    ``dirty`` counts changes to tracked files only: untracked outputs (runs, builds) do not make
    a checkout dirty.
    """

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(
                ["git", "-C", str(repo), *args],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


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
    try:
        r = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return [line[3:] for line in r.stdout.splitlines() if line.strip()]


def require_clean_checkout(what: str, repo=REPO_ROOT) -> str:
    """The ``HEAD`` commit, or :class:`DirtyCheckout` naming the changed files.

    A reference record names the commit that made it so that anyone can check its code out; a
    record made with uncommitted changes names code that exists nowhere. ``what`` says what was
    refused (e.g. ``"writing into results/"``).
    """
    state = git_state(repo)
    if state["commit"] is None:
        raise DirtyCheckout(f"{what}: {repo} is not a git checkout, so the record could not name "
                            "the code that made it")
    changed = changed_files(repo) or []
    if changed:
        shown = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
        raise DirtyCheckout(f"{what} needs a clean checkout: commit or stash the changes to {shown} "
                            f"(HEAD is {state['commit'][:12]})")
    return state["commit"]
