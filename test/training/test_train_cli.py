"""`mtl-perception train` as a user meets it (issue 29): Ctrl-C says where the run stands and how to
continue it, and `--resume` continues the run it names, refusing a change to what the run is."""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtl_perception.cli import main as cli_main
from mtl_perception.training.train import RESUME_SAFE, interrupted_message

TINY = ["data.height=32", "data.width=48", "model.width=0.25", "model.scheme=none", "batch_size=4",
        "tensorboard=false", "plots=false", "threads=1", "device=cpu"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_root) -> Path:
    """A one-epoch run, finished; resuming it trains nothing more (cheap)."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert cli_main(["train", "--out", str(out), f"data.root={data_root}", "epochs=1", *TINY]) == 0
    return out


def test_ctrl_c_is_one_line_with_the_checkpoint_and_the_resume_command(tmp_path, data_root):
    """Before: a 20-line KeyboardInterrupt traceback, and no word that --resume exists."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "mtl_perception.cli", "train", "--out", str(run), f"data.root={data_root}", "epochs=10000", *TINY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        deadline = time.monotonic() + 120
        while not (run / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (run / "last.pt").exists(), "no checkpoint after 120 s"
        process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1, err
    resume = f"mtl-perception train --out {shlex.quote(str(run))} --resume"
    match = re.fullmatch(rf"mtl-perception train: interrupted; last checkpoint {re.escape(str(run / 'last.pt'))} "
                         rf"\((\d+)/10000 epochs done\); continue with: {re.escape(resume)}", lines[0])
    assert match and int(match.group(1)) >= 1, lines[0]


def test_the_printed_resume_command_continues_the_run(finished_run, capsys):
    """Before: `--resume` without the run's --config/overrides built the default model and failed
    ("checkpoint model config ... differs"); the command Ctrl-C prints must simply work."""
    assert cli_main(["train", "--out", str(finished_run), "--resume"]) == 0, capsys.readouterr().err
    assert "done:" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["epochs=3", "optim.lr=0.01", "seed=1", "data.root=/elsewhere"])
def test_resume_refuses_a_changed_config_in_one_line(finished_run, data_root, capsys, change):
    """Before: `--resume epochs=3` was accepted silently (the cosine schedule kept its old length)."""
    key = change.split("=")[0]
    before = (finished_run / "last.pt").stat().st_mtime_ns
    assert cli_main(["train", "--out", str(finished_run), "--resume", f"data.root={data_root}", *TINY, "epochs=1", change]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert f"changes {key} " in err and f"--init {finished_run / 'last.pt'}" in err, err
    assert all(safe in err for safe in RESUME_SAFE), err
    assert (finished_run / "last.pt").stat().st_mtime_ns == before  # nothing trained or saved


def test_resume_accepts_the_same_config_and_safe_changes(finished_run, data_root, capsys):
    same = ["train", "--out", str(finished_run), "--resume", f"data.root={data_root}", *TINY, "epochs=1"]
    assert cli_main(same) == 0, capsys.readouterr().err
    assert cli_main([*same, "threads=2", "data.num_workers=0", "plots=false"]) == 0, capsys.readouterr().err


def test_interrupted_before_the_first_checkpoint_says_nothing_was_saved(tmp_path):
    run = tmp_path / "run"
    started = time.time()
    message = interrupted_message(str(run), 10, resuming=False, started=started, distributed=False)
    assert "nothing saved" in message and "--resume" not in message
    run.mkdir()
    (run / "last.pt").write_bytes(b"a previous run's checkpoint")
    os.utime(run / "last.pt", (started - 60, started - 60))
    message = interrupted_message(str(run), 10, resuming=False, started=started, distributed=False)
    assert "nothing saved" in message and "--resume" not in message  # not this run's: resuming it would continue another run


def test_ctrl_c_in_any_command_is_one_line_exit_130(monkeypatch, capsys, tmp_path):
    from mtl_perception.training import evaluate

    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "run", interrupted)
    try:
        code = cli_main(["eval", str(tmp_path), "--data", str(tmp_path)])
    except KeyboardInterrupt:  # before: the traceback (and here it would end the pytest session)
        pytest.fail("KeyboardInterrupt escaped the CLI")
    assert code == 130
    err = capsys.readouterr().err.strip()
    assert err == "mtl-perception eval: interrupted", err
