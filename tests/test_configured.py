"""A beamline from a configuration file: docs/configuration.md's first file, served and driven by the names it gives
(ophyd and ophyd-async sessions); a file of two IOCs, one process each; a bad file refused at
start with its line and key."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from bluesky import plan_stubs as bps
from bluesky import plans as bp

from beamline_shared.launcher import IOCProcess, ca_environment, environment, free_port, start_iocs
from beamline_shared.paths import read_connection_file
from ioc.server.access_security import DEFAULT_ACF

from . import ca
from .conftest import PORTS, SESSION_TIME_SCALE, eventually

ROOT = Path(__file__).resolve().parents[1]
TWO_IOCS = """\
iocs:
  - name: motion
    prefix: "T2M:"
    motors:
      mtr_a: {pv: "mtr:a", egu: mm, velocity: 5, moves: det.x}
  - name: detection
    prefix: "T2D:"
    cameras:
      det: {prefix: "dot:", plugins: [TIFF1, Stats1]}
    ring: {pv: "ring:current", name: current, model: Constant}
"""


def first_configuration() -> str:
    """The YAML block of docs/configuration.md's "A first file" (the README links to it)."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    section = text[text.index("## A first file"):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """docs/configuration.md's first file served on its own, at time scale 100."""
    root = tmp_path_factory.mktemp("demo")
    path = root / "demo.yaml"
    path.write_text(first_configuration())
    proc = IOCProcess(config=path, data_root=root / "data", port=PORTS[1], time_scale=SESSION_TIME_SCALE, seed=7,
                      log_path=root / "ioc.log", exit_with_parent=True)
    proc.start()
    yield path, proc
    proc.stop()


def test_the_first_configuration_is_ten_lines():
    assert len(first_configuration().splitlines()) == 10


def test_a_session_from_the_first_configuration(demo, tmp_path):
    """make_session(config=...): devices named as the file names them; the camera counts, its
    frames on disk, and the motor the file couples to the spot moves it."""
    from beamline.session import make_session

    path, proc = demo
    os.environ["BEAMLINE_DATABROKER_DIR"] = str(tmp_path / "db")
    session = make_session(live=False, timeout=10, config=path)
    assert {"mtr_x", "mtr_y", "cam", "ring_current"} <= set(session)
    RE, db, cam, mtr_x = (session[k] for k in ("RE", "db", "cam", "mtr_x"))
    assert cam.prefix == "DEMO:cam:" and cam.cam.prefix == "DEMO:cam:cam1:" and cam.tiff.prefix == "DEMO:cam:TIFF1:"
    assert mtr_x.prefix == "DEMO:mtr:x" and mtr_x.user_readback.get() == 0.0
    cam.exp.set(0.5).wait(5)
    for x in (0.0, 8.0):
        RE(bps.mv(mtr_x, x))
        (uid,) = RE(bp.count([cam, session["ring_current"]], 1))
        run = db[uid]
        image = next(iter(run.data("cam_img")))
        assert image.shape == (480, 640)
        assert Path(cam.tiff.full_file_name.get()).is_relative_to(proc.data_root)
        # the spot's centre is at column 320 - x (X = (col - 320 + x)/50)
        assert abs(int(image.sum(axis=0).argmax()) - (320 - x)) <= 3
        assert run.table()["ring_current"][1] > 400


@pytest.fixture(scope="module")
def two_iocs(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    path = root / "two.yaml"
    path.write_text(TWO_IOCS)
    procs = [IOCProcess(config=path, ioc=name, data_root=root / "data", port=port, time_scale=SESSION_TIME_SCALE,
                        seed=7, log_path=root / f"{name}.log", exit_with_parent=True).start()
             for name, port in (("motion", PORTS[2]), ("detection", PORTS[3]))]
    yield path, procs
    for proc in procs:
        proc.stop()


def test_an_async_session_across_two_iocs(two_iocs, tmp_path):
    """make_async_session(config=...): an ophyd-async motor of one IOC and SimDetector of another."""
    from beamline.async_devices import make_async_session

    path, procs = two_iocs
    session = make_async_session(live=False, timeout=10, config=str(path))
    RE, det, mtr_a = (session[k] for k in ("RE", "det", "mtr_a"))
    docs = []
    RE(bp.scan([det], mtr_a, 0, 1, 2), lambda name, doc: docs.append((name, doc)))
    events = [doc for name, doc in docs if name == "event"]
    assert [e["data"]["mtr_a"] for e in events] == [0.0, 1.0]
    resources = [doc for name, doc in docs if name == "stream_resource"]
    assert resources and all(procs[1].data_root.as_posix() in r["uri"] for r in resources)


def test_a_motor_of_one_ioc_moves_the_spot_of_another(two_iocs):
    """The file couples IOC motion's mtr_a to IOC detection's camera: the camera's process follows
    the motor over CA (ioc.remote_positions) and the spot's centre is at column 320 - x."""
    ca.put("T2D:dot:cam1:AcquireTime", 0.5)
    ca.put("T2D:dot:Stats1:ComputeCentroid", 1)
    ca.put("T2D:dot:Stats1:CentroidThreshold", 2000)  # above the background (1000 +- 32 counts)
    for x in (0.0, 30.0):
        ca.put("T2M:mtr:a", x)

        def centroid(x: float = x) -> float | None:
            ca.acquire("T2D:")
            found = ca.get("T2D:dot:Stats1:CentroidX_RBV")
            return found if abs(found - (320 - x)) < 2 else None

        eventually(centroid, timeout=10)  # the monitor's update may trail the put's completion


HARDWARE_BELOW_1 = """\
UAG(staff) {"$(IOC_USER)"}
ASG(DEFAULT) {RULE(1, READ)}
ASG(HARDWARE) {
    INPA("$(P)mtr:a")
    RULE(1, READ)
    RULE(1, WRITE) {CALC("A<1")}
}
ASG(SIMULATION) {RULE(1, READ) RULE(1, WRITE) {UAG(staff)}}
"""


def test_each_ioc_of_a_file_in_a_process_of_its_own(tmp_path):
    """beamline-ioc --config FILE with two IOCs: two processes, each on its port with its connection
    file, each enforcing its own access security (motion the file's, its $(P) its own prefix, its
    controls beside its sim controls; detection, with no sim controls, the shipped file, its
    controls at T3D:acf:, reloaded on SIGHUP); Ctrl-C to the first stops both."""
    path = tmp_path / "two.yaml"
    (tmp_path / "below1.acf").write_text(HARDWARE_BELOW_1)
    path.write_text(TWO_IOCS.replace("T2M:", "T3M:").replace("T2D:", "T3D:")
                    .replace("moves: det.x}\n", "moves: det.x}\n    access_security: {file: below1.acf}\n")
                    + "    sim: null\n")
    port = free_port()
    env = {**os.environ, **ca_environment(port), "PYTHONUNBUFFERED": "1"}
    parent = subprocess.Popen([sys.executable, "-m", "ioc", "--config", str(path), "--data-root",
                               str(tmp_path / "data"), "--time-scale", "100", "-q"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        infos = eventually(lambda: [read_connection_file(key, tmp_path / "data") for key in ("T3M:", "T3D:")]
                           if all(read_connection_file(key, tmp_path / "data") for key in ("T3M:", "T3D:"))
                           else None, timeout=30)
        assert infos[0]["port"] == port and infos[1]["port"] != port
        children = {child.pid for child in psutil.Process(parent.pid).children()}
        assert {info["pid"] for info in infos} == children
        from caproto.sync.client import read

        with environment(ca_environment(port, [info["port"] for info in infos])):
            assert read("T3M:mtr:a.VELO", timeout=5, repeater=False).data[0] == 5.0
            assert read("T3D:ring:current", timeout=5, repeater=False).data[0] == pytest.approx(500.0)
            assert read("T3M:sim:ACFFile", timeout=5, repeater=False).data.tobytes().rstrip(b"\0").decode() == \
                str(tmp_path / "below1.acf")
            assert read("T3D:acf:ACFFile", timeout=5, repeater=False).data.tobytes().rstrip(b"\0").decode() == \
                str(DEFAULT_ACF)
            _check_rights(infos[1]["pid"])
    finally:
        parent.send_signal(signal.SIGINT)
        out, _ = parent.communicate(timeout=20)
    assert parent.returncode == 0, out
    assert "IOC motion on port" in out and "IOC detection on port" in out
    for pid in children:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _check_rights(detection_pid: int) -> None:
    """The motor writable while below 1 (the file's INPA("$(P)mtr:a"), $(P) motion's prefix), then
    not; the camera writable (the shipped file) and its IOC's file reloaded on SIGHUP."""
    from caproto import AccessRights, CAStatus
    from caproto.sync.client import read
    from caproto.threading.client import Context

    ctx = Context()
    try:
        motor, camera, message = ctx.get_pvs("T3M:mtr:a", "T3D:dot:cam1:AcquireTime", "T3D:acf:ACFMessage",
                                             timeout=5)
        for pv in (motor, camera, message):
            pv.wait_for_connection(timeout=5)
        assert camera.access_rights == AccessRights.READ | AccessRights.WRITE
        assert motor.access_rights == AccessRights.READ | AccessRights.WRITE
        motor.write([2.0], wait=True, timeout=10)
        eventually(lambda: motor.access_rights == AccessRights.READ, timeout=10)
        assert motor.write([0.0], wait=True, timeout=10).status == CAStatus.ECA_NOWTACCESS.value
        assert read("T3M:mtr:a", timeout=5, repeater=False).data[0] == 2.0  # refused: not moved
        os.kill(detection_pid, signal.SIGHUP)
        eventually(lambda: b"reloaded from" in message.read().data.tobytes(), timeout=10)
    finally:
        ctx.disconnect()


def test_a_bad_configuration_is_refused_at_start_with_its_line_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(first_configuration().replace("velocity: 2, moves: cam.x", "velocity: -2, moves: cam.x"))
    run = subprocess.run([sys.executable, "-m", "ioc", "--config", str(path), "--data-root", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, env={**os.environ, **ca_environment(free_port())})
    assert run.returncode == 2
    assert f"{path}:6: iocs[0].motors.mtr_x.velocity: Input should be greater than 0" in run.stderr
    assert not list(tmp_path.glob("ioc-*.json"))  # nothing served


def test_a_plugin_the_ioc_does_not_simulate_is_refused_with_its_line_and_key(tmp_path):
    from beamline_shared.config import ConfigError
    from ioc.beamline import load

    path = tmp_path / "bad.yaml"
    path.write_text(first_configuration().replace("plugins: [TIFF1,", "plugins: [Magick1, TIFF1,"))
    with pytest.raises(ConfigError) as info:
        load(path)
    assert f"{path}:9: iocs[0].cameras.cam.plugins.Magick1: plugin type NDFileMagick is not simulated" in str(info.value)


def test_start_iocs_starts_every_ioc_of_a_file(tmp_path):
    """The launcher beamline-up and the tests use: every IOC on a free port of its own."""
    path = tmp_path / "two.yaml"
    path.write_text(TWO_IOCS.replace("T2M:", "T4M:").replace("T2D:", "T4D:"))
    procs = start_iocs(path, data_root=tmp_path / "data", time_scale=100, log_dir=tmp_path, exit_with_parent=True)
    try:
        assert [p.ioc for p in procs] == ["motion", "detection"] and len({p.port for p in procs}) == 2
        info = json.loads((tmp_path / "data" / "ioc-T4D_.json").read_text())
        assert (info["ioc"], info["port"]) == ("detection", procs[1].port)
    finally:
        for proc in procs:
            proc.stop()


def documented_configuration(directory: Path):
    """docs/configuration.md's annotated example, loaded from a file in ``directory`` beside the
    access security file it names (the shipped one's copy)."""
    from beamline_shared.config import load
    from ioc.server.access_security import DEFAULT_ACF

    text = (ROOT / "docs" / "configuration.md").read_text()
    section = text[text.index("## The format"):]
    path = directory / "documented.yaml"
    path.write_text(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    (directory / "optics.acf").write_text(DEFAULT_ACF.read_text())
    return load(path)


def test_the_documented_format_loads_as_documented(tmp_path):
    """docs/configuration.md's annotated example is a valid file, meaning what its comments say."""
    beamline = documented_configuration(tmp_path)
    (ioc,) = beamline.iocs
    (motor,) = ioc.motors
    assert (motor.pv, motor.home_velocity, str(motor.moves)) == ("XF:31IDA-OP{Tbl-Ax:X1}Mtr", 20, "cam.x")
    camera = beamline.device("cam")
    assert camera.driver_prefix == "XF:31IDA-BI{Cam:1}cam1:"
    assert [(p.name, p.type, p.port, p.ndarray_port, p.address, p.enabled) for p in camera.plugins] == [
        ("TIFF1", "NDFileTIFF", "FileTIFF1", "SIM1", 0, True), ("Stats1", "NDStats", "STATS1", "ROI1", 0, True),
        ("Over1", "NDOverlay", "OVER1", "ROI1", 0, True), ("ROI1", "NDROI", "ROI1", "SIM1", 0, False),
        ("MyHDF", "NDFileHDF5", "CAM.HDF", "SIM1", 0, True)]
    assert camera.plugin("MyHDF").prefix == "XF:31IDA-BI{Cam:1}HDF5:"
    assert (ioc.ring.name, ioc.ring.pv, ioc.sim.prefix) == ("I", "XF:31IDA-SR{DCCT}I", "XF:31IDA-SIM:")
    assert (ioc.access_security.file, ioc.access_security.prefix) == (str(tmp_path / "optics.acf"), "XF:31IDA-SIM:")


def test_a_configured_camera_is_built_as_the_default_ones_plugin_set(tmp_path):
    """The IOC makes the documented camera's plugins with plugin_set's classes and wiring: Stats1's
    time series on its address 1, Over1's overlays following ROI1."""
    from ioc.areadetector import NDROI, NDFileHDF5, NDFileTIFF, NDOverlay, NDStats, NDTimeSeries
    from ioc.beamline import BeamlineIOC

    beamline = documented_configuration(tmp_path)
    camera = BeamlineIOC(beamline.iocs, data_root=tmp_path).camera
    assert {suffix: (type(p), p.port, p.upstream(), p.upstream_address(), p.starts_enabled)
            for suffix, p in camera.plugins.items()} == {
        "TIFF1:": (NDFileTIFF, "FileTIFF1", "SIM1", 0, True), "Stats1:": (NDStats, "STATS1", "ROI1", 0, True),
        "Stats1:TS:": (NDTimeSeries, "STATS1_TS", "STATS1", 1, True), "Over1:": (NDOverlay, "OVER1", "ROI1", 0, True),
        "ROI1:": (NDROI, "ROI1", "SIM1", 0, False), "HDF5:": (NDFileHDF5, "CAM.HDF", "SIM1", 0, True)}
    assert camera.plugins["Stats1:"].time_series is camera.plugins["Stats1:TS:"]
    assert camera.plugins["ROI1:"].region_listeners == [camera.plugins["Over1:"].overlays[0].follow_region]
