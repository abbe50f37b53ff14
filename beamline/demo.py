"""Run the beamline: start the IOC, execute the tutorial notebook headless, keep its figures.

``python -m beamline.demo``            IOC up, tutorial run, results in ``output/``, IOC stopped
``python -m beamline.demo --keep-ioc``  the same, then leave the IOC running for your own session
``python -m beamline.demo --ioc-only``  just start the IOC in the background and say how to use it

The IOC serves on loopback, on a free port, at time scale 100 unless ``--time-scale`` says
otherwise; it leaves a connection file in the data root, so ``%run
../beamline_configuration.py`` in any notebook on this machine finds it. If an IOC with the
prefix is already running from the data root, the demo uses it and leaves it running.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

from beamline_shared.launcher import IOCProcess, ca_environment, environment
from beamline_shared.paths import default_data_root, read_connection_file

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "non_scalar_data.ipynb"


def execute_notebook(path: Path, output_dir: Path, env: dict[str, str | None], timeout: float = 900) -> Path:
    """Execute ``path`` with its own directory as the working directory; write the executed
    copy and its figures (PNG) to ``output_dir``. Raises nbclient's error if a cell fails.

    The kernel runs with this process's environment updated by ``env`` (None unsets a
    variable); MPLBACKEND is unset so that figures render inline, as PNGs in the notebook.
    """
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with environment({"MPLBACKEND": None, **env}):  # the kernel inherits this environment
        # The kernel talks to us over Unix sockets (ZMQ ipc) in Jupyter's runtime directory,
        # not TCP: nothing listens on a port, and ipykernel has no unencrypted TCP to warn about.
        sockets = tempfile.TemporaryDirectory(prefix="beamline-kernel-")
        km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets.name, "kernel"))
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        finally:
            if km.has_kernel:  # ours, not nbclient's, since we made the manager
                km.shutdown_kernel()
            sockets.cleanup()
            output_dir.mkdir(parents=True, exist_ok=True)
            executed = output_dir / path.name
            nbformat.write(nb, executed)
            save_figures(nb, output_dir, path.stem)
    return executed


#: Names of the tutorial's figures, by what they show: (a snippet of the cell's code, name).
FIGURES = [
    ("next(h_one.data('dot_img'))", "one_frame"),
    ("next(h_lots.data('dot_img'))", "first_of_150_frames"),
    ("mean of stack", "frame_vs_mean"),
    ("tri_helper(df, ax1", "normalised_map"),
]


def figure_name(source: str, stem: str, cell: int, output: int) -> str:
    """What a cell's figure is called: its name in :data:`FIGURES`, else ``<stem>-cell<N>``."""
    for snippet, name in FIGURES:
        if snippet in source:
            return name + (f"-{output}" if output else "")
    return f"{stem}-cell{cell:02d}" + (f"-{output}" if output else "")


def save_figures(nb, output_dir: Path, stem: str) -> list[Path]:
    """Write every PNG a notebook's cells displayed, named by :func:`figure_name`."""
    written = []
    for n, cell in enumerate(nb.cells):
        pngs = [output["data"]["image/png"] for output in cell.get("outputs", [])
                if output.get("data", {}).get("image/png")]
        for k, png in enumerate(pngs):
            name = output_dir / f"{figure_name(cell.source, stem, n, k)}.png"
            name.write_bytes(base64.b64decode(png))
            written.append(name)
    return written


def disk_usage(root: Path) -> tuple[int, int]:
    """(files, bytes) under ``root``."""
    files = size = 0
    for path in root.rglob("*"):
        if path.is_file():
            files += 1
            size += path.stat().st_size
    return files, size


def _how_to_use(prefix: str, port: int, pid: int) -> None:
    bin_dir = Path(sys.executable).parent
    print(
        f"\nThe IOC keeps running (PID {pid}, port {port}, time scale as started). In a notebook in notebooks/:\n"
        f"    %run ../beamline_configuration.py\n"
        f"or from a shell:\n"
        f"    EPICS_CA_SERVER_PORT={port} EPICS_CA_ADDR_LIST=127.0.0.1 EPICS_CA_AUTO_ADDR_LIST=NO "
        f"{_short(bin_dir / 'caget')} {prefix}ring:current\n"
        f"Stop it with:  kill {pid}", flush=True)


def _short(path: Path) -> str:
    """``path`` relative to the working directory when it is under it (``.venv/bin/caget``)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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
    running = read_connection_file(args.prefix, args.data_root)
    if running:
        # One IOC per prefix and data root: use the one already serving (it keeps running).
        port, pid = int(running["port"]), int(running["pid"])
        print(f"Using the beamline IOC already running with prefix {args.prefix} (PID {pid}, loopback port {port}, "
              f"time scale {running.get('time_scale', 'unknown')}); it keeps running afterwards.", flush=True)
        if args.ioc_only:
            _how_to_use(args.prefix, port, pid)
            return 0
        ioc, env = None, ca_environment(port)
    else:
        log = args.data_root / "ioc.log"
        ioc = IOCProcess(prefix=args.prefix, data_root=args.data_root, time_scale=args.time_scale, log_path=log)
        print(f"Starting the beamline IOC (prefix {args.prefix}, loopback port {ioc.port}, time scale "
              f"{args.time_scale:g}, log {log}) ...", flush=True)
        ioc.start()
        port, pid, env = ioc.port, ioc.pid, ioc.env
    keep = args.keep_ioc or args.ioc_only
    images = args.data_root / "images"
    before = disk_usage(images) if images.exists() else (0, 0)
    try:
        if not args.ioc_only:
            env = {**env, "BEAMLINE_PREFIX": args.prefix, "BEAMLINE_LIVE": "0",
                   "BEAMLINE_DATA_ROOT": str(args.data_root)}
            print(f"Running {args.notebook.name} headless ...", flush=True)
            t0 = time.monotonic()
            executed = execute_notebook(args.notebook, args.output, env)
            print(f"Done in {time.monotonic() - t0:.0f} s. Executed notebook and figures: {executed.parent}/")
            after = disk_usage(images)
            print(f"The camera wrote {after[0] - before[0]} TIFF files ({(after[1] - before[1]) / 1e6:.0f} MB) under "
                  f"{images}/ ({after[1] / 1e6:.0f} MB there in all) and the runs are in "
                  f"{args.data_root / 'databroker'}/. Remove runs older than a week with their images:\n"
                  f"    .venv/bin/python -m beamline.prune --older-than 7     (make clean-data removes them all)")
    except BaseException:
        keep = False
        raise
    finally:
        if ioc is not None:
            if keep:
                _how_to_use(args.prefix, port, pid)
            else:
                ioc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
