"""HDF1 (NDFileHDF5) when the disk fills up during a Stream capture: the failure is on
WriteStatus/WriteMessage, Acquire completes, the capture ends, the frames written before
stay readable in the file (SWMR flushes each), and the next capture works.

The full disk is RLIMIT_FSIZE (any user): the IOC may not grow a file past LIMIT bytes.
"""

from __future__ import annotations

import h5py

from .. import ca
from ..ca import get_str as text
from .conftest import FileSizeLimitedIOC, World

P = "HF:"  # a prefix no other test uses: libca remembers channels by name
H = P + "dot:HDF1:"
# Bytes a file may hold: two 480 x 640 UInt32 frames (1.2 MB each) and the NDAttribute datasets
# (9 chunks of 16384 values: 1.1 MB, NumCapture being 0) fit, a third frame does not.
LIMIT = 4_200_000


def test_hdf5_stream_survives_a_full_disk(own_ioc, tmp_path):
    world = World(tmp_path / "world")
    own_ioc(P, world, cls=FileSizeLimitedIOC, limit=LIMIT)
    directory = world.root / "h5"
    ca.put(P + "dot:cam1:DataType", "UInt32")
    ca.put(P + "dot:cam1:ImageMode", "Single")
    ca.put(P + "dot:cam1:AcquireTime", 0.01)
    ca.acquire(P)  # prime the plugin
    ca.put(H + "CreateDirectory", -2)
    ca.put(H + "FilePath", str(directory))
    ca.put(H + "FileName", "full")
    ca.put(H + "FileWriteMode", "Stream")
    ca.put(H + "NumCapture", 0)
    ca.put(H + "SWMRMode", "On")
    ca.put(H + "Capture", 1)
    path = ca.get_str(H + "FullFileName_RBV")
    totals = []
    for _ in range(2):
        ca.acquire(P)
        totals.append(ca.get(P + "dot:Stats1:Total_RBV"))
    assert ca.get(H + "WriteStatus") == 0, text(H + "WriteMessage")
    ca.acquire(P, timeout=30)  # the third frame does not fit: Acquire still completes
    assert ca.get(P + "dot:cam1:Acquire_RBV") == 0
    assert text(H + "WriteStatus") == "Write error"
    assert text(H + "WriteMessage") == f"cannot write frame 3 to {path}: File too large"
    assert ca.get(H + "Capture_RBV") == 0 and ca.get(H + "SWMRActive_RBV") == 0
    with h5py.File(path, "r") as f:  # what was written before is kept
        assert [int(x.sum()) for x in f["entry/data/data"]] == totals
    # Room again (a new file): the next capture works.
    ca.put(H + "SWMRMode", "Off")
    ca.put(H + "Capture", 1)
    ca.acquire(P)
    ca.put(H + "Capture", 0)
    assert text(H + "WriteStatus") == "Write OK"
    with h5py.File(ca.get_str(H + "FullFileName_RBV"), "r") as f:
        assert f["entry/data/data"].shape == (1, 480, 640)
