"""Start and stop the beamline IOC as a child process on loopback, on a port of its own.

Used by the tests, the benchmarks and the demo: each IOC gets a free port so that two runs
on one machine never talk to each other's servers, and CA traffic (searches, beacons)
stays on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .paths import connection_file, release_connection_file


@contextlib.contextmanager
def environment(changes: dict[str, str | None]) -> Iterator[None]:
    """Set environment variables (None unsets one) for the duration of a block."""
    saved = {key: os.environ.get(key) for key in changes}
    _set_environment(changes)
    try:
        yield
    finally:
        _set_environment(saved)


def _set_environment(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (CA serves both on one number)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for both TCP and UDP on 127.0.0.1")


def ca_address_list(ports: list[int]) -> str:
    """An ``EPICS_CA_ADDR_LIST`` that searches 127.0.0.1 on each of ``ports``."""
    return " ".join(f"127.0.0.1:{port}" for port in ports)


def ca_environment(port: int, search_ports: list[int] | None = None) -> dict[str, str]:
    """EPICS variables that confine a CA server and its clients to loopback on ``port``.

    A client given ``search_ports`` looks for its PVs on each of them (several IOCs).
    """
    env = {
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.255.255.255",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CAS_SERVER_PORT": str(port),
        # A 480 x 640 x 4-byte frame, with room for larger sensors.
        "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024),
    }
    if search_ports:
        env["EPICS_CA_ADDR_LIST"] = ca_address_list(search_ports)
    return env


_repeater: subprocess.Popen | None = None


def start_repeater(port: int | None = None) -> int | None:
    """Give this process a CA repeater of its own on loopback, before libca starts; returns its port.

    Sets ``EPICS_CA_REPEATER_PORT`` for libca (read once, when its first context is made) and
    for the processes this one starts. ``port`` defaults to a free one. Does nothing if the
    variable is already set (a repeater of the user's choice). The
    repeater is stopped, by its PID, when this process exits, and stops by itself if this
    process dies without saying so.
    """
    global _repeater
    if os.environ.get("EPICS_CA_REPEATER_PORT") or _repeater is not None:
        return None
    port = port or free_port()
    _repeater = subprocess.Popen([sys.executable, "-m", "beamline_shared.repeater", str(port), str(os.getpid())],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
    atexit.register(_stop_repeater)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and _repeater.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                break  # bound: the repeater is listening
        time.sleep(0.02)
    os.environ["EPICS_CA_REPEATER_PORT"] = str(port)
    return port


def end_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> bool:
    """Send ``sig`` to a running child by its PID and wait up to ``timeout`` s for it to exit;
    SIGKILL it if it lingers. Returns True if it had to be killed."""
    if proc.poll() is not None:
        return False
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
        return True


def _stop_repeater() -> None:
    if _repeater is not None:
        end_process(_repeater, timeout=5)


def interrupt_when_parent_dies() -> None:
    """In the child, before exec: SIGINT when the thread that started it ends (Linux's
    PR_SET_PDEATHSIG); elsewhere nothing."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGINT)  # 1 = PR_SET_PDEATHSIG


def load_config(config: Path | str):
    """A configuration file, or a shipped one by name (:mod:`beamline_shared.config`)."""
    from .config import load, locate  # pydantic: only for those who use a configuration

    return load(locate(config))


def ready_pv(ioc) -> str:
    """A PV of a configured IOC (:class:`beamline_shared.config.IOC`) that answers once it serves."""
    if ioc.cameras:
        camera = ioc.cameras[0]
        return camera.driver_prefix + "Acquire_RBV" if camera.layout == "areadetector" else camera.prefix + "exp"
    if ioc.motors:
        return ioc.motors[0].pv + ".DMOV"
    if ioc.point_detectors:
        return ioc.point_detectors[0].prefix + "det"
    if ioc.ring is not None:
        return ioc.ring.pv
    if ioc.sim is not None:
        return ioc.sim.prefix + "TimeScale"
    raise ValueError(f"IOC {ioc.name} serves nothing")


def start_iocs(config: Path | str, *, data_root: Path | str, time_scale: float = 1.0, seed: int | None = None,
               extra_args: list[str] | None = None, log_dir: Path | str | None = None,
               exit_with_parent: bool = False, timeout: float = 30.0,
               names: list[str] | None = None) -> list[IOCProcess]:
    """Start every IOC of a configuration file (or those ``names``), each in a process of its own
    on a free port; stops those already started if one fails. Clients reach them all with
    ``ca_environment(procs[0].port, [p.port for p in procs])``."""
    beamline = load_config(config)
    procs: list[IOCProcess] = []
    try:
        for spec in [beamline.ioc(name) for name in names] if names else beamline.iocs:
            log = Path(log_dir) / f"ioc-{spec.name}.log" if log_dir is not None else None
            procs.append(IOCProcess(config=config, ioc=spec.name, data_root=data_root, time_scale=time_scale,
                                    seed=seed, extra_args=extra_args, log_path=log,
                                    exit_with_parent=exit_with_parent).start(timeout))
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs


class IOCProcess:
    """The beamline IOC running as a child process.

    >>> ioc = IOCProcess(prefix="BL:", data_root=Path("/tmp/data"), time_scale=100)
    >>> ioc.start(); ...; ioc.stop()
    """

    def __init__(
        self,
        prefix: str = "BL:",
        data_root: Path | str | None = None,
        port: int | None = None,
        time_scale: float = 1.0,
        seed: int | None = None,
        extra_args: list[str] | None = None,
        log_path: Path | str | None = None,
        exit_with_parent: bool = False,
        config: Path | str | None = None,
        ioc: str | None = None,
    ) -> None:
        self.config = config  # a configuration file (or a shipped one's name), and the IOC of it to serve
        self.ioc = ioc
        if config is not None:
            beamline = load_config(config)
            spec = beamline.ioc(ioc) if ioc else beamline.iocs[0]
            if ioc is None and len(beamline.iocs) > 1:
                raise ValueError(f"{config}: name the IOC to start (it has {[i.name for i in beamline.iocs]})")
            prefix = spec.prefix or spec.name  # what names its connection file
            self.ready_pv = ready_pv(spec)
        else:
            self.ready_pv = f"{prefix}dot:cam1:Acquire_RBV"
        self.prefix = prefix
        self.exit_with_parent = exit_with_parent  # SIGINT when this process dies (Linux), as by Ctrl-C
        self.data_root = Path(data_root) if data_root is not None else None
        self.port = port or free_port()
        self.time_scale = time_scale
        self.seed = seed
        self.extra_args = list(extra_args or [])
        self.log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def env(self) -> dict[str, str]:
        """The CA environment a client needs to reach this IOC."""
        return ca_environment(self.port)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "ioc", "--time-scale", str(self.time_scale), "-q"]
        if self.config is not None:
            cmd += ["--config", str(self.config)] + (["--ioc", self.ioc] if self.ioc else [])
        else:
            cmd += ["--prefix", self.prefix]
        if self.data_root is not None:
            cmd += ["--data-root", str(self.data_root)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        return cmd + self.extra_args

    def start(self, timeout: float = 30.0) -> IOCProcess:
        """Start the IOC and wait until it answers a CA read; raises RuntimeError if it does not."""
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        if self.log_path:
            self._log = open(self.log_path, "ab")
            out = self._log
        else:
            out = subprocess.DEVNULL
        self.proc = subprocess.Popen(self.command(), env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=interrupt_when_parent_dies if self.exit_with_parent else None)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        from caproto.sync.client import read

        deadline = time.monotonic() + timeout
        pv = self.ready_pv
        last_error: Exception | None = None
        # caproto's sync client reads the address list from the environment. No repeater: it
        # would spawn one bound to every interface (0.0.0.0:5065) that outlives us; beacons
        # are not needed on loopback.
        with environment(self.env):
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"the IOC exited with status {self.proc.returncode} while starting"
                                       + self._last_log_line())
                try:
                    read(pv, timeout=1.0, repeater=False)
                    return
                except Exception as exc:  # not up yet
                    last_error = exc
                    time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the IOC did not answer {pv} on port {self.port} within {timeout} s: {last_error}")

    def _last_log_line(self) -> str:
        if not self.log_path:
            return ""
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        return (f": {lines[-1].strip()}" if lines else "") + f" (log: {self.log_path})"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the IOC, as a crash would (it leaves its connection file behind, as a crash does)."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the IOC by its PID: SIGINT (as Ctrl-C), then SIGKILL if it lingers."""
        if self.proc is None:
            return
        # Killed, it could not remove its connection file: do it for it.
        if end_process(self.proc, signal.SIGINT, timeout) and self.data_root is not None:
            release_connection_file(connection_file(self.prefix, self.data_root), self.proc.pid)
        self._close_log()

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> IOCProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
