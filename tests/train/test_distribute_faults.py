"""Real multi-process tests: MultiWorkerMirroredStrategy on 127.0.0.1, and kill -9 + BackupAndRestore resume."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

WORKER = str(Path(__file__).with_name("workers.py"))


def _free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.update(extra)
    return env


@pytest.mark.timeout(400)
def test_multi_worker_mirrored_matches_single_worker(tmp_path):
    from tests.train.workers import mwms_train

    cluster = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    out = tmp_path / "mw.npz"
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen([sys.executable, WORKER, "mwms", str(out), "multi_worker"],
                                      env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    # the single-process reference (same data, init and global batch) runs here meanwhile
    ref_weights, ref_losses = mwms_train("default")
    for p in procs:
        output, _ = p.communicate(timeout=360)
        assert p.returncode == 0, output[-3000:]
    got = np.load(out)
    others = [np.load(p) for p in tmp_path.glob("mw.npz.worker*.npz")]
    assert len(others) == 1
    diffs = [float(np.abs(got[f"w{i}"] - w).max()) for i, w in enumerate(ref_weights)]
    # both workers hold identical (all-reduced) weights, equal to the single-worker run within 1e-5
    assert max(diffs) < 1e-5, max(diffs)
    assert max(float(np.abs(others[0][f"w{i}"] - got[f"w{i}"]).max()) for i in range(len(ref_weights))) == 0.0
    # training really moved the weights (not a no-op run)
    np.testing.assert_allclose(got["loss"], ref_losses, rtol=1e-4)


def _events(log):
    return [line.split() for line in Path(log).read_text().splitlines() if line.strip()]


@pytest.mark.timeout(400)
def test_kill_9_mid_epoch_resumes_without_losing_completed_epochs(tmp_path):
    from tests.train.workers import resume_train

    run = tmp_path / "run"
    run.mkdir()
    log = run / "progress.log"
    proc = subprocess.Popen([sys.executable, WORKER, "resume", str(run), "4", "0.5"], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        if log.exists():
            events = _events(log)
            # two epochs completed and the third one is under way (its 2nd batch has ended)
            if ["end", "1"] in events and ["batch", "2", "1"] in events:
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = events
                break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_at is not None, f"worker ended before the kill: {proc.stdout.read()[-2000:]!r}"
    assert proc.returncode == -signal.SIGKILL
    assert ["end", "2"] not in killed_at          # really killed mid-epoch 3
    assert (run / "backup").is_dir()

    # restart the same command: it resumes at the first incomplete epoch
    n_before = len(killed_at)
    out = subprocess.run([sys.executable, WORKER, "resume", str(run), "4", "0"], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    after = _events(log)[n_before:]
    begins = [int(e[1]) for e in after if e[0] == "begin"]
    assert begins == [2, 3], after                # epochs 0 and 1 are not redone, epoch 2 is
    assert not (run / "backup").exists()          # removed once training finished

    # and it ends exactly where an uninterrupted run ends (weights + optimizer state were restored)
    resumed = np.load(run / "final.npz")
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref = resume_train(str(ref_dir), 4, 0.0)
    diff = max(float(np.abs(resumed[f"w{i}"] - w).max()) for i, w in enumerate(ref))
    assert diff < 1e-5, diff
