"""``cam1:SimMode``: ADSimDetector's test patterns besides the beam spot.

``SimMode`` has simDetector.template's four states, at their indices (0 LinearRamp, 1 Peaks,
2 Sine, 3 Offset&Noise), and a fifth, 4 ``BeamSpot``, this IOC's own and its start-up
value: the frame of :mod:`ioc.physics`, the spot the motors move, scaled by the exposure and
the ring current, with Poisson noise. A real simDetector has no such mode; it is added as
the template's next free state (FRST) so that clients writing 0-3 or the four strings get
simDetector's behaviour. The spot is related to the patterns: it is one "Peaks" Gaussian
(rms 50 x 25 pixels, at a position the motors set rather than PeakStartX/Y) on an
"Offset&Noise" background (offset 1000 with Poisson, not uniform, noise), and unlike
the patterns it integrates over AcquireTime (simDetector's patterns ignore the exposure).

The patterns themselves are :mod:`ioc.simpatterns` (pure numpy, simDetector.cpp's
formulas, using Gain, GainX/Y, Offset, Noise, Peak*, XSine*/YSine*), computed at the full
sensor size in DataType and then read out through the region of interest and binning. A
put that changes a parameter, DataType or SimMode resets the pattern (the ramp restarts,
the background is redrawn), as does a put of 1 to ``Reset``. Colour modes are not
simulated (the camera is mono).
"""

from __future__ import annotations

import numpy as np
from caproto.server import pvproperty

from .. import physics
from ..adcore_records import SIM_DETECTOR, Record
from ..records import echo_to_readback, pv_kwargs
from ..simpatterns import SIM_MODES, SimParams, SimPatterns, Sine
from ..validate import finite, integer
from .common import kw
from .driver import CamDriver

BEAM_SPOT = "BeamSpot"
SIM_MODE = Record('SimMode', 'mbbo', len(SIM_MODES), rbv=True, enum_strings=SIM_MODES + (BEAM_SPOT,),
                  doc='simulation mode; BeamSpot (4) is this IOC\'s spot, the default')
MAX_PEAKS = 10_000  # PeakNumX x PeakNumY: each peak costs a slice of the frame per frame
MAX_PEAK_WIDTH = 4096


class SimModeDriver(CamDriver):
    """The camera driver with ADSimDetector's SimMode patterns besides the beam spot."""

    sim_mode = pvproperty(put=echo_to_readback, **pv_kwargs(SIM_MODE))
    sim_mode_rbv = pvproperty(**pv_kwargs(SIM_MODE, readback=True))
    reset = pvproperty(**kw(SIM_DETECTOR, "Reset"))
    peak_num_x = pvproperty(**kw(SIM_DETECTOR, "PeakNumX"))
    peak_num_y = pvproperty(**kw(SIM_DETECTOR, "PeakNumY"))
    peak_width_x = pvproperty(**kw(SIM_DETECTOR, "PeakWidthX"))
    peak_width_y = pvproperty(**kw(SIM_DETECTOR, "PeakWidthY"))
    peak_variation = pvproperty(**kw(SIM_DETECTOR, "PeakVariation"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.patterns = SimPatterns()  # used on the rng worker thread only

    def sim_params(self) -> SimParams:
        """The pattern parameters now, from the PVs."""
        def sine(axis: str, n: int) -> Sine:
            return Sine(getattr(self, f"{axis}_sine{n}_amplitude").value,
                        getattr(self, f"{axis}_sine{n}_frequency").value,
                        getattr(self, f"{axis}_sine{n}_phase").value)

        return SimParams(
            mode=self.sim_mode.value, gain=self.gain.value, gain_x=self.gain_x.value, gain_y=self.gain_y.value,
            offset=self.offset.value, noise=self.noise.value,
            peak_start_x=self.peak_start_x.value, peak_start_y=self.peak_start_y.value,
            peak_num_x=self.peak_num_x.value, peak_num_y=self.peak_num_y.value,
            peak_step_x=self.peak_step_x.value, peak_step_y=self.peak_step_y.value,
            peak_width_x=self.peak_width_x.value, peak_width_y=self.peak_width_y.value,
            peak_variation=self.peak_variation.value,
            x_sine_operation=self.x_sine_operation.value, y_sine_operation=self.y_sine_operation.value,
            x_sine1=sine("x", 1), x_sine2=sine("x", 2), y_sine1=sine("y", 1), y_sine2=sine("y", 2),
        )

    def _frame_mode(self):
        # A pattern frame depends on the pattern's own state and PVs: never made ahead.
        return None if self.sim_mode.value == BEAM_SPOT else self.sim_mode.value

    def _make_frame(self, bg, x, y, exposure, n_exposures, current, region, dtype) -> np.ndarray:
        """Runs on the rng worker thread: the beam spot, or the SimMode pattern."""
        if self.sim_mode.value == BEAM_SPOT:
            return super()._make_frame(bg, x, y, exposure, n_exposures, current, region, dtype)
        img = self.patterns.frame(self.sim_params(), self.sim.rng, self.sim.sensor_shape, dtype)
        return physics.roi_bin(img, *region)

    @reset.putter
    async def reset(self, instance, value):
        value = integer(instance.pvname, value, -(2**31), 2**31 - 1, "reset")
        if value:
            self.patterns.reset()
        return await echo_to_readback(self, instance, value)

    @peak_num_x.putter
    async def peak_num_x(self, instance, value):
        value = integer(instance.pvname, value, 0, MAX_PEAKS, "number of peaks in x")
        if value * self.peak_num_y.value > MAX_PEAKS:
            raise ValueError(f"{instance.pvname}: PeakNumX x PeakNumY must be at most {MAX_PEAKS}")
        return await echo_to_readback(self, instance, value)

    @peak_num_y.putter
    async def peak_num_y(self, instance, value):
        value = integer(instance.pvname, value, 0, MAX_PEAKS, "number of peaks in y")
        if value * self.peak_num_x.value > MAX_PEAKS:
            raise ValueError(f"{instance.pvname}: PeakNumX x PeakNumY must be at most {MAX_PEAKS}")
        return await echo_to_readback(self, instance, value)

    @peak_width_x.putter
    async def peak_width_x(self, instance, value):
        # simDetector divides by the width: 0 would make every peak NaN.
        value = integer(instance.pvname, value, 1, MAX_PEAK_WIDTH, "peak width in x (pixels)")
        return await echo_to_readback(self, instance, value)

    @peak_width_y.putter
    async def peak_width_y(self, instance, value):
        value = integer(instance.pvname, value, 1, MAX_PEAK_WIDTH, "peak width in y (pixels)")
        return await echo_to_readback(self, instance, value)

    @peak_variation.putter
    async def peak_variation(self, instance, value):
        value = finite(instance.pvname, value, 0.0, 200.0, "peak height variation (%)")
        return await echo_to_readback(self, instance, value)
