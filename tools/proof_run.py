"""Run other people's code against a configured beamline: the IOCs of a configuration, then a command.

    python -m tools.proof_run --config ophyd_tests --data-root /tmp [--private-tmp DIR] -- CMD ARGS...

Starts every IOC of ``--config`` (or each ``--ioc NAME``; each in a process of its own, on a free loopback port,
``--no-autosave``), runs ``CMD`` with the CA environment that reaches them all
(``EPICS_CA_ADDR_LIST`` of their ports, ``EPICS_CA_AUTO_ADDR_LIST=NO``, large arrays), stops the
IOCs by their PIDs and exits with the command's status.

Code written for a facility's machines writes to fixed paths (ophyd's tests make and delete
``/tmp/ophyd_AD_test``; dodal's adsim module writes to ``/tmp``; the IOCs' connection files go
into their data root, ``/tmp``). ``--private-tmp DIR`` (DIR outside /tmp) runs the IOCs and the
command in a mount namespace of their own (``unshare --mount``; with ``--user --map-root-user``
when not root) whose ``/tmp`` is an overlay: everything of the machine's ``/tmp`` is readable
there, and whatever they write or delete in it lands in ``DIR/upper`` only. Two runs on one
machine never meet, and the machine's ``/tmp`` is left as it was.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from beamline_shared.launcher import (
    ca_environment,
    end_process,
    interrupt_when_parent_dies,
    start_iocs,
    start_repeater,
)

INSIDE = "BEAMLINE_PROOF_PRIVATE_TMP"  # set once the private /tmp is mounted


def private_tmp_command(directory: Path, argv: list[str]) -> list[str]:
    """``argv`` run in a mount namespace of its own whose /tmp is an overlay of the machine's,
    its changes in ``directory``/upper."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("mount") is None:
        raise SystemExit("proof_run: --private-tmp needs unshare and mount (util-linux)")
    if directory == Path("/tmp") or Path("/tmp") in directory.parents:
        raise SystemExit(f"proof_run: --private-tmp {directory}: must be outside /tmp (it holds /tmp's changes)")
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    script = ('mkdir -p "$0/upper" "$0/work" && '
              'mount -t overlay overlay -o "lowerdir=/tmp,upperdir=$0/upper,workdir=$0/work" /tmp && exec "$@"')
    return [unshare, *user, "--mount", "--propagation", "private", "--", "sh", "-c", script, str(directory), *argv]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        raise SystemExit("proof_run: give the command after --")
    split = argv.index("--")
    own, command = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(prog="python -m tools.proof_run", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a configuration file or a shipped one's name")
    parser.add_argument("--ioc", action="append", help="start only this IOC of the file (repeatable)")
    parser.add_argument("--data-root", type=Path, required=True, help="the IOCs' data root")
    parser.add_argument("--private-tmp", type=Path, help="mount this directory on /tmp for the IOCs and the command")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--log-dir", type=Path, help="where the IOCs' logs go (default: the data root)")
    parser.add_argument("--cwd", type=Path, help="the command's working directory")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds the command may take; then it is killed and this exits 124 (default 600)")
    args = parser.parse_args(own)
    if args.private_tmp is not None and not os.environ.get(INSIDE):
        args.private_tmp.mkdir(parents=True, exist_ok=True)
        os.environ[INSIDE] = str(args.private_tmp)
        inner = [sys.executable, "-m", "tools.proof_run", *own, "--", *command]
        return subprocess.run(private_tmp_command(args.private_tmp.resolve(), inner),
                              preexec_fn=interrupt_when_parent_dies).returncode
    start_repeater()  # the command's libca registers with it (its port inherited), not one on 5065
    args.data_root.mkdir(parents=True, exist_ok=True)
    log_dir = args.log_dir or args.data_root
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = start_iocs(args.config, data_root=args.data_root, time_scale=args.time_scale, log_dir=log_dir,
                       extra_args=["--no-autosave"], exit_with_parent=True, timeout=60, names=args.ioc)
    try:
        env = {**os.environ, **ca_environment(procs[0].port, [proc.port for proc in procs])}
        for name in ("EPICS_CAS_INTF_ADDR_LIST", "EPICS_CAS_AUTO_BEACON_ADDR_LIST", "EPICS_CAS_BEACON_ADDR_LIST",
                     "EPICS_CAS_SERVER_PORT", "EPICS_CA_SERVER_PORT"):
            env.pop(name, None)  # the client's: every IOC is in the address list with its port
        # The command may run in another environment (dodal's): its pyepics must load that
        # environment's libca, the one its aioca uses, not the one this process's pyepics named.
        env.pop("PYEPICS_LIBCA", None)
        print("proof_run: " + ", ".join(f"IOC {proc.ioc} on port {proc.port}" for proc in procs), file=sys.stderr,
              flush=True)
        proc = subprocess.Popen(command, env=env, cwd=args.cwd, preexec_fn=interrupt_when_parent_dies)
        try:
            return proc.wait(args.timeout)
        except subprocess.TimeoutExpired:
            print(f"proof_run: the command took over {args.timeout:g} s: killed", file=sys.stderr, flush=True)
            end_process(proc, signal.SIGKILL)
            return 124
    finally:
        for proc in procs:
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
