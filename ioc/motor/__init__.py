"""The motor record (epics-modules/motor's ``motorRecord``) and its fields, driven by a simulated
controller, and the motor module's utility records.

:class:`~.motor_db.Motor` is motor.db for one motor: the record under its full PV name (its
VAL) and ``<motor>_able``; the record's fields are a :class:`~.record.MotorRecord` (the
motion), over :class:`~.settings.MotorSettings` (coordinates, speeds, limits) over
:class:`~.fields.MotorFields` (the fields kept as set). :class:`~.utility.MotorUtil` is
motorUtil.db (``allstop``, ``alldone``, ``moving``...) for all of them, and
:class:`~.scan_parms.ScanParms` sscan's scanParms.db for one (``<motor>:scanParms``).
"""

from .motor_db import Motor
from .record import MotorRecord
from .scan_parms import ScanParms
from .settings import MotorConfig
from .utility import MotorUtil

__all__ = ["Motor", "MotorConfig", "MotorRecord", "MotorUtil", "ScanParms"]
