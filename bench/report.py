"""The benchmark's one table (figure | ours | baseline | ratio | goal) and its JSON figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    """One line of the table. ``met`` is None when the row has no goal."""

    figure: str
    ours: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None = None


def fmt(value: float, digits: int = 1) -> str:
    """A number for the table ('n/a' if it is not finite)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    """The rows as a GitHub-flavoured markdown table, with a verdict column."""
    head = ["figure", "ours", "baseline", "ratio", "goal", "met"]
    body = [[r.figure, r.ours, r.baseline, r.ratio, r.goal, {True: "yes", False: "NO", None: ""}[r.met]]
            for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) if i in (1, 2, 3) else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in (1, 2, 3) else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep, *(line(cells) for cells in body)])


def print_table(rows: list[Row], notes: list[str]) -> None:
    """Print the rows' table and the notes under it (a row run alone: ``python -m bench.live`` ...)."""
    print(table(rows))
    for note in notes:
        print(f"- {note}")


def write_json(path: Path, figures: dict[str, float]) -> None:
    """Write the figures (NaN/inf become null, which the test rejects: every figure must be measured)."""
    clean = {k: (float(v) if v is not None and math.isfinite(float(v)) else None) for k, v in figures.items()}
    Path(path).write_text(json.dumps(clean, indent=1, sort_keys=True) + "\n")


TABLE_START, TABLE_END = "<!-- bench-table -->", "<!-- /bench-table -->"


def update_table(path: Path, table_text: str, mode: str, notes: list[str]) -> None:
    """Replace what lies between TABLE_START and TABLE_END in ``path`` by the table and its run's context."""
    import datetime

    text = Path(path).read_text()
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {TABLE_START} ... {TABLE_END} markers")
    machine = next((n for n in notes if n.startswith("machine:")), "")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"From `python -m bench` in {mode} mode ({'`make bench`' if mode == 'full' else 'not what `make bench` runs'}),"
            f" {when}: {machine.partition('; ')[0].removeprefix('machine: ')}.")
    body = f"{TABLE_START}\n{head}\n\n{table_text}\n"
    Path(path).write_text(text[:start] + body + text[end:])
