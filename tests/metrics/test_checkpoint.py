import csv
import json

import pytest
import torch

from landscape import activation_factory, resnet, save_checkpoint
from landscape.cli import main
from landscape.cli.metrics import readable_table
from landscape.sources.specs import model_metadata
from landscape.storage.surface_file import read_surface
from tests.helpers import bowl_surface


def test_cli_stores_metrics_and_writes_json_csv(tmp_path, capsys):
    path = bowl_surface(tmp_path / "b.h5", "mish", 1.0, nx=41, ny=41)
    assert main(["metrics", str(path), "--json", str(tmp_path / "m.json"), "--csv", str(tmp_path / "m.csv")]) == 0
    head, rule, row, *notes = capsys.readouterr().out.splitlines()
    assert head.startswith("| surface | model | minimum | radius Δ=0.1 |") and rule.startswith("|---|")
    assert row.startswith(f"| {path} | mish | 0.5 | ")
    assert "| 4 | 1 |" in row  # curvature: the larger eigenvalue of 0.5 + α² + 2β² is 4; one local minimum
    assert main(["metrics", str(path), "--table", "--no-store"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| source | activation |") and "width_radius_0.5" in table
    stored = read_surface(path).metrics
    assert stored["minimum"] == pytest.approx(0.5) and stored["local_minima"] == 1
    assert len(stored["widths"]) == 3
    rows = json.loads((tmp_path / "m.json").read_text())
    assert rows[0]["hessian_eigenvalues"] == pytest.approx([2.0, 4.0], rel=1e-6)  # loss = 0.5 + α² + 2β²
    assert next(csv.DictReader(open(tmp_path / "m.csv")))["activation"] == "mish"
    assert main(["metrics"]) == 2


@pytest.mark.parametrize("name, params", [("swish", {"impl": "compiled"}), ("mish", {"impl": "compiled"}),
                                          ("relu", {})])
def test_checkpoint_metrics_with_dead_units_on_every_implementation(tmp_path, image_folder, capsys, name, params):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = resnet(8, activation_factory(name, **params))
    ckpt = save_checkpoint(tmp_path / f"{name}.pt", model, model_metadata(8, name, params))
    out = tmp_path / "rows.json"
    assert main(["metrics", "--checkpoint", str(ckpt), "--data", str(image_folder), "--samples", "20",
                 "--dead-units", "--json", str(out), "--quiet"]) == 0
    (row,) = json.loads(out.read_text())
    assert row["activation"] == name and 0 <= row["dead_never_positive"] <= 1 and row["images"] == 20


def test_hessian_rows_keep_every_start_and_probe(tmp_path, tiny_checkpoint, image_folder, capsys):
    out = tmp_path / "rows.json"
    assert main(["metrics", "--checkpoint", str(tiny_checkpoint), "--data", str(image_folder), "--samples", "20",
                 "--hessian", "--starts", "2", "--iterations", "3", "--trace-samples", "4", "--lanczos-steps", "3",
                 "--json", str(out), "--quiet"]) == 0
    (row,) = json.loads(out.read_text())
    detail = row["hessian_detail"]
    assert len(detail["starts"]) == 2 and len(detail["trace_probes"]) == 4 and len(detail["ritz_values"]) == 3
    assert row["hessian_eig_1"] == max((s["value"] for s in detail["starts"]), key=abs)
    assert row["hessian_trace"] == pytest.approx(sum(detail["trace_probes"]) / 4)
    assert sum(detail["ritz_weights"]) == pytest.approx(1) and row["hessian_lanczos_max"] == max(detail["ritz_values"])
    converged = sum(s["converged"] for s in detail["starts"])
    assert f"({converged} of 2)" in capsys.readouterr().out and "(4) |" in "\n".join(readable_table([row]))


def test_the_readable_table_explains_every_n_a_and_bound():
    from landscape.cli.metrics import readable_table

    surface = {"source": "s.h5", "activation": "relu", "minimum": 0.1, "hessian_eigenvalues": [1.0, 3.0],
               "local_minima": 2, "roughness": float("nan"), "nonconvex_fraction": float("nan"),
               "width_fraction_0.5": 0.2, "width_radius_0.5": 0.3, "width_fraction_1": 1.0, "width_radius_1": 0.9}
    checkpoint = {"source": "c.pt", "activation": "relu", "loss": 0.25, "loss_standard_error": 0.01, "images": 100}
    lines = readable_table([surface, checkpoint])
    assert "| s.h5 | relu | 0.1 | 0.3 | ≥0.9 (a) | 3 | 2 | n/a (b) | n/a (c) |" in lines
    assert "| c.pt | relu | 0.25 ± 0.01 | 100 | (--hessian) | (--hessian) | (--hessian) | (--dead-units) |" in lines
    assert [line[:4] for line in lines[-3:]] == ["(a) ", "(b) ", "(c) "]
    assert "fills the whole grid" in lines[-3] and "quartic" in lines[-2] and "1-D" in lines[-1]
