import json

import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.studies.output_landscape import output_image, random_network, smoothness


def test_smoothness_of_analytic_images():
    axis = np.linspace(0, 10, 101)
    second, first = np.meshgrid(axis, axis, indexing="ij")
    ramp = smoothness(first / 10)  # scaled plane: rises by 1 over 10 input units
    assert ramp.curvature == pytest.approx(0, abs=1e-12) and ramp.gradient == pytest.approx(0.1)
    bowl = smoothness((first ** 2 + second ** 2) / 200)  # ∇² = 4/200 everywhere (the stencil is exact)
    assert bowl.curvature == pytest.approx(0.02, rel=1e-9)
    # a straight kink: the slope jumps by 2/4.95 along a line 10 long, so the mean |∇²f| over the 10 × 10
    # square is that jump × length / area, whatever the resolution
    kink = smoothness(np.abs(first - 5.05) / 4.95)
    assert kink.curvature == pytest.approx(2 / 4.95 * 10 / 100, rel=0.03)
    assert kink.gradient == pytest.approx(1 / 4.95, rel=1e-2)


def test_networks_are_paired_by_seed_and_images_scaled():
    relu, mish, other = random_network("relu", 3), random_network("mish", 3), random_network("relu", 4)
    def first(m):
        return m.layers[1].weight

    assert torch.equal(first(relu), first(mish)) and not torch.equal(first(relu), first(other))
    assert [layer.out_features for layer in relu.layers if isinstance(layer, torch.nn.Linear)] == [64, 32, 16, 1]
    image = output_image(relu, resolution=50)
    assert image.shape == (50, 50) and image.min() == 0 and image.max() == 1


def test_cli_writes_figure_json_and_verdicts(tmp_path, capsys):
    assert main(["output-landscape", "--activations", "relu,mish", "--seeds", "4", "--resolution", "40",
                 "--out-dir", str(tmp_path), "--format", "png", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "curvature: mish − relu = " in out and "(paired, over 4 seeds)" in out
    summary = json.loads((tmp_path / "output_landscape.json").read_text())
    assert len(summary["rows"]) == 8 and {c["other"] for c in summary["comparisons"]} == {"relu"}
    assert (tmp_path / "output_landscape.png").stat().st_size > 1000
    assert main(["output-landscape", "--activations", "relu", "--subject", "mish", "--out-dir", str(tmp_path)]) == 2
