"""Benchmarks of the simulated beamline: ``python -m bench`` prints one table (see ``bench.__main__``)."""
