import json

import h5py

from landscape import load_checkpoint
from landscape.study import STUDY_ACTIVATIONS, StudyProfile, run_study


def test_study_end_to_end_on_tiny_data(tmp_path, image_folder):
    """Training → checkpoint → surfaces → HDF5 → metrics → figures → report, in a temporary folder."""
    profile = StudyProfile(epochs=2, train_samples=20, grid="-1:1:3", samples=10, checkpoint_dir=str(tmp_path / "ck"),
                           output_dir=str(tmp_path / "out"), save_every=1, path_points=3)
    report = run_study(profile, data=str(image_folder), device="cpu", quiet=True)
    assert report.exists() and "leaky_relu" in report.read_text()
    path_report = (report.parent / "report_training_path.html").read_text()
    assert "resnet20_mish_path.h5" in path_report and "explained_variance" in path_report
    for name in STUDY_ACTIVATIONS:
        _, meta = load_checkpoint(tmp_path / "ck" / f"resnet20_{name}.pt")
        assert meta["activation"] == name and meta["recipe"]["precision"] == "fp32"
        with h5py.File(tmp_path / "out" / "surfaces" / f"resnet20_{name}.h5") as f:
            assert f.attrs["complete"] and f["test_loss"].shape == (3, 3) and "metrics" in f
        with h5py.File(tmp_path / "out" / "surfaces" / f"resnet20_{name}_path.h5") as f:
            path, x, y = f["trajectory"][()], f["xcoordinates"][()], f["ycoordinates"][()]
            assert f.attrs["complete"] and f.attrs["direction_source"] == "pca" and path.shape == (3, 2)
            assert x.min() < path[:, 0].min() and path[:, 0].max() < x.max()  # the grid is fitted to the path
            assert y.min() < path[:, 1].min() and path[:, 1].max() < y.max()
    _, leaky = load_checkpoint(tmp_path / "ck" / "resnet20_leaky_relu.pt")
    assert leaky["activation_params"] == {"negative_slope": 0.3}
    rows = json.loads((tmp_path / "out" / "surface_metrics.json").read_text())
    assert [r["activation"] for r in rows] == list(STUDY_ACTIVATIONS)
    for name in ("comparison_train_loss.png", "comparison_test_loss.pdf", "comparison_path_train_loss.png",
                 "training_curves.png", "surfaces/resnet20_mish_path_train_loss_contour.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
