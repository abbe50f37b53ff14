"""``image1:``: NDStdArrays.template, the last frame as a waveform for live viewers (ADCore NDPluginStdArrays).

Posts are rate-limited by ``MinCallbackTime`` (0 by default, as in ADCore); a frame that arrives
sooner is not dropped but replaces the pending one, so the newest frame is always shown.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from ..records import Macro
from ..records.channels import RecordLongRO
from ..records.declare import waveform
from ..server.caproto_internals import MIN_SUBSCRIPTION_BACKLOG, SUBSCRIPTION_BACKLOG_WARN_THRESHOLD_ELEMENTS
from ..server.encoding import EncodedOnce
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame


class ArrayData(EncodedOnce, RecordLongRO):
    """ArrayData: a frame per value, converted to the wire's type once (:class:`~ioc.server.encoding.EncodedOnce`).

    A frame per queued monitor update: caproto's default backlog (1000 updates per
    subscription) would hold a thousand frames per viewer, so caproto would warn at start and
    cut it. Declared instead: what fits caproto's memory threshold, as it would choose.
    """

    def __init__(self, *args, max_length, group=None, **kwargs) -> None:
        if isinstance(max_length, Macro):
            max_length = max_length.resolve(getattr(group, "macros", {}))
        kwargs["max_subscription_backlog"] = max(MIN_SUBSCRIPTION_BACKLOG,
                                                 SUBSCRIPTION_BACKLOG_WARN_THRESHOLD_ELEMENTS // max_length)
        super().__init__(*args, max_length=max_length, group=group, **kwargs)


class NDStdArrays(NDPluginBase):
    """NDStdArrays.template (which includes NDPluginBase.template): ArrayData of ``NELEMENTS`` (the sensor's size)."""

    plugin_type = "NDPluginStdArrays"
    coalesce = True

    array_data = waveform("ArrayData", ftvl="LONG", nelm=Macro("NELEMENTS"), input=True, dtype=ArrayData,
                          doc="array waveform data (FTVL LONG for $(TYPE)=Int32; NELM $(NELEMENTS), "
                              "the sensor size set at start-up)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: Frame | None = None
        self._poster: asyncio.Task | None = None
        self._last_post = 0.0

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
