"""The user mistakes met most often, on the session IOC (issue 2 item 5).

The exhaustive catalogue (70-odd kinds of bad put, full disks, malformed CA) is in
``tests/reliability/``; this is the short list a user makes in their first week: a wrong
type, NaN, a negative exposure, a FilePath outside the data root (``..``, a symlink), a
directory that does not exist yet (CreateDirectory 0 vs -3) and one that cannot be written.
Each time the IOC refuses or reports the mistake where the user looks, writes nothing
outside the data root, and the next acquisition works.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from caproto import AlarmSeverity, AlarmStatus, ChannelType

from . import ca
from .reliability.conftest import alarm, good_acquisition, put_error, raw, text, tree, unwritable_directory

P = "BL:dot:"


@pytest.fixture
def bad_input(ioc, data_root, tmp_path):
    """The session IOC; afterwards: still up, tmp_path (outside its data root) untouched, and a
    good acquisition writes its file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    before = tree(tmp_path)
    yield outside
    assert ioc.alive()
    assert tree(tmp_path) == before, "something was written outside the data root"
    good_acquisition("BL:", data_root / "bad-input" / "good")


@pytest.mark.parametrize(("pv", "value", "as_type", "why", "good"), [
    ("cam1:AcquireTime", "0.1 s", ChannelType.STRING, "'0.1 s' is not a number", 0.01),
    ("cam1:NumImages", 2.5, ChannelType.DOUBLE, "2.5 is not a whole number", 1),
    ("cam1:ImageMode", "Once", ChannelType.STRING, "'Once' is not one of the choices", 0),
    ("cam1:AcquireTime", math.nan, None, "Limits are set to 0.0 and 3600.0", 0.01),
    ("cam1:AcquireTime", -0.1, None, "Limits are set to 0.0 and 3600.0", 0.01),
    ("cam1:AcquirePeriod", -1.0, None, "Limits are set to 0.0 and 3600.0", 0.0),
], ids=["string-to-float", "float-to-long", "unknown-choice", "nan-exposure", "negative-exposure", "negative-period"])
def test_bad_value_is_refused_with_the_reason(pv, value, as_type, why, good, bad_input):
    name = P + pv
    before = raw(name)
    message = put_error(name, value, as_type)
    assert f"{name}: " in message and why in message, message
    assert raw(name) == before
    assert alarm(name) == (AlarmStatus.WRITE, AlarmSeverity.MAJOR_ALARM)
    assert put_error(name, good) == ""
    assert alarm(name) == (AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM)


def test_nan_motor_target_is_refused(bad_input):
    message = put_error("BL:mtr:dotx", math.nan)
    assert "BL:mtr:dotx: target must be between -1e+300 and 1e+300, not nan" in message
    assert put_error("BL:mtr:dotx", 0.0) == ""


def expect_bad_path(why: str) -> None:
    """FilePathExists_RBV says No, WriteMessage why; an Acquire completes and fails its write."""
    assert ca.get(P + "TIFF1:FilePathExists_RBV") == 0
    assert why in text(P + "TIFF1:WriteMessage"), text(P + "TIFF1:WriteMessage")
    ca.put(P + "cam1:AcquireTime", 0.001)
    ca.acquire()
    assert ca.get(P + "cam1:Acquire_RBV") == 0
    assert text(P + "TIFF1:WriteStatus") == "Write error"
    assert text(P + "cam1:DetectorState_RBV") == "Error"
    assert why in text(P + "cam1:StatusMessage_RBV")


def test_file_path_out_of_the_data_root_by_dotdot(bad_input, data_root):
    escape = Path(os.path.relpath(bad_input, data_root))  # ../test_.../outside
    ca.put(P + "TIFF1:CreateDirectory", -5)
    ca.put(P + "TIFF1:FilePath", f"{data_root}/{escape}/escaped")
    expect_bad_path("outside the data root")
    assert list(bad_input.iterdir()) == []


def test_file_path_out_of_the_data_root_by_symlink(bad_input, data_root):
    link = data_root / "bad-input" / "link-out"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(bad_input, target_is_directory=True)
    ca.put(P + "TIFF1:CreateDirectory", -5)
    ca.put(P + "TIFF1:FilePath", str(link))
    expect_bad_path("outside the data root")
    assert list(bad_input.iterdir()) == []


def test_missing_directory_is_created_only_when_allowed(bad_input, data_root):
    missing = data_root / "bad-input" / "new" / "run1"
    ca.put(P + "TIFF1:CreateDirectory", 0)
    ca.put(P + "TIFF1:FilePath", str(missing))
    expect_bad_path("does not exist (CreateDirectory is 0)")
    assert not missing.exists()
    ca.put(P + "TIFF1:CreateDirectory", -3)  # allowed now: the IOC creates it at once
    assert ca.get(P + "TIFF1:FilePathExists_RBV") == 1
    assert missing.is_dir()


def test_unwritable_directory_is_reported(bad_input, data_root):
    with unwritable_directory(data_root / "bad-input" / "locked") as locked:
        ca.put(P + "TIFF1:CreateDirectory", 0)
        ca.put(P + "TIFF1:FilePath", str(locked))
        expect_bad_path("is not writable")
        assert os.listdir(locked) == []
