"""A client is killed (SIGKILL) in the middle of a long scan.

What a user checks: the IOC stays up, lets go of the dead client's channels (its CA
circuit closes) and serves the next client, whose scan succeeds; the frame that was being
taken is finished; every TIFF file written so far is whole, and no temporary ``.partial``
file is left once the IOC is idle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import tifffile

from ioc.sim.physics import SENSOR_SHAPE

from .. import ca
from ..conftest import eventually
from .drills import answers, check_run_images, counted_run, ioc_circuits, log_problems

CLIENT = r"""
import json, sys
import bluesky.plans as bp
from beamline.session import make_session
ns = make_session(sys.argv[1], live=False, timeout=20)
ns["dot"].exp.put(float(sys.argv[2]))
def report(name, doc):
    if name == "event":
        print(json.dumps({"event": doc["seq_num"]}), flush=True)
ns["RE"].subscribe(report)
ns["RE"](bp.count([ns["dot"], ns["I"]], num=100000))
"""


def test_killed_client_leaves_the_ioc_serving_and_its_files_whole(spawn_ioc, tmp_path, monkeypatch):
    p = "BC:"
    ioc = spawn_ioc(p, time_scale=100, seed=4)
    circuits0 = ioc_circuits(ioc)
    env = {**os.environ, "BEAMLINE_DATABROKER_DIR": str(tmp_path / "client-db"), "BEAMLINE_LIVE": "0"}
    client = subprocess.Popen([sys.executable, "-c", CLIENT, p, "2.0"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    events: list[int] = []
    reader = threading.Thread(target=lambda: [events.append(json.loads(line)["event"]) for line in client.stdout],
                              daemon=True)
    reader.start()
    try:
        eventually(lambda: len(events) >= 15 or client.poll() is not None, timeout=60)
        assert client.poll() is None, "the client ended before it was killed"
        assert ioc_circuits(ioc) > circuits0
    finally:
        client.kill()  # SIGKILL, by PID
        client.wait(10)
    t_kill = time.monotonic()
    reader.join(10)

    # The IOC is up, lets go of the dead client's circuit, and finishes the frame in flight.
    assert ioc.alive()
    eventually(lambda: ioc_circuits(ioc) <= circuits0, timeout=10)
    dropped = time.monotonic() - t_kill
    eventually(lambda: ca.get_str(p + "dot:cam1:Acquire_RBV") == "Done", timeout=10)
    # Every file written so far is whole, and no temporary file is left now that it is idle.
    data = Path(ioc.data_root)
    files = sorted(data.rglob("*.tiff"))
    partial = sorted(str(f) for f in data.rglob("*.partial"))
    assert partial == []
    assert len(files) >= len(events)
    for path in files:
        assert tifffile.imread(path).shape == SENSOR_SHAPE, path

    # The next client connects and scans.
    assert answers(p)
    from beamline.session import make_session

    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(tmp_path / "next-db"))
    ns = make_session(p, live=False, timeout=10)
    ns["dot"].exp.put(0.005)
    run = counted_run(ns, 5)
    h = ns["db"][run["uid"]]
    assert h.stop["exit_status"] == "success" and check_run_images(h) == 5
    assert log_problems(ioc) == []
    print(f"\nclient killed after {len(events)} events; the IOC closed its circuit {dropped:.2f} s later; "
          f"{len(files)} TIFF files whole, none partial; the next client's count took {run['seconds']:.2f} s")
