"""The simulated hardware, pure Python and numpy, no EPICS: the spot and its noise (:mod:`.physics`),
the storage ring (:mod:`.ring`), move profiles (:mod:`.motion`), simulated time (:mod:`.clock`),
ADSimDetector's test patterns (:mod:`.patterns`), point detectors behind apertures
(:mod:`.beamprofiles`) and the faults on demand (:mod:`.faults`)."""
