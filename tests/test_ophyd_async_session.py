"""The beamline from ophyd-async devices: plans run against the IOC, runs land in tiled with their frames."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import tifffile

from tests import tiled_fixtures

tiled_server = tiled_fixtures.tiled_server  # a module-scoped fixture


@pytest.fixture(scope="module")
def session(ioc, tiled_server):
    from beamline.async_devices import make_async_session

    return make_async_session(ioc.prefix, live=False)


def test_devices_are_stock_ophyd_async_classes(session):
    from ophyd_async.epics.adcore import NDStatsIO
    from ophyd_async.epics.adsimdetector import SimDetector
    from ophyd_async.epics.motor import Motor

    # Stock classes, subclassed only to fail at once when the IOC fails or goes away
    # (beamline.async_devices): their signals, logics and documents are ophyd-async's own.
    assert type(session["dot"]).__mro__[1] is SimDetector and isinstance(session["dot"].stats, NDStatsIO)
    assert type(session["mtr_dotx"]).__mro__[1] is Motor and type(session["mtr_doty"]).__mro__[1] is Motor
    assert session["tiled"] is not None


def test_count_stores_stream_documents_and_tiled_serves_the_iocs_files(session, data_root):
    from bluesky import plan_stubs as bps
    from bluesky import plans as bp

    RE, dot, current = session["RE"], session["dot"], session["I"]
    docs: list[tuple[str, dict]] = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        RE(bps.mv(dot.driver.acquire_time, 0.005))
        (uid,) = RE(bp.count([dot, current], num=4))
    finally:
        RE.unsubscribe(token)
    names = [name for name, _ in docs]
    assert names.count("stream_resource") == 1 and names.count("stream_datum") == 4
    assert "resource" not in names and "datum" not in names

    primary = session["tiled"][uid]["primary"]
    frames = primary["dot"]
    assert frames.shape == (4, 480, 640) and frames.dtype == np.uint32
    files = [Path(unquote(urlparse(a.data_uri).path)) for s in frames.data_sources() for a in s.assets]
    assert len(files) == 4 and all(f.is_relative_to(data_root / "images") for f in files), files
    totals = primary["dot-stats-total"].read()
    for i, path in enumerate(files):
        frame = frames[i]
        assert np.array_equal(frame, tifffile.imread(path))
        # Stats1's total read with the event is this frame's sum: the stats belong to the frame.
        assert totals[i] == pytest.approx(float(frame.sum(dtype=np.float64)), rel=1e-9)
    assert np.all(primary["I"].read() > 0)


def test_scan_moves_the_ophyd_async_motors(session):
    from bluesky import plan_stubs as bps
    from bluesky import plans as bp

    RE = session["RE"]
    RE(bps.mv(session["dot"].driver.acquire_time, 0.5))  # a bright spot: 0.005 s at time scale 100
    (uid,) = RE(bp.grid_scan([session["dot"]], session["mtr_dotx"], -2, 2, 3, session["mtr_doty"], -1, 1, 2))
    primary = session["tiled"][uid]["primary"]
    assert primary["dot"].shape == (6, 480, 640)
    assert np.allclose(primary["motor_dotx"].read(), [-2, -2, 0, 0, 2, 2], atol=0.01)
    assert np.allclose(primary["motor_doty"].read(), [-1, 1, -1, 1, -1, 1], atol=0.01)
    # The spot follows the motors: X = (col - 320 + x) / 50 puts its centre at column 320 - x.
    for i, x in ((0, -2), (5, 2)):
        profile = primary["dot"][i].sum(axis=0, dtype=np.float64) - 1000 * 480  # minus the background
        centre = (np.arange(640) * profile).sum() / profile.sum()
        assert centre == pytest.approx(320 - x, abs=0.5)


@pytest.mark.timeout(600)
def test_tiled_notebook_runs_and_draws_its_figures(ioc, tiled_server, tmp_path):
    import nbformat

    from beamline.demo import execute_notebook

    notebook = Path(__file__).parent.parent / "notebooks" / "non_scalar_data_tiled.ipynb"
    env = {**ioc.env, "EPICS_CA_ADDR_LIST": f"127.0.0.1:{ioc.port}", "BEAMLINE_PREFIX": ioc.prefix,
           "BEAMLINE_LIVE": "0", "BEAMLINE_TILED_URI": None}
    nb = nbformat.read(execute_notebook(notebook, tmp_path, env, timeout=600), 4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    printed = "".join(o.get("text", "") for o in outputs)
    assert f"-> {tiled_server.uri}" in printed  # found through tiled.json in the IOC's data root
    assert "one frame: shape (480, 640)" in printed
    assert "mean of 150 frames" in printed
    assert "spiral: 52 points" in printed
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 3  # one frame; one frame beside the mean; the two maps
