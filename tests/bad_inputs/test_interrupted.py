"""Ctrl-C (SIGINT) stops a command with exit code 130 and one line, never a traceback nor a silent success: a
doctor run interrupted mid-training continues with --resume."""

import json
import signal
import subprocess
import sys
import time

from fitguard.cli import INTERRUPTED, INTERRUPTED_LINE, main


def test_a_keyboard_interrupt_is_exit_130_and_one_line(monkeypatch, capsys, tmp_path):
    import fitguard.doctor

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitguard.doctor, "run_doctor", interrupted)
    assert main(["doctor", "--budget", "10s", "--out", str(tmp_path / "run")]) == INTERRUPTED == 130
    assert capsys.readouterr().err == f"error: {INTERRUPTED_LINE}\n"


def test_sigint_during_a_doctor_training_exits_130_and_the_run_resumes(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "fitguard.cli", "doctor", "--model", "mlp", "--train-fraction", "0.3",
               "--budget", "none", "--trials", "6", "--epochs", "400", "--search-epochs", "3", "--folds", "2",
               "--rounds", "0", "--min-steps", "0", "--no-references", "--quiet", "--out", str(out)]
    # a shell's background job ignores SIGINT: give the run the default handler, as a terminal's Ctrl-C would
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    # the baseline (400 epochs) is training once its metrics log has lines
    while time.monotonic() < deadline and process.poll() is None:
        log = out / "baseline" / "metrics.jsonl"
        if log.is_file() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (stdout, stderr)
    assert stderr.decode().strip().splitlines()[-1] == f"error: {INTERRUPTED_LINE}"
    assert b"Traceback" not in stderr and not (out / "summary.json").exists()
    assert json.loads((out / "run.json").read_text())  # the run's record stays for --resume
    resumed = subprocess.run([*command, "--resume"], capture_output=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert (out / "summary.json").is_file()
