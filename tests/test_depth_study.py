import json

import pytest

from landscape import LandscapeError
from landscape.cli import main
from landscape.depth_study import DepthProfile, run_depth_study
from landscape.study import STUDY_ACTIVATIONS


def test_depth_study_end_to_end_on_tiny_data(tmp_path, image_folder, capsys):
    """Sweep → runs table (accuracy, divergence, gradients, dead units) → figure → landscapes of the ends."""
    profile = DepthProfile(name="test", depths=(1, 3), seeds=(0,), epochs=2, train_samples=20, width=16,
                           dropout=0.25, lr=1e-3, checkpoint_dir=str(tmp_path / "ck"), output_dir=str(tmp_path / "out"),
                           grid="-1:1:3", samples=10, directions=2, slice_grid="-1:1:5", repeat_depths=(3,),
                           repeat_seeds=(1,))
    summary = run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True, jobs=2)  # 2 runs at a time
    out = tmp_path / "out"
    rows = json.loads((out / "runs.json").read_text())
    assert {(r["activation"], r["depth"], r["seed"]) for r in rows} == \
        {(a, d, 0) for a in STUDY_ACTIVATIONS for d in (1, 3)} | {(a, 3, 1) for a in STUDY_ACTIVATIONS}
    for r in rows:
        assert 0 <= r["test_acc"] <= 1 and r["diverged_epoch"] is None and 0 <= r["dead_units"] <= 1
        assert r["gradient_norms_init_first"] > 0 and r["gradient_norms_last"] > 0
    table = (out / "depth.md").read_text()
    assert table.startswith("| activation | L=1 | L=3 |") and "Leaky ReLU (slope 0.3)" in table
    assert "- L=3: test_acc: mish − relu = " in table
    assert "2 seeds" in table.split("- L=3")[1] and "2 seeds" not in table.split("- L=3")[0]  # repeated at L=3 only
    for name in ("accuracy_vs_depth.png", "landscape_depth_1.png", "landscape_depth_3.pdf", "sharpness/summary.csv",
                 "surfaces/mlp3_mish.h5"):
        assert (out / name).stat().st_size > 200, name
    assert summary[0].startswith("runs: ") and len(summary) == 2 + len(STUDY_ACTIVATIONS)

    # A fresh clone: the checkpoints are not committed, their records and the finished landscapes are.
    # The study trains and measures nothing again and gives the same results.
    before = {name: (out / name).read_text() for name in ("runs.json", "depth.md", "sharpness/summary.csv")}
    for checkpoint in (tmp_path / "ck").glob("*.pt"):
        checkpoint.unlink()
    assert run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True) == summary
    assert not list((tmp_path / "ck").glob("*.pt"))
    assert {name: (out / name).read_text() for name in before} == before
    # a landscape that is not finished cannot be made without its checkpoint: one line says what to do
    (out / "surfaces" / "mlp3_mish.h5").unlink()
    with pytest.raises(LandscapeError, match=r"mlp3_mish.pt is not on disk .* delete .*mlp3_mish.run.json"):
        run_depth_study(profile, data=str(image_folder), device="cpu", quiet=True)
    assert main(["study", "--study", "depth", "--profile", "huge"]) == 2  # one-line refusal
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert main(["study", "--repeat-depths", "23"]) == 2  # the activation study has no depths
    assert main(["study", "--study", "depth", "--repeat-depths", "deep"]) == 2
