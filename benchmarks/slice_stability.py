"""Do the study's verdicts on slice measures survive a change of grid resolution?

The single-plane roughness changed its ranking with the fit window (issue 11), so the findings
rank only by the slice measures this script shows to be stable. It reads the study's slices files
(`landscape sharpness`), measures every slice on the full grid and on every second point (21 → 11
points over the same [−1, 1], so the curvature's 5-point fit spans twice the distance and each
width's crossing is interpolated over cells twice as wide), and prints, per measure and grid,
Mish's paired difference with every other activation and its verdict by the study's statistics,
then how many slices have a second local minimum. With `--family` (the study's findings.json) it
also redoes the declared family's Holm-corrected tests with the slice measure measured on each
grid and every other test as the study stored it, so a verdict that sits near the corrected
threshold is checked against the grid too:

    python benchmarks/slice_stability.py figures/sharpness/*_slices.h5 --family figures/findings.json
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from landscape.metrics.options import DEFAULT_THRESHOLDS
from landscape.metrics.slices import has_second_minimum, slice_metrics
from landscape.metrics.stats import Estimate, family_verdicts, paired_difference
from landscape.metrics.surface import finite_values
from landscape.storage.schema import Surface
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import markdown_table, write_rows
from landscape.studies.claims import CLAIM_FAMILY
from landscape.studies.findings import decide

MEASURES = ["curvature"] + [f"width_{d:g}" for d in DEFAULT_THRESHOLDS]


def measured(surfaces: list[Surface], stride: int) -> dict[str, dict[str, np.ndarray]]:
    """measure → activation → [seeds, directions] (one row per file), on every `stride`-th point."""
    per: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for surface in surfaces:
        x = surface.x[::stride]
        flats = [slice_metrics(x, row[::stride], DEFAULT_THRESHOLDS).flat()
                 for row in finite_values(surface, "train_loss")]
        for m in MEASURES:
            per[m][surface.header.activation].append([f[m] for f in flats])
    return {m: {a: np.array(rows) for a, rows in by.items()} for m, by in per.items()}


def second_minima(surfaces: list[Surface], above: float = 1.0) -> tuple[int, int, int]:
    """(slices, slices with a second strict local minimum below their minimum + `above`, slices whose
    lowest point is not the trained weights at α = 0): the "fewer local minima" claim, counted."""
    slices = with_second = off_origin = 0
    for surface in surfaces:
        for z in finite_values(surface, "train_loss"):
            slices += 1
            with_second += has_second_minimum(z, above)
            off_origin += surface.x[int(np.nanargmin(z))] != 0
    return slices, with_second, off_origin


def signed_interval(d: Estimate) -> str:
    return f"{d.mean:+.3g} [{d.low:+.3g}, {d.high:+.3g}]"


def on_grids(surfaces: list[Surface], strides: tuple[int, ...]) -> dict[int, dict[str, dict[str, np.ndarray]]]:
    """Grid points → the slices' measures on that grid (`measured`), one grid per stride."""
    return {len(surfaces[0].x[::stride]): measured(surfaces, stride) for stride in strides}


def verdicts(grids: dict[int, dict[str, dict[str, np.ndarray]]]) -> list[dict]:
    """Per measure, grid and comparison of Mish with another activation: the paired difference,
    its interval and its verdict (`findings.decide`, the study's own statistics)."""
    rows = []
    for points, values in grids.items():
        for c in decide(values).comparisons:
            rows.append({"measure": c.measure, "grid points": points, "comparison": f"mish − {c.other}",
                         "difference": signed_interval(c.difference), "verdict": c.verdict,
                         "over": c.difference.levels})
    return rows


def family_on_grids(grids: dict[int, dict[str, dict[str, np.ndarray]]], stored: list[dict]) -> list[dict]:
    """The declared family redone per grid: each test on a slice measure from that grid's paired
    difference, every other test as the study stored it (`findings.json`, "family"), Holm over all."""
    claims = {c.measure: c for c in CLAIM_FAMILY}
    rows = []
    for points, values in grids.items():
        differences = [paired_difference(values[t["measure"]][t["first"]], values[t["measure"]][t["second"]])
                       if t["measure"] in values else Estimate(**t["difference"]) for t in stored]
        verdicts = family_verdicts(differences, [claims[t["measure"]].sign for t in stored],
                                   [t["margin"] for t in stored])
        for t, d, v in zip(stored, differences, verdicts):
            if t["measure"] in values:
                rows.append({"measure": t["measure"], "grid points": points,
                             "pair": f"{t['first']} − {t['second']}",
                             "difference": signed_interval(d),
                             "Holm-corrected p": f"{v.p_holm:.2g}", "verdict": claims[t["measure"]].word(v.verdict)})
    return rows


def grid_changes(rows: list[dict], key: str) -> list[str]:
    """One line per (measure, `key`) whose verdict differs between the grids, then a closing line."""
    lines = []
    for measure, which in dict.fromkeys((r["measure"], r[key]) for r in rows):
        found = {r["verdict"] for r in rows if r["measure"] == measure and r[key] == which}
        if len(found) > 1:
            lines.append(f"{measure}, {which}: the verdict CHANGES with the grid ({' / '.join(sorted(found))})")
    return lines + ["every other verdict is the same on every grid"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slices", nargs="+", help="CHECKPOINT_slices.h5 files from `landscape sharpness`")
    parser.add_argument("--strides", default="1,2", help="use every n-th grid point, for each n given")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--family", default=None,
                        help="the study's findings.json: also redo its declared family's tests per grid")
    args = parser.parse_args()
    surfaces = [read_surface(p) for p in args.slices]
    grids = on_grids(surfaces, tuple(int(s) for s in args.strides.split(",")))
    rows = verdicts(grids)
    rows.sort(key=lambda r: (MEASURES.index(r["measure"]), r["comparison"], -r["grid points"]))
    print(markdown_table(rows))
    print("\n".join(grid_changes(rows, "comparison")))
    slices, with_second, off_origin = second_minima(surfaces)
    print(f"{slices} slices: {with_second} with a second local minimum below minimum + 1, "
          f"{off_origin} whose lowest point is not α = 0")
    if args.family:
        stored = json.loads(Path(args.family).read_text())["family"]
        family = family_on_grids(grids, stored)
        family.sort(key=lambda r: (r["pair"], -r["grid points"]))
        print(f"\nThe declared family ({len(stored)} tests, Holm-corrected) with its slice measure on each grid:")
        print(markdown_table(family))
        print("\n".join(grid_changes(family, "pair")))
    write_rows(rows, args.json)


if __name__ == "__main__":
    main()
