"""A put with completion completes after the monitor updates it caused.

An EPICS IOC posts a record's monitors before it answers the put callback, so a client that
monitors a field has its final value when its put completes. Checked here on the beamline
IOC over hundreds of puts on the motors and the camera, with pyepics as the writer (its own
monitors on the same circuit) and a second circuit (a raw caproto client) that must have
received the same final values by the time the writer's put returns.
"""

from __future__ import annotations

import epics
import pytest

from .test_ca_server import Raw

P = "BO:"
MOTOR_FIELDS = (".RBV", ".DMOV", ".LVIO", ".VAL")
CAMERA_PVS = ("cam1:ArrayCounter_RBV", "cam1:Acquire_RBV", "cam1:DetectorState_RBV", "image1:ArrayCounter_RBV")


class Watched:
    """The latest monitored value of each PV, on a pyepics circuit and on a raw one."""

    def __init__(self, port: int, names: list[str]) -> None:
        self.mine: dict[str, object] = {}
        self.pvs = [epics.PV(name, callback=self._on, auto_monitor=True, form="native") for name in names]
        assert all(pv.wait_for_connection(10) for pv in self.pvs)
        self.raw = Raw(port, names)
        self.subs = {self.raw.subscribe(name)[0]: name for name in names}
        self.theirs: dict[str, object] = {}
        self.raw.until(lambda c: self._take([c]) and len(self.theirs) == len(names), 10)

    def _on(self, pvname=None, value=None, **kwargs) -> None:
        self.mine[pvname] = value

    def _take(self, commands) -> bool:
        for c in commands:
            name = self.subs.get(getattr(c, "subscriptionid", None))
            if name is not None and getattr(c, "payload_size", 0):
                self.theirs[name] = c.data[0]
        return True

    def stale(self, expected: dict[str, object]) -> tuple[int, int]:
        """How many expected values the pyepics monitors / the other circuit lack right now."""
        self._take(self.raw.ready())  # loopback: what the IOC sent is in the socket buffer already
        mine = sum(self.mine.get(k) != v for k, v in expected.items())
        theirs = sum(self.theirs.get(k) != v for k, v in expected.items())
        return mine, theirs

    def close(self) -> None:
        for pv in self.pvs:
            pv.clear_callbacks()
            pv.disconnect()
        self.raw.sock.close()


@pytest.fixture
def ordering_ioc(spawn_ioc):
    return spawn_ioc(P, time_scale=100, seed=4)


def test_motor_puts_complete_after_rbv_dmov_lvio(ordering_ioc):
    motors = [P + "mtr:dotx", P + "mtr:doty"]
    watched = Watched(ordering_ioc.port, [m + f for m in motors for f in MOTOR_FIELDS])
    stale_mine = stale_theirs = puts = 0
    try:
        for i in range(150):
            for m in motors:
                target = round(((i * 7) % 11 - 5) * 0.05, 3)
                assert epics.caput(m, target, wait=True, timeout=10) == 1
                puts += 1
                a, b = watched.stale({m + ".RBV": target, m + ".DMOV": 1, m + ".LVIO": 0, m + ".VAL": target})
                stale_mine += a
                stale_theirs += b
        # Past the soft limit: refused by the record (LVIO), not by CA; the put still completes.
        motor = epics.Motor(motors[0])
        for _ in range(10):
            assert motor.move(150, ignore_limits=True, wait=True) == -4  # DONEW_SOFTLIM
            a, b = watched.stale({motors[0] + ".LVIO": 1, motors[0] + ".DMOV": 1})
            stale_mine += a
            stale_theirs += b
            assert epics.caput(motors[0], 0.0, wait=True, timeout=10) == 1
            puts += 2
    finally:
        watched.close()
    print(f"\n{puts} motor puts: stale monitored fields at completion: writer {stale_mine}, other circuit "
          f"{stale_theirs}")
    assert stale_mine == 0 and stale_theirs == 0


def test_camera_puts_complete_after_counters_and_state(ordering_ioc):
    cam = P + "dot:"
    for pv, value in (("cam1:AcquireTime", 0.001), ("cam1:AcquirePeriod", 0.0), ("cam1:ImageMode", "Single")):
        assert epics.caput(cam + pv, value, wait=True, timeout=10) == 1
    watched = Watched(ordering_ioc.port, [cam + pv for pv in CAMERA_PVS])
    stale_mine = stale_theirs = 0
    try:
        count = epics.caget(cam + "cam1:ArrayCounter_RBV", use_monitor=False)
        image_count = epics.caget(cam + "image1:ArrayCounter_RBV", use_monitor=False)
        for _ in range(200):
            assert epics.caput(cam + "cam1:Acquire", 1, wait=True, timeout=10) == 1
            count += 1
            image_count += 1
            a, b = watched.stale({cam + "cam1:ArrayCounter_RBV": count, cam + "cam1:Acquire_RBV": 0,
                                  cam + "cam1:DetectorState_RBV": 0, cam + "image1:ArrayCounter_RBV": image_count})
            stale_mine += a
            stale_theirs += b
    finally:
        watched.close()
    print(f"\n200 acquisitions: stale monitored counters/state at completion: writer {stale_mine}, other circuit "
          f"{stale_theirs}")
    assert stale_mine == 0 and stale_theirs == 0
