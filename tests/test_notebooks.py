"""The notebooks run top to bottom against the IOC, and the tutorial's code is unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from beamline.demo import execute_notebook

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
TUTORIAL_TEXT = NOTEBOOKS / "source" / "non_scalar_data_tutorial.txt"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_tutorial_code_cells_are_the_tutorials_in_order():
    """Each code cell of the notebook is a code cell of the tutorial text, unchanged and in order."""
    source = _squash(TUTORIAL_TEXT.read_text())
    cells = [c.source for c in nbformat.read(NOTEBOOKS / "non_scalar_data.ipynb", 4).cells if c.cell_type == "code"]
    assert len(cells) == TUTORIAL_TEXT.read_text().count("In [None]:")
    position = 0
    for cell in cells:
        found = source.find(_squash(cell), position)
        assert found >= 0, f"not in the tutorial (or out of order): {cell!r}"
        position = found + len(_squash(cell))


def _run(name: str, ioc, tmp_path) -> nbformat.NotebookNode:
    env = {**ioc.env, "EPICS_CA_ADDR_LIST": f"127.0.0.1:{ioc.port}", "BEAMLINE_PREFIX": ioc.prefix,
           "BEAMLINE_LIVE": "0", "BEAMLINE_DATABROKER_DIR": str(tmp_path / "db")}
    executed = execute_notebook(NOTEBOOKS / name, tmp_path / "out", env, timeout=600)
    return nbformat.read(executed, 4)


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


@pytest.mark.timeout(900)
def test_tutorial_notebook_runs_and_draws_its_figures(ioc, tmp_path):
    nb = _run("non_scalar_data.ipynb", ioc, tmp_path)
    # Frame with colour bar, first of 150 with colour bar, one frame vs mean, the two maps.
    assert len(_outputs(nb, "image/png")) >= 4
    tables = [o["data"]["text/plain"] for o in _outputs(nb, "text/plain")]
    assert any(re.search(r"[0-9a-f-]{36}/0", t) for t in tables), "table() should show a datum id"
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert all(f"frame {j} has max" in printed for j in range(5))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png"))


@pytest.mark.timeout(600)
def test_getting_started_notebook_runs(ioc, tmp_path):
    nb = _run("getting_started.ipynb", ioc, tmp_path)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "ring current:" in printed
    assert "LimitError" in printed  # the refused move, explained
    assert "21 files in" in printed
    assert len(_outputs(nb, "image/png")) >= 2  # the live plot of the scan and the frame


def test_readme_pv_table_is_generated_from_the_ioc():
    """The README's PV table is what `python -m ioc.pvtable` prints today."""
    from ioc.pvtable import summary

    readme = (NOTEBOOKS.parent / "README.md").read_text()
    table = readme.split("<!-- pvtable -->\n", 1)[1].split("<!-- /pvtable -->", 1)[0].strip()
    assert table == summary().strip(), "regenerate it: python -m ioc.pvtable"
