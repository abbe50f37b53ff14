"""The disk under the run store (the databroker directory) fills up during a run.

A real full file system: a 1 MB tmpfs mounted as the session's databroker directory (root
only, as ``mount`` needs it; CI runs as root), filled up after the run's fifth event. What
a user checks: the run fails with an error that names the full directory; the events
stored before it are readable, images included; the run reads as failed (exit status
``'fail'``) in the same session's ``db[-1]`` and in a new process alike; once there is room
again the same session stores the next run; the session log, in the same directory, says
once that it cannot write instead of a traceback per record.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import bluesky.plans as bp
import numpy as np
import pytest

from ..conftest import have_root
from .conftest import small_disk

READER = r"""
import json, sys
from beamline.storage import open_broker
h = open_broker(sys.argv[1])[-1]
print(json.dumps({"uid": h.start["uid"], "exit_status": h.stop["exit_status"], "reason": h.stop["reason"],
                  "num_events": h.stop["num_events"], "events": sum(1 for _ in h.events(fill=True))}))
"""


def fill_up(directory) -> None:
    """Write a file into ``directory`` until the file system says it is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def test_full_run_store_fails_the_run_keeps_its_events_and_every_process_agrees(spawn_ioc, tmp_path, monkeypatch,
                                                                                  capfd):
    if not have_root():
        pytest.skip("filling a real file system needs root to mount a small tmpfs (CI runs as root)")
    from beamline.session import make_session

    p = "SF:"
    spawn_ioc(p, time_scale=100, seed=9)
    store = tmp_path / "databroker"
    with small_disk(store, "1m"):
        monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(store))
        ns = make_session(p, live=False, timeout=10)
        RE, db, dot = ns["RE"], ns["db"], ns["dot"]
        dot.exp.put(0.5)  # 5 ms a frame at time scale 100
        (before,) = RE(bp.count([dot, ns["I"]], num=3))

        emitted: list[dict] = []
        starts: list[str] = []

        def fill_after_five(name, doc):
            if name == "start":
                starts.append(doc["uid"])
            elif name == "event":
                emitted.append(doc)
                if len(emitted) == 5:
                    fill_up(store)

        token = RE.subscribe(fill_after_five)  # after db.insert: event 5 is stored, then the disk is full
        with pytest.raises(OSError) as info:
            RE(bp.count([dot, ns["I"]], num=60))
        RE.unsubscribe(token)
        error = info.value
        # The session log (in the same directory) says once that it cannot write, no traceback per record.
        stderr = capfd.readouterr().err
        assert "--- Logging error ---" not in stderr
        assert stderr.count(f"beamline: cannot write the session log {store}/session.log") <= 1
        print(f"\nrun store full after {len(emitted)} events emitted: {type(error).__name__}: {error}")
        assert error.errno == errno.ENOSPC
        assert f"{store} is full" in str(error), str(error)

        # This session: db[-1] is the cut-off run, failed, its stored events readable.
        h = db[-1]
        assert h.start["uid"] == starts[0] != before
        assert h.stop["exit_status"] == "fail"
        stored = h.stop["num_events"]["primary"]
        # Every event the store took (db.insert runs first: the one it failed on reached no one
        # after it) is there, and no more.
        assert 5 <= stored == len(emitted) < 60, (stored, len(emitted))
        for event, sent in zip(h.events(fill=True), emitted, strict=False):
            assert event["uid"] == sent["uid"]
            image, total = event["data"]["dot_img"], event["data"]["dot_stats1_total"]
            assert float(np.sum(image, dtype=np.float64)) == pytest.approx(total, abs=0.5)
        assert sum(1 for _ in h.events(fill=True)) == stored
        assert db[-2].start["uid"] == before and db[-2].stop["exit_status"] == "success"

        # A new process reads the same.
        reader = subprocess.run([sys.executable, "-c", READER, str(store)], capture_output=True, text=True,
                                timeout=60)
        assert reader.returncode == 0, reader.stderr[-2000:]
        other = json.loads(reader.stdout)
        assert other == {"uid": h.start["uid"], "exit_status": "fail", "reason": h.stop["reason"],
                         "num_events": {"primary": stored}, "events": stored}
        print(f"stored {stored} of {len(emitted)} events; this session and a new process both read "
              f"db[-1] = that run, exit_status 'fail', {stored} events with images: {h.stop['reason']}")

        # Room again: the same session stores the next run.
        (store / "filler").unlink()
        (after,) = RE(bp.count([dot, ns["I"]], num=2))
        assert db[-1].start["uid"] == after and db[-1].stop["exit_status"] == "success"
        RE.md = dict(RE.md)  # RE.md's files are written when it goes: while the store is still mounted
    assert not os.path.ismount(store)
