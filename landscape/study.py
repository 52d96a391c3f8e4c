"""The Mish study end to end: train four ResNet-20s that differ only in their activation,
then surfaces (random filter-normalised planes and training-path planes), metrics, figures and
a report for all four.

Stage: orchestration only. Each step calls the library function that owns it and skips or
resumes work already on disk, so rerunning the same command continues an interrupted study.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .directions import DirectionOptions
from .errors import require_choice
from .metrics import MetricsConfig, format_table, run_metrics, write_rows
from .plots import PlotOptions, plot_comparison, plot_surface, plot_training_curves
from .report import write_report
from .checkpoint import load_checkpoint
from .surface import EvalOptions, SurfaceConfig, covering_axes, path_plane, run_surface
from .train import RunPaths, TrainConfig, train

# The Mish paper's ResNet-20 comparison (Misra 2019, table of CIFAR-10 ResNet-20 results).
# Swish and Mish use the compiled kernels: same functions, about 3x faster on this CPU.
STUDY_ACTIVATIONS: dict[str, dict] = {"relu": {}, "leaky_relu": {"negative_slope": 0.3},
                                      "swish": {"beta": 1.0, "impl": "compiled"}, "mish": {"impl": "compiled"}}
TITLE = "ResNet-20 on CIFAR-10: ReLU, Leaky ReLU, Swish, Mish"


@dataclass(frozen=True)
class StudyProfile:
    """How much compute the study spends. `paper` is issue 6's recipe; `quick` checks the pipeline."""

    epochs: int
    train_samples: int | None
    grid: str  # of the random-direction surfaces, both axes
    samples: int
    checkpoint_dir: str
    output_dir: str
    save_every: int  # snapshot interval; the training-path planes need at least three distinct points
    path_points: int  # per axis of the training-path surfaces (their range is fitted to the path)


PROFILES = {
    "paper": StudyProfile(epochs=50, train_samples=None, grid="-1:1:51", samples=1000,
                          checkpoint_dir="checkpoints", output_dir="figures", save_every=5, path_points=31),
    "quick": StudyProfile(epochs=2, train_samples=5000, grid="-1:1:11", samples=200,
                          checkpoint_dir="runs/quick/checkpoints", output_dir="runs/quick", save_every=1,
                          path_points=9),
}


def train_all(profile: StudyProfile, data: str | None, device: str, quiet: bool) -> list[Path]:
    """The four checkpoints (same seed, recipe and precision; only the activation differs)."""
    return [train(TrainConfig(out=f"{profile.checkpoint_dir}/resnet20_{name}.pt", data=data, activation=name,
                              activation_params=params, epochs=profile.epochs, precision="fp32", seed=0,
                              save_every=profile.save_every, train_samples=profile.train_samples, device=device,
                              quiet=quiet))
            for name, params in STUDY_ACTIVATIONS.items()]


def surface_all(checkpoints: list[Path], profile: StudyProfile, data: str | None, device: str,
                quiet: bool) -> list[Path]:
    """A 2-D train+test surface per checkpoint, each with its own filter-normalised directions (seed 0)."""
    out_dir = Path(profile.output_dir) / "surfaces"
    return [run_surface(SurfaceConfig(checkpoint=str(ckpt), out=str(out_dir / f"{ckpt.stem}.h5"), data=data,
                                      x=profile.grid, y=profile.grid, splits=("train", "test"),
                                      samples=profile.samples, directions=DirectionOptions(seed=0),
                                      eval=EvalOptions(), device=device, quiet=quiet))
            for ckpt in checkpoints]


def path_surface_all(checkpoints: list[Path], profile: StudyProfile, data: str | None, device: str,
                     quiet: bool) -> list[Path]:
    """A 2-D train surface per checkpoint on the plane of its own training path, fitted to the path."""
    out_dir = Path(profile.output_dir) / "surfaces"
    paths = []
    for ckpt in checkpoints:
        snapshots = str(RunPaths.beside(ckpt).snapshots)
        plane = path_plane(snapshots, load_checkpoint(ckpt)[0], DirectionOptions())
        x, y = covering_axes(plane.trajectory, (profile.path_points, profile.path_points))
        paths.append(run_surface(SurfaceConfig(checkpoint=str(ckpt), out=str(out_dir / f"{ckpt.stem}_path.h5"),
                                               data=data, x=x, y=y, splits=("train",), samples=profile.samples,
                                               trajectory=snapshots, device=device, quiet=quiet)))
    return paths


def run_study(profile: str | StudyProfile, data: str | None = None, device: str = "auto", quiet: bool = False) -> Path:
    """Train (or resume) → surfaces → metrics → figures → reports; returns the main report's path
    (random-direction planes; `report_training_path.html` beside it shows the training-path planes).

    `profile` is a name from PROFILES or your own StudyProfile.
    """
    if isinstance(profile, str):
        require_choice("study profile", profile, tuple(PROFILES))
        profile = PROFILES[profile]
    checkpoints = train_all(profile, data, device, quiet)
    surfaces = surface_all(checkpoints, profile, data, device, quiet)
    out = Path(profile.output_dir)
    rows = run_metrics(MetricsConfig(surfaces=tuple(map(str, surfaces)), metric="train_loss"))
    write_rows(rows, str(out / "surface_metrics.json"), str(out / "surface_metrics.csv"))
    if not quiet:
        print(format_table(rows))
    options = PlotOptions(formats=("png", "pdf"), width=6.9, vmax=5.0, dpi=200)
    plot_comparison(surfaces, out / "comparison_train_loss", options)
    plot_comparison(surfaces, out / "comparison_test_loss", replace(options, metric="test_loss"))
    path_surfaces = path_surface_all(checkpoints, profile, data, device, quiet)
    plot_comparison(path_surfaces, out / "comparison_path_train_loss", options)
    for surface in surfaces + path_surfaces:
        plot_surface(surface, out / "surfaces", PlotOptions(formats=("png",), vmax=5.0, dpi=200))
    plot_training_curves([RunPaths.beside(c).log for c in checkpoints], out / "training_curves", options)
    write_report(path_surfaces, out / "report_training_path.html", title=f"{TITLE}: planes of the training paths")
    return write_report(surfaces, out / "report.html", title=TITLE)
