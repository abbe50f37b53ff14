"""Reliability drills against a real beamline IOC: many monitor clients (fast, slow and frozen)
while scans run, clients coming and going, and the IOC killed mid-scan and restarted.

The tests in this directory run each drill once (``test_load.py``, ``test_ioc_killed.py``,
``test_client_killed.py``); ``tools/soak.py`` runs them in a loop for as long as asked.

Clients used here (all loopback):

* :class:`MonitorProcess`: a pyepics process monitoring ``image1:ArrayData`` and
  ``ring:current`` and reporting its counts; ``slow=`` sleeps in the image callback (libca
  then stops reading its socket while it sleeps, as a busy GUI does).
* :class:`CaprotoMonitor`: the same with caproto's threading client, in this process.
* :class:`RawClient`: a hand-driven CA circuit (caproto's sans-I/O layer on a plain
  socket) that subscribes and then reads its socket only when told: a frozen client.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from ..conftest import eventually

IMAGE = "dot:image1:ArrayData"
CURRENT = "ring:current"
COUNTER = "dot:cam1:ArrayCounter_RBV"
CURRENT_RATE = 5.0  # Hz: the IOC scans ring:current every 0.2 s
LOG_PROBLEMS = ("Traceback", "Server error", "deque mutated", "await wasn't used", "Will shut down")


# -- the IOC from outside ---------------------------------------------------------------------


def ioc_rss_mb(ioc) -> float:
    """The IOC process's resident memory, MB."""
    import psutil

    return psutil.Process(ioc.pid).memory_info().rss / 1e6


def ioc_circuits(ioc) -> int:
    """How many CA circuits (established TCP connections on its port) the IOC has open."""
    import psutil

    return sum(1 for c in psutil.Process(ioc.pid).net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == ioc.port)


def log_problems(ioc, since: int = 0) -> list[str]:
    """Lines of the IOC's log (from byte ``since``) that show an error in the server itself."""
    if ioc.log_path is None or not Path(ioc.log_path).exists():
        return []
    text = Path(ioc.log_path).read_bytes()[since:].decode("utf-8", "replace")
    return [line for line in text.splitlines() if any(p in line for p in LOG_PROBLEMS)]


def log_size(ioc) -> int:
    return Path(ioc.log_path).stat().st_size if ioc.log_path and Path(ioc.log_path).exists() else 0


def answers(prefix: str, timeout: float = 5.0) -> bool:
    """True if a brand-new client can connect and read (caproto's sync client)."""
    from caproto.sync.client import read

    try:
        read(prefix + CURRENT, timeout=timeout, repeater=False)
        return True
    except Exception:
        return False


def wait_for(check, timeout: float, interval: float = 0.05):
    """Poll ``check()`` until truthy (returned) or ``timeout`` s pass (returns the last value)."""
    try:
        return eventually(check, timeout, interval)
    except AssertionError:
        return check()


# -- clients ----------------------------------------------------------------------------------


class RawClient:
    """One CA circuit driven by hand: subscribes, then reads its socket only while ``reading``.

    ``subs`` is ``[(pvname, how_many_subscriptions), ...]``. Not reading is what a frozen
    client looks like to the server: its socket buffers fill and the server's writes block.
    """

    def __init__(self, address: tuple[str, int], subs: list[tuple[str, int]], reading: bool = True):
        import caproto as ca

        self.received = 0
        self.reading = threading.Event()
        self.sock = socket.create_connection(address, timeout=10)
        self.circuit = ca.VirtualCircuit(our_role=ca.CLIENT, address=address, priority=0)
        self.circuit.our_address = self.sock.getsockname()
        self._send(ca.VersionRequest(priority=0, version=ca.DEFAULT_PROTOCOL_VERSION),
                   ca.HostNameRequest("raw-client"), ca.ClientNameRequest("raw-client"))
        channels = {name: ca.ClientChannel(name, self.circuit) for name, _ in subs}
        self._send(*[chan.create() for chan in channels.values()])
        deadline = time.monotonic() + 10
        while not all(chan.states[ca.CLIENT] is ca.CONNECTED for chan in channels.values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw client: no channel for {list(channels)}")
            commands, _ = self.circuit.recv(self.sock.recv(65536))
            for command in commands:
                self.circuit.process_command(command)
        self._send(*[channels[name].subscribe() for name, n in subs for _ in range(n)])
        self.sock.settimeout(None)
        if reading:
            self.reading.set()
        threading.Thread(target=self._read, daemon=True, name="raw-client").start()

    def _send(self, *commands) -> None:
        self.sock.sendall(b"".join(self.circuit.send(*commands)))

    def _read(self) -> None:
        try:
            while True:
                self.reading.wait()
                data = self.sock.recv(1 << 20)
                if not data:
                    return
                self.received += len(data)
        except OSError:
            return

    def unread(self) -> int:
        """Bytes the server has sent that this client has not read yet (in its socket buffer)."""
        import fcntl
        import termios

        try:
            return struct.unpack("i", fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return 0

    def close(self, reset: bool = True) -> None:
        """Drop the connection: with a TCP reset (as a killed process's) or a normal close."""
        with contextlib.suppress(OSError):
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.sock.close()


MONITOR_CODE = r"""
import json, sys, time
import epics
prefix, slow = sys.argv[1], float(sys.argv[2])
counts = {"arr": 0, "cur": 0}
def on_image(**kwargs):
    counts["arr"] += 1
    if slow:
        time.sleep(slow)
def on_current(**kwargs):
    counts["cur"] += 1
pvs = [epics.PV(prefix + "dot:image1:ArrayData", callback=on_image, auto_monitor=True),
       epics.PV(prefix + "ring:current", callback=on_current, auto_monitor=True)]
ok = all(pv.wait_for_connection(timeout=20) for pv in pvs)
print(json.dumps({"ready": ok}), flush=True)
while True:
    time.sleep(0.2)
    print(json.dumps({"t": time.monotonic(), **counts}), flush=True)
"""


class _Counts:
    """Cumulative update counts over time, for rates over a window."""

    def __init__(self) -> None:
        self.samples: deque = deque(maxlen=2000)

    def add(self, t: float, arr: int, cur: int) -> None:
        self.samples.append((t, arr, cur))

    def rate(self, t0: float, t1: float) -> dict[str, float]:
        """Updates per second of each PV between monotonic times t0 and t1, from the samples
        that bracket them (the last at or before t0, the first at or after t1): a window
        shorter than two sampling periods (0.2 s each) holds too few samples of its own."""
        samples = list(self.samples)
        before = [s for s in samples if s[0] <= t0]
        after = [s for s in samples if s[0] >= t1]
        first = before[-1] if before else next((s for s in samples if s[0] >= t0), None)
        last = after[0] if after else next((s for s in reversed(samples) if s[0] <= t1), None)
        if first is None or last is None or last[0] - first[0] <= 0:
            return {"arr": 0.0, "cur": 0.0}
        (ta, aa, ca_), (tb, ab, cb) = first, last
        return {"arr": (ab - aa) / (tb - ta), "cur": (cb - ca_) / (tb - ta)}


class MonitorProcess:
    """A pyepics client process monitoring the image and the ring current (``slow``: s of sleep per image)."""

    def __init__(self, prefix: str, slow: float = 0.0, env: dict | None = None):
        self.slow = slow
        self.counts = _Counts()
        self.ready = threading.Event()
        self.ok = False
        self.proc = subprocess.Popen([sys.executable, "-c", MONITOR_CODE, prefix, str(slow)],
                                     env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True, name="monitor-process").start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "ready" in msg:
                self.ok = bool(msg["ready"])
                self.ready.set()
            else:
                self.counts.add(msg["t"], msg["arr"], msg["cur"])
        self.ready.set()

    def rate(self, t0: float, t1: float) -> dict[str, float]:
        return self.counts.rate(t0, t1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    close = kill


class CaprotoMonitor:
    """The same monitors with caproto's threading client (a context of its own), in this process."""

    def __init__(self, prefix: str, slow: float = 0.0):
        from caproto.threading.client import Context

        self.slow = slow
        self.counts = _Counts()
        self._n = {"arr": 0, "cur": 0}
        self._stop = threading.Event()
        self.ctx = Context()
        image, current = self.ctx.get_pvs(prefix + IMAGE, prefix + CURRENT, timeout=10)
        for pv in (image, current):
            pv.wait_for_connection(timeout=20)
        self.subs = [image.subscribe(data_type="time"), current.subscribe(data_type="time")]
        self.subs[0].add_callback(self._on_image)
        self.subs[1].add_callback(self._on_current)
        self.ok = True
        threading.Thread(target=self._sample, daemon=True, name="caproto-monitor").start()

    def _on_image(self, sub, response) -> None:
        self._n["arr"] += 1
        if self.slow and not self._stop.is_set():
            time.sleep(self.slow)

    def _on_current(self, sub, response) -> None:
        self._n["cur"] += 1

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.counts.add(time.monotonic(), self._n["arr"], self._n["cur"])

    def rate(self, t0: float, t1: float) -> dict[str, float]:
        return self.counts.rate(t0, t1)

    def close(self) -> None:
        self._stop.set()
        self.ctx.disconnect()


class Churn:
    """Clients that connect, subscribe to the image and the current, read a little and leave, over and over."""

    def __init__(self, address: tuple[str, int], prefix: str, pause: float = 0.05):
        self.address, self.prefix, self.pause = address, prefix, pause
        self.cycles = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="churn")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client = RawClient(self.address, [(self.prefix + IMAGE, 1), (self.prefix + CURRENT, 1),
                                                  (self.prefix + COUNTER, 1)])
                wait_for(lambda c=client: c.received > 0, timeout=2)  # it got its first updates
                client.close(reset=self.cycles % 2 == 0)
                self.cycles += 1
            except Exception as exc:  # a refused or dead server is what this is looking for
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.pause)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


# -- scans --------------------------------------------------------------------------------------


def counted_run(ns: dict, num: int) -> dict:
    """``RE(bp.count([dot, I], num=num))``; its uid, wall time and events per second."""
    import bluesky.plans as bp

    t0 = time.monotonic()
    uid, = ns["RE"](bp.count([ns["dot"], ns["I"]], num=num))
    seconds = time.monotonic() - t0
    return {"uid": uid, "seconds": seconds, "rate": num / seconds}


def check_run_images(header) -> int:
    """Read every event's image of a run through databroker; the number of events (each checked whole)."""
    n = 0
    for image in header.data("dot_img"):
        assert image.shape == (480, 640), image.shape
        n += 1
    return n


def kill_mid_count(ns: dict, ioc, num: int = 150, after_events: int = 20, delay: float = 0.02) -> dict:
    """Run ``count([dot, I], num)`` and SIGKILL the IOC after ``after_events`` events (plus ``delay`` s).

    Returns what a user would look at: the exception the RunEngine raised, the seconds
    from the kill to that failure, the events the RunEngine emitted before it failed, and
    the header of the run.
    """
    import bluesky.plans as bp

    RE = ns["RE"]
    seen: list[float] = []
    killed: list[float] = []

    def on_event(name, doc):
        if name == "event":
            seen.append(time.monotonic())
            if len(seen) >= after_events:
                reached.set()

    def killer():
        while not reached.wait(0.05):
            if done.is_set():
                return
        done.wait(delay)  # a moment into the next exposure
        killed.append(time.monotonic())
        ioc.kill()

    done = threading.Event()
    reached = threading.Event()
    token = RE.subscribe(on_event)
    thread = threading.Thread(target=killer, daemon=True, name="killer")
    thread.start()
    error = None
    try:
        RE(bp.count([ns["dot"], ns["I"]], num=num))
    except Exception as exc:
        error = exc
    failed_at = time.monotonic()
    done.set()
    thread.join(10)
    RE.unsubscribe(token)
    return {"error": error, "killed_at": killed[0] if killed else None,
            "seconds_to_fail": failed_at - killed[0] if killed else None,
            "events_emitted": len(seen), "header": ns["db"][-1]}


def restart(ioc, **overrides):
    """A new IOC process like ``ioc`` (same prefix, data root, port, log), started."""
    from beamline_shared.launcher import IOCProcess

    kwargs = dict(prefix=ioc.prefix, data_root=ioc.data_root, port=ioc.port, time_scale=ioc.time_scale,
                  seed=ioc.seed, extra_args=ioc.extra_args, log_path=ioc.log_path)
    kwargs.update(overrides)
    return IOCProcess(**kwargs).start()


def all_connected(ns: dict) -> bool:
    return all(ns[name].connected for name in ("dot", "I", "mtr_dotx", "mtr_doty"))


# -- the soak -----------------------------------------------------------------------------------


class LoadDrill:
    """``n_clients`` monitor clients on an IOC (a third pyepics processes, the rest caproto
    contexts; one in five slow), a frozen raw client, and churn; measure while scans run."""

    def __init__(self, ioc, n_clients: int = 20, slow_every: int = 5, frozen: bool = True, churn: bool = True):
        prefix = ioc.prefix
        self.clients: list = []
        n_processes = n_clients // 2
        for i in range(n_clients):
            slow = 0.3 if i % slow_every == slow_every - 1 else 0.0
            self.clients.append(MonitorProcess(prefix, slow) if i < n_processes else CaprotoMonitor(prefix, slow))
        for client in self.clients:
            if isinstance(client, MonitorProcess):
                client.ready.wait(30)
        self.frozen = RawClient(("127.0.0.1", ioc.port), [(prefix + IMAGE, 1), (prefix + COUNTER, 50)],
                                reading=False) if frozen else None
        self.churn = Churn(("127.0.0.1", ioc.port), prefix) if churn else None

    @property
    def fast(self) -> list:
        return [c for c in self.clients if not c.slow]

    @property
    def slow(self) -> list:
        return [c for c in self.clients if c.slow]

    def rates(self, t0: float, t1: float) -> dict:
        """Mean (and worst) monitor rates of the fast and the slow clients between t0 and t1."""
        out = {}
        for kind, group in (("fast", self.fast), ("slow", self.slow)):
            rates = [c.rate(t0, t1) for c in group]
            for key in ("arr", "cur"):
                values = [r[key] for r in rates] or [0.0]
                out[f"{kind}_{key}"] = sum(values) / len(values)
                out[f"{kind}_{key}_min"] = min(values)
        return out

    def close(self) -> None:
        if self.churn:
            self.churn.stop()
        if self.frozen:
            self.frozen.close()
        # In parallel: a caproto context takes up to ~5 s to join its threads.
        closers = [threading.Thread(target=_close_quietly, args=(c,), daemon=True) for c in self.clients]
        for thread in closers:
            thread.start()
        for thread in closers:
            thread.join(20)


def _close_quietly(client) -> None:
    with contextlib.suppress(Exception):
        client.close()
