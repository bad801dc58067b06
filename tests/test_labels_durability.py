"""Durability of the label store: a writer killed mid-stream, several writers at once."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from astroexplore.errors import LabelError
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


def test_a_damaged_store_is_refused_at_open_and_left_untouched(tmp_path):
    """A store with part of it overwritten opened, took new labels into the damaged file, then
    failed every read with a bare 'database disk image is malformed'."""
    path = tmp_path / "garbled.labels.sqlite"
    with LabelStore(path) as store:
        store.add_many([(f"g{i:05d}", i % 6) for i in range(3000)], user="ada")
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page: 3 * page + 400] = bytes(range(256)) + bytes(144)  # inside the tables, not the header
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    for open_it in (lambda: LabelStore(path), lambda: LabelStore(path, read_only=True)):
        with pytest.raises(LabelError, match=r"garbled.labels.sqlite: the label store is damaged .*left untouched.*astroexplore labels recover"):
            open_it()
    assert path.read_bytes() == before


def test_labels_recover_copies_what_a_damaged_store_still_holds(tmp_path, capsys):
    """The damaged-store error told users to run sqlite3's .recover, which here rebuilt an empty
    store; `astroexplore labels recover` copies the readable events, undos included."""
    from astroexplore.cli import main

    path = tmp_path / "garbled.labels.sqlite"
    with LabelStore(path) as store:
        store.add_many([(f"g{i:05d}", i % 6) for i in range(3000)], user="ada")
        undone = store.add("g00007", 5, user="bob", tags=["#ring"], note="arc")
        store.undo("bob", undone.event_id)
        kept = store.add("g00008", 4, user="bob", tags=["#merger"])
    data = bytearray(path.read_bytes())
    data[30 * 4096 + 100: 30 * 4096 + 500] = bytes(range(256)) + bytes(144)  # a leaf of the events
    path.write_bytes(bytes(data))
    with pytest.raises(LabelError, match="damaged"):
        LabelStore(path)
    before = path.read_bytes()
    out = tmp_path / "recovered.labels.sqlite"
    assert main(["labels", "recover", str(path), str(out)]) == 0
    said = capsys.readouterr().out
    assert re.search(r"recovered ([\d,]+) of 3,003 label events .*\(([\d,]+) unreadable or invalid, left out\)", said), said
    assert path.read_bytes() == before  # only read
    with LabelStore(out) as rec:
        n = rec.count()
        assert 2900 < n < 3000  # most of ada's labels; the garbled page's are gone
        assert rec.label_of("g00008", "bob").tags == ("#merger",) and rec.label_of("g00008", "bob").event_id == kept.event_id
        assert rec.label_of("g00007", "bob") is None  # the undo is kept with its label
    assert main(["labels", "recover", str(path), str(out)]) == 1  # never over an existing file
    assert "exists" in capsys.readouterr().err
