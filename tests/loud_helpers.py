"""Worker stand-ins for the reference runner tests (importable by spawned processes)."""

import os
import sys
import time
from pathlib import Path


def crashing_worker(chapter, profile, index, counter, root, limit, items, parent_pid):
    """Worker 0 dies at once (as by an uncaught error), taking nothing with it to the store."""
    if index == 0:
        sys.exit(3)


def sleeping_worker(chapter, profile, index, counter, root, limit, items, parent_pid):
    """Writes its pid to ``<root>/worker-<index>.pid`` and 'trains' (sleeps) for a minute."""
    from covidnb.chapters import reference

    reference._die_with_parent(parent_pid, poll=0.2)
    Path(root).mkdir(parents=True, exist_ok=True)
    (Path(root) / f"worker-{index}.pid").write_text(str(os.getpid()))
    time.sleep(60)
