"""The asyn ports of an areaDetector IOC, and the NDArrays that flow between them by ``NDArrayPort``.

A driver and each plugin has a port name (``DOT1``, ``STATS1``...); a plugin takes its arrays
from the port its ``NDArrayPort`` names: a driver's, or another plugin's, as a chain
(``ROI1`` on ``DOT1``, ``Stats1`` on ``ROI1``), at the address its ``NDArrayAddress`` names
(0, the image; NDPluginStats sends each frame's statistics on address 1, to its time series).
:class:`NDArrayPorts` knows them all and hands an array to every plugin wired to the port and
address it comes from.

As in ADCore (NDPluginDriver::connectToArrayPort), any name is accepted as a plugin's
``NDArrayPort``: a name no port has leaves the plugin unconnected, receiving nothing, and a
chain that feeds itself (``ROI1`` on ``ROI2``, ``ROI2`` on ``ROI1``) is cut off from every
driver, so no array ever enters it. An array is never handed twice to one plugin (see
:attr:`~.ndarray.Frame.path`): re-processing a cached array in a loop (``ProcessPlugin``),
which in ADCore recurses until the IOC crashes, stops where it would come round again.

A plugin with non-blocking callbacks queues what it receives and processes it later; the
ports count those arrays so that a driver can wait until every plugin is done with them
(:meth:`NDArrayPorts.drain`), and collect what went wrong meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import numpy as np

ArrayShape = tuple[tuple[int, ...], np.dtype]


class ArraySource(Protocol):
    port: str

    def output_array(self, seen: frozenset = frozenset(), address: int = 0) -> ArrayShape | None: ...


class Plugin(ArraySource, Protocol):
    prefix: str

    def upstream(self) -> str: ...

    def upstream_address(self) -> int: ...

    def readout_work(self) -> Callable | None: ...

    async def receive(self, frame) -> str | None: ...


class NDArrayPorts:
    """Every port of one IOC's cameras: drivers and plugins, in the order they were added."""

    def __init__(self) -> None:
        self._sources: dict[str, ArraySource] = {}
        self._plugins: list[Plugin] = []
        self._queued = 0  # arrays waiting in, or being processed by, non-blocking plugins
        self._idle = asyncio.Event()
        self._idle.set()
        self._problems: list[str] = []

    def add_driver(self, driver: ArraySource) -> None:
        self._add(driver)

    def add_plugin(self, plugin: Plugin) -> None:
        self._add(plugin)
        self._plugins.append(plugin)

    def _add(self, source: ArraySource) -> None:
        if source.port in self._sources:
            raise ValueError(f"asyn port {source.port!r} is defined twice")
        self._sources[source.port] = source

    def names(self) -> list[str]:
        return list(self._sources)

    def source(self, port: str) -> ArraySource:
        return self._sources[port]

    def plugins(self) -> list[Plugin]:
        return list(self._plugins)

    def wired_to(self, port: str, address: int = 0) -> list[Plugin]:
        """The plugins that take their arrays from ``port`` at ``address``."""
        return [plugin for plugin in self._plugins
                if plugin.upstream() == port and plugin.upstream_address() == address]

    def would_loop(self, plugin: Plugin, upstream: str) -> bool:
        """True if ``plugin`` taking its arrays from ``upstream`` would feed the chain its own output."""
        seen = set()
        port = upstream
        while port in self._sources and port not in seen:
            if port == plugin.port:
                return True
            seen.add(port)
            source = self._sources[port]
            port = source.upstream() if hasattr(source, "upstream") else None
        return False

    def array_of(self, port: str, seen: frozenset = frozenset(), address: int = 0) -> ArrayShape | None:
        """(shape, dtype) of the arrays ``port`` passes on at ``address``, as far as its settings
        say before any has passed; None for an unknown port or address, or one fed by a loop."""
        source = self._sources.get(port)
        if source is None or port in seen:
            return None
        return source.output_array(seen | {port}, address)

    def readout_work(self, port: str) -> dict:
        """The per-frame work the plugins wired to ``port`` (its images, address 0) can do on the
        readout thread, by plugin port."""
        work = {}
        for plugin in self.wired_to(port):
            func = plugin.readout_work()
            if func is not None:
                work[plugin.port] = func
        return work

    async def deliver(self, port: str, frame, address: int = 0) -> str | None:
        """Hand an array from ``port`` (at ``address``) to every plugin wired to it, all at once
        (each areaDetector plugin has its own thread: TIFF1's file write overlaps Stats1's
        posts). A plugin with blocking callbacks processes it before this returns, one with
        non-blocking callbacks queues it. Returns the first error of the blocking ones in plugin
        order, if any."""
        wired = self.wired_to(port, address)
        if not wired:
            return None
        if len(wired) == 1:
            results = [await _guarded(wired[0], frame)]
        else:
            results = await asyncio.gather(*(_guarded(plugin, frame) for plugin in wired))
        problems = [result for result in results if result]
        return problems[0] if problems else None

    # -- arrays queued in non-blocking plugins ---------------------------------------------

    def queued(self) -> None:
        """A plugin queued an array (NDArrayPool's queued-array count, incremented)."""
        self._queued += 1
        self._idle.clear()

    def processed(self, problem: str | None = None) -> None:
        """A queued array was processed (or dropped from the queue), with what went wrong, if anything."""
        self._queued -= 1
        if problem:
            self._problems.append(problem)
        if self._queued <= 0:
            self._queued = 0
            self._idle.set()

    @property
    def queued_arrays(self) -> int:
        return self._queued

    def take_problem(self) -> str | None:
        """The first problem a non-blocking plugin had since this was last asked, if any."""
        problems, self._problems = self._problems, []
        return problems[0] if problems else None

    async def drain(self) -> str | None:
        """Wait until the non-blocking plugins have processed every array queued so far (and
        those they passed on); the first problem any of them had since it was last asked."""
        while self._queued:
            await self._idle.wait()
        return self.take_problem()


async def _guarded(plugin: Plugin, frame) -> str | None:
    """``plugin.receive(frame)``; a plugin's bug is its error message, never the camera's end."""
    try:
        return await plugin.receive(frame)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return f"{plugin.prefix}: {type(exc).__name__}: {exc}"
