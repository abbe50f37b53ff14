"""``python -m tools.soak_faults``: many fault trials (:mod:`tools.fault_trials`) against one IOC.

Prints one line per trial and a summary; exits non-zero if any trial showed the user
something it must not (an internal error, a hang, an event without its own frame or beam).
``--seed`` replays a run of trials; a single trial is replayed with ``--only SEED``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from beamline_shared.launcher import IOCProcess, ca_environment, free_port, start_repeater


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="number of trials (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first trial (default: from the clock)")
    parser.add_argument("--only", type=int, default=None, help="run the one trial of this seed")
    parser.add_argument("--session", choices=("ophyd", "ophyd-async", "both"), default="both")
    parser.add_argument("--faults", default=None, help="only these faults, comma-separated (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write every outcome here")
    args = parser.parse_args(argv)

    port = free_port()
    os.environ.update(ca_environment(port))
    start_repeater()
    import ophyd  # noqa: F401  (before libca is first used: see bench/__main__.py)

    from .fault_trials import FAULTS, SESSIONS, Bench, Trial

    faults = tuple(args.faults.split(",")) if args.faults else FAULTS
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"--faults: unknown {', '.join(sorted(unknown))} (known: {', '.join(FAULTS)})")

    first = args.seed if args.seed is not None else int(time.time()) % 100000 * 1000
    seeds = [args.only] if args.only is not None else list(range(first, first + args.trials))
    sessions = SESSIONS if args.session == "both" else (args.session,)
    print(f"fault trials: seeds {seeds[0]}..{seeds[-1]}, sessions {', '.join(sessions)}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="soak-faults-"))
    outcomes = []
    tally: collections.Counter = collections.Counter()
    benches = {}
    iocs = []
    try:
        for _ in sessions:
            ioc = IOCProcess(prefix=f"SK{len(iocs)}:", port=port if not iocs else free_port(),
                             data_root=root / f"data{len(iocs)}", time_scale=20, seed=1,
                             log_path=root / f"ioc{len(iocs)}.log", exit_with_parent=True)
            iocs.append(ioc)
        # One IOC per session kind, each on its own port; clients search both.
        os.environ["EPICS_CA_ADDR_LIST"] = " ".join(f"127.0.0.1:{ioc.port}" for ioc in iocs)
        for kind, ioc in zip(sessions, iocs, strict=True):
            ioc.start()
            benches[kind] = Bench(ioc, kind, root / f"db-{kind}")
        for seed in seeds:
            trial = Trial.draw(seed, sessions=sessions, faults=faults)
            outcome = benches[trial.session].run(trial)
            outcomes.append(outcome)
            key = (trial.fault, "success" if outcome.error is None else type(outcome.error).__name__)
            tally[key] += 1
            print(("  " if outcome.ok else "! ") + str(outcome), flush=True)
            if args.only is not None and outcome.error is not None:
                import traceback

                traceback.print_exception(outcome.error)
    finally:
        for ioc in iocs:
            ioc.stop()
    bad = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes)} trials, {len(bad)} with problems; by fault and outcome:")
    for (fault, result), n in sorted(tally.items()):
        print(f"  {fault:13s} {result:24s} {n}")
    for o in bad:
        print(f"\nreplay: python -m tools.soak_faults --only {o.trial.seed} --session {o.trial.session}\n{o}")
    if args.json:
        args.json.write_text(json.dumps([{"trial": vars(o.trial), "ok": o.ok, "exit_status": o.exit_status,
                                          "error": repr(o.error), "events": o.events, "seconds": o.seconds,
                                          "landed": o.fault_landed, "problems": o.problems} for o in outcomes],
                                         indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
