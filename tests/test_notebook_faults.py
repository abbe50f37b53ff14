"""notebooks/when_things_go_wrong.ipynb runs top to bottom against an IOC of its own (it
dumps the beam, breaks the camera, stalls a motor and freezes the IOC on purpose)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from beamline.demo import execute_notebook

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "when_things_go_wrong.ipynb"


@pytest.mark.timeout(600)
def test_when_things_go_wrong_notebook_runs(spawn_ioc, tmp_path):
    ioc = spawn_ioc("NBF:", time_scale=100, seed=7)
    env = {**ioc.env, "EPICS_CA_ADDR_LIST": f"127.0.0.1:{ioc.port}", "BEAMLINE_PREFIX": ioc.prefix,
           "BEAMLINE_LIVE": "0", "BEAMLINE_DATABROKER_DIR": str(tmp_path / "db")}
    nb = nbformat.read(execute_notebook(NOTEBOOK, tmp_path / "out", env, timeout=300), 4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Suspending" in printed and "alarm LOLO/MAJOR" in printed
    assert "DetectorError: dot: the camera reports an error: Error reading the frame" in printed
    assert "OSError: dot: the IOC could not save the frame: Error writing file" in printed
    assert "Timeout waiting for a frame" in printed and "CamFault after the restart: None" in printed
    assert "MotorFault: motor_dotx (NBF:mtr:dotx) stalled at 12" in printed
    assert "MSTA = 0x0203 (bit 9, 0x200: PROBLEM), MISS = 1" in printed and "motor_dotx at 30.000" in printed
    assert "RunEngine state: paused" in printed and "with 5 events" in printed
    assert re.search(r"after [0-8]\.[0-9] s: IOCNotAnswering: dot: the IOC stopped answering: no reply from ", printed) and "the IOC answers again; run exit status: success" in printed
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
