"""What a run records of its code (harness.provenance): the git state, and a set's code versions."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from harness import provenance


def _git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A git checkout with a code file and a results file, standing in for the project."""
    if shutil.which("git") is None:
        pytest.skip("no git here")
    _git(tmp_path, "init", "-q")
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "loop.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "score.json").write_text("{}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.setattr(provenance, "PROJECT_ROOT", tmp_path)
    provenance.git_state.cache_clear()
    yield tmp_path
    provenance.git_state.cache_clear()


def test_results_written_by_runs_do_not_make_the_code_dirty(checkout):
    (checkout / "results" / "score.json").write_text('{"score_s": 1}\n')
    (checkout / "results" / "score.json").rename(checkout / "results" / "moved.json")  # a set archived
    state = provenance.git_state()
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert state == {"git_commit": head, "git_dirty": False}


def test_an_edited_code_file_makes_it_dirty(checkout):
    (checkout / "harness" / "loop.py").write_text("x = 2\n")
    assert provenance.git_state()["git_dirty"] is True


def test_outside_a_checkout_nothing_is_claimed(tmp_path, monkeypatch):
    monkeypatch.setattr(provenance, "PROJECT_ROOT", tmp_path)
    provenance.git_state.cache_clear()
    try:
        assert provenance.git_state() == {"git_commit": None, "git_dirty": None}
    finally:
        provenance.git_state.cache_clear()


def _summary(run, code):
    return {"run": run, "code": code}


A = {"engine_code": "e1", "harness_code": "h1"}
B = {"engine_code": "e1", "harness_code": "h2"}


@pytest.mark.parametrize(("codes", "one", "unrecorded"), [
    ([A, A, A], True, []),
    ([A, B, A], False, []),
    ([None, A, A], None, [0]),             # the unrecorded run may differ: unknown
    ([None, A, B], False, [0]),            # those recorded already differ
    (["e1", ["x"], A], None, [0, 1]),      # not a record: counted as none, not a crash
])
def test_a_set_of_runs_says_whether_it_is_of_one_code_version(codes, one, unrecorded):
    got = provenance.code_versions([_summary(i, c) for i, c in enumerate(codes)])
    assert got["one_code_version"] is one
    assert got["runs_without_code_record"] == unrecorded
    assert sum(len(v["runs"]) for v in got["code_versions"]) == len(codes) - len(unrecorded)
