"""The tutorial's ``%run ../beamline_configuration.py``: a bluesky session on the beamline.

Defines RE, db, bp, bps, np, plt, dot (dot.exp = exposure), I, mtr_dotx, mtr_doty.
See beamline/session.py for the environment variables that configure it.
"""

from beamline.session import *  # noqa: F401,F403
