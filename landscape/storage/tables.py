"""Rows of results (flat dicts) as a Markdown table, JSON or CSV: the one table formatter.

Nested values (lists, dicts) go to JSON and CSV as JSON text and are left out of the
Markdown table, which is for reading.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from landscape.files import atomic_write, require_safe_outputs


def format_cell(value, digits: int | None = 4) -> str:
    """A cell as text: floats to `digits` significant digits (as they are with None), None as empty,
    a '|' escaped so that it does not end the cell."""
    if value is None:
        return ""
    if isinstance(value, float) and digits is not None:
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|")


def format_number(value: float, significant: int = 3) -> str:
    """`significant` digits in plain decimal notation (1050, 88.0, 0.0123), never '1.05e+03';
    scientific notation only below 0.001 or from a million up."""
    if not math.isfinite(value) or value == 0:
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -3 or magnitude >= 6:
        return f"{value:.{significant - 1}e}"
    return f"{value:.{max(0, significant - 1 - magnitude)}f}"


def estimate_decimals(mean: float, low: float | None = None, high: float | None = None) -> int:
    """The decimals an interval supports: two significant digits of its half-width (those of
    three significant digits of the mean where there is no interval)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return max(0, 2 - math.floor(math.log10(abs(mean)))) if math.isfinite(mean) and mean else 0
    return max(0, 1 - math.floor(math.log10((high - low) / 2)))


def format_estimate(mean: float, low: float | None = None, high: float | None = None,
                    decimals: int | None = None) -> str:
    """'mean [low, high]' rounded to what the interval supports (`estimate_decimals`), or to
    `decimals` (one format for a whole column); the mean alone where there is no interval."""
    no_interval = low is None or high is None or not (math.isfinite(low) and math.isfinite(high)) or high <= low
    if decimals is None and no_interval:
        return format_number(mean)
    if decimals is None:
        decimals = estimate_decimals(mean, low, high)

    def rounded(value: float) -> str:  # never '-0': a mean that rounds to zero has no sign to show
        text = f"{value:.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    return rounded(mean) if no_interval else f"{rounded(mean)} [{rounded(low)}, {rounded(high)}]"


def markdown_table(rows: list[dict], digits: int | None = 4) -> str:
    """The scalar columns of `rows` (union of their keys, in first-seen order) as Markdown."""
    columns = [k for k in dict.fromkeys(k for r in rows for k in r)
               if not any(isinstance(r.get(k), (list, tuple, dict)) for r in rows)]
    lines = ["| " + " | ".join(map(format_cell, columns)) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_cell(r.get(c), digits) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_rows(rows: list[dict], json_path: str | Path | None = None, csv_path: str | Path | None = None) -> None:
    """Save rows as a JSON list and/or a CSV file (nested values as JSON text); never over a surface
    or a checkpoint."""
    require_safe_outputs({"--json": json_path, "--csv": csv_path}, [])
    if json_path:
        with atomic_write(json_path) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))
    if csv_path:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns)
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if isinstance(v, (list, tuple, dict)) else v for k, v in r.items()}
                         for r in rows)
        with atomic_write(csv_path) as tmp:
            tmp.write_text(buffer.getvalue())
