"""Each cell of the tutorial, run unchanged against the real IOC, checked for what its text says.

The cells are the code cells of ``notebooks/non_scalar_data.ipynb`` (checked against the
tutorial's source text in test_notebooks.py), executed in order in one namespace, as
``%run ../beamline_configuration.py`` leaves it.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import numpy as np
import pytest
import tifffile

from ioc.sim.physics import SENSOR_SHAPE

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "non_scalar_data.ipynb"
CELLS = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
DATUM_ID = re.compile(r"^[0-9a-f-]{36}/\d+$")


def cell(startswith: str) -> str:
    matches = [c for c in CELLS if c.startswith(startswith)]
    assert len(matches) == 1, startswith
    return matches[0]


@pytest.fixture(scope="module")
def ns(ioc, tmp_path_factory):
    """The notebook's namespace after ``%run ../beamline_configuration.py``."""
    db_dir = tmp_path_factory.mktemp("tutorial-db")
    os.environ["BEAMLINE_DATABROKER_DIR"] = str(db_dir)
    assert CELLS[0] == "%run ../beamline_configuration.py"
    namespace: dict = {"__name__": "__main__"}
    exec(compile((NOTEBOOK.parent.parent / "beamline_configuration.py").read_text(), "beamline_configuration", "exec"),
         namespace)
    namespace["_db_dir"] = db_dir
    return namespace


def run(ns: dict, source: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(source, "<cell>", "exec"), ns)
    return out.getvalue()


def test_configuration_defines_what_the_tutorial_uses(ns):
    for name in ("RE", "db", "bp", "bps", "np", "plt", "dot", "I", "mtr_dotx", "mtr_doty"):
        assert name in ns, name
    assert ns["dot"].exp.connected and ns["I"].connected
    assert 400 < ns["I"].get() < 550


def test_count_one_frame(ns):
    run(ns, cell("RE(bps.mv(dot.exp, .005))"))
    h = ns["h_one"]
    assert ns["dot"].exp.get() == pytest.approx(0.005)
    assert ns["mtr_dotx"].position == pytest.approx(0) and ns["mtr_doty"].position == pytest.approx(0)
    assert h.stop["exit_status"] == "success"
    assert h.start["plan_name"] == "count"


def test_table_shows_datum_ids_not_pixels(ns):
    table = ns["h_one"].table()
    assert {"dot_img", "I"} <= set(table.columns)
    assert DATUM_ID.match(table["dot_img"][1])
    assert 400 < table["I"][1] < 550


def test_table_fill_fetches_the_image_from_disk(ns):
    filled = ns["h_one"].table(fill=True)
    value = eval("h_one.table(fill=True)['dot_img'][1]", ns)
    assert isinstance(value, np.ndarray) and value.shape == SENSOR_SHAPE
    assert np.array_equal(value, filled["dot_img"][1])


def test_data_is_lazy_and_gives_the_pixels_the_ioc_wrote(ns):
    run(ns, cell("im = next(h_one.data('dot_img'))"))
    im = ns["im"]
    h = ns["h_one"]
    assert im.shape == SENSOR_SHAPE and im.dtype == np.uint32
    assert tuple(h.descriptors[0]["data_keys"]["dot_img"]["shape"]) == im.shape
    resource = next(doc for name, doc in h.documents() if name == "resource")
    kwargs = resource["resource_kwargs"]
    path = os.path.join(resource["root"], resource["resource_path"], "")
    assert np.array_equal(im, tifffile.imread(kwargs["template"] % (path, kwargs["filename"], 0)))
    # Short exposure: a faint spot (~500 counts) on a 1000-count background.
    assert 1000 < im.max() < 2000 and 950 < np.median(im) < 1050
    run(ns, cell("im, = h_one.data('dot_img')"))
    assert ns["im"].shape == SENSOR_SHAPE


def test_five_frames_list_stack_and_unpack(ns):
    run(ns, cell("uid, = RE(bp.count([dot, I], num=5))"))
    run(ns, cell("im_list = list(h_few.data('dot_img'))"))
    assert len(ns["im_list"]) == 5
    assert ns["im_stack"].shape == (5, *SENSOR_SHAPE)
    assert len(ns["rest"]) == 4 and ns["im1"].shape == SENSOR_SHAPE
    assert np.array_equal(ns["im_stack"][3], ns["im_list"][3])
    # Fresh noise in every frame.
    assert not np.array_equal(ns["im_list"][0], ns["im_list"][1])


def test_for_loop_prints_each_frame(ns):
    out = run(ns, cell("for j, im in enumerate(h_few.data('dot_img')):"))
    lines = out.strip().splitlines()
    assert [line.split(" has max")[0] for line in lines] == [f"frame {j}" for j in range(5)]


def test_iterating_holds_one_frame_at_a_time(ns):
    """The text's promise, measured: iterating 150 frames never holds more than ~2."""
    run(ns, cell("uid, = RE(bp.count([dot, I], num=150))"))
    h = ns["h_lots"]
    assert h.stop["num_events"]["primary"] == 150
    frame_bytes = SENSOR_SHAPE[0] * SENSOR_SHAPE[1] * 4
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        n = 0
        for im in h.data("dot_img"):
            n += 1
            assert im.shape == SENSOR_SHAPE
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 150
    print(f"peak while iterating 150 frames: {(peak - base) / frame_bytes:.2f} frames")
    assert (peak - base) / frame_bytes < 3


def test_averaging_150_frames_improves_signal_to_noise(ns):
    run(ns, cell("im = next(h_lots.data('dot_img'))"))
    run(ns, cell("fig, (ax1, ax2) = plt.subplots(1, 2)\nim_stack"))
    stack = ns["im_stack"].astype(float)
    assert stack.shape == (150, *SENSOR_SHAPE)

    rows, cols = SENSOR_SHAPE
    core = (slice(rows // 2 - 10, rows // 2 + 11), slice(cols // 2 - 10, cols // 2 + 11))  # the spot's centre

    def snr(img):
        spot = img[core].mean() - img[:100, :100].mean()
        return spot / img[:100, :100].std()

    one, mean = snr(stack[0]), snr(stack.mean(axis=0))
    print(f"signal-to-noise: one frame {one:.1f}, mean of 150 {mean:.1f}")
    assert one < 20  # a 5 ms frame is noisy
    assert mean > 8 * one  # sqrt(150) ~ 12 in principle


def test_zip_current_and_image(ns):
    run(ns, cell("out = np.zeros(h_lots.descriptors[0]['data_keys']['dot_img']['shape'])"))
    out = ns["out"]
    assert out.shape == SENSOR_SHAPE and ns["j"] == 150
    currents = list(ns["h_lots"].data("I"))
    assert out.mean() == pytest.approx(np.mean(ns["im_stack"]) / np.mean(currents), rel=0.01)


def test_spiral_and_events(ns):
    run(ns, cell("RE(bps.mv(dot.exp, 5))"))
    h = ns["h_spiral"]
    assert h.stop["exit_status"] == "success"
    assert h.stop["num_events"]["primary"] == 197
    run(ns, cell("def tri_helper"))
    run(ns, cell("import pandas as pd\n\nret = []\nfor ev in h_spiral.events(fill=True):\n    data = ev['data']\n"
                 "    im = data['dot_img']\n\n    ret.append({'x': data['motor_dotx'],\n                'y': data['motor_doty'],\n"
                 "                'c': np.mean(im[im > 1000])})"))
    ev = next(h.events(fill=True))
    assert {"dot_img", "I", "motor_dotx", "motor_doty"} <= set(ev["data"])
    assert ev["data"]["dot_img"].shape == SENSOR_SHAPE
    df = ns["df"]
    assert len(df) == 197
    assert df["x"].abs().max() <= 37.5 + 1e-6 and df["y"].abs().max() <= 37.5 + 1e-6
    # The spot is brightest near the centre of the spiral and dims away from it.
    r2 = df["x"] ** 2 + df["y"] ** 2
    assert df["c"][r2 < 25].mean() > df["c"][r2 > 900].mean()


def test_normalising_by_the_current_flattens_the_ripple(ns):
    run(ns, cell("import pandas as pd\n\nret = []\nfor ev in h_spiral.events(fill=True):\n    data = ev['data']\n"
                 "    im = data['dot_img']\n\n    ret.append({'x': data['motor_dotx'],\n                'y': data['motor_doty'],\n"
                 "                'c': np.mean(im[im > 1000]) / data['I']})"))
    run(ns, cell("fig, (ax1, ax2) = plt.subplots(1, 2)\ntri_helper"))
    df, normed = ns["df"], ns["df_normed"]
    current = np.array(list(ns["h_spiral"].data("I")))
    np.testing.assert_allclose(df["c"] / normed["c"], current, rtol=1e-9)
    ripple = np.ptp(current) / current.mean()
    print(f"ring current varied by {100 * ripple:.1f} % peak to peak during the spiral")
    assert 0.01 < ripple < 0.06

    # Frames during which an injection began: the current read with the event (after the
    # frame) is not the current the frame integrated, so dividing by it cannot flatten them.
    # The slower the scan runs (a loaded machine), the more of them; the rest must be flat.
    steady = ~np.r_[False, np.diff(current) > 0]
    assert steady.mean() > 0.5
    x, y = df["x"].to_numpy()[steady] / 40, df["y"].to_numpy()[steady] / 40
    design = np.column_stack([x**i * y**j for i in range(5) for j in range(5 - i)])

    def residual(c):
        # What a smooth map (a 4th-order polynomial in x and y) does not explain, relative.
        c = c[steady]
        coef, *_ = np.linalg.lstsq(design, c, rcond=None)
        return (c - design @ coef) / np.mean(c)

    raw, flat = residual(df["c"].to_numpy()), residual(normed["c"].to_numpy())
    bumps = residual(current)  # the current's own bumps, beyond what a smooth map absorbs
    # How much of each map's bumps follows the current: the slope of its residual on the current's.
    slope_raw = np.polyfit(bumps, raw, 1)[0]
    slope_flat = np.polyfit(bumps, flat, 1)[0]
    print(f"map residual over {steady.sum()} steady points: un-normalised {100 * raw.std():.2f} % (slope on I "
          f"{slope_raw:.2f}), normalised {100 * flat.std():.2f} % (slope on I {slope_flat:.2f})")
    # The un-normalised map's bumps are the ring current's: its residual follows I with the
    # sensitivity of the tutorial's metric to the current (~0.9: ``np.mean(im[im > 1000])``
    # averages over more pixels as the spot brightens). Dividing by I takes 1 off that slope
    # (to ~-0.1) and leaves a map several times smoother.
    assert np.corrcoef(raw, bumps)[0, 1] > 0.9
    assert 0.8 < slope_raw < 1.05
    assert abs(slope_flat) < 0.15
    assert flat.std() < 0.4 * raw.std()


def test_a_second_process_reads_the_runs(ns):
    uids = [ns["h_one"].start["uid"], ns["h_spiral"].start["uid"]]
    code = (
        "import json, sys, numpy as np\n"
        "from beamline.storage import open_broker\n"
        "db = open_broker()\n"
        "h = db[sys.argv[1]]; s = db[sys.argv[2]]\n"
        "im = next(h.data('dot_img'))\n"
        "print(json.dumps({'shape': list(im.shape), 'sum': int(im.sum()), 'last': db[-1].start['uid'],\n"
        "                  'spiral_events': sum(1 for _ in s.events()),\n"
        "                  'counts': [x.start['uid'] for x in db(plan_name='count')]}))\n"
    )
    env = {**os.environ, "BEAMLINE_DATABROKER_DIR": str(ns["_db_dir"])}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code, *uids], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == list(SENSOR_SHAPE)
    assert result["sum"] == int(ns["h_one"].table(fill=True)["dot_img"][1].sum())
    assert result["last"] == uids[1]
    assert result["spiral_events"] == 197
    assert uids[0] in result["counts"]
