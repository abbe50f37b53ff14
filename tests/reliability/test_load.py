"""Many monitor clients on one IOC while scans run.

What a user with viewers open checks: scans still complete at a useful rate; a client that
is slow, or frozen (it stops reading its socket), delays nobody else; clients coming and
going do not break the server; the IOC's memory stays bounded and comes back down once the
clients leave. The first test is the regression test for caproto 1.3's server loop (see
``ioc/ca_server.py``, fixes 3 and 4): on caproto's own server one frozen client stops every
monitor of every client within seconds, the IOC's memory grows by ~40 MB/s, and when the
frozen client reads again the server dies (``RuntimeError: deque mutated during iteration``,
then ``Server error. Will shut down``; new clients are refused). The last test has five
live-image viewers on a camera running flat out with ADCore's default MinCallbackTime (0).
"""

from __future__ import annotations

import contextlib
import time

import epics
import pytest

from ..conftest import eventually
from .drills import (
    COUNTER,
    CURRENT,
    CURRENT_RATE,
    IMAGE,
    LoadDrill,
    MonitorProcess,
    RawClient,
    answers,
    counted_run,
    ioc_circuits,
    ioc_rss_mb,
    log_problems,
)

# Alone: it measures rates, which other tests' load would lower.
pytestmark = pytest.mark.serial

FRAME_BYTES = 480 * 640 * 4


class Monitor:
    """pyepics monitors in this process, counting updates of ring:current and ArrayCounter_RBV."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.n = {"cur": 0, "cnt": 0}
        self.pvs = [epics.PV(prefix + CURRENT, callback=self._counter("cur"), auto_monitor=True),
                    epics.PV(prefix + COUNTER, callback=self._counter("cnt"), auto_monitor=True)]
        assert all(pv.wait_for_connection(10) for pv in self.pvs)

    def _counter(self, key):
        def callback(**kwargs):
            self.n[key] += 1
        return callback

    def window(self, seconds: float) -> dict[str, float]:
        """Update rates over ``seconds``, and the camera's own frame rate (ArrayCounter_RBV read directly)."""
        n0 = dict(self.n)
        frames0 = epics.caget(self.prefix + COUNTER, use_monitor=False, timeout=5)
        time.sleep(seconds)
        frames1 = epics.caget(self.prefix + COUNTER, use_monitor=False, timeout=5)
        rates = {key: (self.n[key] - n0[key]) / seconds for key in self.n}
        # None: the IOC did not answer the read (0 frames/s then, for the assertions' sake).
        rates["fps"] = (frames1 - frames0) / seconds if frames0 is not None and frames1 is not None else 0.0
        return rates

    def close(self) -> None:
        for pv in self.pvs:
            pv.clear_callbacks()
            pv.disconnect()


def test_a_frozen_client_neither_starves_the_others_nor_stops_the_server(spawn_ioc):
    ioc = spawn_ioc("BF:", time_scale=100, seed=3)
    p = "BF:"
    epics.caput(p + "dot:cam1:AcquireTime", 0.001, wait=True, timeout=10)
    epics.caput(p + "dot:cam1:ImageMode", "Continuous", wait=True, timeout=10)
    epics.caput(p + "dot:cam1:Acquire", 1, wait=False)
    monitor = Monitor(p)
    address = ("127.0.0.1", ioc.port)
    try:
        circuits0 = ioc_circuits(ioc)
        rss0 = ioc_rss_mb(ioc)
        base = monitor.window(1.5)
        # A viewer of the image with 300 monitors on the frame counter, that stops reading.
        frozen = RawClient(address, [(p + IMAGE, 1), (p + COUNTER, 300)], reading=False)
        # Frozen for real: its socket's receive buffer (128 KiB by default) fills with updates
        # it has not read, so the IOC's writes to it block.
        eventually(lambda: frozen.unread() >= 1 << 16, timeout=10)
        while_frozen = monitor.window(2)
        # Clients come and go on the same PVs meanwhile, then the frozen one wakes up and reads.
        for i in range(5):
            RawClient(address, [(p + COUNTER, 1), (p + CURRENT, 1)]).close(reset=i % 2 == 0)
        received = frozen.received
        frozen.reading.set()
        eventually(lambda: frozen.received > received + 2 * FRAME_BYTES, timeout=10)  # it reads again
        after_wake = monitor.window(1.5)
        rss_frozen = ioc_rss_mb(ioc)
        frozen.close()
        print(f"\nfast client without / with a frozen client / after it woke: ring:current "
              f"{base['cur']:.1f} / {while_frozen['cur']:.1f} / {after_wake['cur']:.1f} Hz, frame counter "
              f"{base['cnt']:.1f} / {while_frozen['cnt']:.1f} / {after_wake['cnt']:.1f} Hz at "
              f"{base['fps']:.1f} / {while_frozen['fps']:.1f} / {after_wake['fps']:.1f} frames/s; "
              f"IOC RSS {rss0:.0f} -> {rss_frozen:.0f} MB; the frozen client got {frozen.received / 1e6:.0f} MB "
              f"once it read again")
        for rates in (while_frozen, after_wake):
            assert rates["cur"] >= 0.7 * CURRENT_RATE, rates
            assert rates["fps"] > 1 and rates["cnt"] >= 0.8 * rates["fps"], rates
        assert frozen.received > 0
        assert rss_frozen - rss0 < 100
        # The server still takes new clients, drops the circuits that left, and logged no error.
        assert answers(p)
        assert eventually(lambda: ioc_circuits(ioc) <= circuits0, timeout=10)
        assert log_problems(ioc) == []
        assert monitor.window(1)["cur"] > 0
    finally:
        monitor.close()
        epics.caput(p + "dot:cam1:Acquire", 0, wait=True, timeout=10)


@pytest.fixture
def session(spawn_ioc, tmp_path, monkeypatch):
    """An IOC at time scale 1000 and a bluesky session on it (its own databroker directory)."""
    from beamline.session import make_session

    ioc = spawn_ioc("BL2:", time_scale=1000, seed=2)
    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(tmp_path / "databroker"))
    ns = make_session("BL2:", live=False, timeout=10)
    ns["dot"].exp.put(0.005)
    return ioc, ns


def test_twenty_monitor_clients_during_scans(session):
    ioc, ns = session
    base = counted_run(ns, 100)
    circuits0 = ioc_circuits(ioc)
    rss0 = ioc_rss_mb(ioc)
    # 10 pyepics processes and 10 caproto contexts, 4 of them slow (0.3 s in each image
    # callback), a frozen client, and clients connecting and leaving all the time.
    drill = LoadDrill(ioc, n_clients=20)
    try:
        assert all(c.ok for c in drill.clients), "a monitor client did not connect"
        figures = {}
        for min_callback in (0.1, 0.0):
            ns["dot"].image.min_callback_time.set(min_callback).wait(10)
            t0 = time.monotonic()
            run = counted_run(ns, 100)
            t1 = time.monotonic()
            h = ns["db"][run["uid"]]
            assert h.stop["exit_status"] == "success" and h.stop["num_events"]["primary"] == 100
            figures[min_callback] = {**run, **drill.rates(t0, t1), "rss": ioc_rss_mb(ioc)}
        churn_cycles, churn_errors = drill.churn.cycles, list(drill.churn.errors)
    finally:
        drill.close()
    assert eventually(lambda: ioc_circuits(ioc) <= circuits0, timeout=15)
    # Memory comes back once the clients are gone (at once: no garbage collection awaited).
    with contextlib.suppress(AssertionError):
        eventually(lambda: ioc_rss_mb(ioc) - rss0 < 100, timeout=5)
    rss_after = ioc_rss_mb(ioc)
    print(f"\nno clients: {base['rate']:.1f} events/s; IOC RSS {rss0:.0f} MB")
    for min_callback, f in figures.items():
        print(f"20 clients, MinCallbackTime {min_callback:g} s: {f['rate']:.1f} events/s; fast clients: image "
              f"{f['fast_arr']:.1f}/s (worst {f['fast_arr_min']:.1f}), ring:current {f['fast_cur']:.1f}/s (worst "
              f"{f['fast_cur_min']:.1f}); slow clients: image {f['slow_arr']:.1f}/s, ring:current "
              f"{f['slow_cur']:.1f}/s; IOC RSS {f['rss']:.0f} MB")
    print(f"clients gone: IOC RSS {rss_after:.0f} MB ({rss_after - rss0:+.0f} MB); {churn_cycles} clients came and went")
    assert churn_errors == [] and churn_cycles > 10
    for f in figures.values():
        # Scans keep a useful rate; fast clients see the current at its rate and images
        # flowing, whatever the slow and frozen ones do.
        assert f["rate"] > 0.25 * base["rate"]
        assert f["fast_cur"] >= 0.7 * CURRENT_RATE and f["fast_cur_min"] >= 0.5 * CURRENT_RATE
        assert f["fast_arr_min"] > 1.0
        assert f["rss"] - rss0 < 150
    assert rss_after - rss0 < 100
    assert answers("BL2:")
    assert log_problems(ioc) == []
    # The same session scans on once the clients are gone.
    assert ns["db"][counted_run(ns, 5)["uid"]].stop["exit_status"] == "success"


def test_five_live_viewers_at_min_callback_time_0_get_most_frames(spawn_ioc):
    """Five pyepics viewers of image1:ArrayData while the camera runs flat out, with ADCore's
    default MinCallbackTime (0: every frame posted): each receives most of the posted frames."""
    ioc = spawn_ioc("BV:", time_scale=100, seed=5)
    p = "BV:"
    assert epics.caget(p + "dot:image1:MinCallbackTime", timeout=5) == 0
    viewers = [MonitorProcess(p) for _ in range(5)]
    try:
        assert all(v.ready.wait(30) and v.ok for v in viewers), "a viewer did not connect"
        epics.caput(p + "dot:cam1:AcquireTime", 0.001, wait=True, timeout=10)
        epics.caput(p + "dot:cam1:ImageMode", "Continuous", wait=True, timeout=10)
        epics.caput(p + "dot:cam1:Acquire", 1, wait=False)
        assert eventually(lambda: epics.caget(p + "dot:image1:ArrayCounter_RBV", use_monitor=False, timeout=5) > 20,
                          timeout=20)
        t0, posted0 = time.monotonic(), epics.caget(p + "dot:image1:ArrayCounter_RBV", use_monitor=False, timeout=5)
        # The measurement window: 60 frames posted and at least 2 s (the viewers report their
        # counts every 0.2 s; at 100 frames/s 60 frames alone were 0.6 s).
        eventually(lambda: time.monotonic() - t0 >= 2.0
                   and epics.caget(p + "dot:image1:ArrayCounter_RBV", use_monitor=False, timeout=5)
                   >= posted0 + 60, timeout=30, interval=0.2)
        t1, posted1 = time.monotonic(), epics.caget(p + "dot:image1:ArrayCounter_RBV", use_monitor=False, timeout=5)
        epics.caput(p + "dot:cam1:Acquire", 0, wait=True, timeout=10)
        posted = (posted1 - posted0) / (t1 - t0)
        rates = [v.rate(t0 + 0.2, t1 - 0.2)["arr"] for v in viewers]
    finally:
        for v in viewers:
            v.kill()
    print(f"\nimage1 posted {posted:.0f} frames/s; five viewers received " + ", ".join(f"{r:.0f}" for r in rates)
          + " frames/s")
    assert posted > 10
    assert min(rates) >= 0.5 * posted
    assert log_problems(ioc) == []
