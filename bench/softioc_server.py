"""The reference C server for the CA rows: one waveform on an EPICS C IOC (pythonSoftIOC).

Run as ``python -m bench.softioc_server DEVICE ROWS COLS`` with the CA server environment
of :func:`beamline_shared.launcher.ca_environment` (loopback, its own port). It serves

* ``DEVICE:ArrayData`` - waveform of ROWS x COLS int32 (``softioc.builder.WaveformIn``);
* ``DEVICE:Post`` - write 1 to post new arrays from a thread as fast as it can, N > 1 to post
  N arrays per second, 0 to stop;
* ``DEVICE:Posts`` - how many arrays have been posted (updated every 0.1 s while posting);
* ``DEVICE:Chan000`` ... - ``CHANNELS`` ai records, for the connection row (:func:`bench.ca.connect_seconds`).

PV Access is off (``iocInit(enable_pva=False)``): only Channel Access is compared.
It exits on SIGINT/SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import numpy as np

CHANNELS = 300  # scalar records, as many as an areaDetector device's channels


def main(argv: list[str]) -> None:
    from softioc import asyncio_dispatcher, builder, softioc

    device, rows, cols = argv[0], int(argv[1]), int(argv[2])
    rng = np.random.default_rng(0)
    frames = [rng.poisson(1000, rows * cols).astype(np.int32) for _ in range(2)]
    dispatcher = asyncio_dispatcher.AsyncioDispatcher()
    builder.SetDeviceName(device)
    array = builder.WaveformIn("ArrayData", initial_value=frames[0])
    posts = builder.longIn("Posts", initial_value=0)
    running = threading.Event()
    rate = [1]  # 1: flat out; N > 1: N posts per second

    def post_loop() -> None:
        n = 0
        last = time.monotonic()
        while True:
            running.wait()
            t0, k = time.monotonic(), 0
            while running.is_set():
                array.set(frames[n % 2])  # set() copies the array, as a driver hands over a new buffer
                n += 1
                k += 1
                if time.monotonic() - last > 0.1:
                    posts.set(n)
                    last = time.monotonic()
                if rate[0] > 1:
                    time.sleep(max(0.0, t0 + k / rate[0] - time.monotonic()))
            posts.set(n)

    def on_post(value) -> None:
        if value:
            rate[0] = int(value)
            running.set()
        else:
            running.clear()

    builder.longOut("Post", initial_value=0, on_update=on_post)
    for i in range(CHANNELS):
        builder.aIn(f"Chan{i:03d}", initial_value=float(i))
    builder.LoadDatabase()
    softioc.iocInit(dispatcher, enable_pva=False)
    threading.Thread(target=post_loop, daemon=True, name="post").start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("softioc ready", flush=True)
    while not stop.wait(0.5):
        pass
    softioc.safeEpicsExit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
