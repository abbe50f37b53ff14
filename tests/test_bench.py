"""``python -m bench --tiny`` runs end to end: it exits 0, prints its table and writes every figure.

No timing assertions: benchmarks are not tests. The benchmark starts its own servers on
free loopback ports (see bench/servers.py) and needs the ``bench`` extra (pythonSoftIOC),
which ``make test`` installs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = [
    "scan_fps", "scan_fps_baseline", "scan_ratio", "overhead_ms_0005", "overhead_ms_005",
    "ca_get_mbps", "ca_get_mbps_c", "ca_get_ratio", "ca_monitor_mbps", "ca_monitor_mbps_c", "ca_monitor_ratio",
    "fill_fps", "fill_fps_tifffile", "fill_ratio", "fill_peak_frames",
]


def test_tiny_benchmark_prints_a_table_and_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| figure"))
    assert [cell.strip() for cell in header.split("|")[1:6]] == ["figure", "ours", "baseline", "ratio", "goal"]
    assert "scan rate" in proc.stdout and "live image over CA" in proc.stdout
    figures = json.loads(out.read_text())
    for key in KEYS:
        assert key in figures, key
        assert isinstance(figures[key], float) and math.isfinite(figures[key]), (key, figures[key])
