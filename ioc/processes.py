"""One process per IOC of a configuration file, as a facility runs them.

``beamline-ioc --config FILE`` with several IOCs in the file starts ``beamline-ioc --config
FILE --ioc NAME`` for each, with the same options: the first on the port ``beamline-ioc``
chose (as rsrv: ``EPICS_CAS_SERVER_PORT``, else ``EPICS_CA_SERVER_PORT``, else 5064; on
loopback a free one if another server has it, :mod:`ioc.server.ports`), set in
``EPICS_CA_SERVER_PORT``, each other one on a free port, so that clients reach every one by its port
(``EPICS_CA_ADDR_LIST="127.0.0.1:P1 127.0.0.1:P2"``; each leaves its connection file in the
data root). It stops them all, by their PIDs, on Ctrl-C or SIGTERM, or when one of them exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from beamline_shared import config
from beamline_shared.launcher import ca_address_list, end_process, free_port

POLL = 0.2  # wall s between looks at the children


def serve_each(beamline: config.Beamline, argv: list[str]) -> int:
    """Serve each IOC of ``beamline`` in a child ``python -m ioc ARGV --ioc NAME``; returns the exit
    status: 0 when stopped, else the first failing child's."""
    first = int(os.environ.get("EPICS_CA_SERVER_PORT") or os.environ.get("EPICS_CAS_SERVER_PORT") or 5064)
    ports = [first] + [free_port() for _ in beamline.iocs[1:]]
    children: list[tuple[str, int, subprocess.Popen]] = []
    stopping = False

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    try:
        for ioc, port in zip(beamline.iocs, ports, strict=True):
            # The IOC's server port, and where its client finds the others (a motor of one moving
            # a camera of another: ioc.remote_positions).
            env = {**os.environ, "EPICS_CA_SERVER_PORT": str(port), "EPICS_CAS_SERVER_PORT": str(port),
                   "EPICS_CA_ADDR_LIST": ca_address_list(ports), "EPICS_CA_AUTO_ADDR_LIST": "NO"}
            proc = subprocess.Popen([sys.executable, "-m", "ioc", *argv, "--ioc", ioc.name], env=env)
            children.append((ioc.name, port, proc))
        print("beamline-ioc: " + ", ".join(f"IOC {name} on port {port} (PID {proc.pid})"
                                           for name, port, proc in children)
              + f"; clients: EPICS_CA_ADDR_LIST=\"{ca_address_list(ports)}\" EPICS_CA_AUTO_ADDR_LIST=NO",
              file=sys.stderr, flush=True)
        while not stopping:
            for name, _, proc in children:
                if proc.poll() is not None:
                    print(f"beamline-ioc: IOC {name} (PID {proc.pid}) exited with status {proc.returncode}; "
                          "stopping the others", file=sys.stderr, flush=True)
                    status = proc.returncode or 1
                    stopping = True
                    break
            time.sleep(POLL)
    finally:
        for _, _, proc in children:
            end_process(proc, signal.SIGINT)
    return status
