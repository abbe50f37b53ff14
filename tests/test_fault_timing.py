"""Faults at moments nobody chose: each run succeeds with every event its own frame taken with
beam, or fails with the project's clear error naming the cause (:mod:`tools.fault_trials`).

Each trial draws its session (legacy ophyd or ophyd-async), plan (count or scan), fault
(``sim:BeamDump``, ``sim:CamFault`` AcquireError/WriteError/Stalled, ``sim:MotorStall``,
``sim:Freeze``, an IOC restart, or none), time scale, exposure, number of points and the
moment the fault lands (during message k of the plan, staging and unstaging included) from
its seed. The seeds start from ``BEAMLINE_TEST_SEED`` (default: the clock) and a failure
prints the command that replays it. ``python -m tools.soak_faults`` runs hundreds.
"""

from __future__ import annotations

import os
import time

import pytest

from tools.fault_trials import Bench, Trial

TRIALS = {"ophyd": 24, "ophyd-async": 12}
FIRST_SEED = int(os.environ.get("BEAMLINE_TEST_SEED", time.time_ns() % 10**9))

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def benches(tmp_path_factory, module_ioc) -> dict[str, Bench]:
    """One IOC for both sessions: each trial leaves it as it found it (faults cleared, beam back)."""
    ioc = module_ioc("FT:", time_scale=20, seed=5)
    root = tmp_path_factory.mktemp("fault-trials")
    return {kind: Bench(ioc, kind, root / f"db-{kind}") for kind in TRIALS}


CASES = [(kind, FIRST_SEED + 1000 * k + i) for k, (kind, n) in enumerate(TRIALS.items()) for i in range(n)]


@pytest.mark.parametrize("kind, seed", CASES, ids=[f"{kind}-{i}" for i, (kind, _) in enumerate(CASES)])
def test_a_fault_at_a_random_moment(benches, kind, seed):
    trial = Trial.draw(seed, sessions=(kind,))
    outcome = benches[kind].run(trial)
    print(outcome)
    assert outcome.ok, (f"{outcome}\nreplay: python -m tools.soak_faults --only {seed} --session {kind}\n"
                        + "\n".join(outcome.problems))
