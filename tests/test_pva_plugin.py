"""NDPluginPva (``dot:Pva1:``): the NTNDArray over PV Access (``beamline-ioc --pva``) read by p4p
and by ophyd-async's pva backend, equal to the last TIFF; its CA control PVs; loopback only."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from beamline_shared.launcher import IOCProcess, environment, free_port

from . import ca
from .conftest import PORTS, eventually

PREFIX = "PV:"
IMAGE = PREFIX + "dot:Pva1:Image"


@pytest.fixture(scope="module")
def pva_ioc(tmp_path_factory):
    """An IOC serving PV Access on free loopback ports; the client configuration to reach it."""
    root = tmp_path_factory.mktemp("pva")
    server_port, broadcast_port = free_port(), free_port()
    server_env = {"EPICS_PVAS_SERVER_PORT": str(server_port), "EPICS_PVAS_BROADCAST_PORT": str(broadcast_port)}
    proc = IOCProcess(prefix=PREFIX, data_root=root / "data", port=PORTS[2], time_scale=100.0, seed=3,
                      extra_args=["--pva", "--ring", "Constant"], log_path=root / "ioc.log")
    with environment(server_env):
        proc.start()
    client = {"EPICS_PVA_ADDR_LIST": "127.0.0.1", "EPICS_PVA_AUTO_ADDR_LIST": "NO",
              "EPICS_PVA_SERVER_PORT": str(server_port), "EPICS_PVA_BROADCAST_PORT": str(broadcast_port)}
    yield proc, client, root / "data"
    proc.stop()


@pytest.fixture
def p4p_ctx(pva_ioc):
    from p4p.client.thread import Context

    ctx = Context("pva", conf=pva_ioc[1], useenv=False)
    yield ctx
    ctx.close()


def _tiff_frame(data_root) -> np.ndarray:
    ca.setup_tiff(PREFIX, str(data_root / "pva"), "pva")
    ca.put(PREFIX + "dot:cam1:AcquireTime", 0.02)
    ca.acquire(PREFIX)
    return tifffile.imread(ca.full_file_name(PREFIX))


def test_p4p_reads_the_frame_of_the_last_tiff(pva_ioc, p4p_ctx):
    _, _, data_root = pva_ioc
    assert ca.get_str(PREFIX + "dot:Pva1:PluginType_RBV") == "NDPluginPva"
    assert ca.get_str(PREFIX + "dot:Pva1:PvName_RBV") == IMAGE
    counter = ca.get(PREFIX + "dot:Pva1:ArrayCounter_RBV")
    tiff = _tiff_frame(data_root)
    image = p4p_ctx.get(IMAGE, timeout=5)
    assert image.shape == (480, 640) and image.dtype == np.uint32
    assert np.array_equal(image, tiff)
    assert image.attrib["ColorMode"] == 0 and "current_mA" in image.attrib
    raw = image.raw  # the NTNDArray structure
    assert raw["uniqueId"] == ca.get(PREFIX + "dot:Pva1:UniqueId_RBV")
    assert [d["size"] for d in raw["dimension"]] == [640, 480]  # fastest first, as NTNDArray orders them
    assert ca.get(PREFIX + "dot:Pva1:ArrayCounter_RBV") == counter + 1


def test_a_monitor_gets_every_frame_and_disable_stops_them(pva_ioc, p4p_ctx):
    ids = []
    sub = p4p_ctx.monitor(IMAGE, lambda v: ids.append(v.raw["uniqueId"]))
    try:
        eventually(lambda: ids)  # the current value first
        for _ in range(3):
            ca.acquire(PREFIX)
        last = ca.get(PREFIX + "dot:Pva1:UniqueId_RBV")
        eventually(lambda: ids[-1] == last)
        assert ids[-3:] == [last - 2, last - 1, last]
        ca.put(PREFIX + "dot:Pva1:EnableCallbacks", "Disable")
        ca.acquire(PREFIX)
        assert p4p_ctx.get(IMAGE, timeout=5).raw["uniqueId"] == last
    finally:
        ca.put(PREFIX + "dot:Pva1:EnableCallbacks", "Enable")
        sub.close()


def test_ophyd_async_pva_backend_reads_the_frame(pva_ioc):
    proc, client, data_root = pva_ioc
    from bluesky import RunEngine
    from bluesky.run_engine import call_in_bluesky_event_loop

    RunEngine({})  # ophyd-async runs in the bluesky event loop
    with environment(client):  # ophyd-async's p4p context reads EPICS_PVA_* once, when first made
        from ophyd_async.epics.core import epics_signal_r

        signal = epics_signal_r(np.ndarray, "pva://" + IMAGE, name="image")
        call_in_bluesky_event_loop(signal.connect(timeout=10))
        tiff = _tiff_frame(data_root)
        value = call_in_bluesky_event_loop(signal.get_value())
    assert value.shape == (480, 640) and np.array_equal(value, tiff)


def test_bad_input_on_the_control_pvs(pva_ioc):
    assert "minimum time between callbacks" in ca.put_error(PREFIX + "dot:Pva1:MinCallbackTime", -1)
    assert "read-only" in ca.put_error(PREFIX + "dot:Pva1:PvName_RBV", "x")
    # As ADCore: an unknown port is kept and echoed (the plugin is left unconnected; tests/test_plugin_chain.py).
    assert ca.put_error(PREFIX + "dot:Pva1:NDArrayPort", "NOPE") == ""
    assert ca.get_str(PREFIX + "dot:Pva1:NDArrayPort_RBV") == "NOPE"
    ca.put(PREFIX + "dot:Pva1:NDArrayPort", "DOT1")


def test_without_pva_the_default_ioc_stays_pure_ca(ioc):
    """The session IOC (no --pva) serves the plugin's CA PVs, no NTNDArray, and never imports p4p."""
    assert ca.get_str("BL:dot:Pva1:PluginType_RBV") == "NDPluginPva"
    assert ca.get_str("BL:dot:Pva1:PvName_RBV") == ""
    code = "import sys, ioc.app, tools.pvtable; sys.exit('p4p' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ}).returncode == 0


def test_the_connection_file_names_the_pva_ports(pva_ioc):
    import json

    from beamline_shared.paths import connection_file

    proc, client, data_root = pva_ioc
    info = json.loads(connection_file(PREFIX, data_root).read_text())
    assert info["pva_server_port"] == int(client["EPICS_PVA_SERVER_PORT"])
    assert info["pva_broadcast_port"] == int(client["EPICS_PVA_BROADCAST_PORT"])


def test_pva_server_listens_on_loopback_only(pva_ioc):
    import psutil

    proc = psutil.Process(pva_ioc[0].pid)
    port = int(pva_ioc[1]["EPICS_PVA_SERVER_PORT"])
    listening = [c.laddr for c in proc.net_connections(kind="inet") if c.laddr and c.laddr.port == port]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)
