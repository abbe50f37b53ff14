"""Beamline configuration files (beamline_shared.config): good files load with every default
filled in, bad ones are refused naming the line and the key, and the shipped configurations
declare exactly the PV names the IOC serves today and the names other people's code uses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from beamline_shared import config
from beamline_shared.config import ConfigError, device_pvs, load, loads, pv_names, shipped

ROOT = Path(__file__).resolve().parents[1]
PROOFS = Path(__file__).parent / "data" / "proofs"


def _pvtable(*args: str) -> str:
    """The IOC's own PV listing (``python -m tools.pvtable``), as a user runs it."""
    return subprocess.run([sys.executable, "-m", "tools.pvtable", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True, timeout=60).stdout


def _covering(entries: list[config.DevicePV], name: str) -> list[str]:
    """The entries serving ``name``: the access security controls' records, not the sim prefix they sit under."""
    found = [e for e in entries if e.covers(name)]
    if any(e.device == "access_security" for e in found):
        found = [e for e in found if e.device != "sim"]
    return [e.name for e in found]


# -- the shipped configurations --------------------------------------------------------------


def test_shipped_configurations_load():
    for name in config.SHIPPED:
        beamline = load(shipped(name))
        assert beamline.iocs, name


def test_todays_beamline_declares_exactly_the_served_pv_names():
    """Every PV of `python -m tools.pvtable --full` belongs to exactly one declared record or prefix,
    and every declared one serves at least one PV."""
    served = re.findall(r"^\| `([^`]+)` \|", _pvtable("--full"), re.M)
    assert len(served) > 1000 and "BL:dot:TIFF1:FilePath" in served
    entries = device_pvs(load(shipped("beamline")))
    assert {e.name for e in entries if e.kind == "record"} == {
        "BL:mtr:dotx", "BL:mtr:doty", "BL:ring:current", "BL:mtr:dotx_able", "BL:mtr:doty_able",
        "BL:mtr:dotx:scanParms", "BL:mtr:doty:scanParms", "BL:mtr:allstop", "BL:mtr:alldone", "BL:mtr:moving",
        "BL:mtr:alldoneBlink", "BL:mtr:movingDiff", "BL:sim:ACFFile", "BL:sim:ACFReload", "BL:sim:ACFMessage"}
    for name in served:
        assert len(_covering(entries, name)) == 1, (name, _covering(entries, name))
    for entry in entries:
        assert any(entry.covers(name) for name in served), entry


def test_mini_beamline_declares_the_examples_names():
    """The mini_beamline face: the groups `python -m tools.pvtable` lists for --mini-beamline, and
    every PV of caproto's own example (what the bluesky tutorials connect to)."""
    from caproto.ioc_examples.mini_beamline import MiniBeamline

    groups = re.findall(r"^\| `([^`]+)` \(`--mini-beamline`\) \|", _pvtable(), re.M)
    beamline = load(shipped("mini_beamline"))
    # its access security controls (mini:acf:ACF*) are served when it is an IOC of its own
    # (--config mini_beamline); with --mini-beamline the process's are the beamline's (BL:sim:)
    entries = device_pvs(beamline)
    assert [e.name for e in entries if e.device == "access_security"] == [
        "mini:acf:ACFFile", "mini:acf:ACFReload", "mini:acf:ACFMessage"]
    entries = [e for e in entries if e.device != "access_security"]
    assert sorted(e.name for e in entries) == sorted(groups)
    example = MiniBeamline(prefix="mini:").pvdb
    for name in example:
        assert len(_covering(entries, name)) == 1, name
    tutorials = json.loads((PROOFS / "bluesky_tutorials.json").read_text())
    for device in tutorials["devices"].values():
        for name in device["pvs"]:
            assert _covering(entries, name), name


def test_todays_beamline_with_another_prefix():
    """`beamline-ioc --prefix HAND:` is the same file with the IOC prefix replaced."""
    beamline = load(shipped("beamline"), prefix="HAND:")
    assert beamline.device("mtr_dotx").pv == "HAND:mtr:dotx"
    assert beamline.device("dot").plugin("TIFF1").prefix == "HAND:dot:TIFF1:"
    assert beamline.ioc("beamline").sim.prefix == "HAND:sim:"
    with pytest.raises(ConfigError, match="one IOC; this one has 2"):
        load(shipped("ophyd_tests"), prefix="X:")
    with pytest.raises(ConfigError, match="not a valid PV prefix"):
        load(shipped("beamline"), prefix="B L:")


def test_todays_beamline_settings():
    beamline = load(shipped("beamline"))
    dotx = beamline.device("mtr_dotx")
    assert (dotx.egu, dotx.low_limit, dotx.high_limit, dotx.velocity, dotx.acceleration, dotx.resolution,
            dotx.precision, dotx.home_velocity) == ("mm", -100, 100, 20, 0.2, 1e-4, 3, 20)
    assert beamline.movers("dot") == {"x": dotx, "y": beamline.device("mtr_doty")}
    dot = beamline.device("dot")
    assert (dot.sensor_shape, dot.data_type, dot.port, dot.driver_prefix) == ((480, 640), "UInt32", "DOT1",
                                                                            "BL:dot:cam1:")
    assert [(p.name, p.type, p.port, p.ndarray_port, p.enabled) for p in dot.plugins] == [
        ("TIFF1", "NDFileTIFF", "FileTIFF1", "DOT1", True), ("HDF1", "NDFileHDF5", "FileHDF1", "DOT1", True),
        ("image1", "NDStdArrays", "IMAGE1", "DOT1", True), ("Stats1", "NDStats", "STATS1", "DOT1", True),
        ("Pva1", "NDPva", "PVA1", "DOT1", True), *(
            (f"ROI{n}", "NDROI", f"ROI{n}", "DOT1", False) for n in range(1, 5)),
        ("ROIStat1", "NDROIStat", "ROISTAT1", "DOT1", False), ("Proc1", "NDProcess", "PROC1", "DOT1", False),
        ("Trans1", "NDTransform", "TRANS1", "DOT1", False), ("Over1", "NDOverlay", "OVER1", "DOT1", False),
        ("CC1", "NDColorConvert", "CC1", "DOT1", False), ("CB1", "NDCircularBuff", "CB1", "DOT1", False)]
    assert beamline.device("I").pv == "BL:ring:current"


@pytest.mark.parametrize("proof, config_name", [("ophyd_tests", "ophyd_tests"), ("dodal_adsim", "dodal_adsim")])
def test_proof_configurations_declare_every_name_the_outside_code_uses(proof, config_name):
    """Every PV ophyd's tests (or dodal's adsim module) name lies under a declared record or prefix,
    so that an IOC serving the configuration serves the devices those tests build."""
    data = json.loads((PROOFS / f"{proof}.json").read_text())
    groups = data["tests"] if "tests" in data else data["devices"]
    entries = device_pvs(load(shipped(config_name)))
    for group, info in groups.items():
        uncovered = [name for name in info["pvs"] if not _covering(entries, name)]
        assert not uncovered, (group, uncovered[:5])


# -- good files: defaults, shorthands, several IOCs --------------------------------------------

EXAMPLE = textwrap.dedent(config.__doc__.split("::\n", 1)[1].split("\n\n", 1)[0]).strip() + "\n"


def test_the_documented_example():
    """The ten lines in beamline_shared.config's docstring (and docs/configuration.md)."""
    assert len(EXAMPLE.splitlines()) == 10
    beamline = loads(EXAMPLE)
    (ioc,) = beamline.iocs
    assert pv_names(beamline) == [
        "DEMO:mtr:x", "DEMO:mtr:x_able", "DEMO:mtr:x:scanParms", "DEMO:mtr:y", "DEMO:mtr:y_able",
        "DEMO:mtr:y:scanParms", "DEMO:cam:cam1:", "DEMO:cam:TIFF1:", "DEMO:cam:Stats1:", "DEMO:cam:image1:",
        "DEMO:ring:current", "DEMO:sim:", "DEMO:mtr:allstop", "DEMO:mtr:alldone", "DEMO:mtr:moving",
        "DEMO:mtr:alldoneBlink", "DEMO:mtr:movingDiff", "DEMO:sim:ACFFile", "DEMO:sim:ACFReload",
        "DEMO:sim:ACFMessage"]
    cam = beamline.device("cam")
    assert [(p.type, p.port, p.ndarray_port, p.enabled) for p in cam.plugins] == [
        ("NDFileTIFF", "FileTIFF1", "SIM1", True), ("NDStats", "STATS1", "SIM1", True),
        ("NDStdArrays", "Image1", "SIM1", True)]
    assert (cam.manufacturer, cam.model, cam.sensor_shape, cam.data_type) == (
        "Simulated detector", "Basic simulator", (480, 640), "UInt32")
    assert beamline.movers("cam") == {"x": beamline.device("mtr_x"), "y": beamline.device("mtr_y")}
    assert beamline.device("mtr_x").moves == config.Coupling("cam", "x")


def test_defaults_filled_in():
    beamline = loads("iocs:\n  - name: one\n    motors:\n      m: {pv: 'M1'}\n")
    m = beamline.device("m")
    assert (m.egu, m.low_limit, m.high_limit, m.velocity, m.base_velocity, m.acceleration, m.resolution,
            m.precision, m.home_velocity, m.description, m.moves) == (
        "mm", -100, 100, 20, 0.1, 0.2, 1e-4, 3, 20, "", None)
    ioc = beamline.ioc("one")
    assert (ioc.prefix, ioc.ring, ioc.sim) == ("", None, config.SimControls("sim:"))


def test_plugin_forms():
    """A list of names, a name with nothing after it, and a plugin with its own suffix, port and wiring."""
    text = """
iocs:
  - name: cams
    prefix: "C:"
    cameras:
      a: {prefix: "a:", plugins: [ROI1, Stats2, CB1, ROIStat1, Pva1]}
      b:
        prefix: "b:"
        port: B.DET
        driver_suffix: "DET:"
        plugins:
          HDF1:
          proc: {type: NDProcess, suffix: "PROC:", port: B.PROC, ndarray_port: B.DET}
          HDF5: {type: NDFileHDF5, port: B.HDF, ndarray_port: B.PROC, enabled: false}
"""
    beamline = loads(text)
    a, b = beamline.device("a"), beamline.device("b")
    assert [(p.prefix, p.type, p.port) for p in a.plugins] == [
        ("C:a:ROI1:", "NDROI", "ROI1"), ("C:a:Stats2:", "NDStats", "STATS2"), ("C:a:CB1:", "NDCircularBuff", "CB1"),
        ("C:a:ROIStat1:", "NDROIStat", "ROISTAT1"), ("C:a:Pva1:", "NDPva", "PVA1")]
    assert b.driver_prefix == "C:b:DET:"
    assert [(p.prefix, p.port, p.ndarray_port, p.enabled) for p in b.plugins] == [
        ("C:b:HDF1:", "FileHDF1", "B.DET", True), ("C:b:PROC:", "B.PROC", "B.DET", True),
        ("C:b:HDF5:", "B.HDF", "B.PROC", False)]


def test_several_iocs_in_one_file():
    """Motors in one IOC, the camera and a point detector in another: one beamline."""
    text = """
description: motors and detectors split across IOCs, as at a facility
iocs:
  - name: motors
    prefix: "XF:31IDA-OP{Tbl-Ax:"
    motors:
      spot_x: {pv: "X1}Mtr", moves: cam.x}
      spot_y: {pv: "X2}Mtr", moves: cam.y}
      slit_x: {pv: "X3}Mtr", egu: um, moves: slit}
    sim: {prefix: "Sim}"}
  - name: detectors
    prefix: "XF:31IDA-BI{"
    cameras:
      cam: {prefix: "Cam:Tbl}:", plugins: [HDF1, Stats1]}
    point_detectors:
      slit: {prefix: "Slt}", profile: slit}
    ring: {name: ring_current, pv: "DCCT}I-I", model: Constant}
"""
    beamline = loads(text, source="facility.yaml")
    assert [i.name for i in beamline.iocs] == ["motors", "detectors"]
    extras = ("motor enable (motor.db)", "scan parameters (scanParms.db)", "motorUtil.db", "access security control")
    assert [e.name for e in device_pvs(beamline) if e.what == "motorUtil.db"][0] == "XF:31IDA-OP{Tbl-Ax:mtr:allstop"
    assert [(e.ioc, e.name, e.kind) for e in device_pvs(beamline) if e.what not in extras] == [
        ("motors", "XF:31IDA-OP{Tbl-Ax:X1}Mtr", "record"), ("motors", "XF:31IDA-OP{Tbl-Ax:X2}Mtr", "record"),
        ("motors", "XF:31IDA-OP{Tbl-Ax:X3}Mtr", "record"), ("motors", "XF:31IDA-OP{Tbl-Ax:Sim}", "prefix"),
        ("detectors", "XF:31IDA-BI{Cam:Tbl}:cam1:", "prefix"), ("detectors", "XF:31IDA-BI{Cam:Tbl}:HDF1:", "prefix"),
        ("detectors", "XF:31IDA-BI{Cam:Tbl}:Stats1:", "prefix"), ("detectors", "XF:31IDA-BI{Slt}", "prefix"),
        ("detectors", "XF:31IDA-BI{DCCT}I-I", "record"), ("detectors", "XF:31IDA-BI{sim:", "prefix")]
    # each IOC's access security controls beside its sim controls
    assert [e.name for e in device_pvs(beamline) if e.device == "access_security"] == [
        "XF:31IDA-OP{Tbl-Ax:Sim}ACFFile", "XF:31IDA-OP{Tbl-Ax:Sim}ACFReload", "XF:31IDA-OP{Tbl-Ax:Sim}ACFMessage",
        "XF:31IDA-BI{sim:ACFFile", "XF:31IDA-BI{sim:ACFReload", "XF:31IDA-BI{sim:ACFMessage"]
    assert beamline.ioc_of("spot_x").name == "motors" and beamline.ioc_of("cam").name == "detectors"
    assert beamline.movers("slit") == {None: beamline.device("slit_x")}
    assert beamline.device("ring_current").model == "Constant"


def test_access_security_of_each_ioc(tmp_path):
    """An IOC's ACF file is relative to the configuration's directory; its controls sit beside its sim
    controls, at <prefix>acf: without them, or where access_security.prefix says."""
    (tmp_path / "site.acf").write_text("ASG(DEFAULT) {RULE(1, READ)}\n")
    path = tmp_path / "three.yaml"
    path.write_text("iocs:\n  - name: a\n    prefix: 'A:'\n    access_security: {file: site.acf}\n"
                    "  - name: b\n    prefix: 'B:'\n    sim: null\n"
                    "  - name: c\n    prefix: 'C:'\n    access_security: {prefix: 'as:'}\n")
    a, b, c = load(path).iocs
    assert a.access_security == config.AccessSecurity(str(tmp_path / "site.acf"), "A:sim:")
    assert b.access_security == config.AccessSecurity(None, "B:acf:")
    assert c.access_security == config.AccessSecurity(None, "C:as:")
    assert "C:as:ACFReload" in pv_names(load(path))


# -- bad files: the line and the key ------------------------------------------------------------

GOOD_IOC = "iocs:\n  - name: a\n"
BAD = [
    # (file text, line, key, words in the message)
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: 'M1', velocty: 2}\n", 4, "iocs[0].motors.m.velocty",
     "unknown key; expected one of: acceleration"),
    ("iocs:\n  - name: a\n    motors:\n      m:\n        pv: M1\n        velocity: -2\n", 6,
     "iocs[0].motors.m.velocity", "greater than 0"),
    ("iocs:\n  - name: a\n    motors:\n      m:\n        egu: mm\n", 4, "iocs[0].motors.m.pv", "missing key 'pv'"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: 'M1', limits: [5, 1]}\n", 4, "iocs[0].motors.m.limits",
     "low limit 5 is above high limit 1"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: 'M.1'}\n", 4, "iocs[0].motors.m.pv",
     "not a valid EPICS record name"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: 'M1', moves: cam.z}\n    cameras:\n      cam: {prefix: 'c:'}\n",
     4, "iocs[0].motors.m.moves", "along x or y"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: 'M1', moves: nowhere}\n", 4, "iocs[0].motors.m.moves",
     "no camera or point detector named 'nowhere'"),
    ("iocs:\n  - name: a\n    cameras:\n      cam:\n        prefix: 'c:'\n        data_type: UInt12\n", 6,
     "iocs[0].cameras.cam.data_type", "'UInt12': Input should be 'Int8'"),
    ("iocs:\n  - name: a\n    cameras:\n      cam:\n        prefix: 'c:'\n        plugins: [TIFF1, Mystery]\n", 6,
     "iocs[0].cameras.cam.plugins.Mystery", "give its type and port"),
    ("iocs:\n  - name: a\n    cameras:\n      cam:\n        prefix: 'c:'\n        plugins:\n          TIFF1: {}\n"
     "          Stats1: {ndarray_port: NOPE}\n", 8, "iocs[0].cameras.cam.plugins.Stats1.ndarray_port",
     "'NOPE' is not a port of camera 'cam'"),
    ("iocs:\n  - name: a\n    cameras:\n      cam: {prefix: 'c:', layout: mini_beamline, plugins: [TIFF1]}\n", 4,
     "iocs[0].cameras.cam", "plugins: not used by the mini_beamline layout"),
    ("iocs:\n  - name: a\n    point_detectors:\n      ph: {prefix: 'ph:', profile: donut}\n", 4,
     "iocs[0].point_detectors.ph.profile", "'donut'"),
    ("iocs:\n  - name: a\n    ring: {model: Decay}\n", 3, "iocs[0].ring.model", "'TopUp' or 'Constant'"),
    ("iocs:\n  - name: a\n    motors:\n      class: {pv: M1}\n", 4, "iocs[0].motors.class", "Python identifier"),
    # two IOCs serving one PV name; two devices of one name; a record under another device's prefix
    ("iocs:\n  - name: a\n    prefix: 'X:'\n    motors:\n      m: {pv: m1}\n  - name: b\n    prefix: 'X:'\n"
     "    motors:\n      n: {pv: m1}\n    sim: null\n", 9, "iocs[1].motors.n", "'X:m1' (motor, IOC b) overlaps 'X:m1'"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: m1}\n  - name: b\n    motors:\n      m: {pv: m2}\n"
     "    sim: null\n", 7, "iocs[1].motors.m", "device name 'm' is also used at iocs[0].motors.m (line 4)"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: 'sim:TimeScale'}\n", 4, "iocs[0].motors.m", "overlaps 'sim:'"),
    ("iocs:\n  - name: a\n  - name: a\n    sim: {prefix: 's2:'}\n", 3, "iocs[1].name", "also used by iocs[0]"),
    ("iocs:\n  - name: a\n  - name: b\n", 3, "iocs[1].sim", "give each IOC a sim prefix of its own"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: '" + "M" * 61 + "'}\n", 4, "iocs[0].motors.m",
     "61 characters; EPICS record names have at most 60"),
    # access security: a file that is not there, an unknown key, a bad prefix, two IOCs' controls at one name
    ("iocs:\n  - name: a\n    access_security:\n      file: nothere.acf\n", 4, "iocs[0].access_security.file",
     "'nothere.acf': no such access security file"),
    ("iocs:\n  - name: a\n    access_security: {acf: x.acf}\n", 3, "iocs[0].access_security.acf",
     "unknown key; expected one of: file, prefix"),
    ("iocs:\n  - name: a\n    access_security: {prefix: 'a b'}\n", 3, "iocs[0].access_security.prefix",
     "not a valid PV prefix"),
    ("iocs:\n  - name: a\n    sim: null\n  - name: b\n    sim: null\n", 4, "iocs[1].access_security",
     "'acf:ACFFile' (access security control, IOC b) overlaps 'acf:ACFFile' (access security control of "
     "access_security, IOC a, by default): a PV name would be served twice; give each IOC an access_security "
     "prefix of its own"),
    # not a beamline at all
    ("iocs: []\n", 1, "iocs", "at least 1 item"),
    ("iocs:\n  - name: a\nsection: 1\n", 3, "section", "unknown key; expected one of: description, iocs, version"),
    ("version: 2\n" + GOOD_IOC, 1, "version", "Input should be 1"),
    ("iocs:\n  - name: a\n    motors:\n      m: {pv: M1}\n      m: {pv: M2}\n", 5, "", "duplicate key \"m\""),
    ("iocs:\n  - name: a\n    motors: {m: {pv: M1}\n", 4, "", "not YAML"),
    ("", 1, "", "the file is empty"),
]


@pytest.mark.parametrize("text, line, key, words", BAD, ids=[f"{b[2] or 'file'}-{n}" for n, b in enumerate(BAD)])
def test_bad_file_names_line_and_key(text, line, key, words):
    with pytest.raises(ConfigError) as info:
        loads(text, source="bad.yaml")
    where = f"bad.yaml:{line}: {key}: " if key else f"bad.yaml:{line}: "
    matching = [p for p in str(info.value).splitlines() if p.strip().startswith(where)]
    assert matching and words in matching[0], str(info.value)


def test_every_problem_is_reported_at_once():
    text = "iocs:\n  - name: a\n    motors:\n      m: {pv: M1, velocity: 0, precision: 99, egu: mm}\n" \
           "    ring: {model: Decay}\n"
    with pytest.raises(ConfigError) as info:
        loads(text, source="bad.yaml")
    assert [(p.line, p.key) for p in info.value.problems] == [
        (4, "iocs[0].motors.m.precision"), (4, "iocs[0].motors.m.velocity"), (5, "iocs[0].ring.model")]


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nothere\.yaml: cannot read it: No such file"):
        load(tmp_path / "nothere.yaml")


def test_command_line_checks_a_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("iocs:\n  - name: a\n    motors:\n      m: {pv: M1, velocity: fast}\n")
    assert config.main([str(bad)]) == 1
    assert f"{bad}:4: iocs[0].motors.m.velocity: Input should be a valid number" in capsys.readouterr().err
    assert config.main(["beamline"]) == 0
    out = capsys.readouterr().out
    assert "BL:mtr:dotx" in out and "BL:dot:TIFF1:*" in out
