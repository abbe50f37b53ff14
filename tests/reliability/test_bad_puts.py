"""Bad puts of every kind to every class of writable PV, one row each, on an IOC of this
module's own, from the mistakes a user makes in the first week to deliberate abuse.

For every row: the IOC stays up and answering; the put is either refused with a CA error
that names the PV and says why (the PV's alarm goes WRITE/MAJOR and the next good put
clears it) or accepted and reported where a user looks (FilePathExists_RBV, WriteStatus /
WriteMessage, DetectorState_RBV / StatusMessage_RBV, the motor's LVIO and alarm); nothing
appears or changes outside the data root; no temporary file is left; and the next good
acquisition (Acquire with put completion) writes its file with WriteStatus OK.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from caproto import AlarmSeverity, AlarmStatus, ChannelType

from ioc.sim.physics import SENSOR_SHAPE

from .. import ca
from ..ca import acquire, alarm, answers, get_str, good_acquisition, put, put_error, raw, setup_tiff
from ..conftest import eventually
from .conftest import World, unwritable_directory

P = "BI:"
ROWS, COLS = SENSOR_SHAPE
WRITE_MAJOR = (AlarmStatus.WRITE, AlarmSeverity.MAJOR_ALARM)
NAN, INF = math.nan, math.inf
STRING, DOUBLE, LONG = ChannelType.STRING, ChannelType.DOUBLE, ChannelType.LONG
LIMITS = r"Limits are set to|must be between"
EXPOSURE_LIMITS = r"^Cannot write data {}\. Limits are set to 0\.0 and 3600\.0\.$"


@pytest.fixture(scope="module")
def bi(module_ioc, tmp_path_factory):
    """The IOC these rows break, and its world (data root and outside)."""
    world = World(tmp_path_factory.mktemp("world"))
    return module_ioc(P, data_root=world.root), world


@pytest.fixture
def world(bi) -> World:
    """After each row: still up, nothing outside touched, no partial file, a good frame."""
    proc, world = bi
    yield world
    assert proc.alive() and answers(P), "the IOC died or stopped answering"
    world.assert_outside_untouched()
    assert world.partial_files() == []
    good_acquisition(P, world.root / "good")
    world.assert_outside_untouched()


# -- refused: a CA error naming the PV, the value unchanged, WRITE/MAJOR until a good put ----


@dataclass(frozen=True)
class Refused:
    pv: str
    value: object
    why: str  # regex the server's message must match, after the PV's name
    good: object  # a good value, put afterwards: accepted, and it clears the alarm
    as_type: ChannelType | None = None  # what the client sends (None: the PV's own type)
    setup: tuple = ()  # (pv, value) puts that set the scene, undone after the row
    undo: tuple = ()

    def __str__(self) -> str:
        return f"{self.pv}={self.value!r}"[:60]


NOT_CHOICE = "is not one of the choices"
ROOT = "<the data root>"  # a good FilePath: the world's root
REFUSED = [
    # wrong types
    Refused("dot:cam1:AcquireTime", "abc", "'abc' is not a number", 0.001, STRING),
    Refused("dot:cam1:AcquireTime", "0.1 s", "'0.1 s' is not a number", 0.001, STRING),  # a unit typed too
    Refused("dot:cam1:NumImages", "ten", "'ten' is not a number", 1, STRING),
    Refused("dot:cam1:NumImages", "2.5", "'2.5' is not a whole number", 1, STRING),
    Refused("dot:cam1:NumImages", 2.5, "2.5 is not a whole number", 1, DOUBLE),
    Refused("dot:cam1:ImageMode", 1.5, NOT_CHOICE, 0, DOUBLE),
    Refused("dot:cam1:ImageMode", "Once", "'Once' is not one of the choices", 0, STRING),
    Refused("mtr:dotx", "far", "'far' is not a number", 0.0, STRING),
    Refused("mtr:dotx.VELO", "fast", "'fast' is not a number", 20.0, STRING),
    Refused("sim:Seed", "lucky", "'lucky' is not a number", 7, STRING),
    Refused("dot:TIFF1:FileName", 5.0, "control character", "frame", DOUBLE),
    # enums out of range
    Refused("dot:cam1:ImageMode", 7, NOT_CHOICE, 0),
    Refused("dot:cam1:DataType", -1, NOT_CHOICE, 5, LONG),
    Refused("dot:cam1:DataType", 10, NOT_CHOICE, 5),
    Refused("dot:cam1:Acquire", 2, NOT_CHOICE, 0),
    Refused("dot:TIFF1:FileWriteMode", "Sometimes", NOT_CHOICE, 0, STRING),
    Refused("sim:RingMode", 5, NOT_CHOICE, 0),
    Refused("mtr:dotx.SPMG", 9, NOT_CHOICE, 3),
    # NaN and infinities
    Refused("dot:cam1:AcquireTime", NAN, EXPOSURE_LIMITS.format("nan"), 0.001),
    Refused("dot:cam1:AcquirePeriod", INF, "inf", 0.0),
    Refused("dot:Stats1:CentroidThreshold", -INF, "-inf", 1200.0),
    Refused("dot:TIFF1:FileNumber", NAN, "nan is not a finite number", 0, DOUBLE),
    Refused("dot:cam1:Gain", NAN, "nan is not a finite number", 1.0),
    Refused("mtr:dotx", NAN, r"target must be between -1e\+300 and 1e\+300, not nan", 0.0),
    Refused("mtr:dotx.TWV", INF, "inf is not a finite number", 1.0),
    Refused("sim:TimeScale", NAN, "time scale must be between", 100.0),
    Refused("dot:cam1:AcquireTime", "inf", LIMITS, 0.001, STRING),
    # exposure and counts out of range
    Refused("dot:cam1:AcquireTime", -1.0, EXPOSURE_LIMITS.format("-1.0"), 0.001),
    Refused("dot:cam1:AcquireTime", -0.1, EXPOSURE_LIMITS.format("-0.1"), 0.001),
    Refused("dot:cam1:AcquireTime", 1e9, LIMITS, 0.001),
    Refused("dot:cam1:AcquirePeriod", -0.5, EXPOSURE_LIMITS.format("-0.5"), 0.0),
    Refused("dot:cam1:AcquirePeriod", -1.0, EXPOSURE_LIMITS.format("-1.0"), 0.0),
    Refused("dot:cam1:NumImages", 0, LIMITS, 1),
    Refused("dot:cam1:NumImages", 10**9, LIMITS, 1),
    Refused("dot:cam1:NumExposures", 0, LIMITS, 1),
    Refused("dot:cam1:NumExposures", 10**6, LIMITS, 1),
    Refused("dot:TIFF1:FileNumber", 1e12, "out of range", 0, DOUBLE),
    Refused("dot:TIFF1:CreateDirectory", 1000, "between -64 and 64", -5),
    Refused("sim:Seed", 1e20, "out of range", 7, DOUBLE),
    Refused("sim:Seed", -5, "seed must be between 0 and", 7),
    Refused("sim:TimeScale", 0.0, "time scale must be between", 100.0),
    Refused("sim:TimeScale", -1.0, "time scale must be between", 100.0),
    # geometry beyond the sensor
    Refused("dot:cam1:BinX", 0, "binning x must be between 1 and 64", 1),
    Refused("dot:cam1:BinY", 65, "binning y must be between 1 and 64", 1),
    Refused("dot:cam1:SizeX", 4096, f"region width .* must be between 1 and {COLS}", COLS),
    Refused("dot:cam1:MinY", ROWS, f"region start y .* must be between 0 and {ROWS - 1}", 0),
    Refused("dot:cam1:MinX", -1, "region start x", 0),
    Refused("dot:cam1:BinX", 64, "leaves no pixels to read out", 1,
            setup=(("dot:cam1:SizeX", 16),), undo=(("dot:cam1:SizeX", COLS),)),
    Refused("dot:cam1:ColorMode", 2, "monochrome", 0),
    Refused("dot:cam1:TriggerMode", 1, "only 'Internal' triggering", 0),
    # motor record parameters
    # (VELO outside [VBAS, VMAX] and ACCL <= 0 are clipped as the motor record does: tests/test_motor_record.py)
    Refused("mtr:dotx.VELO", NAN, "velocity must be between", 20.0),
    Refused("mtr:dotx.ACCL", INF, "Cannot write data inf. Limits are set to", 0.2),
    Refused("mtr:dotx.DESC", b"d" * 60, "60 bytes is too long: at most 40", "Beam spot x on the dot camera",
            ChannelType.CHAR),
    # text: file names and templates
    Refused("dot:TIFF1:FileName", "a/b", "cannot contain '/'", "frame"),
    Refused("dot:TIFF1:FileName", "a\nb", "control character", "frame"),
    Refused("dot:TIFF1:FileName", b"\xff\xfe\x80bad", "not valid UTF-8", "frame"),
    Refused("dot:TIFF1:FilePath", b"/tmp/\xc3(", "not valid UTF-8", ROOT),
    Refused("dot:TIFF1:FileName", "x" * 300, "300 bytes is too long: at most 255", "frame"),
    Refused("dot:TIFF1:FilePath", "/" + "d" * 299, "300 bytes is too long", ROOT),
    Refused("dot:TIFF1:FileTemplate", "%d%s%s", "must be %s", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%s%s%s%d", "conversion 3 .* must be an integer", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%s%s%d%d", "more than 3 conversions", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%n", "must be %s", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%s%s_%n", "must be an integer conversion", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%s%s%*d", "'\\*' widths are not allowed", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%", "incomplete % conversion", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%s%s_%d%", "incomplete % conversion", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", "%s%s_%999999999d.tif", "wider than a file name", "%s%s_%6.6d.tiff"),
    Refused("dot:TIFF1:FileTemplate", b"\0", "template is empty", "%s%s_%6.6d.tiff"),  # b"\0": empty text
    Refused("dot:TIFF1:TempSuffix", "/../../x", "suffix cannot contain '/'", ""),
    Refused("dot:TIFF1:Capture", 1, "needs FileWriteMode Capture or Stream", 0),
    Refused("dot:TIFF1:ReadFile", 1, "not supported", 0),
    # arrays longer than the waveform
    Refused("dot:cam1:Dimensions", list(range(11)), "too large", [0] * 10),
]


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_refused_put_names_the_pv_and_says_why(case: Refused, world: World):
    pv = P + case.pv
    good = str(world.root) if case.good == ROOT else case.good
    for setup_pv, value in case.setup:
        ca.put(P + setup_pv, value)
    try:
        before = raw(pv)
        message = put_error(pv, case.value, case.as_type)
        assert message.startswith("Python exception: ") and f" {pv}: " in message, message
        assert re.search(case.why, message.split(f" {pv}: ", 1)[1]), message
        assert raw(pv) == before, "a refused put must not change the value"
        assert alarm(pv) == WRITE_MAJOR, "the PV shows the refused put in its alarm"
        assert put_error(pv, good) == ""
        assert alarm(pv) == (AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM), "a good put clears the alarm"
    finally:
        for undo_pv, value in case.undo:
            ca.put(P + undo_pv, value)


def test_unknown_ndarray_port_is_kept_and_flagged_as_adcore_does(world: World):
    """NDArrayPort takes any name, as ADCore's stringout does; a port no one has leaves the
    record in WRITE/INVALID alarm (devAsynOctet on connectToArrayPort's error), the plugin gets
    no frames, and naming a real port again clears it."""
    pv = P + "dot:TIFF1:NDArrayPort"
    counter = P + "dot:TIFF1:ArrayCounter_RBV"
    try:
        assert put_error(pv, "NOPE", STRING) == ""
        assert get_str(pv) == "NOPE" and get_str(pv + "_RBV") == "NOPE"
        assert alarm(pv) == (AlarmStatus.WRITE, AlarmSeverity.INVALID_ALARM)
        before = ca.get(counter)
        put(P + "dot:cam1:AcquireTime", 0.001)
        acquire(P, timeout=30)
        assert ca.get(counter) == before, "a plugin on a port no one has receives nothing"
    finally:
        assert put_error(pv, "DOT1", STRING) == ""
    assert alarm(pv) == (AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM)


def test_ring_mode_put_after_a_refused_one_takes_effect(world: World):
    """The good put after a refused one is taken, and acts: the ring model changes."""
    assert NOT_CHOICE in put_error(P + "sim:RingMode", 5)
    assert put_error(P + "sim:RingMode", "Constant", STRING) == ""
    try:
        assert [ca.get(P + "ring:current") for _ in range(3)] == [500.0] * 3
    finally:
        assert put_error(P + "sim:RingMode", "TopUp", STRING) == ""


def test_utf8_file_names_are_written_as_given(world: World):
    """Text is UTF-8 on the wire: the name a client sends is the name on disk, byte for byte.
    (Sent with caproto: pyepics 3.5 turns non-ASCII text for a char waveform into '?' bytes,
    which the IOC refuses as not UTF-8.)"""
    directory = world.root / "ünïcode"
    setup_tiff(P, world.root / "utf8", "frame", number=None)
    ca.put(P + "dot:cam1:AcquireTime", 0.001)
    assert put_error(P + "dot:TIFF1:FilePath", str(directory).encode()) == ""
    assert put_error(P + "dot:TIFF1:FileName", "café".encode()) == ""
    assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 1
    ca.acquire(P)
    written = Path(get_str(P + "dot:TIFF1:FullFileName_RBV"))
    assert written.parent == directory and written.name.startswith("café_")
    assert os.fsencode(written.name) in os.listdir(os.fsencode(directory))


# -- read-only PVs ---------------------------------------------------------------------------

READ_ONLY = [  # (PV, a value to try, the setpoint the message points to, if any)
    ("dot:cam1:AcquireTime_RBV", 1.0, "dot:cam1:AcquireTime"),
    ("dot:cam1:ArrayCounter_RBV", 3, "dot:cam1:ArrayCounter"),
    ("dot:cam1:NumImagesCounter_RBV", 3, None),
    ("dot:cam1:DetectorState_RBV", 0, None),
    ("dot:cam1:StatusMessage_RBV", "fine", None),
    ("ring:current", 500.0, None),
    ("dot:image1:ArrayData", [1, 2, 3], None),
    ("sim:DataRoot", "/", None),
    ("sim:Time", 0.0, None),
    ("dot:TIFF1:FullFileName_RBV", "/etc/passwd", None),
    ("dot:TIFF1:FilePath_RBV", "/etc", "dot:TIFF1:FilePath"),
    ("dot:TIFF1:FilePathExists_RBV", 1, None),
    ("dot:TIFF1:WriteStatus", 0, None),
    ("dot:TIFF1:WriteMessage", "all good", None),
    ("dot:Stats1:Total_RBV", 1.0, "dot:Stats1:Total"),
    ("dot:Stats1:TSTotal", [1.0], None),
    ("mtr:dotx.RBV", 3.0, None),
    ("mtr:dotx.DMOV", 0, None),
]
# These change between two reads anyway: the ring and the clock follow simulated time, and
# image1 posts the last frame up to MinCallbackTime after it arrived.
MOVING = ("ring:current", "sim:Time", "dot:image1:ArrayData")


@pytest.mark.parametrize(("suffix", "value", "setpoint"), READ_ONLY, ids=[row[0] for row in READ_ONLY])
def test_read_only_pvs_refuse_puts(suffix: str, value, setpoint: str | None, world: World):
    pv = P + suffix
    steady = suffix not in MOVING
    before, alarm_before = raw(pv) if steady else None, alarm(pv)
    message = put_error(pv, value)
    if setpoint:
        assert f"{pv} is a read-only readback: put to {P}{setpoint} instead" in message, message
    else:
        assert f"{pv} is read-only" in message, message
    # Sent as any type (here a string): refused the same way, before any conversion.
    assert put_error(pv, "/", STRING) == message
    if steady:
        assert raw(pv) == before
    assert alarm(pv) == alarm_before, "refusing a write to a readback is no alarm of the readback's"


# -- FilePath mistakes: accepted, as areaDetector does, and reported where a user looks ---------


@dataclass(frozen=True)
class BadPath:
    name: str
    path: Callable[[World], str | bytes]
    why: str
    prepare: Callable[[World], object] = field(default=lambda world: None)
    create_directory: int = 0


def _symlink_out(world: World) -> None:
    link = world.root / "link-out"
    if not link.is_symlink():
        link.symlink_to(world.outside, target_is_directory=True)


def _a_file(world: World) -> None:
    (world.root / "a-file").write_text("not a directory\n")


BAD_PATHS = [
    BadPath("dotdot-escape", lambda w: f"{w.root}/../outside", "outside the data root"),
    BadPath("dotdot-escape-created", lambda w: f"{w.root}/new/../../escaped", "outside the data root",
            create_directory=-5),
    BadPath("symlink-out", lambda w: f"{w.root}/link-out", "outside the data root", _symlink_out),
    BadPath("symlink-out-below", lambda w: f"{w.root}/link-out/sub", "outside the data root", _symlink_out,
            create_directory=-5),
    BadPath("absolute-outside", lambda w: str(w.outside), "outside the data root"),
    BadPath("system-dir", lambda w: "/etc", "outside the data root"),
    BadPath("a-file", lambda w: f"{w.root}/a-file", "is a file, not a directory", _a_file),
    BadPath("below-a-file", lambda w: f"{w.root}/a-file/sub", "is a file, not a directory", _a_file,
            create_directory=-5),
    BadPath("missing-no-create", lambda w: f"{w.root}/missing/deeper", r"does not exist \(CreateDirectory is 0\)"),
    BadPath("missing-too-deep", lambda w: f"{w.root}/m1/m2/m3", r"does not exist \(CreateDirectory is -2\)",
            create_directory=-2),
    BadPath("relative", lambda w: "relative/dir", "is not absolute"),
    BadPath("empty", lambda w: b"\0", "FilePath is empty"),  # a NUL alone: empty text on the wire
]


def expect_write_error(why: str) -> None:
    """Acquire with put completion returns (no hang), and the failure is on the PVs a user reads."""
    ca.put(P + "dot:cam1:AcquireTime", 0.001)
    ca.acquire(P, timeout=30)
    assert ca.get(P + "dot:cam1:Acquire_RBV") == 0
    assert get_str(P + "dot:TIFF1:WriteStatus") == "Write error"
    assert re.search(why, get_str(P + "dot:TIFF1:WriteMessage"))
    assert get_str(P + "dot:cam1:DetectorState_RBV") == "Error"
    status = get_str(P + "dot:cam1:StatusMessage_RBV")
    assert status.startswith(P + "dot:TIFF1:") and re.search(why, status), status
    assert alarm(P + "dot:TIFF1:WriteStatus")[1] == AlarmSeverity.MAJOR_ALARM


@pytest.mark.parametrize("case", BAD_PATHS, ids=lambda c: c.name)
def test_bad_file_path_is_reported_and_nothing_is_written(case: BadPath, world: World):
    good_acquisition(P, world.root / "before")  # FilePathExists_RBV starts at Yes
    case.prepare(world)
    ca.put(P + "dot:TIFF1:CreateDirectory", case.create_directory)
    path = case.path(world)
    assert put_error(P + "dot:TIFF1:FilePath", path) == ""
    assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 0, "a bad FilePath must never read Exists = Yes"
    assert alarm(P + "dot:TIFF1:FilePathExists_RBV")[1] == AlarmSeverity.MAJOR_ALARM
    assert get_str(P + "dot:TIFF1:WriteStatus") == "Write error"
    assert re.search(case.why, get_str(P + "dot:TIFF1:WriteMessage")), get_str(P + "dot:TIFF1:WriteMessage")
    expect_write_error(case.why)


def test_file_name_too_long_for_the_file_system_is_reported(world: World):
    """250 characters fit FileName, but not with the template's suffix in one file name."""
    setup_tiff(P, str(world.root / "long"), "n" * 250, number=None)
    expect_write_error("File name too long")
    assert not any((world.root / "long").iterdir())


def test_unwritable_directory_is_reported(world: World):
    with unwritable_directory(world.root / "read-only") as locked:
        ca.put(P + "dot:TIFF1:CreateDirectory", 0)
        ca.put(P + "dot:TIFF1:FilePath", str(locked))
        assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 0
        assert re.search("is not writable", get_str(P + "dot:TIFF1:WriteMessage"))
        expect_write_error("is not writable")
        # Below it, a directory the IOC was allowed to create cannot be created either.
        ca.put(P + "dot:TIFF1:CreateDirectory", -3)
        ca.put(P + "dot:TIFF1:FilePath", str(locked / "sub"))
        assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 0
        expect_write_error("cannot create FilePath")
        assert os.listdir(locked) == []


def test_missing_directory_is_created_once_allowed(world: World):
    """CreateDirectory 0: a FilePath that does not exist is reported, and not created; -3
    (create up to 3 levels) creates it at once."""
    missing = world.root / "new" / "run1"
    ca.put(P + "dot:TIFF1:CreateDirectory", 0)
    ca.put(P + "dot:TIFF1:FilePath", str(missing))
    assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 0
    expect_write_error(r"does not exist \(CreateDirectory is 0\)")
    assert not missing.exists()
    ca.put(P + "dot:TIFF1:CreateDirectory", -3)
    assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 1
    assert missing.is_dir()


def test_directory_removed_after_file_path_was_set(world: World):
    """FilePathExists_RBV was Yes; the directory goes; the next write fails and says so."""
    gone = world.root / "gone"
    good_acquisition(P, gone)
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    ca.put(P + "dot:TIFF1:CreateDirectory", 0)
    expect_write_error("does not exist")
    assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 0


def test_symlink_swapped_in_after_file_path_was_set(world: World):
    """A directory replaced by a link out of the root between FilePath and the write."""
    swapped = world.root / "swapped"
    good_acquisition(P, swapped)
    for f in swapped.iterdir():
        f.unlink()
    swapped.rmdir()
    swapped.symlink_to(world.outside, target_is_directory=True)
    try:
        expect_write_error("outside the data root")
        assert ca.get(P + "dot:TIFF1:FilePathExists_RBV") == 0
    finally:
        swapped.unlink()


@pytest.mark.parametrize("template", ["%s../../%s_%3.3d.tif", "/tmp/%s%s_%3.3d.tif", "%s%s/../../../x%d.tif"])
def test_template_that_leads_outside_is_reported_at_the_write(template: str, world: World):
    """A valid template whose literal text climbs out: resolved and refused when writing."""
    setup_tiff(P, world.root / "tpl", "frame", number=None)
    ca.put(P + "dot:TIFF1:FileTemplate", template)
    try:
        expect_write_error("outside the data root")
    finally:
        ca.put(P + "dot:TIFF1:FileTemplate", "%s%s_%6.6d.tiff")


def test_links_planted_at_the_temporary_name_are_not_followed(world: World):
    """Someone with access to the data root plants ``.<name>.partial`` as a symlink (or a
    hard link) to a file outside: the writer must neither write through it nor delete
    what it points to."""
    directory = world.root / "planted"
    setup_tiff(P, directory, "frame", number=None)
    number = ca.get(P + "dot:TIFF1:FileNumber")
    victim = world.outside / "victim.txt"
    (directory / f".frame_{number:06d}.tiff.partial").symlink_to(victim)
    os.link(victim, directory / f".frame_{number + 1:06d}.tiff.partial")
    ca.put(P + "dot:cam1:AcquireTime", 0.001)
    for expected in (number, number + 1):
        ca.acquire(P)
        assert get_str(P + "dot:TIFF1:WriteStatus") == "Write OK"
        assert Path(get_str(P + "dot:TIFF1:FullFileName_RBV")) == directory / f"frame_{expected:06d}.tiff"
    assert victim.read_text() == "must stay as it is\n"
    assert sorted(p.name for p in directory.iterdir()) == [f"frame_{number:06d}.tiff", f"frame_{number + 1:06d}.tiff"]


# -- motor targets beyond the soft limits: accepted, no motion, LVIO -------------------------


@pytest.mark.parametrize("target", [150.0, -150.0, 1e300, -1e300])
def test_motor_target_past_the_limits_is_flagged_not_moved_to(target: float, world: World):
    pv = P + "mtr:dotx"
    assert put_error(pv, 5.0) == ""
    eventually(lambda: ca.get(pv + ".DMOV") == 1 and ca.get(pv + ".RBV") == pytest.approx(5.0))
    here = ca.get(pv + ".RBV")
    assert put_error(pv, target) == "", "the motor record accepts the put and flags it"
    assert ca.get(pv + ".LVIO") == 1
    # HLS/LLS are the hardware limit switches; with the dbd's HLSV (NO_ALARM) no alarm either
    assert (ca.get(pv + ".HLS"), ca.get(pv + ".LLS")) == (0, 0)
    assert alarm(pv + ".RBV")[1] == AlarmSeverity.NO_ALARM
    assert ca.get(pv + ".RBV") == pytest.approx(here) and ca.get(pv) == pytest.approx(here)
    assert put_error(pv, 0.0) == ""
    assert ca.get(pv + ".LVIO") == 0 and alarm(pv + ".RBV")[1] == AlarmSeverity.NO_ALARM
