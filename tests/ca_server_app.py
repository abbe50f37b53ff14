"""A small CA server for ``tests/test_ca_server.py``: ours (:mod:`ioc.server`) or caproto's own.

Run as ``python -m tests.ca_server_app PREFIX [--stock]`` in the CA server environment of
:func:`beamline_shared.launcher.ca_environment`; it prints ``ready`` once serving. PVs:

* ``x`` (put: refused if negative; posts ``x_rbv`` before completing, as a record processing),
  ``x_rbv``;
* ``tick`` (put: posts ``a``, then ``b`` 2 ms later), ``a``, ``b``;
* ``image`` (480 x 640 int32) and ``post`` (put N > 0: post a new image N times a second; 0: stop);
  ``frame`` (put N: write a new image, base + N, before completing), ``frame_in_place`` (put N:
  write base + N into the image's own array, and write that same array), ``burst`` (put N: post
  images base + 1 ... base + N as fast as the server takes them), ``image_severity`` (put S: the
  image's alarm severity, its value unchanged); ours serves ``image`` as the beamline IOC serves
  ``image1:ArrayData`` (``ioc.server.EncodedOnce``);
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
    frame = pvproperty(value=0)
    frame_in_place = pvproperty(value=0)
    burst = pvproperty(value=0)
    image_severity = pvproperty(value=0)

    _poster: asyncio.Task | None = None
    BASE = np.random.default_rng(1).poisson(1000, ROWS * COLS).astype(np.int32)

    @frame.putter
    async def frame(self, instance, value):
        await self.image.write(self.BASE + value)
        return value

    @frame_in_place.putter
    async def frame_in_place(self, instance, value):
        array = self.image.value
        array[:] = self.BASE + value
        await self.image.write(array)
        return value

    @burst.putter
    async def burst(self, instance, value):
        for n in range(1, value + 1):
            await self.image.write(self.BASE + n)
            await asyncio.sleep(0)
        return value

    @image_severity.putter
    async def image_severity(self, instance, value):
        await self.image.alarm.write(severity=value)
        return value

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


def ours() -> type[Probe]:
    """Probe with the image served as ours serves large arrays."""
    from caproto.server import PvpropertyIntegerRO

    from ioc.server import EncodedOnce

    class Image(EncodedOnce, PvpropertyIntegerRO):
        """A large array converted to the wire's type once per value."""

    class OurProbe(Probe):
        image = pvproperty(value=np.zeros(ROWS * COLS, dtype=np.int32), max_length=ROWS * COLS,
                           dtype=Image, read_only=True)

    return OurProbe


def main(argv: list[str]) -> None:
    prefix, stock = argv[0], "--stock" in argv
    group = (Probe if stock else ours())(prefix=prefix)
    print("ready", flush=True)
    if stock:
        from caproto.server import run
    else:
        from ioc.server import run
    run(group.pvdb, interfaces=["127.0.0.1"])


if __name__ == "__main__":
    main(sys.argv[1:])
