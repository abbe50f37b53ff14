"""A small CA server for ``tests/test_ca_server.py``: ours (:mod:`ioc.ca_server`) or caproto's own.

Run as ``python -m tests.ca_server_app PREFIX [--stock]`` in the CA server environment of
:func:`beamline_shared.launcher.ca_environment`; it prints ``ready`` once serving. PVs:

* ``x`` (put: refused if negative; posts ``x_rbv`` before completing, as a record processing),
  ``x_rbv``;
* ``tick`` (put: posts ``a``, then ``b`` 2 ms later), ``a``, ``b``;
* ``image`` (480 x 640 int32) and ``post`` (put N > 0: post a new image N times a second; 0: stop);
* ``counter``, counting up every 10 ms from start-up (the server's own work: a camera acquiring);
* ``text`` (DBR_STRING).
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

ROWS, COLS = 480, 640


class Probe(PVGroup):
    x = pvproperty(value=0.0)
    x_rbv = pvproperty(value=0.0, read_only=True)
    tick = pvproperty(value=0)
    a = pvproperty(value=0, read_only=True)
    b = pvproperty(value=0, read_only=True)
    image = pvproperty(value=np.zeros(ROWS * COLS, dtype=np.int32), max_length=ROWS * COLS,
                       dtype=ChannelType.LONG, read_only=True)
    post = pvproperty(value=0)
    counter = pvproperty(value=0, read_only=True)
    text = pvproperty(value="", dtype=ChannelType.STRING)

    _poster: asyncio.Task | None = None

    @x.putter
    async def x(self, instance, value):
        if value < 0:
            raise ValueError(f"{instance.pvname}: must be >= 0, not {value}")
        await asyncio.sleep(0)  # the readback is posted later in the put, as a record's processing
        await self.x_rbv.write(value)
        return value

    @tick.putter
    async def tick(self, instance, value):
        await self.a.write(value)
        await asyncio.sleep(0.002)
        await self.b.write(value)
        return value

    @post.putter
    async def post(self, instance, value):
        if self._poster is not None:
            self._poster.cancel()
            self._poster = None
        if value > 0:
            self._poster = asyncio.get_running_loop().create_task(self._post_images(float(value)))
        return value

    async def _post_images(self, rate: float) -> None:
        base = np.random.default_rng(0).poisson(1000, ROWS * COLS).astype(np.int32)
        loop = asyncio.get_running_loop()
        t0, n = loop.time(), 0
        while True:
            n += 1
            await self.image.write(base + n)  # a new array each time, as a driver hands over a new buffer
            await asyncio.sleep(max(0.0, t0 + n / rate - loop.time()))

    @counter.startup
    async def counter(self, instance, async_lib):
        while True:
            await asyncio.sleep(0.01)
            await instance.write(instance.value + 1)


def main(argv: list[str]) -> None:
    prefix, stock = argv[0], "--stock" in argv
    group = Probe(prefix=prefix)
    print("ready", flush=True)
    if stock:
        from caproto.server import run
    else:
        from ioc.ca_server import run
    run(group.pvdb, interfaces=["127.0.0.1"])


if __name__ == "__main__":
    main(sys.argv[1:])
