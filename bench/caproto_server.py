"""Our CA server alone, for the CA rows: the same waveform as :mod:`bench.softioc_server`.

Run as ``python -m bench.caproto_server DEVICE ROWS COLS [--stock]`` with the CA server
environment of :func:`beamline_shared.launcher.ca_environment`. Same PVs as the C reference
(``ArrayData``, ``Post``, ``Posts``; ``Post`` = 1 posts as fast as it can, N > 1 posts N
arrays per second; ``Chan000`` ... scalars), served by the beamline IOC's server (:mod:`ioc.server`), or with
``--stock`` by caproto's own: it shows what the server delivers when the arrays are
ready-made, apart from the camera simulation that feeds ``image1:ArrayData``.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np
from caproto import ChannelDouble, ChannelType
from caproto.server import PVGroup, PvpropertyIntegerRO, pvproperty
from caproto.server import run as caproto_run

from ioc import server

from .softioc_server import CHANNELS


class Image(server.EncodedOnce, PvpropertyIntegerRO):
    """An image served as the beamline IOC serves image1:ArrayData: converted to the wire's type once."""


def make_group(device: str, rows: int, cols: int, stock: bool = False) -> PVGroup:
    rng = np.random.default_rng(0)
    frames = [rng.poisson(1000, rows * cols).astype(np.int32) for _ in range(2)]

    class Reference(PVGroup):
        # Ours serves an image as the beamline IOC's image1:ArrayData does (EncodedOnce); --stock as caproto does.
        array_data = pvproperty(name="ArrayData", value=frames[0], max_length=rows * cols, read_only=True,
                                dtype=ChannelType.LONG if stock else Image)
        post = pvproperty(name="Post", value=0, dtype=ChannelType.LONG)
        posts = pvproperty(name="Posts", value=0, dtype=ChannelType.LONG, read_only=True)

        @post.putter
        async def post(self, instance, value):
            if self._task is not None:
                self._task.cancel()
                self._task = None
            if value:
                self._task = asyncio.get_running_loop().create_task(self._post_loop(int(value)))
            return value

        async def _post_loop(self, rate: int) -> None:
            """Post arrays: as fast as possible if ``rate`` is 1, else ``rate`` per second."""
            n = 0
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            try:
                while True:
                    await self.array_data.write(frames[n % 2])
                    n += 1
                    if n % 10 == 0:
                        await self.posts.write(self.posts.value + 10)
                    if rate > 1:
                        await asyncio.sleep(max(0.0, t0 + n / rate - loop.time()))
                    else:
                        await asyncio.sleep(0)  # let the circuits send
            finally:
                await self.posts.write(self.posts.value + n % 10)

    group = Reference(prefix=f"{device}:")
    group._task = None
    return group


def main(argv: list[str]) -> None:
    device, rows, cols = argv[0], int(argv[1]), int(argv[2])
    stock = "--stock" in argv
    group = make_group(device, rows, cols, stock)
    print("caproto ready", flush=True)
    serve = caproto_run if stock else server.run
    pvdb = {**group.pvdb, **{f"{device}:Chan{i:03d}": ChannelDouble(value=float(i)) for i in range(CHANNELS)}}
    serve(pvdb, interfaces=["127.0.0.1"], log_pv_names=False)


if __name__ == "__main__":
    main(sys.argv[1:])
