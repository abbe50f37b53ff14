"""The IOC's PV groups besides the camera and the motors: the storage ring's current (:mod:`.ring`),
the simulation's own controls and faults (``sim:``, :mod:`.sim_controls`), and caproto's
``mini_beamline`` example's devices (:mod:`.mini_beamline`)."""
