"""Settings survive an IOC restart, as with EPICS autosave: file numbering continues, nothing is
overwritten by accident, a cut-off save file is not trusted, ``--no-autosave`` starts clean."""

from __future__ import annotations

import hashlib
from pathlib import Path

from caproto.sync import client as sync

from ioc.server import autosave

from . import ca
from .conftest import eventually


def configure(prefix: str, data_root: Path) -> Path:
    """What a user sets before a run: file plugin, exposure, a motor's speed, limit and position."""
    directory = data_root / "keep"
    directory.mkdir(parents=True, exist_ok=True)
    tiff = f"{prefix}dot:TIFF1:"
    ca.put(f"{tiff}FilePath", str(directory) + "/")
    ca.put(f"{tiff}FileName", "keep")
    ca.put(f"{tiff}FileTemplate", "%s%s_%3.3d.tif")
    ca.put(f"{tiff}FileNumber", 1)
    ca.put(f"{tiff}AutoIncrement", 1)
    ca.put(f"{tiff}AutoSave", 1)
    ca.put(f"{prefix}dot:cam1:ImageMode", "Single")
    ca.put(f"{prefix}dot:cam1:AcquireTime", 0.25)
    ca.put(f"{prefix}mtr:dotx.VELO", 3.0)
    ca.put(f"{prefix}mtr:dotx.HLM", 50.0)
    ca.put(f"{prefix}mtr:dotx", 12.5)  # waits for the move
    return directory


def acquire(prefix: str) -> str:
    sync.write(f"{prefix}dot:cam1:Acquire", 1, notify=True, timeout=10, repeater=False)
    return ca.get_str(f"{prefix}dot:TIFF1:FullFileName_RBV")


def read(pv: str):
    """A number over a new channel: right after a restart, pyepics' old channels take a while
    to find the IOC again (libca searches for lost channels ever less often)."""
    return sync.read(pv, timeout=5, repeater=False).data[0]


def saved(prefix: str, data_root: Path) -> dict:
    return autosave.read(autosave.save_file(data_root, prefix)) or {}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_settings_survive_a_restart_and_file_numbers_continue(spawn_ioc, tmp_path):
    prefix = "AS1:"
    data_root = tmp_path / "data"
    ioc = spawn_ioc(prefix, data_root=data_root, extra_args=["--autosave-period", "0.1"])
    directory = configure(prefix, data_root)
    first = Path(acquire(prefix))
    assert first == directory / "keep_001.tif"
    before = digest(first)
    eventually(lambda: saved(prefix, data_root).get(f"{prefix}dot:TIFF1:FileNumber") == 2, timeout=10)
    eventually(lambda: abs(saved(prefix, data_root).get(f"{prefix}mtr:dotx.DVAL", 0) - 12.5) < 1e-9, timeout=10)

    ioc.stop()
    ioc.start()
    assert eventually(lambda: read(f"{prefix}dot:TIFF1:FileNumber") == 2, timeout=10)
    assert ca.get_str(f"{prefix}dot:TIFF1:FilePath") == str(directory) + "/"
    assert ca.get_str(f"{prefix}dot:TIFF1:FileName") == "keep"
    assert read(f"{prefix}dot:cam1:AcquireTime") == 0.25
    assert read(f"{prefix}dot:cam1:AcquireTime_RBV") == 0.25
    assert read(f"{prefix}mtr:dotx.VELO") == 3.0
    assert read(f"{prefix}mtr:dotx.HLM") == 50.0
    assert abs(read(f"{prefix}mtr:dotx.RBV") - 12.5) < 1e-9
    assert read(f"{prefix}mtr:dotx.DMOV") == 1

    # The next frame gets the next number; the frame from before the restart is untouched.
    assert Path(acquire(prefix)) == directory / "keep_002.tif"
    assert digest(first) == before


def test_a_cut_off_save_file_falls_back_to_the_backup_and_refused_values_are_reported(spawn_ioc, tmp_path):
    prefix = "AS2:"
    data_root = tmp_path / "data"
    log = tmp_path / "ioc.log"
    ioc = spawn_ioc(prefix, data_root=data_root, log_path=log, extra_args=["--autosave-period", "0.1"])
    directory = configure(prefix, data_root)
    eventually(lambda: saved(prefix, data_root).get(f"{prefix}mtr:dotx.DVAL") == 12.5, timeout=10)
    ca.put(f"{prefix}dot:cam1:AcquireTime", 0.5)
    eventually(lambda: saved(prefix, data_root).get(f"{prefix}dot:cam1:AcquireTime") == 0.5, timeout=10)
    ioc.kill()  # as a crash: no save at exit

    # A crash in the middle of writing the file leaves it without its <END> line.
    path = autosave.save_file(data_root, prefix)
    path.write_text("\n".join(path.read_text().splitlines()[:3]))
    # And a hand edit put a value in the backup that the IOC refuses.
    backup = path.with_suffix(".savB")
    backup.write_text(backup.read_text().replace(f"{prefix}dot:cam1:NumImages 1", f"{prefix}dot:cam1:NumImages -5"))

    ioc.start()
    assert eventually(lambda: read(f"{prefix}dot:cam1:AcquireTime") == 0.25, timeout=10)  # from .savB
    assert read(f"{prefix}mtr:dotx.VELO") == 3.0
    assert ca.get_str(f"{prefix}dot:TIFF1:FileName") == "keep"
    assert ca.get_str(f"{prefix}dot:TIFF1:FilePath") == str(directory) + "/"
    assert read(f"{prefix}dot:cam1:NumImages") == 1  # the default, not -5
    text = eventually(lambda: "not restored" in log.read_text() and log.read_text(), timeout=10)
    refused = [line for line in text.splitlines() if "not restored" in line]
    assert len(refused) == 1 and f"{prefix}dot:cam1:NumImages" in refused[0], refused
    assert "auto_settings.savB" in text


def test_no_autosave_starts_from_the_defaults(spawn_ioc, tmp_path):
    prefix = "AS3:"
    data_root = tmp_path / "data"
    ioc = spawn_ioc(prefix, data_root=data_root, extra_args=["--autosave-period", "0.1"])
    configure(prefix, data_root)
    ca.put(f"{prefix}dot:TIFF1:FileNumber", 7)
    eventually(lambda: saved(prefix, data_root).get(f"{prefix}dot:TIFF1:FileNumber") == 7, timeout=10)
    ioc.stop()
    saved_before = autosave.save_file(data_root, prefix).read_text()

    ioc.extra_args = ["--no-autosave"]
    ioc.start()
    assert read(f"{prefix}dot:cam1:AcquireTime") != 0.25
    assert read(f"{prefix}mtr:dotx.VELO") != 3.0
    assert read(f"{prefix}dot:TIFF1:FileNumber") != 7
    sync.write(f"{prefix}mtr:dotx.VELO", 4.0, notify=True, timeout=10, repeater=False)
    ioc.stop()
    assert autosave.save_file(data_root, prefix).read_text() == saved_before  # nothing saved
