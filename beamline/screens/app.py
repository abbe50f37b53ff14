"""``beamline-screens``: open the beamline's displays, or render one to a PNG.

    beamline-screens                          # the main display, in a window
    beamline-screens --screenshot main.png    # render offscreen once every channel has connected
    beamline-screens --display camera --screenshot camera.png

The IOC is found as the session finds it: ``BEAMLINE_PREFIX`` (default ``BL:``, or
``--prefix``), and its port from the connection file it leaves in the data root
(``BEAMLINE_DATA_ROOT``), unless ``EPICS_CA_ADDR_LIST``/``EPICS_CA_SERVER_PORT`` say otherwise.
With ``--screenshot`` the exit status is 1 if a channel did not connect within ``--timeout``
seconds (the PNG is written all the same, and the channels are named on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DISPLAYS = {  # name -> (file, macros from the prefix)
    "main": ("main.py", lambda p: {"P": p}),
    "camera": ("camera.py", lambda p: {"P": f"{p}dot:", "R": "cam1:"}),
    "motor": ("motor.py", lambda p: {"P": f"{p}mtr:", "M": "dotx"}),
    **{f"plugin-{name}": ("plugin.py", lambda p, name=name: {"P": f"{p}dot:", "R": f"{name}:"})
       for name in ("TIFF1", "HDF1", "Stats1", "image1", "Pva1")},
}


def prepare_environment(prefix: str, offscreen: bool) -> None:
    """CA settings as the session's (before pyepics loads), Qt offscreen if asked, PyDM's
    default protocol CA."""
    from beamline.connection import apply_ca_environment

    apply_ca_environment(prefix)
    if offscreen:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYDM_DEFAULT_PROTOCOL", "ca")
    # Related displays open in a new `pydm` process: this environment's, found without PATH.
    scripts = Path(sys.executable).parent
    if (scripts / "pydm").exists():
        os.environ.setdefault("PYDM_PATH", str(scripts))


def make_display(name: str, prefix: str, macros: dict[str, str] | None = None):
    """An instance of display ``name`` (a key of DISPLAYS) for the IOC at ``prefix``."""
    from pydm.display import load_file

    from .ca_plugin import install

    install()
    filename, default_macros = DISPLAYS[name]
    return load_file(str(HERE / filename), macros=macros or default_macros(prefix), target=None)


def wait_until_shown(display, timeout: float) -> tuple[list[str], list[str]]:
    """Process Qt events until every channel of ``display`` has connected and every widget
    shows a value, or ``timeout`` s; returns the channels not connected and the widgets
    (channels) still without a value."""
    from qtpy.QtWidgets import QApplication

    from .connections import unconnected, waiting_for_values

    app = QApplication.instance()
    deadline = time.monotonic() + timeout
    while True:
        app.processEvents()
        missing, waiting = unconnected(display), waiting_for_values(display)
        if (not missing and not waiting) or time.monotonic() > deadline:
            return missing, waiting
        time.sleep(0.02)


def run_for(seconds: float) -> None:
    """Process Qt events for ``seconds``."""
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.instance().processEvents()
        time.sleep(0.02)


def screenshot(display, path: Path) -> None:
    """Render the display as it is now into a PNG."""
    from pydm.widgets import PyDMTimePlot
    from qtpy.QtWidgets import QApplication

    for plot in display.findChildren(PyDMTimePlot):
        plot.redrawPlot()  # else drawn at its next update
    display.resize(display.minimumSizeHint())  # as small as the values, now shown, allow
    QApplication.instance().processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not display.grab().save(str(path)):
        raise OSError(f"could not write {path}")


def application():
    """The one PyDM application of this process (made on first use)."""
    from pydm import PyDMApplication
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = PyDMApplication(command_line_args=[sys.argv[0]], hide_nav_bar=True, hide_menu_bar=True,
                              hide_status_bar=True, use_main_window=False)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beamline-screens", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default=os.environ.get("BEAMLINE_PREFIX", "BL:"),
                        help="the IOC's PV prefix (default $BEAMLINE_PREFIX or BL:)")
    parser.add_argument("--display", choices=sorted(DISPLAYS), default="main", help="which display (default main)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="render the display offscreen once its channels have connected, save it as a PNG, exit")
    parser.add_argument("--timeout", type=float, default=15.0,
                        help="seconds to wait for the channels with --screenshot (default 15)")
    parser.add_argument("--settle", type=float, default=0.0, metavar="S",
                        help="with --screenshot: S more seconds of updates before rendering (a strip chart's history)")
    args = parser.parse_args(argv)
    prepare_environment(args.prefix, offscreen=args.screenshot is not None)
    app = application()
    display = make_display(args.display, args.prefix)
    display.show()
    if args.screenshot is None:
        return app.exec_()
    missing, waiting = wait_until_shown(display, args.timeout)
    run_for(args.settle)
    screenshot(display, args.screenshot)
    if waiting and not missing:
        print(f"beamline-screens: warning: no value shown yet by {', '.join(waiting)}", file=sys.stderr)
    if missing:
        print(f"beamline-screens: {len(missing)} channel(s) did not connect within {args.timeout:g} s "
              f"(prefix {args.prefix!r}): {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"beamline-screens: {args.screenshot} ({args.display} display, prefix {args.prefix!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
