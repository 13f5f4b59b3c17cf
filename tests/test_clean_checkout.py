"""Reference records are written only from a committed checkout (issue 12, clean provenance)."""

import subprocess

import pytest

from covidnb.runs.provenance import DirtyCheckout, changed_files, require_clean_checkout


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "train.py").write_text("lr = 1e-3\n")
    _git(tmp_path, "add", "train.py")
    _git(tmp_path, "commit", "-qm", "first")
    return tmp_path


def test_clean_checkout_gives_its_commit(repo):
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert require_clean_checkout("writing", repo) == head
    (repo / "runs").mkdir()  # untracked outputs do not make a checkout dirty
    (repo / "runs" / "x.json").write_text("{}")
    assert require_clean_checkout("writing", repo) == head


def test_a_changed_tracked_file_is_refused_by_name(repo):
    (repo / "train.py").write_text("lr = 1e-2\n")
    assert changed_files(repo) == ["train.py"]
    with pytest.raises(DirtyCheckout, match=r"writing into results/ needs a clean checkout.*train\.py"):
        require_clean_checkout("writing into results/", repo)


def test_outside_git_is_refused(tmp_path):
    with pytest.raises(DirtyCheckout, match="not a git checkout"):
        require_clean_checkout("writing", tmp_path)


def test_reference_runner_refuses_results_from_a_dirty_checkout(monkeypatch):
    from covidnb.chapters import RESULTS_ROOT, reference
    from covidnb.runs import provenance

    monkeypatch.setattr(provenance, "changed_files", lambda repo=None: ["covidnb/train/loop.py"])
    started = []
    monkeypatch.setattr(reference.mp, "get_context", lambda *a: started.append(a))
    with pytest.raises(DirtyCheckout, match="loop.py"):
        reference.run_reference("dresunet", "smoke", workers=1, root=RESULTS_ROOT)
    assert not started  # refused before any worker was spawned
