"""The servers a benchmark run starts, each on its own free loopback port, each stopped by its PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from beamline_shared.launcher import IOCProcess, ca_environment, end_process

# What the caproto server logs when its subscription loop breaks (see the CA rows).
SERVER_ERRORS = re.compile(r"Traceback|RuntimeError|deque mutated|Error|Dropped \d+ responses", re.IGNORECASE)


def start_ioc(prefix: str, port: int, workdir: Path, time_scale: float,
              shape: tuple[int, int] | None = None, extra_args: list[str] = ()) -> IOCProcess:
    """Start a beamline IOC (data root and log in ``workdir``); returns it once it answers."""
    extra = ["--ring", "Constant", *extra_args]
    if shape is not None:
        extra += ["--sensor-shape", f"{shape[0]}x{shape[1]}"]
    name = prefix.strip(":").lower()
    workdir.mkdir(parents=True, exist_ok=True)
    ioc = IOCProcess(prefix=prefix, data_root=workdir / f"data-{name}", port=port, time_scale=time_scale,
                     seed=1, extra_args=extra, log_path=workdir / f"ioc-{name}.log")
    return ioc.start(timeout=60)


class SoftIOC:
    """The pythonSoftIOC reference server (:mod:`bench.softioc_server`) as a child process.

    ``module`` may name another server with the same PVs and command line
    (:mod:`bench.caproto_server`).
    """

    module = "bench.softioc_server"
    ready = b"softioc ready"

    def __init__(self, device: str, port: int, shape: tuple[int, int], log_path: Path) -> None:
        self.device = device
        self.port = port
        self.shape = shape
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> SoftIOC:
        root = str(Path(__file__).resolve().parents[1])  # so that ``-m bench...`` imports from any directory
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, **ca_environment(self.port), "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
        cmd = [sys.executable, "-m", self.module, self.device, str(self.shape[0]), str(self.shape[1])]
        self._log = open(self.log_path, "ab")
        # stdin stays a pipe: pythonSoftIOC's IOC shell must not read the benchmark's terminal.
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while self.ready not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.module} did not start; see {self.log_path}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        end_process(self.proc, signal.SIGTERM, timeout)
        self._log.close()
        self.proc = None


class CaprotoReference(SoftIOC):
    """The same waveform served by caproto alone (:mod:`bench.caproto_server`)."""

    module = "bench.caproto_server"
    ready = b"caproto ready"


def server_errors(log_path: Path) -> list[str]:
    """Lines of a server's log that report an error (empty if none, or no log)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if SERVER_ERRORS.search(line)]
