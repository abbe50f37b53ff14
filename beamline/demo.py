"""Run the beamline: start the IOC, execute the tutorial notebook headless, keep its figures.

``python -m beamline.demo``            IOC up, tutorial run, results in ``output/``, IOC stopped
``python -m beamline.demo --keep-ioc``  the same, then leave the IOC running for your own session
``python -m beamline.demo --ioc-only``  just start the IOC in the background and say how to use it

The IOC serves on loopback, on a free port; it leaves a connection file in the data root,
so ``%run ../beamline_configuration.py`` in any notebook on this machine finds it.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

from beamline_shared.launcher import IOCProcess, environment
from beamline_shared.paths import default_data_root

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "non_scalar_data.ipynb"


def execute_notebook(path: Path, output_dir: Path, env: dict[str, str | None], timeout: float = 900) -> Path:
    """Execute ``path`` with its own directory as the working directory; write the executed
    copy and its figures (PNG) to ``output_dir``. Raises nbclient's error if a cell fails.

    The kernel runs with this process's environment updated by ``env`` (None unsets a
    variable); MPLBACKEND is unset so that figures render inline, as PNGs in the notebook.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with environment({"MPLBACKEND": None, **env}):  # the kernel inherits this environment
        # The kernel's ZMQ channels bind 127.0.0.1 only (jupyter_client's default), on free ports.
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        finally:
            output_dir.mkdir(parents=True, exist_ok=True)
            executed = output_dir / path.name
            nbformat.write(nb, executed)
            save_figures(nb, output_dir, path.stem)
    return executed


def save_figures(nb, output_dir: Path, stem: str) -> list[Path]:
    """Write every PNG a notebook's cells displayed: ``<stem>-cell<N>.png``."""
    written = []
    for n, cell in enumerate(nb.cells):
        for k, output in enumerate(cell.get("outputs", [])):
            png = output.get("data", {}).get("image/png")
            if png:
                name = output_dir / f"{stem}-cell{n:02d}{'-' + str(k) if k else ''}.png"
                name.write_bytes(base64.b64decode(png))
                written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default=os.environ.get("BEAMLINE_PREFIX", "BL:"))
    parser.add_argument("--data-root", type=Path, default=default_data_root(),
                        help="where the IOC writes images and the client stores runs (default %(default)s)")
    parser.add_argument("--output", type=Path, default=ROOT / "output",
                        help="where the executed notebook and its figures go (default %(default)s)")
    parser.add_argument("--time-scale", type=float, default=100.0,
                        help="simulated seconds per wall second (default 100: the tutorial in about a minute)")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keep-ioc", action="store_true", help="leave the IOC running after the demo")
    group.add_argument("--ioc-only", action="store_true", help="only start the IOC, in the background")
    args = parser.parse_args(argv)

    args.data_root.mkdir(parents=True, exist_ok=True)
    log = args.data_root / "ioc.log"
    ioc = IOCProcess(prefix=args.prefix, data_root=args.data_root, time_scale=args.time_scale, log_path=log)
    print(f"Starting the beamline IOC (prefix {args.prefix}, loopback port {ioc.port}, log {log}) ...", flush=True)
    ioc.start()
    keep = args.keep_ioc or args.ioc_only
    try:
        if not args.ioc_only:
            env = {**ioc.env, "BEAMLINE_PREFIX": args.prefix, "BEAMLINE_LIVE": "0",
                   "BEAMLINE_DATA_ROOT": str(args.data_root)}
            print(f"Running {args.notebook.name} headless ...", flush=True)
            t0 = time.monotonic()
            executed = execute_notebook(args.notebook, args.output, env)
            print(f"Done in {time.monotonic() - t0:.0f} s. Executed notebook and figures: {executed.parent}/")
    except BaseException:
        keep = False
        raise
    finally:
        if keep:
            print(
                f"\nThe IOC keeps running (PID {ioc.pid}, port {ioc.port}). In a notebook in notebooks/:\n"
                f"    %run ../beamline_configuration.py\n"
                f"or from a shell:\n"
                f"    EPICS_CA_SERVER_PORT={ioc.port} EPICS_CA_ADDR_LIST=127.0.0.1 EPICS_CA_AUTO_ADDR_LIST=NO "
                f"caproto-get {args.prefix}ring:current\n"
                f"Stop it with:  kill {ioc.pid}"
            )
        else:
            ioc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
