"""Exact Poisson noise, fast: a table lookup per draw of a fixed mean, and frames drawn in row
blocks, each from a random stream of its own (on two threads where there are cores to spare).

**Fixed mean, by inverse CDF.** :func:`poisson_table` quantises Poisson(``lam``) to integer
probabilities ``m_k / 2**64`` (``sum m_k == 2**64``) and keeps the cumulative sums
``C_k = m_0 + ... + m_k``. A uniform 64-bit integer ``U`` gives the value ``k`` with
``C_{k-1} <= U < C_k``, which has probability exactly ``m_k / 2**64``. ``U``'s top 16 bits
alone decide ``k`` unless a step of the CDF falls inside their bucket of ``2**48``; a 65,536-cell
table holds ``k`` for every bucket without a step, so a draw is 16 random bits and one lookup.
For the few buckets with a step (0.4 % of draws at a mean of 1000) the low 48 bits are drawn
then, and the value found among the ``C_k``: ``U`` is still uniform, so the draw is exact.

*Exact* means: each value's probability is ``m_k / 2**64``, which differs from the Poisson
pmf by less than ``2**-64`` plus float64 rounding of the pmf (relative error < 1e-13 for means
up to 1e6: tests/test_physics_stats.py checks every table value against the pmf computed in
50-digit decimal arithmetic); values whose probability is below ``2**-65`` are never drawn
(their total is below ``2**-57``). The slow path takes 0.4 % of draws at a mean of 1000,
1.7 % at 2.5e4, 9 % at 1e6.

**Threads.** numpy's generators release the GIL for bulk draws (``random_raw``,
``Generator.poisson`` on arrays) and so does ``np.take``. :func:`in_blocks` cuts a frame into
BLOCKS blocks of rows, each drawn from its own generator, spawned from the caller's by
:func:`streams` (``SeedSequence.spawn``, seeded with 256 bits drawn from the caller's stream),
so a seeded run gives the same frames whatever the number of threads or the order they run
in. The blocks run on the calling thread and, with THREADS = 2, one helper: the default on
machines of 4 or more cores (on 2 cores a helper would compete with the client, and with the
IOC's own threads, for the second one); ``BEAMLINE_NOISE_THREADS`` (1 or 2) overrides it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TABLE_BITS = 16  # a draw's random bits: its bucket of the 64-bit uniform
STEP = 0xFFFF_FFFF  # a table cell whose bucket holds a step of the CDF: resolved with 48 more bits
MAX_TABLE_MEAN = 1e7  # means above this are left to numpy's sampler (values must stay below STEP)
BLOCKS = 2  # row blocks of a frame: fixed, so frames do not depend on the machine's cores
MIN_BLOCK_PIXELS = 32_768  # below this a frame is one block (threads cost ~0.1 ms a hand-off)
CHUNK = 65_536  # draws per lookup, so that its index temporaries stay in the CPU's cache

_LOW_BITS = 64 - TABLE_BITS
_ONE = 1 << 64


@dataclass(frozen=True)
class PoissonTable:
    """Poisson(``lam``) as an inverse-CDF lookup table (see the module's docstring)."""

    lam: float
    offset: int  # the smallest value drawn
    cdf: np.ndarray  # uint64: C_k for k = offset .. offset + n - 2 (the last, 2**64, implied)
    lut: np.ndarray  # uint32, 2**TABLE_BITS cells: the value drawn for a bucket, or STEP

    def weights(self) -> list[int]:
        """The integer probabilities ``m_k`` (over ``2**64``) of ``offset``, ``offset + 1``, ..."""
        c = [0, *(int(v) for v in self.cdf), _ONE]
        return [b - a for a, b in zip(c, c[1:], strict=False)]


def _pmf_ratios(lam: float) -> tuple[int, np.ndarray]:
    """(offset, p) with ``p`` proportional to the Poisson(``lam``) pmf from ``offset`` on,
    covering every value whose probability reaches ``2**-80`` times the mode's.

    From the mode outwards by the ratios ``p_k / p_(k-1) = lam / k``: each value is a product
    of at most ~12 sqrt(lam) + 60 correctly rounded factors, so relative errors stay below
    1e-13 even at lam = 1e6, and no large logarithms cancel (as k log lam - lgamma(k+1) do).
    """
    mode = math.floor(lam)
    reach = math.ceil(12.0 * math.sqrt(lam) + 60.0)
    lo, hi = max(0, mode - reach), mode + reach
    up = np.cumprod(lam / np.arange(mode + 1, hi + 1, dtype=np.float64))
    down = np.cumprod(np.arange(mode, lo, -1, dtype=np.float64) / lam)[::-1]
    p = np.concatenate([down, [1.0], up])
    keep = np.flatnonzero(p >= 2.0**-80)
    return lo + int(keep[0]), p[keep[0] : keep[-1] + 1]


@lru_cache(maxsize=32)
def poisson_table(lam: float) -> PoissonTable:
    """The lookup table of Poisson(``lam``), ``0 <= lam <= MAX_TABLE_MEAN`` (cached)."""
    lam = float(lam)
    if not 0.0 <= lam <= MAX_TABLE_MEAN:
        raise ValueError(f"Poisson mean {lam!r} outside 0 .. {MAX_TABLE_MEAN:g} for a table")
    if lam == 0.0:
        return PoissonTable(lam, 0, np.zeros(0, np.uint64), np.zeros(1 << TABLE_BITS, np.uint32))
    offset, p = _pmf_ratios(lam)
    scale = _ONE / math.fsum(p.tolist())
    weights = np.rint(p * scale)  # integer-valued floats (above 2**53 every float is one)
    keep = np.flatnonzero(weights > 0)
    offset += int(keep[0])
    weights = weights[keep[0] : keep[-1] + 1]
    m = [int(w) for w in weights]
    m[int(np.argmax(weights))] += _ONE - sum(m)  # the rounding residue (~1e-16 of the mode's) to the mode
    cdf = np.cumsum(np.array(m[:-1], dtype=np.uint64), dtype=np.uint64)
    starts = np.arange(1 << TABLE_BITS, dtype=np.uint64) << np.uint64(_LOW_BITS)
    first = np.searchsorted(cdf, starts, side="right")
    last = np.searchsorted(cdf, starts | np.uint64((1 << _LOW_BITS) - 1), side="right")
    lut = np.where(first == last, offset + first, STEP).astype(np.uint32)
    return PoissonTable(lam, offset, cdf, lut)


def draw(rng: np.random.Generator, table: PoissonTable, out: np.ndarray) -> np.ndarray:
    """Fill the 1-D contiguous uint32 array ``out`` with independent draws from ``table``."""
    for start in range(0, out.size, CHUNK):
        part = out[start : start + CHUNK]
        n = part.size
        bits = rng.bit_generator.random_raw(-(-n // 4)).view(np.uint16)[:n]  # 16 bits a draw
        np.take(table.lut, bits, out=part, mode="wrap")  # "wrap": no bounds buffer; cells are 2**16
        steps = np.flatnonzero(part == STEP)
        if steps.size:
            low = rng.bit_generator.random_raw(steps.size) >> np.uint64(TABLE_BITS)
            u = (bits[steps].astype(np.uint64) << np.uint64(_LOW_BITS)) | low
            part[steps] = table.offset + np.searchsorted(table.cdf, u, side="right")
    return out


def poisson(rng: np.random.Generator, lam: float, out: np.ndarray) -> np.ndarray:
    """Fill the C-contiguous uint32 array ``out`` with independent Poisson(``lam``) counts, exact
    (see the module's docstring), in row blocks (:func:`in_blocks`)."""
    if out.dtype != np.uint32 or not out.flags.c_contiguous:
        raise ValueError(f"Poisson counts go to a C-contiguous uint32 array, not {out.dtype} {out.flags.c_contiguous=}")
    rows = out.reshape(out.shape[0], -1) if out.ndim > 1 else out.reshape(-1, 1)  # views
    if lam > MAX_TABLE_MEAN:
        def work(g, a, b):
            rows[a:b] = g.poisson(lam, rows[a:b].shape)
    else:
        table = poisson_table(lam)

        def work(g, a, b):
            draw(g, table, rows[a:b].reshape(-1))
    in_blocks(rng, rows.shape[0], work, rows.shape[1])
    return out


def streams(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent generators, reproducibly derived from ``rng``'s stream (which advances)."""
    entropy = [int(v) for v in rng.bit_generator.random_raw(4)]
    return [np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(entropy).spawn(n)]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _threads() -> int:
    """THREADS: ``BEAMLINE_NOISE_THREADS`` if set, else 2 on 4 or more cores, else 1."""
    value = os.environ.get("BEAMLINE_NOISE_THREADS", "").strip()
    if not value:
        return 2 if _cores() >= 4 else 1
    if value not in ("1", "2"):
        raise ValueError(f"BEAMLINE_NOISE_THREADS must be 1 or 2 (threads drawing a frame's noise), not {value!r}")
    return int(value)


THREADS = _threads()
_pools: dict[int, ThreadPoolExecutor] = {}


def _helper() -> ThreadPoolExecutor | None:
    """The helper thread's pool (None with THREADS = 1); a fresh one in a forked child, whose
    copy of the parent's pool has no threads."""
    if THREADS < 2:
        return None  # the blocks run one after the other on the caller
    pid = os.getpid()
    if pid not in _pools:
        _pools.clear()
        _pools[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="noise")
    return _pools[pid]


def in_blocks(rng: np.random.Generator, rows: int, work: Callable[[np.random.Generator, int, int], object],
              row_pixels: int = 1) -> None:
    """Call ``work(generator, start, stop)`` on BLOCKS consecutive ranges of ``range(rows)``, each
    with its own generator from :func:`streams`, the first on the helper thread if there is one,
    the last on this one; one range, drawn from ``rng`` itself, when ``rows * row_pixels`` is below
    MIN_BLOCK_PIXELS. ``work`` must release the GIL for the threads to overlap, and must not call
    this function (the helper is one thread)."""
    if rows * row_pixels < MIN_BLOCK_PIXELS or rows < BLOCKS:
        work(rng, 0, rows)
        return
    cuts = [rows * i // BLOCKS for i in range(BLOCKS + 1)]
    jobs = list(zip(streams(rng, BLOCKS), cuts, cuts[1:], strict=False))
    pool = _helper()
    if pool is None:
        for g, a, b in jobs:
            work(g, a, b)
        return
    helpers = [pool.submit(work, g, a, b) for g, a, b in jobs[:-1]]
    try:
        work(*jobs[-1])
    finally:
        for f in helpers:
            f.result()
