"""The disk fills up while the camera writes.

Two real failures: a 2 MB tmpfs mounted inside the data root and filled up (root only:
``mount`` needs it), and, for anyone, an IOC whose files may not grow past 1.5 UInt16 frames
(RLIMIT_FSIZE with SIGXFSZ ignored, as a quota does): the write fails with ENOSPC or EFBIG
halfway through the file. Either way a user sees the failure on WriteStatus/WriteMessage
and DetectorState_RBV/StatusMessage_RBV, Acquire completes instead of hanging, no partial
TIFF is left (the writer renames a finished temporary file into place), the files written
before are intact, and once there is room again the next frame is written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ioc.sim.physics import SENSOR_SHAPE

from .. import ca
from ..ca import alarm, get_str, good_acquisition
from ..conftest import have_root
from .conftest import FileSizeLimitedIOC, World, small_disk

# A prefix per way: a client that knew one IOC's PVs must not wait for them to come back.
PREFIX = {"tmpfs": "BD:", "rlimit": "BE:"}
FRAME_UINT16 = SENSOR_SHAPE[0] * SENSOR_SHAPE[1] * 2  # bytes of image data in one UInt16 frame: 614 kB
LIMIT = FRAME_UINT16 * 3 // 2  # bytes a file may hold under RLIMIT_FSIZE: a UInt16 frame fits, a UInt32 one not


@dataclass
class FullDisk:
    """How the disk gets full, and how room is made again."""

    how: str
    prefix: str
    directory: Path
    reason: str  # what the OS says, and so WriteMessage

    def fill(self) -> None:
        if self.how == "tmpfs":
            # Leave less room than one frame needs: the write fails partway through the file.
            free = os.statvfs(self.directory).f_bavail * os.statvfs(self.directory).f_frsize
            with open(self.directory / "filler", "wb") as f:
                f.write(b"\0" * max(free - 64 * 1024, 0))
        else:
            ca.put(self.prefix + "dot:cam1:DataType", "UInt32")  # 1.2 MB frames: over the limit

    def free(self) -> None:
        if self.how == "tmpfs":
            (self.directory / "filler").unlink()
        else:
            ca.put(self.prefix + "dot:cam1:DataType", "UInt16")


@contextlib.contextmanager
def full_disk(how: str, world: World) -> Iterator[FullDisk]:
    directory = world.root / "frames"
    if how == "tmpfs":
        with small_disk(directory, "2m"):
            yield FullDisk(how, PREFIX[how], directory, "No space left on device")
    else:
        yield FullDisk(how, PREFIX[how], directory, "File too large")


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_disk_full_is_reported_and_recovered_from(how: str, spawn_ioc, tmp_path):
    if how == "tmpfs" and not have_root():
        pytest.skip("filling a real file system needs root to mount a small tmpfs (CI runs as root); "
                    "the 'rlimit' case makes the same write fail without root")
    P = PREFIX[how]
    world = World(tmp_path / "world")
    if how == "rlimit":
        proc = spawn_ioc(P, cls=FileSizeLimitedIOC, limit=LIMIT, data_root=world.root)
    else:
        proc = spawn_ioc(P, data_root=world.root)
    with full_disk(how, world) as disk:
        ca.put(P + "dot:cam1:DataType", "UInt16")
        before = [good_acquisition(P, disk.directory, "frame") for _ in range(2)]
        kept = {path: tifffile.imread(path) for path in before}
        number = ca.get(P + "dot:TIFF1:FileNumber")

        disk.fill()
        ca.put(P + "dot:cam1:ImageMode", "Multiple")
        ca.put(P + "dot:cam1:NumImages", 3)
        ca.acquire(P, timeout=30)  # returns: the acquisition ends although every write failed
        failed = disk.directory / f"frame_{number:06d}.tiff"

        assert ca.get(P + "dot:cam1:Acquire_RBV") == 0
        assert get_str(P + "dot:TIFF1:WriteStatus") == "Write error"
        assert alarm(P + "dot:TIFF1:WriteStatus")[1] == 2  # MAJOR
        message = get_str(P + "dot:TIFF1:WriteMessage")
        assert message == f"cannot write {failed}: {disk.reason}"
        assert get_str(P + "dot:cam1:DetectorState_RBV") == "Error"
        assert get_str(P + "dot:cam1:StatusMessage_RBV") == f"{P}dot:TIFF1: {message}"
        assert ca.get(P + "dot:TIFF1:FileNumber") == number, "no file written, so no number used up"
        assert not failed.exists()
        assert world.partial_files() == [], "a failed write must not leave a partial file"
        assert sorted(disk.directory.glob("*.tiff")) == before
        for path, data in kept.items():
            assert np.array_equal(tifffile.imread(path), data), f"{path} changed"

        disk.free()
        ca.put(P + "dot:cam1:ImageMode", "Single")
        after = good_acquisition(P, disk.directory, "frame")
        assert after == failed, "the next frame takes the number the failed one could not"
        assert tifffile.imread(after).shape == SENSOR_SHAPE
        assert get_str(P + "dot:cam1:DetectorState_RBV") == "Idle"
        assert world.partial_files() == []
        world.assert_outside_untouched()
    assert proc.alive()
    assert not os.path.ismount(world.root / "frames")
