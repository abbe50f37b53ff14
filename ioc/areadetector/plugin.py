"""NDPluginBase: what every plugin shares (enabling, port wiring, array info)."""

from __future__ import annotations

import time

import numpy as np

from ..records import echo_to_readback, sync_readbacks
from .common import DRIVER_PORT, NUMPY_TYPES, Frame, index, text


class PluginMixin:
    """Behaviour common to all plugins (NDPluginBase): enabling, port wiring, array info."""

    plugin_type = ""
    port_name = ""

    async def init_plugin(self) -> None:
        await self.plugin_type_rbv.write(self.plugin_type)
        await self.port_name_rbv.write(self.port_name)
        await self.nd_array_port.write(DRIVER_PORT, verify_value=False)
        await self.nd_array_port_rbv.write(DRIVER_PORT)
        # Plugins start enabled, as a beamline's start-up script leaves them.
        await self.enable_callbacks.write("Enable", verify_value=False)
        await sync_readbacks(self)
        # Until the first frame, describe the array the driver will send (clients size views by it).
        cam = self.parent.cam
        rows, cols = self.parent.parent.sensor_shape
        await self.describe_array((rows, cols), np.dtype(NUMPY_TYPES[cam.data_type.value]))
        self._last_callback = 0.0

    @property
    def enabled(self) -> bool:
        return bool(index(self.enable_callbacks))

    def wired_to(self, port: str) -> bool:
        return text(self.nd_array_port.value) == port

    async def receive(self, frame: Frame) -> str | None:
        """Take a frame from the driver; returns an error message if processing failed."""
        if not self.enabled:
            return None
        min_time = self.min_callback_time.value
        now = time.monotonic()
        if min_time > 0 and now - self._last_callback < min_time and not self.coalesce:
            return None
        self._last_callback = now
        await self.array_counter_rbv.write(self.array_counter_rbv.value + 1)
        await self.describe_array(frame.data.shape, frame.data.dtype)
        await self.unique_id_rbv.write(frame.unique_id)
        await self.time_stamp_rbv.write(frame.timestamp)
        return await self.process(frame)

    coalesce = False

    def readout_work(self):
        """A function of the frame's pixels to run on the readout thread, or None.

        The frame is fully determined when its exposure starts, so a plugin's arithmetic can
        overlap the exposure; its ``process`` then only publishes (``frame.precomputed``).
        """
        return None

    async def describe_array(self, shape: tuple[int, int], dtype: np.dtype) -> None:
        """ArraySize*/NDimensions/DataType readbacks of the array last received."""
        ny, nx = shape
        if self.array_size0_rbv.value != nx or self.array_size1_rbv.value != ny:
            await self.array_size0_rbv.write(nx)
            await self.array_size1_rbv.write(ny)
            await self.array_size2_rbv.write(0)
            await self.n_dimensions_rbv.write(2)
            await self.dimensions_rbv.write([nx, ny] + [0] * (self.dimensions_rbv.max_length - 2))
        type_name = next(name for name, t in NUMPY_TYPES.items() if np.dtype(t) == dtype)
        if self.data_type_rbv.value != type_name:
            await self.data_type_rbv.write(type_name)

    async def process(self, frame: Frame) -> str | None:
        return None

    async def _port_put(self, instance, value):
        port = text(value).strip()
        known = self.parent.port_names()
        if port not in known:
            raise ValueError(f"{instance.pvname}: unknown asyn port {port!r}; known ports: {', '.join(known)}")
        return await echo_to_readback(self, instance, port)

