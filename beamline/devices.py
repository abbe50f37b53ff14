"""ophyd devices of the beamline, built from stock ophyd classes.

``dot`` is an areaDetector camera: ``SimDetectorCam`` + a ``TIFFPlugin`` with
``FileStoreTIFFIterativeWrite`` (the IOC writes a TIFF per frame; runs record
Resource/Datum documents that point at the files) + ``ImagePlugin`` + ``StatsPlugin``.
The motors are ``EpicsMotor`` (:class:`BeamlineMotor`). Changes to the stock behaviour,
all about what a user sees:

* a frame's data key is 2-D, ``(rows, cols)``, when one image is taken per trigger, so the
  descriptor's shape equals the filled image's shape;
* ``trigger`` keeps its own reference to the status (the stock ``SingleTrigger`` returns
  ``self._status``, which a fast camera can clear before ``trigger`` returns), and fails
  the status with the IOC's WriteMessage if the frame's file could not be written, or with
  :class:`DetectorError` and the driver's StatusMessage_RBV as soon as DetectorState_RBV
  goes to Error (a stalled readout keeps Acquire at 1: this fails it without a timeout);
* a motor move that ends with the record's PROBLEM or SLIP_STALL bit in ``.MSTA`` or
  ``.MISS`` set fails with :class:`MotorFault`, naming the motor and where it stopped.

Nothing waits forever for a put the IOC refuses, nor for an IOC that has gone (crashed,
killed, unplugged) or hangs:

* every settable EPICS signal of the devices (:func:`fail_fast_puts`: the exposure, the
  motors' fields, every camera and plugin setting, staging included) fails its ``set()``
  at once with :class:`PutRefused`, naming the PV and giving the IOC's reason, when the
  IOC refuses the put; a move to a target the IOC refuses fails the same way;

* a trigger's status fails at once with :class:`IOCDisconnected` if the camera's
  ``Acquire`` channel disconnects while the frame is pending, and otherwise fails after
  :meth:`DotCamera.trigger_timeout` seconds: twice the acquisition's own length at time
  scale 1 (``max(AcquireTime x NumExposures, AcquirePeriod) x NumImages``) plus
  ``DotCamera.trigger_timeout_margin`` (10 s), with :class:`IOCNotAnswering` ("the IOC
  stopped answering", naming the PV) if a read of ``Acquire`` gets no reply within
  ``DotCamera.answer_timeout`` (1 s) either, else :class:`FrameTimeout` (both ``TimeoutError``);
* a motor move (:class:`BeamlineMotor`) fails the same way when the motor's ``.DMOV``
  disconnects, or after :meth:`BeamlineMotor.move_timeout` seconds: twice the move's
  time at ``.VELO``/``.ACCL`` plus ``BeamlineMotor.move_timeout_margin`` (10 s);
* reading a disconnected signal raises after ophyd's connection timeout (1 s);
* unstaging puts each staged setting back with a bounded wait (2 s each, all within
  ``DotCamera.unstage_timeout``, 5 s); a setting refused, or read back otherwise (another
  client changed it), is skipped, and when the IOC is gone or not answering nothing more
  is tried; the settings not put back are named in a :class:`SettingsNotRestored`
  warning (and the session log) instead of an exception, so the run's own error is the one
  reported and the same objects stage again once the IOC is back: pyepics reconnects every
  channel by itself when an IOC answers again on that prefix (libca looks for channels
  lost with their server every 10 s, so that takes up to ~10 s after the IOC died).

Two clients may drive one camera (a real areaDetector lets them): each stages its own file
name, and one's Acquire may take the other's frame. So each trigger checks that the frame
the IOC reports is the one its datum names: TIFF1's ``FullFileName_RBV`` is the datum's
file, TIFF1's ``UniqueId_RBV`` and cam1's ``ArrayCounter_RBV`` advanced by exactly one frame
since the run's previous one, Stats1's ``UniqueId_RBV`` is the same frame's (and still is
when its total is read). Otherwise the trigger (or the read) fails with
:class:`AnotherClient`, "another client is driving the camera", naming the PV, what it
reads and what was expected: a run that ends ``success`` holds only its own frames.

So a bluesky run fails (exit_status ``'fail'``, its stop document written, every event
taken before the failure kept) within a second of the IOC dying, and, if the IOC hangs,
within the trigger timeout plus about 2 s (a 1 s read that gets no reply when the trigger
times out, another when unstaging starts). The timeouts assume the IOC runs at least as fast as real time;
an IOC run slower (``--time-scale`` below 1) needs a proportionally larger margin, e.g.
``dot.trigger_timeout_margin = 60``.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
import warnings

import numpy as np
from ophyd import Component as Cpt
from ophyd import EpicsMotor, EpicsSignalRO, EpicsSignalWithRBV
from ophyd.areadetector import DetectorBase, ImagePlugin, SimDetectorCam, SingleTrigger, StatsPlugin, TIFFPlugin
from ophyd.areadetector.base import ADComponent as ADCpt
from ophyd.areadetector.base import EpicsSignalWithRBV as SignalWithRBV
from ophyd.areadetector.filestore_mixins import FileStoreTIFFIterativeWrite
from ophyd.device import Component, Device, FormattedComponent, Staged, do_not_wait_for_lazy_connection
from ophyd.signal import DEFAULT_WRITE_TIMEOUT, EpicsSignalBase, Signal
from ophyd.status import wait as status_wait
from ophyd.utils import InvalidState, LimitError

from .deadlines import Deadlines
from .messages import shown
from .refusals import PutRefused, Refusal, reason, watch
from .text_signals import TextPathSignal, TextSignalRO, TextSignalWithRBV

__all__ = ["AnotherClient", "BeamlineMotor", "DotCamera", "FrameTimeout", "IOCDisconnected", "IOCNotAnswering",
           "PutRefused", "SettingsNotRestored", "fail_fast_puts", "make_devices"]

logger = logging.getLogger(__name__)


class IOCDisconnected(ConnectionError):
    """The IOC stopped answering (its channels disconnected) while an operation waited for it."""


ECA_DISCONN = 192  # libca's status of a request its virtual circuit's disconnect ended (caerr.h)


def lost_connection(name: str, exc: BaseException) -> IOCDisconnected | None:
    """A pyepics get that the IOC's going away cut short (ECA_DISCONN: "Get failed; status
    code: 192", naming neither device nor PV) as IOCDisconnected naming ``name`` and the PV;
    None for any other error."""
    from epics.ca import ChannelAccessGetFailure
    from epics.ca import name as pv_name

    if not isinstance(exc, ChannelAccessGetFailure) or exc.status != ECA_DISCONN:
        return None
    try:
        pv = pv_name(exc.chid)
    except Exception:  # the channel is gone with its context
        pv = "its PV"
    return IOCDisconnected(f"{name}: lost the connection to the IOC ({pv}) while reading it")


class FrameTimeout(TimeoutError):
    """A frame did not finish within the trigger timeout (the IOC still answers reads).

    A plain ``TimeoutError``: ophyd reserves its ``StatusTimeoutError`` for a status's own timeout.
    """


class IOCNotAnswering(FrameTimeout):
    """A frame did not finish within the trigger timeout and the IOC answers nothing (hung, frozen)."""


class AnotherClient(RuntimeError):
    """The camera's frame is not the one this run's datum names: another client is driving the camera."""


class SettingsNotRestored(UserWarning):
    """Unstaging could not put some of the camera's settings back as they were before staging."""


class RefusalAware:
    """Mixin for an ``EpicsSignal``: ``set()`` fails at once with :class:`PutRefused` when the IOC refuses the put.

    Stock ophyd puts, then polls the readback until it equals the value: a refused put
    leaves it waiting forever (``write_timeout`` is None by default). Here the IOC's
    refusal of the put (:mod:`beamline.refusals`) is raised, with its reason and the PV's
    name, from the next read of that wait, whichever class's comparison the wait uses
    (ophyd's ``_wait_for_value``, or ``set_and_wait_path`` for a file path).
    """

    #: Seconds ``set()`` waits for the readback to equal the value when no ``write_timeout``
    #: is given (ophyd's default is forever): an IOC that took the put but corrected the
    #: value (a motor record raising ACCL to its minimum, say) never reads it back.
    default_write_timeout = 10.0

    _refusal: Refusal | None = None
    _refusal_thread: int | None = None

    def __init__(self, *args, write_timeout=DEFAULT_WRITE_TIMEOUT, **kwargs) -> None:
        if write_timeout is DEFAULT_WRITE_TIMEOUT:
            write_timeout = self.default_write_timeout
        super().__init__(*args, write_timeout=write_timeout, **kwargs)

    def _set_and_wait(self, value, timeout, **kwargs):
        setpoint = self._setpoint
        with Refusal(self._write_pv) as refusal:
            refusal.value = value
            self._refusal, self._refusal_thread = refusal, threading.get_ident()
            try:
                return super()._set_and_wait(value, timeout, **kwargs)
            except PutRefused:
                self._refusal = None
                self._undo_put(setpoint)
                raise
            finally:
                self._refusal = self._refusal_thread = None

    def get(self, *args, **kwargs):
        refusal = self._refusal
        if refusal is not None and refusal.refused and threading.get_ident() == self._refusal_thread:
            raise refusal.error(self.name)
        try:
            return super().get(*args, **kwargs)
        except Exception as exc:
            lost = lost_connection(self.name, exc)
            if lost is None:
                raise
            raise lost from exc

    def _undo_put(self, setpoint) -> None:
        # EpicsSignal.put records the value as the setpoint and, when one PV is both read and
        # written, as the value itself (subscribers see it): the IOC kept its own, say so.
        self._setpoint = setpoint
        if self.pvname == self.setpoint_pvname:
            try:
                Signal.put(self, self.get(use_monitor=False), timestamp=time.time(), force=True)
            except (TimeoutError, ConnectionError):
                pass


_FAIL_FAST: dict[type, type] = {}


def fail_fast_puts(cls: type) -> type:
    """``cls`` with every settable EPICS signal (its own and its sub-devices') made :class:`RefusalAware`.

    For a Device class, a subclass of the same name whose components are rebuilt with
    refusal-aware signal classes; for a signal class, the mixed-in subclass. Read-only
    signals and dynamic components (``DynamicDeviceComponent``) are left as they are.
    """
    if cls in _FAIL_FAST:
        return _FAIL_FAST[cls]
    new = cls
    if issubclass(cls, EpicsSignalBase):
        if not issubclass(cls, (EpicsSignalRO, RefusalAware)):
            new = type(cls.__name__, (RefusalAware, cls), {"__module__": cls.__module__, "__doc__": cls.__doc__})
    elif issubclass(cls, Device):
        namespace = {}
        for attr, cpt in cls._sig_attrs.items():
            if type(cpt) in (Component, ADCpt, FormattedComponent) and isinstance(cpt.cls, type):
                swapped = fail_fast_puts(cpt.cls)
                if swapped is not cpt.cls:
                    namespace[attr] = copy.copy(cpt)
                    namespace[attr].cls = swapped
        if namespace:
            new = type(cls.__name__, (cls,), {"__module__": cls.__module__, "__doc__": cls.__doc__, **namespace})
    _FAIL_FAST[cls] = _FAIL_FAST[new] = new
    return new


def _forget_staging(device: Device) -> None:
    """Mark ``device`` and its children unstaged without touching the IOC (which is gone)."""
    device._staged = Staged.no
    device._original_vals.clear()
    for attr in device._sub_devices:
        _forget_staging(getattr(device, attr))


def _staged_devices(device: Device) -> list[Device]:
    """``device`` and its sub-devices in the order ophyd's ``Device.unstage`` restores them:
    each device's children (last first) before the device itself."""
    order = []
    for attr in device._sub_devices[::-1]:
        order.extend(_staged_devices(getattr(device, attr)))
    order.append(device)
    return order


def _cached(signal) -> object:
    """The signal's last known value, without asking the IOC (None if there is none)."""
    try:
        return signal.get(use_monitor=True, timeout=0.2)
    except Exception:
        return None


# The signals read on every frame are monitored rather than fetched: each fetch is a CA
# round trip while the IOC is busy finishing the frame. The IOC updates them before Acquire
# drops, and CA keeps a circuit's updates in order, so the monitored value is the frame's
# when the trigger completes.


class DotCam(SimDetectorCam):
    """``cam1:`` with the counters and the state a trigger's status watches monitored."""

    array_counter = ADCpt(SignalWithRBV, "ArrayCounter", auto_monitor=True)
    num_images = ADCpt(SignalWithRBV, "NumImages", auto_monitor=True)
    detector_state = ADCpt(EpicsSignalRO, "DetectorState_RBV", auto_monitor=True)
    # Text read whole (beamline.text_signals): stock ophyd could read one character of it.
    status_message = ADCpt(TextSignalRO, "StatusMessage_RBV")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # ophyd's SingleTrigger takes cam.acquire while the camera is built, and a lazy signal
        # made then waits out ophyd's 1 s connection timeout, which a loaded machine can exceed
        # (a session's first CA search): made here without that wait, it is one of the signals
        # the session then waits for with its own timeout (beamline.connection.connect_or_explain).
        with do_not_wait_for_lazy_connection(self):
            _ = self.acquire


DETECTOR_STATE_ERROR = 6  # ADBase.template DetectorState_RBV: Idle, Acquire, Readout, Correct, Saving, Aborting, Error


class DetectorError(RuntimeError):
    """The camera's driver reported an error (DetectorState_RBV Error); the message is its StatusMessage_RBV."""


class DotStats(StatsPlugin):
    """``Stats1:`` with its total (the hinted reading) and the frame's unique id monitored."""

    total = Cpt(EpicsSignalRO, "Total_RBV", auto_monitor=True)
    unique_id = Cpt(EpicsSignalRO, "UniqueId_RBV", auto_monitor=True)


class DotTIFF(TIFFPlugin, FileStoreTIFFIterativeWrite):
    """``TIFF1:``: one TIFF file per frame, recorded as AD_TIFF resources."""

    enable = Cpt(SignalWithRBV, "EnableCallbacks", string=True, kind="config", auto_monitor=True)
    create_directory = Cpt(EpicsSignalWithRBV, "CreateDirectory", kind="config")
    write_status = Cpt(EpicsSignalRO, "WriteStatus", string=True, kind="omitted", auto_monitor=True)
    write_message = Cpt(TextSignalRO, "WriteMessage", kind="omitted", auto_monitor=True)
    # What identifies the frame just saved: its file and its NDArray unique id.
    full_file_name = Cpt(TextSignalRO, "FullFileName_RBV", kind="config", auto_monitor=True)
    # ophyd's FileBase text settings, read whole (beamline.text_signals): staging builds the
    # Resource from file_template and file_name, and checks file_path, as read back.
    file_path = Cpt(TextPathSignal, "FilePath", kind="config", path_semantics="posix")
    file_name = Cpt(TextSignalWithRBV, "FileName", kind="config")
    file_template = Cpt(TextSignalWithRBV, "FileTemplate", kind="config")
    unique_id = Cpt(EpicsSignalRO, "UniqueId_RBV", auto_monitor=True)

    resource: dict | None = None  # this staging's Resource document

    def _generate_resource(self, resource_kwargs):
        super()._generate_resource(resource_kwargs)
        self.resource = self._asset_docs_cache[-1][1]

    def datum_file(self, point_number: int) -> str:
        """The file the handler reads for ``point_number``'s last frame (the Resource's template),
        as the IOC names it (its FilePath, if the client reads the files elsewhere)."""
        resource, kwargs = self.resource, self.resource["resource_kwargs"]
        if self._read_path_template is None:
            directory = os.path.join(resource["root"], resource["resource_path"], "")
        else:
            directory = os.path.join(self.file_path.get(), "")
        fpp = int(kwargs["frame_per_point"])
        return kwargs["template"] % (directory, kwargs["filename"], (point_number + 1) * fpp - 1)

    def stage(self):
        # ophyd puts FilePath before applying stage_sigs; let the IOC create the missing
        # levels of <data root>/images/%Y/%m/%d/ before that put, so that
        # FilePathExists_RBV is true when ophyd checks it.
        self.create_directory.set(-4).wait(10)
        super().stage()


@fail_fast_puts
class DotCamera(SingleTrigger, DetectorBase):
    """The ``dot`` camera. ``exp`` is its exposure time (s), ``cam1:AcquireTime``.

    ``trigger()`` returns a status that fails, rather than waiting forever, when the IOC
    goes away (:class:`IOCDisconnected`, at once) or does not finish the frame within
    :meth:`trigger_timeout` seconds (:class:`IOCNotAnswering` if the IOC answers nothing
    either, else :class:`FrameTimeout`; both are ``TimeoutError``); and fails
    with :class:`AnotherClient` when the frame the IOC reports is not the one the run's
    datum names (see :meth:`_foreign_frame`).
    """

    cam = Cpt(DotCam, "cam1:")
    tiff = Cpt(DotTIFF, "TIFF1:", write_path_template="/")
    image = Cpt(ImagePlugin, "image1:", kind="omitted")
    stats1 = Cpt(DotStats, "Stats1:")
    exp = Cpt(EpicsSignalWithRBV, "cam1:AcquireTime", kind="config", tolerance=1e-9)

    #: Seconds allowed on top of twice the acquisition's expected length (see trigger_timeout).
    trigger_timeout_margin = 10.0
    #: Seconds unstage may spend putting the settings back (each put: at most 2 s of it).
    unstage_timeout = 5.0
    #: Seconds a read may take before the IOC counts as not answering.
    answer_timeout = 1.0

    def __init__(self, *args, write_path_template: str, image_name: str = "dot_img", **kwargs) -> None:
        super().__init__(*args, image_name=image_name, **kwargs)
        self.tiff.write_path_template = write_path_template
        # Read (so recorded): the frame's datum from TIFF1, and the spot's integrated counts
        # from Stats1 (hinted, for live plots of scalar scans). areaDetector plugins are
        # omitted by default, whatever their Component says.
        self.tiff.kind = "normal"
        self.stats1.kind = "normal"
        self.stats1.read_attrs = ["total"]
        self.stats1.total.kind = "hinted"
        # One frame per trigger, however the IOC was left.
        self.cam.stage_sigs["num_images"] = 1
        self._status_lock = threading.Lock()
        self._deadlines = Deadlines(f"{self.name}-trigger-timeouts")  # one thread, not a Timer per trigger
        self._connection_cid: int | None = None
        self._state_cid: int | None = None
        self._counter_cid: int | None = None
        self._staged_timeout: float | None = None
        self._reset_identity()

    def _reset_identity(self) -> None:
        self._points = 0  # triggers since staging: the next datum's point_number
        self._last_uid: int | None = None  # TIFF1:UniqueId_RBV of this run's last frame
        self._last_counter: int | None = None  # cam1:ArrayCounter_RBV after it
        self._frame_uid: int | None = None  # the unique id the last trigger's frame was checked to have
        self._expected: dict | None = None  # what the pending frame must look like

    def make_data_key(self) -> dict:
        key = super().make_data_key()
        if key["shape"][0] == 1:
            key["shape"] = list(key["shape"][1:])
        return key

    def trigger_timeout(self) -> float:
        """Seconds a trigger may take: 2 x the acquisition at time scale 1, plus the margin.

        The acquisition takes ``max(AcquireTime x NumExposures, AcquirePeriod)`` per image,
        ``NumImages`` images (1 while staged), as the camera's settings say now.
        """
        cam = self.cam
        per_image = max(cam.acquire_time.get() * max(1, cam.num_exposures.get()), cam.acquire_period.get())
        return 2.0 * per_image * max(1, cam.num_images.get()) + self.trigger_timeout_margin

    def stage(self):
        self._reset_identity()
        self._connection_cid = self._acquisition_signal.subscribe(self._acquire_connection, event_type="meta",
                                                                  run=False)
        self._state_cid = self.cam.detector_state.subscribe(self._state_changed, run=False)
        self._counter_cid = self.cam.array_counter.subscribe(self._counter_changed, run=False)
        try:
            staged = super().stage()
        except TimeoutError as exc:
            self._unwatch_connection()
            if not self._answers():
                raise
            # A setting that never read back as put, from an IOC that answers: another
            # client put its own (two sessions staging at once each put their FileName).
            raise AnotherClient(f"{self.name}: could not stage: another client is driving the camera (or the IOC "
                                f"keeps another value): {exc}") from exc
        except Exception:
            self._unwatch_connection()
            raise
        # The settings do not change while staged: work the timeout out once, not per frame.
        self._staged_timeout = self.trigger_timeout()
        return staged

    def unstage(self):
        if self._staged != Staged.no and not self.connected:
            # The IOC is gone: there is nothing to restore the settings on. Forget the
            # staging here so that these objects stage again once the IOC is back.
            logger.warning("%s: the IOC is not connected; unstaged without restoring its settings", self.name)
            self._abandon_staging()
            return [self]
        try:
            self._restore_settings()
            return super().unstage()  # nothing left to put back: ophyd's bookkeeping only
        except (TimeoutError, ConnectionError) as exc:
            # The IOC stopped answering (hung, or went away meanwhile). The run's own error
            # (a trigger that timed out, say) is what the user needs to see, not this one.
            logger.warning("%s: unstaged without restoring its settings: %s", self.name, exc)
            self._abandon_staging()
            return [self]
        except Exception:
            self._abandon_staging()
            raise
        finally:
            self._unwatch_connection()
            self._staged_timeout = None
            self._reset_identity()

    def pause(self) -> None:
        """The RunEngine pauses or suspends: let the frame being acquired finish (within its
        trigger timeout). The RunEngine then takes the event again from its checkpoint: the
        next trigger's datum names the next file, and this frame, which has its own file and
        unique id, is accounted for in what the next frame must look like."""
        status = self._status
        if status is not None and not status.done:
            try:
                status.wait(self._staged_timeout or self.trigger_timeout())
            except Exception as exc:  # its failure is the trigger's to report, not the pause's
                logger.info("%s: the frame pending at the pause did not finish: %s", self.name, exc)
        super().pause()

    def _answers(self) -> bool:
        """True if the IOC answers a read of Acquire within :attr:`answer_timeout` seconds."""
        try:
            self._acquisition_signal.get(use_monitor=False, timeout=self.answer_timeout)
        except Exception:
            return False
        return True

    def _restore_settings(self) -> None:
        """Put back what staging changed (as ophyd's ``Device.unstage``: children first, each
        in reverse order), each put bounded, all within :attr:`unstage_timeout` seconds.

        A setting that is refused, or does not read back as put (another client changed it),
        is skipped, not waited on; if the IOC stops answering the rest are not tried. Those
        not put back are named in a :class:`SettingsNotRestored` warning (and the log).
        """
        deadline = time.monotonic() + self.unstage_timeout
        silent = not self._answers()
        failed: dict[str, str] = {}  # PV -> what happened (a signal several plugins staged, once)
        for device in _staged_devices(self):
            for sig, value in reversed(list(device._original_vals.items())):
                pvname = getattr(sig, "setpoint_pvname", None) or getattr(sig, "pvname", sig.name)
                left = deadline - time.monotonic()
                if silent or left <= 0:
                    failed.setdefault(pvname, f"{pvname} (to {shown(value)}: not tried)")
                else:
                    wait = min(2.0, left)
                    try:
                        sig.set(value, timeout=wait).wait(wait + 1.0)
                    except Exception as exc:
                        seen = _cached(sig)
                        failed[pvname] = f"{pvname} (to {shown(value)}, reads {shown(seen)}: {type(exc).__name__})"
                        if isinstance(exc, TimeoutError) and not self._answers():
                            silent = True
                device._original_vals.pop(sig)
        if failed:
            why = (f"the IOC stopped answering (no reply from {self._acquisition_signal.pvname} within "
                   f"{self.answer_timeout:g} s)" if silent else
                   "another client may be driving the camera")
            message = (f"{self.name}: unstage could not restore {len(failed)} setting(s) within "
                       f"{self.unstage_timeout:g} s ({why}): {', '.join(failed.values())}")
            logger.warning("%s", message)
            warnings.warn(SettingsNotRestored(message), stacklevel=3)

    def _abandon_staging(self) -> None:
        self._unwatch_connection()
        self._staged_timeout = None
        self._acquisition_signal.clear_sub(self._acquire_changed)
        _forget_staging(self)
        # FileStoreBase.unstage's own bookkeeping, in case it did not get that far.
        self.tiff._locked_key_list = False
        self.tiff._resource_uid = None
        self.tiff._asset_docs_cache.clear()
        self._status = None

    def _unwatch_connection(self) -> None:
        if self._connection_cid is not None:
            self._acquisition_signal.unsubscribe(self._connection_cid)
            self._connection_cid = None
        if self._state_cid is not None:
            self.cam.detector_state.unsubscribe(self._state_cid)
            self._state_cid = None
        if self._counter_cid is not None:
            self.cam.array_counter.unsubscribe(self._counter_cid)
            self._counter_cid = None

    def trigger(self):
        if self._staged != Staged.yes:
            raise RuntimeError(f"{self.name} is not staged: stage() it (bluesky plans do) before triggering")
        if not self._acquisition_signal.connected:
            raise IOCDisconnected(f"{self.name}: not connected to the IOC ({self._acquisition_signal.pvname})")
        timeout = self._staged_timeout or self.trigger_timeout()
        self._expected = self._expect_frame()
        status = self._status_type(self)
        self._status = status
        # ophyd's own status timeout says only that it timed out: this one says why.
        timer = self._deadlines.call_later(timeout, self._timed_out, status, timeout)
        status.add_callback(lambda st: timer.cancel())
        try:
            self._acquisition_signal.put(1, wait=False)
        except Exception as exc:  # the IOC went away between the check above and the put
            timer.cancel()
            self._status = None
            if self._acquisition_signal.connected:
                raise
            raise IOCDisconnected(f"{self.name}: lost the connection to the IOC "
                                  f"({self._acquisition_signal.pvname}) as it was triggered: {exc}") from exc
        self.generate_datum(self._image_name, time.time(), {})
        self._points += 1
        return status

    def _expect_frame(self) -> dict:
        """What the IOC must report once this trigger's frame is done, read before Acquire is put.

        Each frame advances the NDArray unique id and cam1's ArrayCounter by one (by NumImages
        per trigger). Counted from this run's previous frame, so that a frame anyone else
        took in between shows; the first frame counts from what the IOC reports now.
        """
        fpp = int(self.tiff.resource["resource_kwargs"]["frame_per_point"]) if self.tiff.resource else 1
        uid = self._last_uid if self._last_uid is not None else self.tiff.unique_id.get()
        counter = self._last_counter if self._last_counter is not None else self.cam.array_counter.get()
        return {"point": self._points, "file": self.tiff.datum_file(self._points), "uid": uid + fpp,
                "counter": counter + fpp}

    def _foreign_frame(self) -> AnotherClient | None:
        """An :class:`AnotherClient` error if the frame just done is not the one this trigger's datum names.

        Checked, from the monitored values (the IOC posts them all before Acquire drops):
        TIFF1's FullFileName_RBV is the datum's file; TIFF1's UniqueId_RBV and cam1's
        ArrayCounter_RBV advanced by exactly one frame since this run's previous frame;
        Stats1 (whose Total_RBV the event records) saw that same frame.
        """
        expected = self._expected
        if expected is None:
            return None
        tiff_uid, stats_uid = self.tiff.unique_id.get(), self.stats1.unique_id.get()
        checks = [
            (self.tiff.full_file_name, expected["file"], self.tiff.full_file_name.get(),
             f"the file datum {expected['point']} names"),
            (self.tiff.unique_id, expected["uid"], tiff_uid, "this run's previous frame's + 1"),
            (self.cam.array_counter, expected["counter"], self.cam.array_counter.get(),
             "this run's previous frame's + 1"),
            (self.stats1.unique_id, tiff_uid, stats_uid, "the frame TIFF1 saved"),
        ]
        for signal, want, seen, what in checks:
            if seen != want:
                return AnotherClient(f"{self.name}: another client is driving the camera: {signal.pvname} is {shown(seen)}, "
                                     f"expected {shown(want)} ({what}); this run's frame is not the one its datum "
                                     f"names")
        self._last_uid, self._last_counter, self._frame_uid = tiff_uid, expected["counter"], tiff_uid
        return None

    def read(self):
        try:
            reading = super().read()
        except Exception as exc:
            if self._acquisition_signal.connected:
                raise
            # pyepics says "Get failed; status code: 192" (ECA_DISCONN): say what happened.
            raise IOCDisconnected(f"{self.name}: lost the connection to the IOC ({self._acquisition_signal.pvname}) "
                                  f"while reading the frame: {exc}") from exc
        # Stats1's total (read just now) must still be of the frame the trigger checked: its
        # unique id is posted before its total, so a later frame would show here.
        if self._frame_uid is not None and self._staged == Staged.yes:
            seen = self.stats1.unique_id.get()
            if seen != self._frame_uid:
                raise AnotherClient(f"{self.name}: another client is driving the camera: "
                                    f"{self.stats1.unique_id.pvname} is {shown(seen)}, expected {shown(self._frame_uid)} "
                                    f"(the frame this run's trigger saved) when reading {self.stats1.total.pvname}")
        return reading

    def _timed_out(self, status, timeout: float) -> None:
        if status.done:
            return
        pvname = self._acquisition_signal.pvname
        if self._answers():
            error = FrameTimeout(f"{self.name}: the frame did not finish within {timeout:.3g} s "
                                 f"({self.name}.trigger_timeout()); the IOC answers, {pvname} reads "
                                 f"{shown(_cached(self._acquisition_signal))}")
        else:
            error = IOCNotAnswering(f"{self.name}: the IOC stopped answering: no reply from {pvname} within "
                                    f"{self.answer_timeout:g} s, and the frame did not finish within {timeout:.3g} s "
                                    f"({self.name}.trigger_timeout())")
        with self._status_lock:
            if self._status is status:
                self._status = None
        try:
            status.set_exception(error)
        except InvalidState:  # finished meanwhile
            pass

    def _take_status(self):
        with self._status_lock:
            status, self._status = self._status, None
        return status

    def _acquire_connection(self, connected=True, **kwargs) -> None:
        if connected or self._status is None:
            return
        status = self._take_status()
        if status is not None and not status.done:
            try:
                status.set_exception(IOCDisconnected(
                    f"{self.name}: lost the connection to the IOC ({self._acquisition_signal.pvname}) "
                    f"while acquiring a frame"))
            except InvalidState:  # finished (or timed out) meanwhile
                pass

    def _acquire_changed(self, value=None, old_value=None, **kwargs) -> None:
        if self._status is None or not (old_value == 1 and value == 0):
            return
        status = self._take_status()
        if status is None or status.done:  # failed already (timeout, disconnection)
            return
        # The IOC sets WriteStatus, DetectorState_RBV, the file name and the unique ids before
        # Acquire drops, so this reads this frame's outcome.
        try:
            failure = self._failure() or self._foreign_frame()
            if failure is not None:
                status.set_exception(failure)
            else:
                status.set_finished()
        except InvalidState:
            pass
        except Exception as exc:  # the IOC went away between Acquire dropping and this read
            try:
                status.set_exception(IOCDisconnected(f"{self.name}: could not read the frame's write status: {exc}"))
            except InvalidState:
                pass

    def _failure(self) -> Exception | None:
        """What went wrong with the frame, as the IOC says: a write error, or a driver error."""
        if self.tiff.write_status.get() != "Write OK":
            return OSError(f"{self.name}: the IOC could not save the frame: {self.tiff.write_message.get()}")
        if self.cam.detector_state.get() == DETECTOR_STATE_ERROR:
            return DetectorError(f"{self.name}: the camera reports an error: {self.cam.status_message.get()}")
        return None

    def _counter_changed(self, value=None, **kwargs) -> None:
        # More frames than this trigger asked for while it waits (another client's frame, or
        # its settings: ImageMode Continuous never drops Acquire): fail now, not at the timeout.
        expected = self._expected
        if self._status is None or expected is None or value is None or value <= expected["counter"]:
            return
        status = self._take_status()
        if status is None or status.done:
            return
        try:
            status.set_exception(AnotherClient(
                f"{self.name}: another client is driving the camera: {self.cam.array_counter.pvname} is {shown(value)}, "
                f"expected {shown(expected['counter'])} (this run's previous frame's + 1): the camera took frames this "
                f"trigger did not ask for"))
        except InvalidState:
            pass

    def _state_changed(self, value=None, **kwargs) -> None:
        # An error while the frame is pending (a stalled readout keeps Acquire at 1): fail
        # the trigger now with the driver's message, rather than at the timeout.
        if value != DETECTOR_STATE_ERROR or self._status is None:
            return
        status = self._take_status()
        if status is None or status.done:
            return
        try:
            # The driver's own message: WriteStatus may still hold an earlier frame's error
            # (NDPluginFile keeps it until the next write, and no frame was written).
            # The driver names the file plugin when it is the one that failed.
            message = self.cam.status_message.get()
            if message.startswith(self.tiff.prefix):
                error = OSError(f"{self.name}: the IOC could not save the frame: {self.tiff.write_message.get()}")
            else:
                error = DetectorError(f"{self.name}: the camera reports an error: {message}")
            status.set_exception(error)
        except InvalidState:
            pass
        except Exception as exc:  # the IOC went away meanwhile
            try:
                status.set_exception(IOCDisconnected(f"{self.name}: could not read the camera's error: {exc}"))
            except InvalidState:
                pass


class MotorFault(RuntimeError):
    """A motor record's move ended short of its target with the controller reporting a problem."""


MSTA_SLIP_STALL = 1 << 6  # motor record .MSTA bits (motorRecord documentation)
MSTA_PROBLEM = 1 << 9


@fail_fast_puts
class BeamlineMotor(EpicsMotor):
    """An ``EpicsMotor`` whose moves fail, rather than wait forever, when the IOC goes away.

    A move's status fails with :class:`IOCDisconnected` as soon as ``.DMOV`` disconnects,
    and with ``StatusTimeoutError`` after :meth:`move_timeout` seconds unless a timeout is
    given (``motor.move(x, timeout=...)``, or ``motor.timeout = ...`` for every move).
    """

    #: Seconds allowed on top of twice the move's expected time (see move_timeout).
    move_timeout_margin = 10.0

    motor_status = Cpt(EpicsSignalRO, ".MSTA", kind="omitted")
    ran_out_of_retries = Cpt(EpicsSignalRO, ".MISS", kind="omitted")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._move_status = None
        self.motor_done_move.subscribe(self._dmov_connection, event_type="meta", run=False)

    def move_timeout(self, position: float) -> float:
        """Seconds a move to ``position`` may take: 2 x (distance / VELO + 2 ACCL), plus the margin."""
        distance = abs(float(position) - float(self.user_readback.get()))
        if not np.isfinite(distance):  # the IOC refuses such a target at once
            return self.move_timeout_margin
        velocity = float(self.velocity.get())
        travel = distance / velocity if velocity > 0 else 0.0
        return 2.0 * (travel + 2.0 * max(0.0, float(self.acceleration.get()))) + self.move_timeout_margin

    def check_value(self, pos) -> None:
        """Raise ``LimitError`` naming the motor, the target and its limits (.LLM, .HLM) if ``pos`` is outside them."""
        try:
            super().check_value(pos)
        except LimitError:
            low, high = self.limits
            raise LimitError(f"{self.name}: cannot move to {shown(pos)}: outside its limits [{shown(low)}, {shown(high)}] "
                             f"({self.prefix}.LLM, .HLM)") from None

    def move(self, position, wait: bool = True, timeout: float | None = None, moved_cb=None, **kwargs):
        if not self.motor_done_move.connected:
            raise IOCDisconnected(f"{self.name}: not connected to the IOC ({self.prefix})")
        if timeout is None and self.timeout is None:
            timeout = self.move_timeout(position)
        # A refused put to .VAL never moves the motor: fail the move at once, with the reason.
        pvname = self.user_setpoint.pvname
        lock = threading.Lock()
        pending: dict = {"status": None, "context": None}

        def refused(context: str) -> None:
            with lock:
                pending["context"] = context
                status = pending["status"]
            if status is not None:
                self._fail_status(status, PutRefused(f"{self.name}: the IOC refused the move to {shown(position)} "
                                                     f"({pvname}): {reason(context, pvname)}"))

        unwatch = watch(self.user_setpoint._write_pv, refused)
        try:
            status = super().move(position, wait=False, timeout=timeout, moved_cb=moved_cb, **kwargs)
        except BaseException:
            unwatch()
            raise
        self._move_status = status
        status.add_callback(lambda st: unwatch())
        with lock:
            pending["status"] = status
            context = pending["context"]
        if context is not None:  # refused before super().move returned
            refused(context)
        if wait:
            try:
                status_wait(status)
            except KeyboardInterrupt:
                self.stop()
                raise
        return status

    def stop(self, *, success: bool = False) -> None:
        if not self.motor_stop.connected:
            # Nothing to tell a gone IOC; fail the move that waits on it, if any.
            self._fail_move("stopped while not connected to the IOC")
            return
        super().stop(success=success)
        # ophyd's EpicsMotor.stop ignores ``success`` (its move status ends when .DMOV rises,
        # failed or not as the record says): a stop that counts as a success (the RunEngine's,
        # when it pauses or suspends) ends the pending move now. Else a move started before
        # .DMOV rises (the RunEngine resuming) fails it, and the run with it.
        status = self._move_status
        if success and status is not None and not status.done:
            self._done_moving(success=True)

    def _done_moving(self, success=True, timestamp=None, value=None, **kwargs):
        # A stalled move fails with what the record says (where the motor stopped, why),
        # rather than ophyd's message-less UnknownStatusFailure.
        if not success and self._move_status is not None and not self._move_status.done:
            fault = self._stall_message()
            if fault is not None and self._move_status is not None:
                self._fail_status(self._move_status, MotorFault(fault))
                return
        super()._done_moving(success=success, timestamp=timestamp, value=value, **kwargs)

    def _stall_message(self) -> str | None:
        try:
            msta = int(self.motor_status.get(use_monitor=False))
            miss = int(self.ran_out_of_retries.get(use_monitor=False))
            if not (msta & (MSTA_PROBLEM | MSTA_SLIP_STALL) or miss):
                return None
            where = self.user_readback.get(use_monitor=False)
            units = self.motor_egu.get()
        except Exception:  # the IOC went away: the generic failure will do
            return None
        status = self._move_status
        target = f" on its way to {status.target}" if status is not None else ""
        flags = ", ".join(name for bit, name in ((MSTA_PROBLEM, "PROBLEM"), (MSTA_SLIP_STALL, "SLIP_STALL"))
                          if msta & bit) or "none"
        return (f"{self.name} ({self.prefix}) stalled at {where:g} {units}{target}: "
                f"MSTA problem bits {flags}, MISS {miss}, alarm {self.user_readback.alarm_status.name}/"
                f"{self.user_readback.alarm_severity.name}")

    def _dmov_connection(self, connected=True, **kwargs) -> None:
        if not connected:
            self._fail_move("lost the connection to the IOC")

    def _fail_move(self, why: str) -> None:
        status = self._move_status
        if status is not None:
            self._fail_status(status, IOCDisconnected(f"{self.name}: {why} ({self.prefix}) during a move to "
                                                      f"{status.target}"))

    def _fail_status(self, status, exc: Exception) -> None:
        if self._move_status is status:
            self._move_status = None
        if status.done:
            return
        try:
            status.set_exception(exc)
        except InvalidState:  # finished meanwhile
            pass
        self._reset_sub(self._SUB_REQ_DONE)


def make_devices(prefix: str, write_path_template: str) -> dict:
    """The tutorial's devices: ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty`` (not yet connected)."""
    dot = DotCamera(f"{prefix}dot:", name="dot", write_path_template=write_path_template)
    current = EpicsSignalRO(f"{prefix}ring:current", name="I")
    mtr_dotx = BeamlineMotor(f"{prefix}mtr:dotx", name="motor_dotx")
    mtr_doty = BeamlineMotor(f"{prefix}mtr:doty", name="motor_doty")
    return {"dot": dot, "I": current, "mtr_dotx": mtr_dotx, "mtr_doty": mtr_doty}
