"""``beamline-screens``: PyDM displays of the beamline, over Channel Access as in a control room.

``main`` (the main display), ``camera``, ``plugin`` and ``motor`` (detail displays, opened from
it) are PyDM Python displays; ``app`` is the command line, ``connections`` what the displays'
channels are doing, ``refusals`` the IOC's refusals of their puts, shown in the main display.
"""
