"""No test touches the real home directory or the repository: every place phiflash writes for a user points into
the test's own temporary directory (conftest.py's isolated_home), and the commands that write stay there."""

import json
import os
import tempfile
from pathlib import Path

import conftest
from clirun import console_script, phiflash

from phiflash.app.logdb import data_dir
from phiflash.lm.hub import hf_cache_dir


def test_every_place_a_user_has_is_inside_the_test_directory(tmp_path):
    for place in (Path.home(), data_dir(), hf_cache_dir(), Path(tempfile.gettempdir()),
                  *(Path(os.environ[v]) for v in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"))):
        assert place.is_relative_to(tmp_path), place
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert not any(v in os.environ for v in ("PHIFLASH_MODEL", "PHIFLASH_NO_LOG", "PHIFLASH_DEBUG"))


def test_commands_that_write_stay_inside_the_test_directory(tmp_path, chat_checkpoint, monkeypatch):
    """The writers a user meets, in-process and in a real process: the log, the once-per-machine notice, batch
    results, a tutor transcript, the quantized copy the model engine caches. The real home's data, cache and
    config trees and the repository are unchanged; what was written is found under tmp_path."""
    before = conftest.snapshot_outside()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "p.txt").write_text("2x = 6\n")
    assert phiflash("solve", "x + 1 = 2").returncode == 0
    assert phiflash("check", "x^2 = 4", "x = 2").returncode == 1
    assert phiflash("batch", "p.txt", "--engine", "symbolic").returncode == 0
    assert phiflash("tutor", "--engine", "symbolic", input="2x = 8\n/save t.md\n/quit\n").returncode == 0
    p = phiflash("solve", "2x = 6", "--model", chat_checkpoint, "--max-tokens", "2", "--quantize", "int8")
    assert p.returncode == 0, p.stderr
    assert console_script("solve", "x + 2 = 3", cwd=work).returncode == 0
    assert changed_outside(before) == []
    home = data_dir()
    assert (home / "logs.db").is_file() and list((home / "models").iterdir())       # written, and here
    assert (work / "p.txt.results.jsonl").is_file() and (work / "t.md").is_file()
    assert json.loads((work / "p.txt.results.jsonl").read_text())["answer"] == "x = 3"


def changed_outside(before: dict) -> list[str]:
    return conftest.changed_outside(before, conftest.snapshot_outside())


def test_the_guard_sees_a_write_to_a_home(tmp_path, monkeypatch):
    """The check above (and the one at the end of every run) can fail: a file put in a home's data folder or at
    its top level is reported. Shown on a stand-in home, so that no test writes to the real one (a probe there
    was seen by the other worker's snapshot)."""
    home = tmp_path / "stand-in-home"
    (home / ".local" / "share").mkdir(parents=True)
    monkeypatch.setattr(conftest, "REAL_HOME", home)
    monkeypatch.setattr(conftest, "WATCHED", [home / ".local" / "share", home / ".cache", home / ".config"])
    before = conftest.snapshot_outside()
    (home / ".local" / "share" / "phiflash").mkdir()
    (home / ".local" / "share" / "phiflash" / "logs.db").write_text("x")
    (home / ".probe").write_text("x")
    assert {str(home / ".local" / "share" / "phiflash" / "logs.db"), str(home / ".probe")} <= \
        set(changed_outside(before))
