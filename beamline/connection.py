"""Finding the beamline IOC over Channel Access, or saying clearly why it cannot be found."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from beamline_shared.launcher import start_repeater
from beamline_shared.paths import connection_file, read_connection_file

# Whether the user set the address list (before this package set its default).
_USER_ADDRESS_LIST = "EPICS_CA_ADDR_LIST" in os.environ

CA_DEFAULTS = {
    "EPICS_CA_AUTO_ADDR_LIST": "NO",
    "EPICS_CA_ADDR_LIST": "127.0.0.1",
    # A full frame is 480 x 640 x 4 bytes; libca's default limit is 16 kB.
    "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024),
}


def apply_ca_environment(prefix: str | None = None) -> None:
    """Default the CA client settings to loopback, and to the port of a running local IOC.

    Settings already in the environment win. Starts a CA repeater on loopback for this
    process unless ``EPICS_CA_REPEATER_PORT`` names one. Must run before the first CA
    channel is made.
    """
    prefix = prefix or os.environ.get("BEAMLINE_PREFIX", "BL:")
    # libca wants a CA repeater; without one it complains ~50 s into the session.
    start_repeater()
    if "EPICS_CA_ADDR_LIST" not in os.environ:
        for key, value in CA_DEFAULTS.items():
            os.environ.setdefault(key, value)
    os.environ.setdefault("EPICS_CA_MAX_ARRAY_BYTES", CA_DEFAULTS["EPICS_CA_MAX_ARRAY_BYTES"])
    if "EPICS_CA_SERVER_PORT" not in os.environ:
        info = read_connection_file(prefix)
        if info:
            os.environ["EPICS_CA_SERVER_PORT"] = str(info["port"])


def user_set_address_list() -> bool:
    """Whether ``EPICS_CA_ADDR_LIST`` was the user's (set before this package was imported)."""
    return _USER_ADDRESS_LIST


def describe_ca_environment() -> str:
    keys = ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST", "EPICS_CA_SERVER_PORT")
    return " ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in keys)


class IOCNotFound(ConnectionError):
    """No beamline IOC answered."""


def explain(prefix: str, what: str, timeout: float) -> IOCNotFound:
    return IOCNotFound(
        f"No beamline IOC answered for {what} within {timeout:g} s.\n"
        f"  prefix: {prefix!r}   {describe_ca_environment()}\n"
        f"  Start one with:  beamline-ioc --prefix {prefix}   (or `make ioc` in the project), "
        f"or point EPICS_CA_ADDR_LIST / EPICS_CA_SERVER_PORT at a running one."
    )


def ioc_data_root(prefix: str, timeout: float = 5.0, pv: str | None = None) -> str:
    """The IOC's data root (``sim:DataRoot``, or the PV ``pv``): the tree its camera writes into."""
    from .text_signals import TextSignalRO

    # Not destroyed after use: ophyd fetches a new channel's metadata on a thread of its
    # own, and clearing the channel under it crashes libca (a use-after-free in
    # ca_element_count: a segfault of the Jupyter kernel).
    # A TextSignalRO: a stock EpicsSignalRO could read the root as '/' (see text_signals).
    signal = TextSignalRO(pv or f"{prefix}sim:DataRoot", name="data_root")
    deadline = time.monotonic() + timeout
    try:
        signal.wait_for_connection(timeout=timeout)
        while True:
            # An absolute path, or the read was wrong: a char waveform can read back short (an
            # empty string), which would send every image to /images. Ask again rather than
            # build paths on it.
            root = signal.get(timeout=timeout, use_monitor=False)
            if isinstance(root, str) and os.path.isabs(root):
                return root
            if time.monotonic() > deadline:
                raise IOCNotFound(f"The IOC at {prefix!r} reports its data root as {root!r}, not an absolute path "
                                  f"({signal.pvname}).")
            time.sleep(0.1)
    except TimeoutError:
        raise explain(prefix, signal.pvname, timeout) from None


def connect_or_explain(prefix: str, devices: Iterable, timeout: float = 5.0) -> None:
    """Wait for every device to connect; raise :class:`IOCNotFound` naming what did not."""
    for device in devices:
        try:
            device.wait_for_connection(timeout=timeout)
        except TimeoutError as exc:
            raise explain(prefix, f"{device.name} ({exc})", timeout) from None


def shell_exports(prefix: str) -> str:
    """``export`` lines that point CA tools at the running IOC serving ``prefix`` (from its connection file)."""
    info = read_connection_file(prefix)
    if info is None:
        raise IOCNotFound(f"No beamline IOC with prefix {prefix!r} is running from {connection_file(prefix).parent} "
                          f"(no live {connection_file(prefix).name}). Start one with `make ioc`.")
    # The repeater the IOC's host runs: libca in a shell's one-off clients starts none of its own
    # (it would look for caRepeater on PATH). A session starts its own (it outlives IOC restarts).
    repeater = f" EPICS_CA_REPEATER_PORT={info['repeater_port']}" if info.get("repeater_port") else ""
    return (f"export EPICS_CA_ADDR_LIST=127.0.0.1 EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_SERVER_PORT={info['port']} "
            f"EPICS_CA_MAX_ARRAY_BYTES={CA_DEFAULTS['EPICS_CA_MAX_ARRAY_BYTES']}{repeater}")


def main(argv: list[str] | None = None) -> int:
    """``python -m beamline.connection [PREFIX]``: print the exports, for ``eval "$(...)"`` in a shell."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    try:
        print(shell_exports(argv[0] if argv else os.environ.get("BEAMLINE_PREFIX", "BL:")))
    except IOCNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
