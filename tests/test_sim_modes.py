"""``cam1:SimMode``: ADSimDetector's patterns, set through ophyd's stock ``SimDetectorCam`` and
checked pixel by pixel against simDetector.cpp's formulas in the frames the IOC serves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ophyd.areadetector import SimDetectorCam

from . import ca
from .conftest import eventually

CAM = "BL:dot:cam1:"


@pytest.fixture
def cam(ioc):
    cam = SimDetectorCam(CAM, name="cam")
    cam.wait_for_connection(timeout=10)
    ca.put(CAM + "ImageMode", "Single")
    ca.put(CAM + "ArrayCallbacks", 1)
    ca.put(CAM + "DataType", "UInt32")
    ca.put(CAM + "AcquireTime", 0.01)
    ca.put("BL:dot:image1:MinCallbackTime", 0.0)
    ca.put("BL:dot:image1:EnableCallbacks", 1)
    yield cam
    cam.sim_mode.set(4).wait(5)
    for pv, value in (("Gain", 1.0), ("GainX", 1.0), ("GainY", 1.0), ("Offset", 0.0), ("Noise", 0.0),
                      ("PeakNumX", 1), ("PeakNumY", 1), ("PeakVariation", 0.0), ("DataType", "UInt32")):
        ca.put(CAM + pv, value)
    ca.put("BL:dot:image1:MinCallbackTime", 0.1)


def frame() -> np.ndarray:
    """Acquire one frame; the one image1 serves (waiting for its monitor-rate post)."""
    before = ca.get("BL:dot:image1:ArrayCounter_RBV")
    ca.acquire()
    eventually(lambda: ca.get("BL:dot:image1:ArrayCounter_RBV") > before)
    return ca.image1()


def test_the_beam_spot_is_the_default_and_the_four_template_modes_keep_their_indices(cam):
    assert cam.sim_mode.get(as_string=True) == "BeamSpot"
    strings = cam.sim_mode.enum_strs
    assert strings[:4] == ("LinearRamp", "Peaks", "Sine", "Offset&Noise") and strings[4] == "BeamSpot"


def test_linear_ramp(cam):
    cam.gain_xy.gain_x.set(2.0).wait(5)
    cam.gain_xy.gain_y.set(3.0).wait(5)
    cam.gain.set(1.0).wait(5)
    cam.sim_mode.set(0).wait(5)
    ca.put(CAM + "Reset", 1)
    first = frame()
    i, j = np.indices(first.shape)
    assert np.array_equal(first, 2 * j + 3 * i)  # Gain * (GainX * column + GainY * row)
    second = frame()
    assert np.array_equal(second, first + 1)  # each frame adds Gain
    assert ca.get("BL:dot:Stats1:Total_RBV") == second.sum()


def test_peaks(cam):
    cam.gain.set(500.0).wait(5)
    cam.peak_start.peak_start_x.set(100).wait(5)
    cam.peak_start.peak_start_y.set(60).wait(5)
    cam.peak_num.peak_num_x.set(3).wait(5)
    cam.peak_num.peak_num_y.set(2).wait(5)
    cam.peak_step.peak_step_x.set(200).wait(5)
    cam.peak_step.peak_step_y.set(250).wait(5)
    cam.peak_width.peak_width_x.set(5).wait(5)
    cam.peak_width.peak_width_y.set(8).wait(5)
    cam.sim_mode.set(1).wait(5)
    img = frame()
    for y in (60, 310):
        for x in (100, 300, 500):
            assert img[y, x] == 500
            assert img[y, x + 5] == math.trunc(500 * math.exp(-0.5))
    assert img[60, 100 + 4 * 5 + 1] == 0 and img[0, 0] == 0  # cut at 4 widths


def test_sine(cam):
    cam.gain.set(100.0).wait(5)
    for pv, value in (("XSine2Amplitude", 0.0), ("YSine1Amplitude", 0.0), ("YSine2Amplitude", 0.0),
                      ("XSine1Amplitude", 1.0), ("XSine1Frequency", 1.0), ("XSine1Phase", 90.0)):
        ca.put(CAM + pv, value)
    ca.put(CAM + "DataType", "Float64")
    cam.sim_mode.set(2).wait(5)
    ca.put(CAM + "Reset", 1)
    img = frame()
    cols = img.shape[1]
    t = np.arange(cols) / cols
    assert np.allclose(img[0], np.trunc(100 * np.sin((t + 0.25) * 2 * math.pi)), atol=1e-6)


def test_offset_and_noise(cam):
    ca.put(CAM + "DataType", "UInt16")
    ca.put(CAM + "Offset", 200.0)  # SimDetectorCam has no component for Offset
    cam.noise.set(50.0).wait(5)
    cam.sim_mode.set(3).wait(5)
    img = frame()
    assert img.min() >= 200 and img.max() <= 250
    assert abs(img.mean() - 224.5) < 0.5  # Offset + Noise * uniform(0, 1), truncated


def test_bad_pattern_parameters_are_refused(cam):
    assert "peak width in x (pixels) must be between 1" in ca.put_error(CAM + "PeakWidthX", 0)
    ca.put(CAM + "PeakNumX", 2)
    assert "PeakNumX x PeakNumY must be at most 10000" in ca.put_error(CAM + "PeakNumY", 10_000)
    assert "is not one of the choices" in ca.put_error(CAM + "SimMode", 5)
