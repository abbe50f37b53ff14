"""Every frame carries its NDArray unique id, as areaDetector's do: in the plugins' UniqueId_RBV
and in the TIFF file's NDFileTIFF tags, so a client can tell whose frame a file holds."""

from __future__ import annotations

import time

import tifffile

from ioc.areadetector.tiff_writer import EPICS_EPOCH, TAG_EPICS_TS_SEC, TAG_ND_TIMESTAMP, TAG_UNIQUE_ID

from . import ca


def test_the_file_holds_the_unique_id_the_plugins_report(ioc, data_root):
    directory = data_root / "identity"
    directory.mkdir(exist_ok=True)
    tiff = "BL:dot:TIFF1:"
    ca.put(f"{tiff}FilePath", str(directory) + "/")
    ca.put(f"{tiff}FileName", "id")
    ca.put(f"{tiff}FileTemplate", "%s%s_%3.3d.tif")
    ca.put(f"{tiff}FileWriteMode", "Single")
    ca.put(f"{tiff}AutoSave", 1)
    ca.put("BL:dot:cam1:ImageMode", "Single")
    ids = []
    for _ in range(2):
        ca.put("BL:dot:cam1:Acquire", 1)
        uid = ca.get(f"{tiff}UniqueId_RBV")
        assert ca.get("BL:dot:Stats1:UniqueId_RBV") == uid
        with tifffile.TiffFile(ca.get_str(f"{tiff}FullFileName_RBV")) as tif:
            tags = tif.pages[0].tags
            assert tags[TAG_UNIQUE_ID].value == uid
            stamp = tags[TAG_ND_TIMESTAMP].value + EPICS_EPOCH
            assert abs(stamp - time.time()) < 60
            assert tags[TAG_EPICS_TS_SEC].value == int(stamp) - EPICS_EPOCH
        ids.append(uid)
    assert ids[1] == ids[0] + 1
    ca.put(f"{tiff}AutoSave", 0)
