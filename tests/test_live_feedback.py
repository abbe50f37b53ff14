"""Live feedback that costs little: the session's ``bec`` (beamline.live) draws no figure nobody can
see, and redraws a figure that is shown at most ``bec.max_redraw_rate`` times a second.

The tests run with matplotlib's Agg backend (conftest: a terminal without a display). The shown
figure is webagg's (a GUI backend: a browser draws it), whose draw requests reach the browser
as "draw" messages on its web socket; the test holds that socket.
"""

from __future__ import annotations

import io
import os
import time

import matplotlib.pyplot as plt
import pytest

FIGURE = "I dot_stats1_total vs time"  # the BestEffortCallback's figure of count([dot, I])


@pytest.fixture(scope="module")
def session(ioc, tmp_path_factory):
    from beamline.session import make_session

    os.environ["BEAMLINE_DATABROKER_DIR"] = str(tmp_path_factory.mktemp("live-db"))
    session = make_session("BL:", live=False, timeout=10)  # live=False: each test subscribes bec itself
    yield session
    plt.close("all")


@pytest.fixture
def bec(session):
    RE, bec = session["RE"], session["bec"]
    token = RE.subscribe(bec)
    yield bec
    RE.unsubscribe(token)
    bec.disable_plots()
    plt.close("all")


def count(session, num: int) -> float:
    import bluesky.plans as bp

    t0 = time.monotonic()
    session["RE"](bp.count([session["dot"], session["I"]], num=num))
    return time.monotonic() - t0


def test_no_display_no_figures_but_the_table(session, bec, capsys):
    from beamline.live import figures_shown

    assert plt.get_backend().lower() == "agg" and not figures_shown()
    before = plt.get_fignums()  # other tests' in this process (xdist runs several files in one)
    count(session, 5)
    assert plt.get_fignums() == before  # no figure made, none drawn
    out = capsys.readouterr().out
    assert out.count("|") > 5 * 4 and "dot_stats1_total" in out  # the live table, a row per event


def test_asked_for_figures_are_complete_and_rendered_only_when_saved(session, bec, capsys):
    bec.enable_plots()
    count(session, 30)
    figure = plt.figure(FIGURE)
    renders = []
    figure.canvas.mpl_connect("draw_event", renders.append)
    assert [len(line.get_xdata()) for ax in figure.axes for line in ax.lines] == [30, 30]
    redraw = figure.canvas.draw_idle
    assert redraw.requests >= 60 and redraw.redraws == 0  # two plots asked on each event: none drawn
    assert renders == []
    figure.savefig(io.BytesIO(), format="png")
    assert renders  # rendered for the file


def test_a_shown_figure_redraws_at_a_bounded_rate_and_after_the_last_event(session, bec):
    plt.switch_backend("webagg")
    try:
        from beamline.live import figures_shown

        assert figures_shown()
        bec.enable_plots()
        bec.max_redraw_rate = 4.0
        figure = plt.figure(FIGURE)  # the BEC takes the open figure of that name
        browser = Browser(figure)
        figure.canvas.manager.add_web_socket(browser)
        browser.draws.clear()
        seconds = count(session, 60)
        redraw = figure.canvas.draw_idle
        assert redraw.requests >= 120  # the plots asked on every event
        assert redraw.redraws == len(browser.draws)
        assert 1 <= len(browser.draws) <= 4.0 * seconds + 2, (browser.draws, seconds)
        times = [t for t, _ in browser.draws]
        gaps = [b - a for a, b in zip(times[:-2], times[1:-1], strict=True)]  # not the last: the run stopped
        assert all(gap >= 0.24 for gap in gaps), gaps  # 1 / 4 s
        assert browser.draws[-1][1] == 60  # the last redraw shows every point
        assert [len(line.get_xdata()) for ax in figure.axes for line in ax.lines] == [60, 60]
    finally:
        plt.close("all")
        plt.switch_backend("agg")


def test_inline_notebook_figures_count_as_shown():
    """A notebook's inline backend shows each figure when its cell ends: the session plots."""
    plt.switch_backend("module://matplotlib_inline.backend_inline")
    try:
        from beamline.live import figures_shown

        assert figures_shown()
    finally:
        plt.switch_backend("agg")


class Browser:
    """The far end of a webagg figure's web socket: notes when the figure asks to be drawn, and
    how many points its first plot then holds."""

    def __init__(self, figure) -> None:
        self.figure = figure
        self.draws: list[tuple[float, int]] = []

    def send_json(self, content: dict) -> None:
        if content.get("type") == "draw":
            self.draws.append((time.monotonic(), len(self.figure.axes[0].lines[-1].get_xdata())))

    def send_binary(self, blob: bytes) -> None:
        pass
