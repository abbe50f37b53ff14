"""The IOC's PV Access server (p4p): serves NDPluginPva's NTNDArray (``dot:Pva1:Image``).

Optional: p4p comes with the ``pva`` extra (``pip install 'beamline-sim[pva]'``) and is
imported only when the IOC is started with ``--pva``, so the default install stays pure
Channel Access and starts no second network server.

Bound to loopback by default, as the CA server is: ``EPICS_PVAS_INTF_ADDR_LIST`` defaults
to the CA server's interfaces (127.0.0.1 unless ``--interfaces`` says otherwise), the ports
to ``EPICS_PVAS_SERVER_PORT`` (TCP, 5075 if unset) and ``EPICS_PVAS_BROADCAST_PORT`` (UDP
searches, 5076 if unset), and beacons stay on loopback when serving only there. Clients
then need ``EPICS_PVA_ADDR_LIST=127.0.0.1 EPICS_PVA_AUTO_ADDR_LIST=NO`` and the same two
ports (``EPICS_PVA_SERVER_PORT``, ``EPICS_PVA_BROADCAST_PORT``).
"""

from __future__ import annotations

import os

import numpy as np

DEFAULT_SERVER_PORT = 5075
DEFAULT_BROADCAST_PORT = 5076


class PvaUnavailable(RuntimeError):
    """p4p is not installed."""


def server_config(interfaces: list[str], environ: dict | None = None) -> dict[str, str]:
    """The EPICS_PVAS_* configuration of the server: the environment's, loopback by default."""
    env = os.environ if environ is None else environ
    conf = {
        "EPICS_PVAS_INTF_ADDR_LIST": env.get("EPICS_PVAS_INTF_ADDR_LIST", " ".join(interfaces)),
        "EPICS_PVAS_SERVER_PORT": env.get("EPICS_PVAS_SERVER_PORT", str(DEFAULT_SERVER_PORT)),
        "EPICS_PVAS_BROADCAST_PORT": env.get("EPICS_PVAS_BROADCAST_PORT", str(DEFAULT_BROADCAST_PORT)),
    }
    loopback = all(i.startswith("127.") for i in conf["EPICS_PVAS_INTF_ADDR_LIST"].split())
    conf["EPICS_PVAS_AUTO_BEACON_ADDR_LIST"] = env.get("EPICS_PVAS_AUTO_BEACON_ADDR_LIST", "NO" if loopback else "YES")
    beacons = env.get("EPICS_PVAS_BEACON_ADDR_LIST", "127.255.255.255" if loopback else "")
    if beacons:
        conf["EPICS_PVAS_BEACON_ADDR_LIST"] = beacons
    return conf


class ImageServer:
    """A p4p server publishing NTNDArray PVs; :meth:`post` sends a frame to every monitor."""

    def __init__(self, conf: dict[str, str]) -> None:
        try:
            from p4p.nt import NTNDArray
            from p4p.server import Server, StaticProvider
            from p4p.server.thread import SharedPV
        except ImportError as exc:
            raise PvaUnavailable(f"PV Access needs p4p ({exc}): pip install 'beamline-sim[pva]'") from None
        self._nt = NTNDArray()
        self._shared_pv = SharedPV
        self._provider = StaticProvider("beamline-pva")
        self._pvs: dict[str, object] = {}
        self._server = Server(providers=[self._provider], conf=conf, useenv=False)

    def config(self) -> dict[str, str]:
        """The server's effective configuration (ports actually bound included)."""
        return dict(self._server.conf())

    def add_image(self, name: str, shape: tuple[int, int], dtype: np.dtype) -> None:
        """Serve ``name`` as an NTNDArray, zeros of ``shape`` until the first frame."""
        # A plain SharedPV of NTNDArray Values: frames are wrapped here, with their unique id.
        pv = self._shared_pv(initial=self._nt.wrap(np.zeros(shape, dtype)))
        self._provider.add(name, pv)
        self._pvs[name] = pv

    def post(self, name: str, data: np.ndarray, unique_id: int, timestamp: float, attributes: dict) -> None:
        """Publish a frame (rows x cols) with its NDArray unique id, time stamp (POSIX s) and attributes."""
        attrib = {k: v for k, v in attributes.items() if isinstance(v, (int, float, str, np.number))}
        value = self._nt.wrap(data, attrib=attrib, timestamp=timestamp)
        value["uniqueId"] = int(unique_id)
        value["dataTimeStamp"] = value["timeStamp"]
        self._pvs[name].post(value)

    def close(self) -> None:
        for pv in self._pvs.values():
            pv.close()
        self._server.stop()
