"""benchmarks/slice_stability.py redoes the declared family per grid; on the study's own grid it
must reproduce the study's stored Holm-corrected p-values and verdicts exactly (a round trip
through the committed slices and findings.json)."""
import importlib.util
import json
from pathlib import Path

import pytest

from landscape.storage.surface_file import read_surface

ROOT = Path(__file__).resolve().parents[2]
SLICES = sorted((ROOT / "figures/sharpness").glob("*_slices.h5"))
FINDINGS = ROOT / "figures/findings.json"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("slice_stability", ROOT / "benchmarks/slice_stability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not SLICES or not FINDINGS.exists(), reason="the study's slices are not committed here")
def test_full_grid_reproduces_the_study_family():
    bench = load_benchmark()
    stored = json.loads(FINDINGS.read_text())["family"]
    rows = bench.family_on_grids(bench.on_grids([read_surface(p) for p in SLICES], (1,)), stored)
    by_pair = {r["pair"]: r for r in rows}
    on_slices = [t for t in stored if t["measure"] == "width_0.5"]
    assert len(rows) == len(on_slices) == 6
    for t in on_slices:
        row = by_pair[f"{t['first']} − {t['second']}"]
        assert row["Holm-corrected p"] == f"{t['p_holm']:.2g}"
        assert row["verdict"] == t["verdict"]


def test_grid_changes_names_only_the_changed_pair():
    bench = load_benchmark()
    rows = [{"measure": "m", "pair": "a − b", "verdict": "wider"}, {"measure": "m", "pair": "a − b", "verdict": "x"},
            {"measure": "m", "pair": "c − d", "verdict": "x"}, {"measure": "m", "pair": "c − d", "verdict": "x"}]
    lines = bench.grid_changes(rows, "pair")
    assert lines == ["m, a − b: the verdict CHANGES with the grid (wider / x)",
                     "every other verdict is the same on every grid"]
