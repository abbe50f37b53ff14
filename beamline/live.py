"""Live feedback in a session: bluesky's BestEffortCallback, its figures redrawn at a bounded rate.

bluesky's ``LivePlot`` (the BestEffortCallback makes one per plotted field) asks its figure's
canvas to redraw, ``canvas.draw_idle()``, on every Event. What that costs depends on the canvas:

* a canvas without an event loop (matplotlib's Agg, in a terminal without a display; a
  notebook's inline backend, an Agg canvas too) renders the whole figure at once, for every
  plotted field of every Event: a picture nobody sees until the figure is saved or the
  notebook's cell ends (both render it afresh);
* a GUI canvas (Qt, Tk, ipympl, webagg) coalesces the requests in its event loop but still
  renders as often as the loop is free, taking the interpreter from the RunEngine meanwhile.

:class:`LiveFeedback` is the BestEffortCallback with one change: while a run is live, its
figures' redraw requests are coalesced. A GUI canvas redraws at most ``max_redraw_rate`` times
a second, and once more soon after the last Event; a canvas without an event loop is not
rendered until it is shown or saved. Table, figures, ``bec.peaks`` and every BEC option are
the stock ones.

:func:`figures_shown` says whether matplotlib's backend shows figures at all. The session
(:mod:`beamline.session`) turns plots off (``bec.disable_plots()``) when it does not: a terminal
without a display. ``bec.enable_plots()`` makes them anyway, to save them.
"""

from __future__ import annotations

import math
import threading
import time

import matplotlib
from bluesky.callbacks.best_effort import BestEffortCallback
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure

__all__ = ["BoundedRedraw", "LiveFeedback", "figures_shown", "live_feedback"]


def figures_shown() -> bool:
    """Whether matplotlib's backend shows figures: a GUI or notebook backend, not Agg, PDF, SVG, ..."""
    from matplotlib.backends import BackendFilter, backend_registry

    return matplotlib.get_backend().lower() not in backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE)


class BoundedRedraw:
    """Stands in for one canvas's ``draw_idle``: passes requests through, except while :attr:`live`.

    While live, a GUI canvas gets at most ``rate`` requests a second (a request that comes
    sooner is held and sent by a timer of the canvas's own event loop, ``canvas.new_timer``);
    a canvas without an event loop (its ``draw_idle`` is matplotlib's base one, which renders
    at once) gets none. :meth:`release` ends the live period and sends what is held.
    """

    def __init__(self, canvas: FigureCanvasBase, rate: float) -> None:
        self.canvas = canvas
        self.rate = rate
        self.live = False
        self.requests = 0  # in the current or last live period: redraws asked for,
        self.redraws = 0  # and passed on to the canvas
        self._draw_idle = canvas.draw_idle  # the backend's own
        self._unseen = type(canvas).draw_idle is FigureCanvasBase.draw_idle
        self._held = False
        self._last = -math.inf
        self._timer = None
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs) -> None:
        if not self.live:
            self._draw_idle(*args, **kwargs)
            return
        with self._lock:
            self.requests += 1
            if self._unseen:
                return  # rendered when the figure is shown or saved
            wait = self._last + 1.0 / self.rate - time.monotonic()
            if wait > 0:
                self._held = True
                if self._timer is None:
                    self._timer = self._start_timer(wait)
                return
        self._redraw()

    def release(self) -> None:
        """End the live period; a GUI canvas gets the request it was held back."""
        with self._lock:
            self.live = False
            held = self._held
        if held:
            self._redraw()

    def _start_timer(self, wait: float):
        try:
            timer = self.canvas.new_timer(interval=max(1, math.ceil(1000 * wait)))
            timer.single_shot = True
            timer.add_callback(self._on_timer)
            timer.start()
        except Exception:  # no event loop in this thread: the next Event or the run's end sends it
            return None
        return timer

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if not self._held:
                return
        self._redraw()

    def _redraw(self) -> None:
        with self._lock:
            self._held = False
            self._last = time.monotonic()
            self.redraws += 1
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()  # what it would send goes now
        self._draw_idle()


class LiveFeedback(BestEffortCallback):
    """bluesky's BestEffortCallback whose figures redraw at most ``max_redraw_rate`` times a second
    during a run (none until shown, on a canvas without an event loop).

    A subclass only to know when a run starts and stops; the figures come from the BEC's own
    ``fig_factory`` option (the stock ``plt.figure(name, layout="constrained")``), each given a
    :class:`BoundedRedraw` as its canvas's ``draw_idle``, where every plot of the BEC (LivePlot,
    LiveGrid, LiveScatter, the peaks) asks for its redraws.
    """

    def __init__(self, *, max_redraw_rate: float = 2.0, **kwargs) -> None:
        if max_redraw_rate <= 0:
            raise ValueError(f"max_redraw_rate must be > 0 (redraws per second), not {max_redraw_rate!r}")
        self.max_redraw_rate = max_redraw_rate
        self._redraws: list[BoundedRedraw] = []
        super().__init__(fig_factory=self._figure, **kwargs)

    def _figure(self, name: str) -> Figure:
        import matplotlib.pyplot as plt

        figure = plt.figure(name, layout="constrained")
        redraw = figure.canvas.draw_idle
        if not isinstance(redraw, BoundedRedraw):
            redraw = BoundedRedraw(figure.canvas, self.max_redraw_rate)
            # An instance attribute of this figure's canvas: the plots call canvas.draw_idle().
            figure.canvas.draw_idle = redraw
        if not redraw.live:
            redraw.requests = redraw.redraws = 0
        redraw.rate, redraw.live = self.max_redraw_rate, True
        if redraw not in self._redraws:
            self._redraws.append(redraw)
        return figure

    def stop(self, doc: dict) -> None:
        try:
            super().stop(doc)
        finally:
            for redraw in self._redraws:
                redraw.release()
            self._redraws.clear()


def live_feedback() -> LiveFeedback:
    """The session's ``bec``: plots off when matplotlib's backend cannot show them (Agg: no display)."""
    bec = LiveFeedback()
    if not figures_shown():
        bec.disable_plots()  # no figure work unless asked for, with bec.enable_plots()
    return bec
