"""Point detectors behind apertures, as pure numpy: the pinhole, edge and slit of caproto's
``mini_beamline`` example, as fractions of a Gaussian beam.

Positions are motor units, exposures s, currents mA; counts are Poisson, with the same
photon rate as the camera's spot (:data:`ioc.sim.physics.PHOTONS_PER_MA_S` counts per mA per s
at full transmission). The constants reproduce the example's curves exactly:

* pinhole: a pinhole much smaller than the beam, moved across a beam of rms width
  ``PINHOLE_SIGMA``: transmission ``exp(-(m - c)**2 / (2 sigma**2))``, peak 1 at ``c = 0``;
* edge: a knife edge at ``EDGE_CENTER`` with the beam (rms ``EDGE_SLIT_SIGMA``) centred on the
  motor position: the fraction beyond the edge, ``erfc((c - m) / (sigma sqrt 2)) / 2``;
* slit: a slit of full width ``2 * SLIT_HALF_WIDTH`` centred on the motor position, the beam
  (rms ``EDGE_SLIT_SIGMA``) centred at 0: ``(erfc((m - w) / s) - erfc((m + w) / s)) / 2``.

The example writes the edge and slit scales as ``erfc(x / 2.5)``: ``2.5 = sigma * sqrt(2)``.
"""

from __future__ import annotations

import math

import numpy as np

from .physics import PHOTONS_PER_MA_S

PINHOLE_SIGMA = 5.0  # rms beam width at the pinhole (motor units)
PINHOLE_CENTER = 0.0
EDGE_SLIT_SIGMA = 2.5 / math.sqrt(2.0)  # rms beam width at the edge and the slit
EDGE_CENTER = 5.0
SLIT_HALF_WIDTH = 7.5

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _scalar_or_array(out: np.ndarray) -> float | np.ndarray:
    return float(out) if np.ndim(out) == 0 else out


def beam_fraction(lo: float | np.ndarray, hi: float | np.ndarray, sigma: float) -> float | np.ndarray:
    """Fraction of a centred Gaussian beam of rms ``sigma`` between ``lo`` and ``hi`` (``hi`` may be inf)."""
    scale = sigma * math.sqrt(2.0)
    lo = np.asarray(lo, dtype=np.float64) / scale
    hi = np.asarray(hi, dtype=np.float64) / scale
    return _scalar_or_array((_erfc(lo) - _erfc(hi)) / 2.0)


def pinhole(m: float | np.ndarray) -> float | np.ndarray:
    """Transmission of the pinhole at motor position ``m`` (peak 1 at PINHOLE_CENTER)."""
    m = np.asarray(m, dtype=np.float64)
    return _scalar_or_array(np.exp(-((m - PINHOLE_CENTER) ** 2) / (2.0 * PINHOLE_SIGMA**2)))


def edge(m: float | np.ndarray) -> float | np.ndarray:
    """Fraction of the beam (centred on ``m``) that passes the knife edge at EDGE_CENTER: 0 to 1."""
    return beam_fraction(EDGE_CENTER - np.asarray(m, dtype=np.float64), math.inf, EDGE_SLIT_SIGMA)


def slit(m: float | np.ndarray) -> float | np.ndarray:
    """Fraction of the beam (centred at 0) through the slit centred at ``m``."""
    m = np.asarray(m, dtype=np.float64)
    return beam_fraction(m - SLIT_HALF_WIDTH, m + SLIT_HALF_WIDTH, EDGE_SLIT_SIGMA)


PROFILES = {"pinhole": pinhole, "edge": edge, "slit": slit}


def expected_point_counts(transmission: float, exposure: float, current: float) -> float:
    """Mean counts of a point detector: transmission x exposure (s) x current (mA) x the photon rate."""
    return PHOTONS_PER_MA_S * current * exposure * transmission


def point_counts(rng: np.random.Generator, transmission: float, exposure: float, current: float) -> int:
    """One Poisson reading of a point detector (counts)."""
    return int(rng.poisson(expected_point_counts(transmission, exposure, current)))
