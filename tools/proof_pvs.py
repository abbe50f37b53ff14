"""Write tests/data/proofs/*.json: the PV names other people's code connects to, for the three
proofs of issue 28 (their code run unchanged against a configured beamline).

* ``ophyd_tests.json``: ophyd's own tests (its wheel's ``ophyd/tests``), per test: the devices it
  builds (as the test source composes them) and every PV their components name, found by walking
  the ophyd classes (no connection is made);
* ``dodal_adsim.json``: dodal's ``adsim`` beamline module, every PV its ophyd-async devices name
  (needs ``dls-dodal`` installed: ``pip install -c constraints.txt dls-dodal==3.0.5``; pyzmq must
  then be 27.1.0, which dodal pins);
* ``bluesky_tutorials.json``: the bluesky tutorials' ``beamline_configuration.py`` (not on the
  package index; the names are copied from the file, at the commit given).

``python tools/proof_pvs.py [--only ophyd|dodal|tutorials]``
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "proofs"

# ophyd 1.11.2's tests: what each test that needs an IOC builds, as (attribute, ophyd class, suffix)
# after the detector class (SimDetector at the ad_prefix fixture's prefix) or the motor fixture's
# TestEpicsMotor. Read from ophyd/tests/test_areadetector.py and conftest.py.
AD_PREFIX = "ADSIM:"
MOTOR_PV = "XF:31IDA-OP{Tbl-Ax:X1}Mtr"
AD_TESTS: dict[str, list[tuple[str, str, str]]] = {
    "test_basic": [("tiff1", "TIFFPlugin", "TIFF1:")],
    "test_detector": [],
    "test_tiff_plugin": [("p", "TIFFPlugin", "TIFF1:")],
    "test_continuous_acquisition_trigger": [("cb", "CircularBuffPlugin_V34", "CB1:")],
    "test_hdf5_plugin": [("p", "HDF5Plugin", "HDF1:")],
    "test_subclass": [("tiff1", "TIFFPlugin", "TIFF1:")],
    "test_getattr": [("tiff1", "TIFFPlugin", "TIFF1:")],
    "test_invalid_plugins": [("tiff1", "TIFFPlugin", "TIFF1:"), ("stats1", "StatsPlugin", "Stats1:")],
    "test_validate_plugins_no_portname": [("roi1", "ROIPlugin", "ROI1:"), ("over1", "OverlayPlugin", "Over1:")],
    "test_get_plugin_by_asyn_port": [("tiff1", "TIFFPlugin", "TIFF1:"), ("stats1", "StatsPlugin", "Stats1:"),
                                     ("roi1", "ROIPlugin", "ROI1:")],
    "test_get_plugin_by_asyn_port_nested": [("plugins.tiff1", "TIFFPlugin", "TIFF1:"), ("roi1", "ROIPlugin", "ROI1:"),
                                            ("stats1", "StatsPlugin", "Stats1:")],
    "test_visualize_asyn_digraph_smoke": [],
    "test_read_configuration_smoke": [("stats1", "StatsPlugin", "Stats1:"), ("proc1", "ProcessPlugin", "Proc1:"),
                                      ("roi1", "ROIPlugin", "ROI1:")],
    "test_str_smoke": [("stats1", "StatsPlugin", "Stats1:"), ("proc1", "ProcessPlugin", "Proc1:"),
                       ("roi1", "ROIPlugin", "ROI1:")],
    "test_fstiff_plugin": [("tiff1", "TIFFPlugin", "TIFF1:")],
    "test_fshdf_plugin": [("hdf1", "HDF5Plugin", "HDF1:")],
    "test_many_connect": [("hdf1", "HDF5Plugin", "HDF1:")],
    "test_posix_path": [("tiff1", "TIFFPlugin", "TIFF1:")],
    "test_default_configuration_smoke": [
        ("imageplugin", "ImagePlugin", "image1:"), ("statsplugin", "StatsPlugin", "Stats1:"),
        ("colorconvplugin", "ColorConvPlugin", "CC1:"), ("processplugin", "ProcessPlugin", "Proc1:"),
        ("overlayplugin", "OverlayPlugin", "Over1:"), ("roiplugin", "ROIPlugin", "ROI1:"),
        ("transformplugin", "TransformPlugin", "Trans1:"), ("netcdfplugin", "NetCDFPlugin", "netCDF1:"),
        ("tiffplugin", "TIFFPlugin", "TIFF1:"), ("jpegplugin", "JPEGPlugin", "JPEG1:"),
        ("hdf5plugin", "HDF5Plugin", "HDF1:")],
}
# What the tests assert beyond connecting, and what a faithful IOC must therefore do (read from
# the test source and ADCore/motor sources; see the comments in configs/ophyd_tests.yaml).
AD_BEHAVIOUR = {
    "test_basic": "SingleTrigger stage/trigger/unstage with TIFF1; AcquireTime 0.5, done within 5 s",
    "test_detector": "cam.gain_xy (GainX/GainY) put with wait; trigger without stage",
    "test_continuous_acquisition_trigger": "NDCircularBuff: stage sets cam ImageMode Continuous + Acquire 1, "
                                           "CB1 FlushOnSoftTrigger (index 0 reads 'OnNewImage'), "
                                           "PresetTriggerCount 0, PreCount 0, Capture 1; trigger puts "
                                           "CB1:Trigger 1 and waits for it to return to 0; unstage restores all",
    "test_hdf5_plugin": "HDF1 FilePath '/tmp', warmup (one frame through HDF1), stage, read_configuration",
    "test_invalid_plugins": "Stats1:NDArrayPort put 'AARDVARK' is accepted and read back (ADCore's writeOctet "
                            "stores any port name; connectToArrayPort's failure is only logged); "
                            "stage then raises RuntimeError from ophyd's validate_asyn_ports",
    "test_validate_plugins_no_portname": "ROI1 <- cam, Over1 <- ROI1 port wiring accepted and validated",
    "test_get_plugin_by_asyn_port": "port names read from each plugin's PortName_RBV identify it",
    "test_read_configuration_smoke": "Proc1 <- cam, ROI1 <- Proc1, Stats1 <- ROI1; stage; Stats1 configuration",
    "test_fstiff_plugin": "FileStoreTIFFIterativeWrite at /tmp/ophyd_AD_test/data1/%Y/%m/%d (made by the test, "
                          "and through the symlink data2); with check_files the TIFF files exist",
    "test_fshdf_plugin": "(xfail upstream) FileStoreHDF5 with NumImages 5",
    "test_posix_path": "TIFF1 FilePath '/some/path/here' (does not exist): stage, trigger and unstage still "
                       "complete within 5 s (the file write fails, the acquisition does not)",
    "test_default_configuration_smoke": "stage and read_configuration of image1, Stats1, CC1, Proc1, Over1, "
                                        "ROI1, Trans1, netCDF1, TIFF1, JPEG1, HDF1",
}
MOTOR_BEHAVIOUR = {
    "fixture": "LLM -100, HLM 100 put with wait; set(0); settle_time 0.1; timeout 10",
    "test_move": "moves 0.1/0.0 with timeout 5; readback equals target (assert_allclose)",
    "test_calibration": "set_current_position(10) via .SET/.FOFF: FOFF stays Variable (0), OFF = 10 - position",
    "test_watchers": "a move 0 -> 1 reports more than one progress update, the last fraction 0.0",
    "test_homing_forward": "home('forward', timeout=2) must NOT succeed: ophyd's motorSim homes at HVEL, which "
                           "basic_asyn_motor.db leaves 0 and the motor record raises to VBAS (0.1 EGU/s), so "
                           "reaching home (~1 EGU away) takes ~10 s and the 2 s status times out",
    "test_homing_reverse": "as test_homing_forward, from +1",
    "test_*_limit_switch*": "limit switches and direction are soft Signals of the test's TestEpicsMotor: no IOC part",
}


def _component_pvs(cls, prefix: str, out: set[str]) -> None:
    """The PV names an ophyd Device class's components name under ``prefix`` (no connection)."""
    from ophyd import Device
    from ophyd.areadetector.base import EpicsSignalWithRBV
    from ophyd.signal import EpicsSignalBase

    for _attr, cpt in cls._sig_attrs.items():
        suffix = cpt.suffix
        if isinstance(cpt.cls, type) and issubclass(cpt.cls, Device):
            _component_pvs(cpt.cls, prefix + (suffix or ""), out)
        elif isinstance(cpt.cls, type) and issubclass(cpt.cls, EpicsSignalWithRBV):
            out.update({prefix + suffix, prefix + suffix + "_RBV"})
        elif isinstance(cpt.cls, type) and issubclass(cpt.cls, EpicsSignalBase):
            out.add(prefix + suffix)
            write = cpt.kwargs.get("write_pv")
            if write:
                out.add(prefix + write if "write_pv" in cpt.add_prefix else write)


def ophyd_tests() -> dict:
    import ophyd
    from ophyd import SimDetector
    from ophyd.areadetector import plugins
    from ophyd.tests.conftest import TestEpicsMotor

    tests = {}
    for name, parts in AD_TESTS.items():
        pvs: set[str] = set()
        _component_pvs(SimDetector, AD_PREFIX, pvs)
        for _attr, cls_name, suffix in parts:
            _component_pvs(getattr(plugins, cls_name), AD_PREFIX + suffix, pvs)
        tests[f"ophyd.tests.test_areadetector::{name}"] = {
            "marker": "adsim", "devices": ["SimDetector"] + [f"{c}({s!r})" for _, c, s in parts],
            "asserts": AD_BEHAVIOUR.get(name, "connects; builds the devices (smoke)"), "pvs": sorted(pvs)}
    pvs = set()
    _component_pvs(TestEpicsMotor, MOTOR_PV, pvs)
    tests["ophyd.tests.test_epicsmotor (motor fixture)"] = {
        "marker": "motorsim", "devices": [f"TestEpicsMotor({MOTOR_PV!r})"], "asserts": MOTOR_BEHAVIOUR,
        "pvs": sorted(pvs)}
    return {
        "source": f"ophyd {ophyd.__version__} wheel: ophyd/tests/conftest.py, test_areadetector.py, "
                  "test_epicsmotor.py",
        "run": "pytest --pyargs ophyd.tests.test_areadetector ophyd.tests.test_epicsmotor (every test twice: "
               "the session fixture cl_selector runs caproto's and pyepics' control layers); ophyd's CI runs "
               "-k pyepics against bluesky/epics-services-for-ophyd (EPICS_CA_MAX_ARRAY_BYTES=10000000)",
        "prefixes": {"ad_prefix": ["ADSIM:", "XF:31IDA-BI{Cam:Tbl}:"], "motor": MOTOR_PV},
        "tests": tests,
    }


def dodal_adsim() -> dict:
    from dodal.beamlines import adsim
    from ophyd_async.core import Signal

    def walk(device, out):
        for _name, child in device.children():
            if isinstance(child, Signal):
                backend = child._connector.backend
                out.update({getattr(backend, "read_pv", None), getattr(backend, "write_pv", None)} - {None, ""})
            else:
                walk(child, out)

    devices = adsim.devices.build_all().or_raise().devices
    out = {}
    for name, device in devices.items():
        pvs: set[str] = set()
        walk(device, pvs)
        out[name] = {"class": type(device).__name__, "pvs": sorted(pvs)}
    return {
        "source": f"dls-dodal {importlib.metadata.version('dls-dodal')} dodal/beamlines/adsim.py, "
                  f"ophyd-async {importlib.metadata.version('ophyd-async')}",
        "use": "RunEngine(); devices.build_and_connect().or_raise(); RE(dodal.plans.count([det], num=10)); "
               "path_provider writes to /tmp",
        "devices": out,
    }


def bluesky_tutorials() -> dict:
    # bluesky/tutorials@a154c952243ff43f9f9dca6376ea8bd1eee6d8be,
    # bluesky-tutorial-utils/bluesky_tutorial_utils/beamline_configuration.py (lines 173-185)
    return {
        "source": "bluesky/tutorials@a154c952243ff43f9f9dca6376ea8bd1eee6d8be "
                  "bluesky-tutorial-utils/bluesky_tutorial_utils/beamline_configuration.py",
        "server": "python3 -m caproto.ioc_examples.mini_beamline (supervisor/conf.d/mini_beamline.conf)",
        "devices": {
            "ph": {"class": "Det('mini:ph')", "pvs": ["mini:ph:det", "mini:ph:exp"]},
            "edge": {"class": "Det('mini:edge')", "pvs": ["mini:edge:det", "mini:edge:exp"]},
            "slit": {"class": "Det('mini:slit')", "pvs": ["mini:slit:det", "mini:slit:exp"]},
            "motor_ph": {"class": "EpicsSignal(put_complete=True)", "pvs": ["mini:ph:mtr"]},
            "motor_edge": {"class": "EpicsSignal(put_complete=True)", "pvs": ["mini:edge:mtr"]},
            "motor_slit": {"class": "EpicsSignal(put_complete=True)", "pvs": ["mini:slit:mtr"]},
            "spot": {"class": "Spot('mini:dot')", "pvs": ["mini:dot:det", "mini:dot:img_sum", "mini:dot:exp",
                                                          "mini:dot:shutter_open", "mini:dot:ArraySize_RBV"]},
            "motor_spotx": {"class": "EpicsSignal(put_complete=True)", "pvs": ["mini:dot:mtrx"]},
            "motor_spoty": {"class": "EpicsSignal(put_complete=True)", "pvs": ["mini:dot:mtry"]},
            "I": {"class": "EpicsSignal", "pvs": ["mini:current"]},
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["ophyd", "dodal", "tutorials"])
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    makers = {"ophyd": ("ophyd_tests.json", ophyd_tests), "dodal": ("dodal_adsim.json", dodal_adsim),
              "tutorials": ("bluesky_tutorials.json", bluesky_tutorials)}
    for key, (filename, make) in makers.items():
        if args.only and key != args.only:
            continue
        try:
            data = make()
        except ModuleNotFoundError as exc:
            print(f"{filename}: skipped ({exc}); install it to regenerate this file")
            continue
        (OUT / filename).write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
        print(f"wrote {OUT / filename}")


if __name__ == "__main__":
    main()
