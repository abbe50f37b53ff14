"""The notebooks run top to bottom against the IOC, and the tutorial's code is unchanged."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import matplotlib.image
import nbformat
import pytest

from beamline.demo import execute_notebook
from ioc.sim.physics import SENSOR_SHAPE

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


def _code_cells(nb) -> dict[int, nbformat.NotebookNode]:
    return {n: c for n, c in enumerate(nb.cells) if c.cell_type == "code"}


def _shown(cell, kind: str = "text/plain") -> list:
    """What a cell displayed as ``kind`` (its result and display_data outputs)."""
    return [o["data"][kind] for o in cell.outputs if kind in o.get("data", {})]


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _colour_fraction(png: bytes) -> float:
    """The fraction of a PNG's pixels that are coloured (not white, grey or black): ~0.6 for a
    figure showing a frame or a map, 0 for empty axes."""
    rgb = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    return float(((rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.1).mean())


def _check_figures(nb, out: Path, axes: dict[int, int], coloured: dict[int, float]) -> None:
    """Cell n shows one figure with ``axes[n]`` axes, ``coloured[n]`` of it at least in colour;
    no other cell shows one; and the figures saved in ``out`` are those, byte for byte."""
    cells = _code_cells(nb)
    shown = {n: _shown(c, "image/png") for n, c in cells.items() if _shown(c, "image/png")}
    assert sorted(shown) == sorted(axes), f"figures in cells {sorted(shown)}, expected {sorted(axes)}"
    for n, pngs in shown.items():
        assert len(pngs) == 1, f"cell {n} shows {len(pngs)} figures"
        assert re.fullmatch(rf"<Figure size \d+x\d+ with {axes[n]} Axes>", _shown(cells[n])[-1]), _shown(cells[n])
        assert _colour_fraction(base64.b64decode(pngs[0])) > coloured[n], f"cell {n}'s figure is (nearly) empty"
    saved = sorted(p.read_bytes() for p in out.glob("*.png"))
    assert saved == sorted(base64.b64decode(pngs[0]) for pngs in shown.values())


@pytest.mark.timeout(900)
def test_tutorial_notebook_runs_and_draws_its_figures(ioc, tmp_path):
    nb = _run("non_scalar_data.ipynb", ioc, tmp_path)
    cells = _code_cells(nb)
    source = {n: c.source for n, c in cells.items()}

    def at(start: str) -> nbformat.NotebookNode:
        (n,) = [n for n, text in source.items() if text.startswith(start)]
        return cells[n]

    # A frame with its colour bar (twice), one frame beside the mean of 150, the two maps.
    figures = [n for n, text in source.items() if "plt.subplots" in text]
    _check_figures(nb, tmp_path / "out", axes=dict.fromkeys(figures, 2), coloured=dict.fromkeys(figures, 0.3))
    assert len(figures) == 4
    (table,) = _shown(at("h_one.table()"))
    assert re.search(r"\b[0-9a-f-]{36}/0\b", table), "table() shows the image's datum id"
    (pixels,) = _shown(at("h_one.table(fill=True)['dot_img'][1]"))
    assert pixels.startswith("array([[") and pixels.endswith(f"shape={SENSOR_SHAPE}, dtype=uint32)"), pixels
    maxima = re.findall(r"^frame (\d) has max (\d+)$", _printed(at("for j, im in enumerate")), re.MULTILINE)
    assert [int(j) for j, _ in maxima] == list(range(5))
    assert all(1000 < int(m) < 3000 for _, m in maxima), maxima  # background ~1000 + a faint spot
    assert _shown(at("fig, (ax1, ax2) = plt.subplots(1, 2)\nim_stack"))[0] == "Text(0.5, 1.0, 'mean of stack')"


@pytest.mark.timeout(600)
def test_getting_started_notebook_runs(ioc, tmp_path):
    nb = _run("getting_started.ipynb", ioc, tmp_path)
    cells = _code_cells(nb)
    printed = {n: _printed(c) for n, c in cells.items()}
    current = float(re.search(r"^ring current: ([\d.]+) mA$", "".join(printed.values()), re.MULTILINE)[1])
    assert 480 < current <= 500.001  # the top-up ring, 3 % peak to peak
    assert "motor x limits: (-100.0, 100.0), velocity" in "".join(printed.values())
    # The refused move, explained.
    assert "LimitError motor_dotx: cannot move to 500: outside its limits [-100, 100] (BL:mtr:dotx.LLM, .HLM)" in "".join(
        printed.values())
    # The scan's live table (21 rows) and live plot, its files, and the first frame.
    scan = next(n for n, c in cells.items() if "bp.scan(" in c.source)
    rows = re.findall(r"^\|\s+(\d+) \|", printed[scan], re.MULTILINE)
    assert [int(r) for r in rows] == list(range(1, 22)), printed[scan]
    assert re.search(r"^21 files in /", "".join(printed.values()), re.MULTILINE)
    frame = next(n for n, c in cells.items() if "ax.imshow(im)" in c.source)
    assert _shown(cells[frame])[0] == "Text(0.5, 1.0, 'first point: x = -50 mm')"
    _check_figures(nb, tmp_path / "out", axes={scan: 2, frame: 1}, coloured={scan: 0.005, frame: 0.3})


def test_pv_table_is_generated_from_the_ioc():
    """docs/pvs.md's PV table is what `python -m tools.pvtable` prints today."""
    from tools.pvtable import summary

    page = (NOTEBOOKS.parent / "docs" / "pvs.md").read_text()
    table = page.split("<!-- pvtable -->\n", 1)[1].split("<!-- /pvtable -->", 1)[0].strip()
    assert table == summary().strip(), "regenerate it: python -m tools.pvtable"
