"""Two client sessions drive one camera at once.

Two real client processes, each a beamline session running ``count([dot, I], num=...)``
against the same IOC, started together and then 1 s apart. A real areaDetector lets them
collide too (each stages its own file name; each one's Acquire may take the other's frame);
what must not happen is a run that says ``success`` about frames that are not its own. What a
user checks: every run that ends with exit status ``success`` has, for every event, the image
its datum names (read back through databroker) summing to the Stats1 total the same event
recorded; any other run failed, saying another client is driving the camera; both sessions
finish (no hang in trigger or unstage).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

NUM = 25  # events per run
EXPOSURE = 5.0  # simulated s: 50 ms a frame at time scale 100, so a run outlasts the 1 s offset

CLIENT = r"""
import json, sys, warnings
import bluesky.plans as bp
from beamline.devices import SettingsNotRestored
from beamline.session import make_session
ns = make_session(sys.argv[1], live=False, timeout=20)
RE, db, dot = ns["RE"], ns["db"], ns["dot"]
dot.exp.put(float(sys.argv[2]))
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    if line.strip() != "go":
        break
    starts = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SettingsNotRestored)
        try:
            RE(bp.count([dot, ns["I"]], num=int(sys.argv[3])),
               lambda name, doc: starts.append(doc["uid"]) if name == "start" else None)
            error = None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc} (cause: {exc.__cause__!r})"
    header = db[starts[0]] if starts else None  # none if staging failed
    stop = header and header.stop
    print(json.dumps({"uid": starts[0] if starts else None, "exit_status": stop and stop["exit_status"],
                      "span": [header.start["time"], stop["time"]] if stop else None,
                      "error": error, "unrestored": [str(w.message) for w in caught
                                                     if issubclass(w.category, SettingsNotRestored)]}),
          flush=True)
"""


class Client:
    """One session in a process of its own; ``go()`` runs one count, ``result()`` reports it."""

    def __init__(self, prefix: str, directory: Path) -> None:
        self.directory = directory
        env = {**os.environ, "BEAMLINE_DATABROKER_DIR": str(directory), "BEAMLINE_LIVE": "0"}
        self.stderr = open(directory.parent / f"{directory.name}.stderr", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-c", CLIENT, prefix, str(EXPOSURE), str(NUM)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(json.loads(line)) for line in self.proc.stdout],
                         daemon=True).start()

    def result(self, timeout: float) -> dict:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"client {self.directory.name} said nothing for {timeout} s (hung?); "
                                 f"see {self.stderr.name}") from None

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self, timeout: float) -> int:
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()  # by PID
                self.proc.wait(5)
            self.stderr.close()


def mislinked_events(directory: Path, uid: str) -> tuple[int, int]:
    """(events, events whose image does not sum to the Stats1 total the event recorded) of a stored run."""
    from beamline.storage import open_broker

    header = open_broker(directory)[uid]
    recorded = sum(1 for _ in header.events(fill=False))
    events = bad = 0
    try:
        for event in header.events(fill=True):
            events += 1
            image, total = event["data"]["dot_img"], event["data"]["dot_stats1_total"]
            if not np.isclose(float(np.sum(image, dtype=np.float64)), float(total), rtol=0, atol=0.5):
                bad += 1
    except Exception:  # a datum naming a file that is not there: that event and those after it
        bad += recorded - events
    return recorded, bad


def test_two_clients_on_one_camera_never_succeed_with_frames_not_their_own(spawn_ioc, tmp_path):
    p = "TC:"
    spawn_ioc(p, time_scale=100, seed=8)
    clients = [Client(p, tmp_path / name) for name in ("client-a", "client-b")]
    try:
        for client in clients:
            assert client.result(timeout=60) == {"ready": True}
        results = []
        for offset in (0.0, 1.0):  # started together, then 1 s apart
            t0 = time.monotonic()
            clients[0].go()
            time.sleep(offset)
            clients[1].go()
            round_results = [client.result(timeout=60) for client in clients]
            seconds = time.monotonic() - t0
            for client, result in zip(clients, round_results, strict=True):
                results.append({**result, "offset": offset, "seconds": seconds, "directory": client.directory})
        codes = [client.close(timeout=20) for client in clients]
    finally:
        for client in clients:
            if client.proc.poll() is None:
                client.proc.kill()
                client.proc.wait(5)
    assert codes == [0, 0], codes

    succeeded = [r for r in results if r["exit_status"] == "success"]
    events = mislinked = 0
    for r in succeeded:
        n, bad = mislinked_events(r["directory"], r["uid"])
        events, mislinked = events + n, mislinked + bad
        assert r["error"] is None and n == NUM, r
    for r in results:
        if r["exit_status"] != "success":
            # Failed, or never started (staging failed: no run documents).
            assert r["exit_status"] == "fail" or (r["uid"] is None and r["exit_status"] is None), r
            assert "another client is driving the camera" in r["error"], r["error"]
    unrestored = sum(len(r["unrestored"]) for r in results)
    print(f"\ntwo clients, {NUM} events each, started {', then '.join('together' if r['offset'] == 0 else '1 s apart' for r in results[::2])}: "
          f"{len(results)} runs, {len(succeeded)} success ({events} events checked, {mislinked} mislinked), "
          f"{len(results) - len(succeeded)} failed with 'another client'; rounds took "
          f"{results[0]['seconds']:.1f} s and {results[2]['seconds']:.1f} s; {unrestored} unstage warning(s)")
    for r in results:
        span = f"{r['span'][0] % 100:.2f}-{r['span'][1] % 100:.2f} s" if r["span"] else "no run"
        print(f"  offset {r['offset']:.0f} s {r['directory'].name}: {span} {r['exit_status']}"
              f"{': ' + r['error'][:400] if r['error'] else ''}")
        for warning in r["unrestored"]:
            print(f"    unstage: {warning[:400]}")
    assert mislinked == 0
