"""Live image over Channel Access: the IOC's ``image1:ArrayData`` against an EPICS C IOC.

The client is pyepics (libca) on both sides, the array the same (ROWS x COLS int32):

* get: repeated ``PV.get(use_monitor=False)`` of the full array, for a fixed time;
* monitor: full-array updates delivered to a pyepics monitor callback while the server
  posts as fast as it can. Ours: the camera in Continuous mode at the run's large time
  scale, ``image1:MinCallbackTime`` 0 (no rate limit), TIFF1 and Stats1 disabled so the
  frames go only to image1; the reference: a thread calling ``WaveformIn.set`` in a loop.

Rates are MB/s of array payload (1 MB = 1e6 bytes); updates per second are kept too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass


@dataclass
class MonitorResult:
    mbps: float  # MB/s delivered
    updates_per_s: float  # full arrays delivered per second
    posts_per_s: float  # arrays the server produced per second
    short: int  # updates that did not carry the whole array


def get_mbps(pvname: str, count: int, seconds: float) -> float:
    """MB/s of repeated full-array gets of ``pvname`` (``count`` elements) for ``seconds``."""
    import epics

    pv = epics.get_pv(pvname, auto_monitor=False, connect=True, timeout=10)
    nbytes = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        value = pv.get(use_monitor=False, count=count, as_numpy=True, timeout=10)
        if value is None or len(value) != count:
            raise RuntimeError(f"{pvname}: a get returned {None if value is None else len(value)} elements")
        nbytes += value.nbytes
    return nbytes / (time.perf_counter() - t0) / 1e6


_CONNECT = r"""
import json, sys, threading, time
import epics
names = sys.argv[1:]
done, lock, all_done = {}, threading.Lock(), threading.Event()
def connected(pvname=None, conn=None, **kwargs):
    if conn:
        with lock:
            done.setdefault(pvname, time.monotonic())
            if len(done) == len(names):
                all_done.set()
t0 = time.monotonic()
pvs = [epics.PV(name, connection_callback=connected, auto_monitor=False) for name in names]
all_done.wait(20)
print(json.dumps({"connected": len(done), "seconds": max(done.values(), default=t0 + 20) - t0}))
"""


def connect_seconds(names: list[str]) -> float:
    """Seconds a fresh pyepics client (its own process: libca starts anew) takes to connect all of
    ``names``, created at once as an ophyd device's lazy signals are: the search pacing of libca,
    which depends on how the server answers searches, then the channels' creation."""
    out = subprocess.run([sys.executable, "-c", _CONNECT, *names], capture_output=True, text=True,
                         env=os.environ, timeout=60)
    result = json.loads(out.stdout or "{}") if out.returncode == 0 else {}
    if result.get("connected") != len(names):
        raise RuntimeError(f"connected {result.get('connected')} of {len(names)} channels: {out.stderr[-500:]}")
    return result["seconds"]


class ArrayMonitor:
    """A pyepics monitor on a waveform that counts the full arrays it receives."""

    def __init__(self, pvname: str, count: int) -> None:
        import epics

        self.count = count
        self.lock = threading.Lock()
        self.updates = 0
        self.short = 0
        self.nbytes = 0
        self.pv = epics.PV(pvname, auto_monitor=True, form="time", callback=self._on_update)
        if not self.pv.wait_for_connection(10):
            raise RuntimeError(f"{pvname} did not connect")

    def _on_update(self, value=None, **kwargs) -> None:
        with self.lock:
            if value is not None and len(value) == self.count:
                self.updates += 1
                self.nbytes += value.nbytes
            else:
                self.short += 1

    def snapshot(self) -> tuple[int, int, int]:
        with self.lock:
            return self.updates, self.nbytes, self.short

    def measure(self, start, stop, posts, seconds: float, settle: float = 0.3) -> MonitorResult:
        """Start the server posting, count for ``seconds`` after ``settle``, stop it.

        ``start``/``stop`` are callables; ``posts()`` returns the server's posting counter.
        """
        start()
        try:
            time.sleep(settle)
            u0, b0, s0 = self.snapshot()
            p0 = posts()
            t0 = time.perf_counter()
            time.sleep(seconds)
            u1, b1, s1 = self.snapshot()
            p1 = posts()
            dt = time.perf_counter() - t0
        finally:
            stop()
        return MonitorResult((b1 - b0) / dt / 1e6, (u1 - u0) / dt, (p1 - p0) / dt, s1 - s0)

    def close(self) -> None:
        self.pv.clear_callbacks()
        self.pv.disconnect()


def _caput(pv: str, value, wait: bool = True) -> None:
    import epics

    if epics.caput(pv, value, wait=wait, timeout=10) != 1:
        raise RuntimeError(f"put to {pv} failed")


def _caget(pv: str) -> float:
    import epics

    value = epics.caget(pv, use_monitor=False, timeout=10)
    if value is None:
        raise RuntimeError(f"no answer from {pv}")
    return float(value)


class OursServer:
    """Start/stop/posts for our IOC's ``image1`` (see the module docstring for the settings)."""

    def __init__(self, prefix: str) -> None:
        self.p = f"{prefix}dot:"
        self.pvname = f"{self.p}image1:ArrayData"

    def prepare(self) -> None:
        for pv, value in (("TIFF1:EnableCallbacks", 0), ("Stats1:EnableCallbacks", 0),
                          ("image1:EnableCallbacks", 1), ("image1:MinCallbackTime", 0.0),
                          ("cam1:ArrayCallbacks", 1), ("cam1:ImageMode", "Single"), ("cam1:AcquirePeriod", 0.0)):
            _caput(self.p + pv, value)
        _caput(self.p + "cam1:Acquire", 1)  # one frame, so ArrayData holds a full image for the gets

    def start(self) -> None:
        _caput(self.p + "cam1:ImageMode", "Continuous")
        _caput(self.p + "cam1:Acquire", 1, wait=False)

    def stop(self) -> None:
        _caput(self.p + "cam1:Acquire", 0)
        deadline = time.monotonic() + 10
        while _caget(self.p + "cam1:Acquire_RBV") != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        _caput(self.p + "cam1:ImageMode", "Single")

    def posts(self) -> float:
        return _caget(self.p + "image1:ArrayCounter_RBV")

    def restore(self) -> None:
        for pv, value in (("TIFF1:EnableCallbacks", 1), ("Stats1:EnableCallbacks", 1),
                          ("image1:MinCallbackTime", 0.0)):
            _caput(self.p + pv, value)


class ReferenceServer:
    """Start/stop/posts for the reference waveforms (:mod:`bench.softioc_server`, :mod:`bench.caproto_server`).

    ``rate`` (caproto reference only): 1 posts as fast as the server can, N > 1 that many per second.
    """

    def __init__(self, device: str, rate: int = 1) -> None:
        self.device = device
        self.rate = rate
        self.pvname = f"{device}:ArrayData"

    def start(self) -> None:
        _caput(f"{self.device}:Post", self.rate)

    def stop(self) -> None:
        _caput(f"{self.device}:Post", 0)
        time.sleep(0.2)  # let the last posts drain

    def posts(self) -> float:
        return _caget(f"{self.device}:Posts")


def server_accepts_new_clients(pvname: str, timeout: float = 5.0) -> bool:
    """Whether a fresh TCP circuit (caproto's sync client) can still read ``pvname``."""
    from caproto.sync.client import read

    try:
        read(pvname, timeout=timeout, repeater=False)
        return True
    except Exception:
        return False


RATES = (10, 50, 100, 200, 400)  # posts per second of the matched-rate monitor rows; then flat out


@dataclass
class RatePair:
    rate: int  # posts/s asked for; 1: flat out
    ours: MonitorResult
    c: MonitorResult

    @staticmethod
    def fraction(res: MonitorResult) -> float:
        """Share of the posted arrays the monitor received."""
        return min(1.0, res.updates_per_s / res.posts_per_s) if res.posts_per_s else 0.0

    @property
    def delivered_ratio(self) -> float:
        """Delivered fraction, ours over the C server's (at a matched posting rate)."""
        c = self.fraction(self.c)
        return self.fraction(self.ours) / c if c else float("nan")

    @property
    def rate_ratio(self) -> float:
        """Full arrays received per second, ours over the C server's (flat out: past saturation)."""
        return self.ours.updates_per_s / self.c.updates_per_s if self.c.updates_per_s else float("nan")


def matched_rates(ours_device: str, c_device: str, count: int, seconds: float, repeats: int,
                  rates: tuple[int, ...] = RATES) -> list[RatePair]:
    """Monitor of a ready-made array posted at each rate of ``rates`` and flat out, ours vs the C
    server, alternating; the median repeat (by ours' delivered rate) of each."""
    import statistics

    mon_ours, mon_c = ArrayMonitor(f"{ours_device}:ArrayData", count), ArrayMonitor(f"{c_device}:ArrayData", count)
    pairs = []
    try:
        for rate in (*rates, 1):
            ours_srv, c_srv = ReferenceServer(ours_device, rate), ReferenceServer(c_device, rate)
            runs = []
            for _ in range(repeats):
                a = mon_ours.measure(ours_srv.start, ours_srv.stop, ours_srv.posts, seconds)
                b = mon_c.measure(c_srv.start, c_srv.stop, c_srv.posts, seconds)
                runs.append(RatePair(rate, a, b))
            ratios = [r.delivered_ratio if rate > 1 else r.rate_ratio for r in runs]
            pairs.append(runs[ratios.index(statistics.median_low(ratios))])
    finally:
        mon_ours.close()
        mon_c.close()
    return pairs
