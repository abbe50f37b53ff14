"""``python -m bench --tiny`` runs end to end: it exits 0, prints its table, writes every figure, the
py-spy profiles beside the JSON and the table into a page (make bench: docs/performance.md).

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

import pytest

# Alone: a benchmark, and heavy enough to slow the tests beside it.
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[1]
KEYS = [
    "scan_fps", "scan_fps_baseline", "scan_ratio", "scan_event_ratio", "scan_interval_ms_p95",
    "overhead_ms_0005", "overhead_ms_005", "overhead_ms_0005_frame_p95",
    "ca_get_mbps", "ca_get_mbps_c", "ca_get_ratio", "ca_monitor_mbps", "ca_monitor_mbps_c", "ca_monitor_ratio",
    "fill_fps", "fill_fps_tifffile", "fill_ratio", "fill_peak_frames", "fill_rss_frames", "fill_rss_frames_tifffile",
    "scan_cost_growth_12_vs_4", "fill_cost_growth_12_vs_4", "chain_overhead_ioc_ms", "chain_added_ms",
    "live_plots_seconds_on", "live_plots_seconds_off", "live_plots_ratio", "live_plots_stock_ratio",
    "viewers_scan_fps", "viewers_scan_fps_alone", "viewers_ratio", "ca_connect_ms", "ca_connect_ms_c",
    "ca_connect_ratio",
]


def test_tiny_benchmark_prints_a_table_and_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    page = tmp_path / "performance.md"
    page.write_text("# x\n<!-- bench-table -->\nold table\n<!-- /bench-table -->\nafter\n")
    proc = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--json", str(out), "--doc", str(page)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| figure"))
    assert [cell.strip() for cell in header.split("|")[1:6]] == ["figure", "ours", "baseline", "ratio", "goal"]
    assert "scan rate" in proc.stdout and "live image over CA" in proc.stdout and "live plots on vs off" in proc.stdout
    figures = json.loads(out.read_text())
    for key in KEYS:
        assert key in figures, key
        assert isinstance(figures[key], float) and math.isfinite(figures[key]), (key, figures[key])
    # py-spy profiles of the scan, client and IOC, beside the JSON, each with samples of this code.
    client, ioc = (tmp_path / "profile-client.txt").read_text(), (tmp_path / "profile-ioc.txt").read_text()
    assert "bluesky" in client and "ioc/" in ioc
    assert "profile client" in proc.stdout and "profile ioc" in proc.stdout
    text = page.read_text()
    assert "old table" not in text and text.endswith("<!-- /bench-table -->\nafter\n")
    assert header in text and "tiny mode" in text
