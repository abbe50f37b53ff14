"""The PyDM displays (``beamline-screens``) against a real IOC, rendered offscreen.

Every widget's channel connects and shows what CA reads; a put from a widget (Acquire, a
motor move) reaches the IOC; the image widget shows the spot where Stats1's centroid says;
a put the IOC refuses (exposure -1) and a move past a soft limit show the refusal in the
display, and the display stays responsive. Each display is saved as a PNG (in this run's
temporary directory, or ``$BEAMLINE_SCREENS_PNG_DIR``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt starts
os.environ.setdefault("PYDM_DEFAULT_PROTOCOL", "ca")

from beamline.screens import app as screens  # noqa: E402
from beamline.screens.connections import addresses, curves, unconnected  # noqa: E402
from tests.ca import get, get_str, put  # noqa: E402  (imports ophyd before pyepics' PVs)
from tests.conftest import eventually  # noqa: E402

PREFIX = "SCR:"
# Values that change on their own while the IOC is idle: compared by the strip chart test.
CHANGING = ("ring:current", "TimeStamp_RBV", "sim:Time")


@pytest.fixture(scope="module")
def scr_ioc(module_ioc):
    return module_ioc(PREFIX)


@pytest.fixture(scope="module")
def qapp():
    return screens.application()


@pytest.fixture(scope="module")
def png_dir(tmp_path_factory) -> Path:
    path = Path(os.environ.get("BEAMLINE_SCREENS_PNG_DIR") or tmp_path_factory.mktemp("screens"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def main_display(scr_ioc, qapp):
    display = screens.make_display("main", PREFIX)
    display.show()
    assert screens.wait_until_shown(display, timeout=20) == ([], [])
    yield display
    display.close()


def process_events(seconds: float = 0.0) -> float:
    """Run Qt's event loop for ``seconds`` (at least one pass); the longest pass, s."""
    from qtpy.QtWidgets import QApplication

    longest, deadline = 0.0, time.monotonic() + seconds
    while True:
        start = time.monotonic()
        QApplication.instance().processEvents()
        longest = max(longest, time.monotonic() - start)
        if time.monotonic() >= deadline:
            return longest
        time.sleep(0.01)


def shown(check, timeout: float = 10.0):
    """``eventually`` with Qt's events processed between the checks."""
    return eventually(lambda: process_events() is not None and check(), timeout=timeout)


def widget(display, name: str):
    from qtpy.QtWidgets import QWidget

    found = display.findChild(QWidget, name)
    assert found is not None, name
    return found


def by_channel(display, pv: str, cls=None):
    """The display's widgets on channel ``pv`` (of class ``cls``)."""
    from pydm.widgets.base import PyDMWidget

    return [w for w in display.findChildren(cls or PyDMWidget) if getattr(w, "channel", None) == f"ca://{pv}"]


def ca_value(pv: str):
    """What CA reads for ``pv``, in the form PyDM's widgets hold it."""
    value = get(pv)
    if isinstance(value, np.ndarray) and value.dtype in (np.uint8, np.int8):
        return get_str(pv)
    return value


def shown_value(w):
    value = w.value
    if isinstance(value, np.ndarray) and value.dtype in (np.uint8, np.int8):  # a char waveform's text
        return bytes(value.astype(np.uint8)).split(b"\0", 1)[0].decode()
    return value


def differences(display) -> list[str]:
    """Widgets whose value is not what CA reads now (the changing ones left out)."""
    from pydm.widgets import PyDMImageView, PyDMTimePlot
    from pydm.widgets.base import PyDMWidget

    out = []
    for w in display.findChildren(PyDMWidget):
        channel = getattr(w, "channel", None)
        if not channel or isinstance(w, PyDMImageView | PyDMTimePlot) or any(c in channel for c in CHANGING):
            continue
        pv = channel.split("://", 1)[1]
        seen, read = shown_value(w), ca_value(pv)
        same = np.array_equal(seen, read) if isinstance(read, np.ndarray) else seen == read
        if not same:
            out.append(f"{pv}: {type(w).__name__} shows {seen!r}, CA reads {read!r}")
    return out


def assert_shows_what_ca_reads(display, timeout: float = 10.0) -> None:
    """Every widget's value equals a CA read of its channel, within ``timeout`` (monitors lag)."""
    deadline = time.monotonic() + timeout
    while True:
        process_events()
        found = differences(display)
        if not found:
            return
        assert time.monotonic() < deadline, "\n".join(found)
        time.sleep(0.05)


def save(display, png_dir: Path, name: str) -> Path:
    path = png_dir / f"{name}.png"
    screens.screenshot(display, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"saved {path}")
    return path


# -- the main display ---------------------------------------------------------------------------


def test_every_channel_of_the_main_display_connects_and_shows_what_ca_reads(main_display, png_dir):
    channels = addresses(main_display)
    assert len(channels) > 40
    assert unconnected(main_display) == []
    for pv in ("mtr:dotx.RBV", "mtr:doty.STOP", "ring:current", "dot:cam1:Acquire", "dot:image1:ArrayData",
               "dot:Stats1:CentroidX_RBV", "dot:TIFF1:WriteMessage", "sim:CamFault"):
        assert f"ca://{PREFIX}{pv}" in channels, pv
    assert_shows_what_ca_reads(main_display)
    # The strip chart and its label follow the ring current.
    plot = widget(main_display, "ring_plot")
    shown(lambda: curves(plot)[0].points_accumulated >= 2)
    latest = curves(plot)[0].data_buffer[1, -1]
    assert latest == pytest.approx(get(f"{PREFIX}ring:current"), rel=0.1)
    save(main_display, png_dir, "main")


def test_a_put_from_a_widget_reaches_the_ioc(main_display):
    from pydm.widgets import PyDMLineEdit, PyDMPushButton
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    put(f"{PREFIX}dot:cam1:ImageMode", "Single")
    put(f"{PREFIX}dot:cam1:AcquireTime", 0.01)
    before = get(f"{PREFIX}dot:cam1:ArrayCounter_RBV")
    (start,) = [b for b in by_channel(main_display, f"{PREFIX}dot:cam1:Acquire", PyDMPushButton)
                if b.pressValue == "1"]
    QTest.mouseClick(start, Qt.LeftButton)
    shown(lambda: get(f"{PREFIX}dot:cam1:ArrayCounter_RBV") == before + 1)
    (counter,) = by_channel(main_display, f"{PREFIX}dot:cam1:ArrayCounter_RBV")
    shown(lambda: counter.value == before + 1)

    (setpoint,) = by_channel(main_display, f"{PREFIX}mtr:dotx.VAL", PyDMLineEdit)
    setpoint.setFocus()
    setpoint.selectAll()
    QTest.keyClicks(setpoint, "7.5")
    QTest.keyClick(setpoint, Qt.Key_Return)
    shown(lambda: get(f"{PREFIX}mtr:dotx.RBV") == pytest.approx(7.5) and get(f"{PREFIX}mtr:dotx.DMOV") == 1)
    (readback,) = by_channel(main_display, f"{PREFIX}mtr:dotx.RBV")
    shown(lambda: readback.value == pytest.approx(7.5))


def test_the_image_shows_the_spot_where_stats1_says(main_display, png_dir):
    """The spot, moved off centre by the motors, is drawn where Stats1's centroid is: found
    in the rendered widget's pixels, not in the data it holds."""
    from qtpy.QtCore import QPointF

    for pv, value in (("mtr:dotx", 60), ("mtr:doty", -40), ("dot:Stats1:ComputeCentroid", 1),
                      ("dot:Stats1:CentroidThreshold", 3000), ("dot:cam1:AcquireTime", 0.1),
                      ("dot:cam1:ImageMode", "Single")):
        put(PREFIX + pv, value)
    put(f"{PREFIX}dot:cam1:Acquire", 1, timeout=20)
    cx, cy = get(f"{PREFIX}dot:Stats1:CentroidX_RBV"), get(f"{PREFIX}dot:Stats1:CentroidY_RBV")
    assert (cx, cy) == (pytest.approx(320 - 60, abs=2), pytest.approx(240 + 40, abs=2))  # the physics
    view = widget(main_display, "image")
    frame = get(f"{PREFIX}dot:image1:ArrayData")
    shown(lambda: view.getImageItem().image is not None
          and np.array_equal(view.getImageItem().image.ravel(), frame))
    assert view.getImageItem().image.shape == (480, 640)  # rows of ArraySize0_RBV columns
    process_events(0.2)

    graphics = view.ui.graphicsView
    picture = graphics.grab().toImage()
    width, height = picture.width(), picture.height()
    pixels = np.frombuffer(picture.constBits().asstring(picture.sizeInBytes()), np.uint8)
    rgb = pixels.reshape(height, picture.bytesPerLine())[:, : width * 4].reshape(height, width, 4)[..., :3]
    brightness = rgb.astype(float).sum(axis=2)
    ys, xs = np.nonzero(brightness >= np.percentile(brightness, 99.9))
    device = view.getImageItem().mapToDevice(QPointF(cx + 0.5, cy + 0.5))
    ratio = picture.devicePixelRatio()
    drawn = (xs.mean() / ratio, ys.mean() / ratio)
    pixel = view.getImageItem().mapToDevice(QPointF(1, 0)).x() - view.getImageItem().mapToDevice(QPointF(0, 0)).x()
    assert np.hypot(drawn[0] - device.x(), drawn[1] - device.y()) < 5 * pixel + 2, (drawn, (device.x(), device.y()))
    save(main_display, png_dir, "main_spot")


def test_refused_input_shows_the_refusal_and_nothing_hangs(main_display):
    """An exposure of -1 typed in: the IOC refuses it, the message pane says why, the field
    shows the IOC's value again. A move past the high limit: the record refuses it (.LVIO),
    the lamp and the message pane say so. The event loop never stalls, and the next good
    put goes through."""
    from pydm.widgets import PyDMByteIndicator, PyDMLineEdit
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    messages = widget(main_display, "messages").text
    messages.clear()
    put(f"{PREFIX}dot:cam1:AcquireTime", 0.1)
    (exposure,) = by_channel(main_display, f"{PREFIX}dot:cam1:AcquireTime", PyDMLineEdit)
    shown(lambda: exposure.value == pytest.approx(0.1))

    def type_into(edit, text: str) -> None:
        edit.setFocus()
        edit.selectAll()
        QTest.keyClicks(edit, text)
        QTest.keyClick(edit, Qt.Key_Return)

    type_into(exposure, "-1")
    shown(lambda: "AcquireTime: the IOC refused the put" in messages.toPlainText())
    assert "-1" in messages.toPlainText() or "between" in messages.toPlainText(), messages.toPlainText()
    assert process_events(1.0) < 0.5
    assert get(f"{PREFIX}dot:cam1:AcquireTime") == pytest.approx(0.1)
    shown(lambda: float(exposure.text()) == pytest.approx(0.1))

    put(f"{PREFIX}mtr:dotx", 0)
    (setpoint,) = by_channel(main_display, f"{PREFIX}mtr:dotx.VAL", PyDMLineEdit)
    (lvio,) = by_channel(main_display, f"{PREFIX}mtr:dotx.LVIO", PyDMByteIndicator)
    type_into(setpoint, "500")
    shown(lambda: lvio.value == 1)
    shown(lambda: f"{PREFIX}mtr:dotx: target beyond the soft limits" in messages.toPlainText())
    assert get(f"{PREFIX}mtr:dotx.RBV") == pytest.approx(0)
    shown(lambda: float(setpoint.text()) == pytest.approx(0))
    assert process_events(1.0) < 0.5

    type_into(exposure, "0.2")
    shown(lambda: get(f"{PREFIX}dot:cam1:AcquireTime") == pytest.approx(0.2))


# -- the detail displays --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["camera", "motor", "plugin-TIFF1", "plugin-HDF1", "plugin-Stats1",
                                  "plugin-image1", "plugin-Pva1"])
def test_each_detail_display_connects_and_shows_what_ca_reads(name, scr_ioc, qapp, png_dir):
    display = screens.make_display(name, PREFIX)
    display.show()
    try:
        assert screens.wait_until_shown(display, timeout=20) == ([], [])
        assert_shows_what_ca_reads(display)
        save(display, png_dir, name)
    finally:
        display.close()


# -- the command ----------------------------------------------------------------------------------


def _command_env(**changes: str) -> dict[str, str]:
    """The environment of a user's shell: no CA address list or port (the connection file says)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_CA_") or k == "EPICS_CA_REPEATER_PORT"}
    return {**env, **changes}


def test_the_command_finds_the_ioc_and_saves_the_picture(scr_ioc, tmp_path):
    out = tmp_path / "main.png"
    proc = subprocess.run([sys.executable, "-m", "beamline.screens", "--screenshot", str(out)],
                          env=_command_env(BEAMLINE_PREFIX=PREFIX, BEAMLINE_DATA_ROOT=str(scr_ioc.data_root)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_the_command_names_the_channels_that_did_not_connect(scr_ioc, tmp_path):
    out = tmp_path / "none.png"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "beamline.screens", "--prefix", "NONE:", "--timeout", "2",
                           "--screenshot", str(out)], env=_command_env(BEAMLINE_DATA_ROOT=str(scr_ioc.data_root)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "did not connect within 2 s" in proc.stderr
    for pv in ("NONE:mtr:dotx.RBV", "NONE:ring:current", "NONE:dot:image1:ArrayData"):
        assert pv in proc.stderr
    assert out.exists()
    assert time.monotonic() - start < 60
