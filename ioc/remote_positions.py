"""Positions of motors that other IOC processes serve, followed over Channel Access.

A configuration file may declare a motor in one IOC and the camera (or point detector) it
moves in another, as a facility splits motors and detectors across IOCs. The process serving
the camera then monitors the motor record's ``.RBV`` as any CA client would (caproto's
asyncio client, in the server's event loop) and the spot follows it. It finds the motor by
``EPICS_CA_ADDR_LIST`` when that names servers (``beamline-ioc --config FILE`` gives each of
its processes every port), else by the connection files the other IOCs leave in the data root
(it waits for them). Until the motor answers, its position reads 0.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from beamline_shared.paths import read_connection_file

RETRY = 0.5  # wall s between looks for the other IOCs' connection files


class RemotePositions:
    """The last ``.RBV`` of each motor record in ``pvs`` (motor name -> record name); ``keys``
    (motor name -> the key of its IOC's connection file) find the ports of IOCs on this machine."""

    def __init__(self, pvs: dict[str, str], keys: dict[str, str], data_root: Path) -> None:
        self.pvs = dict(pvs)
        self.keys = dict(keys)
        self.data_root = data_root
        self.values: dict[str, float] = {}
        self._task: asyncio.Task | None = None
        self._context = None
        self._subscriptions: list = []

    def position(self, motor: str) -> float:
        return self.values.get(motor, 0.0)

    async def start(self) -> None:
        """Follow every motor from now on (returns at once)."""
        if self.pvs and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow())

    def _address_list(self) -> str | None:
        """Where to search: ``EPICS_CA_ADDR_LIST`` if it names servers (more than plain loopback on
        this IOC's own port), else loopback at the ports of the other IOCs' connection files, once
        each has left one (None until then)."""
        given = os.environ.get("EPICS_CA_ADDR_LIST", "").strip()
        if given and given != "127.0.0.1":
            return given
        ports = [read_connection_file(key, self.data_root) for key in sorted(set(self.keys.values()))]
        if any(info is None for info in ports):
            return None
        return " ".join([given] * bool(given) + [f"127.0.0.1:{info['port']}" for info in ports])

    async def _follow(self) -> None:
        from caproto.asyncio.client import Context

        names = {f"{pv}.RBV": motor for motor, pv in self.pvs.items()}
        while (addresses := self._address_list()) is None:
            await asyncio.sleep(RETRY)
        os.environ["EPICS_CA_ADDR_LIST"] = addresses  # read by the client's searches
        os.environ.setdefault("EPICS_CA_AUTO_ADDR_LIST", "NO")
        self._context = Context()
        pvs = await self._context.get_pvs(*names, timeout=None)
        for pv in pvs:
            motor = names[pv.name]

            def update(sub, response, motor=motor) -> None:
                self.values[motor] = float(response.data[0])

            subscription = pv.subscribe(data_type="time")
            subscription.add_callback(update)
            self._subscriptions.append((subscription, update))  # caproto holds callbacks weakly
        print(f"beamline-ioc: following {', '.join(names)} (served by another IOC) at {addresses}",
              file=sys.stderr, flush=True)
