"""The benchmark's own CA environment, set before pyepics/ophyd are imported (libca reads it once).

Every server the benchmark starts (the beamline IOCs, the pythonSoftIOC reference) gets a
free loopback port reserved here, and the client searches all of them on 127.0.0.1 only.
"""

from __future__ import annotations

import os

from beamline_shared.launcher import ca_environment, free_port, start_repeater

_PORTS: list[int] = []


def configure(n_ports: int) -> list[int]:
    """Reserve ``n_ports`` free loopback ports and point this process's CA client at them all.

    Must run before ``epics``/``ophyd`` are imported. Returns the ports, in order.
    """
    if _PORTS:
        return list(_PORTS)
    _PORTS.extend(free_port() for _ in range(n_ports))
    os.environ.update(ca_environment(_PORTS[0], search_ports=_PORTS))
    # A loopback repeater of its own, as the tests have: without one, libca forks to exec
    # caRepeater (not on PATH outside the venv: libca then aborts with invalidMutex).
    start_repeater()
    os.environ["BEAMLINE_LIVE"] = "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    return list(_PORTS)


def ports() -> list[int]:
    """The ports :func:`configure` reserved."""
    if not _PORTS:
        raise RuntimeError("bench.env.configure() has not run")
    return list(_PORTS)
