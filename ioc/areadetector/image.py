"""``image1:``: NDPluginStdArrays, the last frame as a waveform for live viewers."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from caproto._constants import MIN_SUBSCRIPTION_BACKLOG as MIN_BACKLOG
from caproto._constants import SUBSCRIPTION_BACKLOG_WARN_THRESHOLD_ELEMENTS as BACKLOG_ELEMENTS
from caproto.server import pvproperty

from ..adcore_records import ND_PLUGIN_BASE, ND_STD_ARRAYS, NELEMENTS
from ..ca_server import encoded_once
from ..records import echo_to_readback, records_group
from ..validate import finite
from .common import Frame, kw
from .plugin import PluginMixin


def _encoded_once(kwargs: dict) -> dict:
    return {**kwargs, "dtype": encoded_once(kwargs["dtype"])}


class StdArrays(PluginMixin, records_group("NDStdArraysRecords", ND_PLUGIN_BASE, ND_STD_ARRAYS)):
    """``image1:``: NDPluginStdArrays, the last frame as a waveform for live viewers.

    Posts are rate-limited by ``MinCallbackTime`` (0 by default, as in ADCore); a frame that arrives
    sooner is not dropped but replaces the pending one, so the newest frame is always shown.
    """

    plugin_type = "NDPluginStdArrays"
    port_name = "IMAGE1"
    coalesce = True

    nd_array_port = pvproperty(**kw(ND_PLUGIN_BASE, "NDArrayPort"))
    # A frame per queued update: caproto's default backlog (1000 updates per subscription)
    # would be 1.2 GB per viewer, so caproto warns at start and cuts it. Declared instead:
    # what fits caproto's memory threshold (15 M elements), as it would choose.
    # Converted to the wire's type once per frame, for every get and monitor (ioc.ca_server.EncodedOnce).
    array_data = pvproperty(**_encoded_once(kw(ND_STD_ARRAYS, "ArrayData",
                                               max_subscription_backlog=BACKLOG_ELEMENTS // NELEMENTS)))
    min_callback_time = pvproperty(**kw(ND_PLUGIN_BASE, "MinCallbackTime", value=0.0))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: Frame | None = None
        self._poster: asyncio.Task | None = None
        self._last_post = 0.0
        # ArrayData's NELM is a macro of the template: the sensor's size, known only now
        # (--sensor-shape), and what clients see as the waveform's element count.
        rows, cols = self.parent.parent.sensor_shape
        self.array_data._max_length = rows * cols
        self.array_data.max_subscription_backlog = max(MIN_BACKLOG, BACKLOG_ELEMENTS // (rows * cols))
        self.array_data._data["value"] = np.zeros(rows * cols, dtype=np.int32)

    async def _post(self, frame: Frame) -> None:
        flat = frame.data.ravel()
        nelm = self.array_data.max_length
        if flat.size > nelm:
            flat = flat[:nelm]
        # CA has no unsigned 32-bit type; counts stay far below 2**31.
        if flat.dtype == np.uint32:
            flat = flat.view(np.int32)
        await self.array_data.write(flat, timestamp=frame.timestamp)
        self._last_post = time.monotonic()

    async def _post_later(self) -> None:
        while self._pending is not None:
            wait = self.min_callback_time.value - (time.monotonic() - self._last_post)
            if wait > 0:
                await asyncio.sleep(wait)
            frame, self._pending = self._pending, None
            if frame is not None:
                await self._post(frame)

    async def process(self, frame: Frame) -> str | None:
        if time.monotonic() - self._last_post >= self.min_callback_time.value and self._pending is None:
            await self._post(frame)
            return None
        self._pending = frame
        if self._poster is None or self._poster.done():
            self._poster = asyncio.get_running_loop().create_task(self._post_later())
        return None

    @nd_array_port.startup
    async def nd_array_port(self, instance, async_lib):
        await self.init_plugin()

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        return await self._port_put(instance, value)

    @min_callback_time.putter
    async def min_callback_time(self, instance, value):
        value = finite(instance.pvname, value, 0.0, 60.0, "minimum time between callbacks (s)")
        return await echo_to_readback(self, instance, value)

