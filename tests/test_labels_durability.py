"""Durability of the label store: a writer killed mid-stream, several writers at once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from astroexplore.labels import LabelStore

ROOT = Path(__file__).resolve().parents[1]

# Opens the store, says "ready", waits for a line on stdin (so that several writers start
# together), then adds labels in a loop, printing each event id once add() has returned.
WRITER = textwrap.dedent("""
    import sys
    from astroexplore.labels import LabelStore

    path, user, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = LabelStore(path)
    print("ready", flush=True)
    sys.stdin.readline()
    i = 0
    while n < 0 or i < n:
        event = store.add(f"gal{i % 97}", i % 6, user=user, note=str(i))
        print(event.event_id, flush=True)
        i += 1
    store.close()
""")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def _start_writer(path: Path, user: str, n: int) -> subprocess.Popen:
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), user, str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _wait_ready_then_go(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.communicate()[1]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.close()
        proc.stdin = None  # so that communicate() does not touch the closed pipe


def test_acknowledged_labels_survive_sigkill(tmp_path):
    path = tmp_path / "crash.labels.sqlite"
    LabelStore(path).close()
    proc = _start_writer(path, "crasher", -1)
    acknowledged = []
    try:
        _wait_ready_then_go([proc])
        while len(acknowledged) < 60:
            line = proc.stdout.readline()
            assert line, f"writer stopped early: {proc.stderr.read()}"
            acknowledged.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: it is still adding labels
        proc.wait(timeout=10)
        acknowledged += [int(line) for line in proc.stdout.read().split()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with LabelStore(path) as store:
        on_disk = set(store.history()["event_id"])
        assert set(acknowledged) <= on_disk
        assert len(on_disk) - len(acknowledged) <= 1  # at most the one in flight was committed
        store.add("gal0", 1, user="after")  # the store is writable after the crash


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    path = tmp_path / "shared.labels.sqlite"  # created by the racing writers themselves
    n_writers, n_labels = 4, 200
    procs = [_start_writer(path, f"user{k}", n_labels) for k in range(n_writers)]
    _wait_ready_then_go(procs)
    deadline = time.monotonic() + 120
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        outputs.append(out)
        assert proc.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err
    acknowledged = [int(x) for out in outputs for x in out.split()]
    assert len(acknowledged) == n_writers * n_labels == len(set(acknowledged))
    with LabelStore(path) as store:
        history = store.history()
    assert len(history) == n_writers * n_labels
    assert set(history["event_id"]) == set(acknowledged)
    spans = history.groupby("user")["event_id"].agg(["min", "max"]).sort_values("min")
    assert (spans["min"].to_numpy()[1:] < spans["max"].to_numpy()[:-1]).any()  # they overlapped
    for k in range(n_writers):
        notes = history.loc[history["user"] == f"user{k}", "note"]
        assert sorted(map(int, notes)) == list(range(n_labels))
