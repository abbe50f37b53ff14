"""Runs whose faults land at moments drawn at random: what a user must see, whatever the moment.

A trial runs one plan (a count or a scan of the ``dot`` camera and the ring current ``I``)
in a session (the legacy ophyd session or the ophyd-async one) with a beam-dump suspender
installed, and makes one fault happen while it runs: ``sim:BeamDump``, ``sim:CamFault``
(AcquireError, WriteError, Stalled), ``sim:MotorStall``, ``sim:Freeze``, an IOC restart, or
the user's own interruption (``RE.request_pause()``, as Ctrl-C, then ``RE.resume()``).
The moment is drawn over the plan's messages: the fault lands while the RunEngine processes
message k (k uniform over the plan, staging and unstaging included), a random fraction of a
frame's time into it. Time scale, exposure and number of points are drawn too.

Each run must then either end ``success``, with every event linked to its own frame (the
frame's pixels sum to the Stats1 total recorded in the same event, and no two events share a
frame) and taken with beam (``I`` at or above the suspender's floor), or fail with the
project's clear error naming the cause. Never an internal error of bluesky, databroker or
event-model, never a hang.

Used by ``tests/test_fault_timing.py`` (a few dozen trials) and ``python -m tools.soak_faults``
(hundreds). Every draw comes from one seeded generator: a failing trial is replayed with its
seed.
"""

from __future__ import annotations

import math
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SUSPEND_FLOOR = 100.0  # mA: the suspender's floor (the ring's LOLO limit)
RESUME_AT = 400.0  # mA
FAULTS = ("None", "BeamDump", "AcquireError", "WriteError", "Stalled", "MotorStall", "Freeze", "Restart", "Pause")
PLANS = ("count", "scan")
SESSIONS = ("ophyd", "ophyd-async")
HANG = 60.0  # wall s beyond a run's expected length that counts as a hang

# What a failed run may say, by fault: the project's errors (beamline.devices), and text its
# message must hold. A run with no fault, or a beam dump (suspended and resumed), must succeed.
EXPECTED_FAILURES = {
    "AcquireError": ("sim:CamFault AcquireError",),
    "WriteError": ("sim:CamFault WriteError",),
    "Stalled": ("sim:CamFault Stalled", "stalled"),
    "MotorStall": ("stalled at",),
    "Freeze": ("stopped answering",),
    "Restart": ("lost the connection to the IOC", "not connected to the IOC", "stopped answering",
                "IOC went away", "Virtual circuit disconnect", "could not connect"),
}


@dataclass
class Trial:
    """One run and its fault, all drawn from the trial's seed."""

    seed: int
    session: str
    plan: str
    fault: str
    time_scale: float
    exposure: float  # s (simulated)
    points: int
    message: int  # the fault lands while message ``message`` (1-based) of the plan is processed
    fraction: float  # ... this fraction of a frame's wall time into it

    @classmethod
    def draw(cls, seed: int, sessions: tuple[str, ...] = SESSIONS, faults: tuple[str, ...] = FAULTS,
             plans: tuple[str, ...] = PLANS) -> Trial:
        # The session from a stream of its own: a trial replayed in one session (``--session``)
        # draws the same plan, fault and timing as in a run of both.
        session = str(np.random.default_rng([seed, 0]).choice(sessions))
        rng = np.random.default_rng([seed, 1])
        return cls(
            seed=seed,
            session=session,
            plan=str(rng.choice(plans)),
            fault=str(rng.choice(faults)),
            time_scale=float(math.exp(rng.uniform(math.log(5), math.log(200)))),
            exposure=float(math.exp(rng.uniform(math.log(0.001), math.log(0.5)))),
            points=int(rng.integers(3, 9)),
            message=0,  # drawn once the plan's length is known
            fraction=float(rng.uniform(0, 1)),
        )

    def frame_wall(self) -> float:
        """Wall seconds of one frame's exposure plus a readout."""
        return self.exposure / self.time_scale + 0.003

    def __str__(self) -> str:
        return (f"seed={self.seed} {self.session} {self.plan} of {self.points} points, fault {self.fault} at message "
                f"{self.message} (+{self.fraction:.2f} frame), time scale {self.time_scale:.3g}, exposure "
                f"{self.exposure:.3g} s")


@dataclass
class Outcome:
    trial: Trial
    exit_status: str | None = None  # the run's stop document's
    error: BaseException | None = None  # what the RunEngine raised
    events: int = 0
    problems: list[str] = field(default_factory=list)  # what the user must not see
    seconds: float = 0.0
    fault_landed: str = ""  # the message the fault landed in
    last_message: str = ""  # the last message the RunEngine began
    hang_report: str = ""  # where the RunEngine's tasks were when it hung

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        what = self.exit_status or "no stop document"
        if self.error is not None:
            shown = user_error(self.error)
            what += f", raised {type(shown).__name__}: {_first_line(shown)}"
        verdict = "ok" if self.ok else "PROBLEM: " + "; ".join(self.problems)
        return f"{self.trial} -> {what}, {self.events} events in {self.seconds:.1f} s ({verdict})"


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


class Documents:
    """A run's documents as the RunEngine emitted them, checked as a consumer links them."""

    def __init__(self) -> None:
        self.docs: list[tuple[str, dict]] = []
        self.problems: list[str] = []
        self._resources: dict[str, dict] = {}
        self._datums: dict[str, dict] = {}
        self._stream_resources: dict[str, dict] = {}
        self.stream_datums: list[dict] = []

    def __call__(self, name: str, doc: dict) -> None:
        self.docs.append((name, doc))
        if name == "resource":
            self._resources[doc["uid"]] = doc
        elif name == "datum":
            self._datum(doc)
        elif name == "datum_page":
            for i, datum_id in enumerate(doc["datum_id"]):
                self._datum({"datum_id": datum_id, "resource": doc["resource"],
                             "datum_kwargs": {k: v[i] for k, v in doc["datum_kwargs"].items()}})
        elif name == "stream_resource":
            self._stream_resources[doc["uid"]] = doc
        elif name == "stream_datum":
            if doc["stream_resource"] not in self._stream_resources:
                self.problems.append(f"a StreamDatum refers to StreamResource {doc['stream_resource']} never emitted")
            self.stream_datums.append(doc)

    def _datum(self, doc: dict) -> None:
        if doc["resource"] not in self._resources:
            self.problems.append(f"Datum {doc['datum_id']} refers to Resource {doc['resource']} never emitted")
        self._datums[doc["datum_id"]] = doc

    @property
    def stop(self) -> dict | None:
        return next((doc for name, doc in self.docs if name == "stop"), None)

    def events(self) -> list[dict]:
        out = []
        for name, doc in self.docs:
            if name == "event":
                out.append(doc)
            elif name == "event_page":
                for i, seq in enumerate(doc["seq_num"]):
                    out.append({"seq_num": seq, "data": {k: v[i] for k, v in doc["data"].items()}})
        return out

    def tiff_file(self, datum_id: str) -> Path:
        """The file an AD_TIFF datum names (ophyd's FileStoreTIFF: template % (dir, name, number))."""
        datum = self._datums[datum_id]
        resource = self._resources[datum["resource"]]
        kwargs = resource["resource_kwargs"]
        directory = os.path.join(resource.get("root", ""), resource["resource_path"], "")
        number = (datum["datum_kwargs"]["point_number"] + 1) * int(kwargs["frame_per_point"]) - 1
        return Path(kwargs["template"] % (directory, kwargs["filename"], number))

    def stream_files(self) -> dict[int, Path]:
        """The frame file of each event (by seq_num) from StreamResource/StreamDatum (ophyd-async TIFF)."""
        from urllib.parse import unquote, urlparse

        files: dict[int, Path] = {}
        for sd in self.stream_datums:
            resource = self._stream_resources.get(sd["stream_resource"])
            if resource is None:
                continue
            directory = Path(unquote(urlparse(resource["uri"]).path))
            template = resource["parameters"]["template"]
            for offset, index in enumerate(range(sd["indices"]["start"], sd["indices"]["stop"])):
                files[sd["seq_nums"]["start"] + offset] = directory / template.format(index)
        return files


def check_events(documents: Documents, trial: Trial) -> list[str]:
    """What is wrong with the run's saved events: a frame not its own, or taken without beam."""
    import tifffile

    problems = []
    events = documents.events()
    stream = documents.stream_files() if documents.stream_datums else {}
    seen: dict[str, int] = {}
    for event in events:
        data = event["data"]
        if "dot_img" in data:
            path = documents.tiff_file(data["dot_img"])
            total = data.get("dot_stats1_total")
        else:
            path = stream.get(event["seq_num"])
            total = data.get("dot-stats-total")
        if path is None:
            problems.append(f"event {event['seq_num']} has no frame")
            continue
        if str(path) in seen:
            problems.append(f"events {seen[str(path)]} and {event['seq_num']} share the frame {path}")
        seen[str(path)] = event["seq_num"]
        try:
            frame = tifffile.imread(path)
        except Exception as exc:
            problems.append(f"event {event['seq_num']}: its frame {path} cannot be read: {exc}")
            continue
        if total is None or float(frame.sum(dtype=np.float64)) != float(total):
            problems.append(f"event {event['seq_num']}: its frame {path.name} sums to {frame.sum()}, its Stats1 "
                            f"total is {total}: not the same frame")
        current = data.get("I")
        if current is None or current < SUSPEND_FLOOR:
            problems.append(f"event {event['seq_num']} was taken without beam (I = {current} mA)")
    return problems


def expected_error(trial: Trial, error: BaseException) -> str | None:
    """Why ``error`` is not what the user must see for this trial's fault; None if it is."""
    shown = user_error(error)
    text = str(shown)
    allowed = EXPECTED_FAILURES.get(trial.fault, ())
    if any(a.lower() in text.lower() for a in allowed):
        return None
    module = type(shown).__module__.split(".")[0]
    internal = module in ("bluesky", "databroker", "event_model", "intake", "tiled", "ophyd", "ophyd_async")
    why = f"an internal error of {module}" if internal else "not the error its fault should give"
    return f"{why}: {type(shown).__name__}: {_first_line(shown)}"


def user_error(error: BaseException) -> BaseException:
    """The error a user reads: what the RunEngine raised or, for bluesky's ``FailedStatus``,
    the exception of the status that failed."""
    status = error.args[0] if type(error).__name__ == "FailedStatus" and error.args else None
    inner = getattr(status, "exception", None)
    if callable(inner):
        try:
            return inner() or error
        except Exception:
            return error
    return error


class Bench:
    """An IOC and a session on it, on which trials run one after another."""

    def __init__(self, ioc, session: str, store: Path) -> None:
        self.ioc = ioc
        self.prefix = ioc.prefix
        self.kind = session
        self.store = store
        self._ns: dict | None = None
        self._suspender_installed = False

    # -- CA (pyepics: the client the session itself uses) ------------------------------

    def put(self, suffix: str, value, wait: bool = True) -> None:
        import epics

        epics.caput(self.prefix + suffix, value, wait=wait, timeout=10)

    def get(self, suffix: str):
        import epics

        return epics.caget(self.prefix + suffix, timeout=5)

    # -- the session -------------------------------------------------------------------

    def session(self) -> dict:
        if self._ns is None:
            from beamline_shared.launcher import environment

            with environment({"BEAMLINE_DATABROKER_DIR": str(self.store)}):
                if self.kind == "ophyd":
                    from beamline.session import make_session

                    self._ns = make_session(self.prefix, live=False, timeout=10)
                else:
                    from beamline.async_devices import make_async_session

                    self._ns = make_async_session(self.prefix, live=False, timeout=10)
        return self._ns

    def _install_suspender(self) -> None:
        if self._suspender_installed:
            return
        from bluesky.suspenders import SuspendFloor
        from ophyd import EpicsSignalRO

        ns = self.session()
        # bluesky's suspenders subscribe as ophyd does: the ophyd-async session's I cannot be one,
        # so an ophyd signal of the same PV watches it, under the same name (the RunEngine holds
        # back an event whose reading of a suspender's signal, by name, calls for a suspension).
        current = ns["I"] if self.kind == "ophyd" else EpicsSignalRO(self.prefix + "ring:current", name="I")
        current.wait_for_connection(timeout=10) if self.kind != "ophyd" else None
        ns["RE"].install_suspender(SuspendFloor(current, SUSPEND_FLOOR, resume_thresh=RESUME_AT))
        self._suspender_installed = True

    def plan(self, trial: Trial):
        import bluesky.plans as bp

        ns = self.session()
        detectors = [ns["dot"], ns["I"]]
        if trial.plan == "count":
            return bp.count(detectors, num=trial.points)
        return bp.scan(detectors, ns["mtr_dotx"], -5.0, 5.0, trial.points)

    def set_up(self, trial: Trial) -> None:
        self.put("sim:TimeScale", trial.time_scale)
        self.put("sim:RefillTime", 0.3 * trial.time_scale)  # 0.3 s of wall time without beam
        ns = self.session()
        if self.kind == "ophyd":
            ns["dot"].exp.set(trial.exposure).wait(10)
        else:
            self.put("dot:cam1:AcquireTime", trial.exposure)
        self._install_suspender()

    # -- faults ------------------------------------------------------------------------

    def fault(self, trial: Trial) -> None:
        """Make the trial's fault happen now (in a thread of its own)."""
        f = trial.fault
        if f == "BeamDump":
            self.put("sim:BeamDump", 1, wait=False)
        elif f in ("AcquireError", "WriteError", "Stalled"):
            self.put("sim:CamFault", f, wait=False)
        elif f == "MotorStall":
            self.put("sim:MotorStall", "dotx", wait=False)
        elif f == "Freeze":
            self.put("sim:Freeze", 0.5, wait=False)
        elif f == "Pause":
            RE = self.session()["RE"]
            if RE.state == "running":  # landed after the plan ended: no pause
                RE.request_pause(defer=False)
        elif f == "Restart":
            # Killed as by a crash; started again by tidy() (from the thread that owns the
            # IOC process: it gets SIGINT when the thread that started it ends).
            self.ioc.kill()

    def tidy(self, trial: Trial) -> None:
        """Every fault off and the beam back, as the next trial needs it."""
        from beamline_shared.launcher import environment

        restarted = not self.ioc.alive()
        if restarted:
            self.ioc.start()
        deadline = time.monotonic() + 30
        while True:  # the IOC answers again (a freeze, a restart)
            try:
                with environment(self.ioc.env):
                    self.ioc.wait_ready(timeout=5)
                self.put("sim:ClearFaults", 1)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
        while self.get("sim:BeamDump") != 0 or (self.get("ring:current") or 0) < RESUME_AT:
            if time.monotonic() > deadline:
                raise RuntimeError("the beam did not come back within 30 s")
            time.sleep(0.05)
        if self.get("dot:cam1:Acquire") != 0:
            self.put("dot:cam1:Acquire", 0)
        if restarted:
            self._wait_reconnected(deadline + 30)

    def _wait_reconnected(self, deadline: float) -> None:
        """Until the session's own channels work again (libca and aioca reconnect by themselves)."""
        ns = self.session()
        while True:
            try:
                if self.kind == "ophyd":
                    for signal in (ns["dot"].cam.acquire, ns["dot"].tiff.capture, ns["mtr_dotx"].user_readback,
                                   ns["I"]):
                        signal.get(timeout=1)
                else:
                    from bluesky.run_engine import call_in_bluesky_event_loop

                    call_in_bluesky_event_loop(ns["dot"].driver.acquire.get_value(), timeout=2)
                    call_in_bluesky_event_loop(ns["mtr_dotx"].user_readback.get_value(), timeout=2)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # -- a trial -----------------------------------------------------------------------

    def run(self, trial: Trial) -> Outcome:
        from bluesky.utils import RunEngineInterrupted

        outcome = Outcome(trial)
        ns = self.session()
        RE = ns["RE"]
        n_messages = len(list(self.plan(trial)))
        trial.message = 1 + int(np.random.default_rng(trial.seed + 1).integers(0, n_messages))
        self.set_up(trial)
        documents = Documents()
        token = RE.subscribe(documents)
        counter = {"n": 0}
        fired = threading.Event()
        timers: list[threading.Timer] = []

        def hook(msg) -> None:
            counter["n"] += 1
            outcome.last_message = f"{counter['n']}: {msg.command} {getattr(msg.obj, 'name', '') or ''}".strip()
            if counter["n"] == trial.message and not fired.is_set():
                fired.set()
                outcome.fault_landed = f"{msg.command} {getattr(msg.obj, 'name', '') or ''}".strip()
                delay = trial.fraction * trial.frame_wall()
                timer = threading.Timer(delay, self._fault_safely, args=(trial, outcome))
                timers.append(timer)
                timer.start()

        expected = trial.points * (trial.frame_wall() + 0.05) + 5.0 + (2.0 if trial.fault == "Restart" else 0.0)
        hung = threading.Event()
        watchdog = threading.Timer(expected + HANG, self._stop_hang, args=(RE, hung, outcome))
        watchdog.daemon = True
        RE.msg_hook = hook
        t0 = time.monotonic()
        watchdog.start()
        try:
            try:
                RE(self.plan(trial))
            except RunEngineInterrupted:
                if hung.is_set() or trial.fault != "Pause" or RE.state != "paused":
                    raise
                for timer in timers:  # the pause has landed: resume as the user does
                    timer.join()
                RE.resume()
        except RunEngineInterrupted:
            if RE.state == "paused":
                RE.abort("the trial hung" if hung.is_set() else "interrupted by more than the trial's pause")
        except BaseException as exc:  # noqa: BLE001 - what the user sees is the point
            outcome.error = exc
        finally:
            watchdog.cancel()
            RE.msg_hook = None
            RE.unsubscribe(token)
            outcome.seconds = time.monotonic() - t0
            for timer in timers:  # a fault that lands after the run has ended still lands
                timer.join()
        stop = documents.stop
        outcome.exit_status = stop["exit_status"] if stop else None
        outcome.events = len(documents.events())
        outcome.problems += documents.problems
        outcome.problems += check_events(documents, trial)
        if hung.is_set():
            outcome.problems.append(f"hung: no end within {expected + HANG:.0f} s, in message {outcome.last_message}"
                                    f"\n{outcome.hang_report}")
        if RE.state != "idle":  # the user's next plan would be refused ("The RunEngine is in a ... state")
            outcome.problems.append(f"the RunEngine was left {RE.state!s}")
        opened = any(name == "start" for name, _ in documents.docs)
        if opened and stop is None:
            outcome.problems.append("the run has no stop document")
        if not opened and outcome.error is None:
            outcome.problems.append("no run was opened, and no error raised")
        if outcome.error is None and opened:
            if outcome.exit_status != "success":
                outcome.problems.append(f"no error raised, but the run ended {outcome.exit_status!r}")
            elif outcome.events != trial.points:
                outcome.problems.append(f"{outcome.events} events, not {trial.points}")
        else:
            why = expected_error(trial, outcome.error)
            if why:
                outcome.problems.append(why)
                outcome.problems.append("".join(traceback.format_exception(outcome.error))[-3000:])
        self.tidy(trial)
        return outcome

    def _fault_safely(self, trial: Trial, outcome: Outcome) -> None:
        try:
            self.fault(trial)
        except Exception as exc:
            outcome.problems.append(f"could not make the fault: {type(exc).__name__}: {exc}")

    @staticmethod
    def _stop_hang(RE, hung: threading.Event, outcome: Outcome) -> None:
        import asyncio
        import io

        hung.set()
        report = io.StringIO()
        try:
            for task in asyncio.all_tasks(RE.loop):
                report.write(f"task {task.get_name()}:\n")
                task.print_stack(limit=8, file=report)
        except Exception as exc:  # the loop's task set changed meanwhile: a partial report will do
            report.write(f"(stopped listing tasks: {exc})")
        outcome.hang_report = report.getvalue()[-6000:]
        try:
            RE.request_pause(defer=False)
        except Exception:
            pass
