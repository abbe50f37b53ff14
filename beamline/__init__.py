"""The beamline's client: ophyd devices, the RunEngine session, storage (see beamline.session)."""
