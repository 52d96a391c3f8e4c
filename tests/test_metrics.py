import csv
import json

import pytest
import torch

from landscape import activation_factory, resnet, save_checkpoint
from landscape.checkpoint import model_metadata
from landscape.cli import main
from landscape.storage import read_surface

from .test_report import bowl_surface


def test_cli_stores_metrics_and_writes_json_csv(tmp_path, capsys):
    path = bowl_surface(tmp_path / "b.h5", "mish", 1.0, nx=41, ny=41)
    assert main(["metrics", str(path), "--json", str(tmp_path / "m.json"), "--csv", str(tmp_path / "m.csv")]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and line.startswith(f"{path} (mish): minimum 0.5, basin radius at Δ=1 ")
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
