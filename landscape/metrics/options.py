"""What `landscape metrics`, `landscape sharpness` and `landscape spectrum` compute (`MetricsConfig`,
`HessianOptions`, `SharpnessConfig`, `SpectrumConfig`), and where the slices files go.

Stage: metrics. Plain data, no torch: the CLI builds its help from it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from landscape.errors import LandscapeError, require_at_least
from landscape.evaluation.options import EvalOptions
from landscape.geometry.options import DirectionOptions
from landscape.sources.specs import DatasetSpec, ModelSpec
from landscape.surfaces.config import SurfaceConfig

DEFAULT_THRESHOLDS = (0.1, 0.5, 1.0)


@dataclass(frozen=True)
class HessianOptions:
    """How `hessian.hessian_spectrum` measures the Hessian, on `samples` class-balanced images of its
    own (None: the images of the other metrics): λmax by power iteration from `starts` random
    vectors (at most `iterations` products each, stopping at relative change `tolerance`), top_k − 1
    more eigenvalues by deflation; the trace over `trace_samples` Rademacher probes; a Lanczos run
    of `lanczos_steps` (0: none). Probes and starts come from `seed`, mixed with the weights when
    `independent_probes` (no two models share probes). `keep_graph` keeps each batch's gradient
    graph between products (faster, about 2–4 MB per ResNet-20 image); off, memory stays that of
    the batches in flight."""

    top_k: int = 1
    starts: int = 3
    iterations: int = 50
    tolerance: float = 1e-3
    trace_samples: int = 100
    lanczos_steps: int = 30
    batch_size: int = 200
    seed: int = 0
    independent_probes: bool = True
    samples: int | None = None
    keep_graph: bool = True

    def __post_init__(self):
        require_at_least(self, {"top_k": 1, "starts": 1, "iterations": 1, "trace_samples": 2, "lanczos_steps": 0,
                                "batch_size": 1})


@dataclass(frozen=True)
class MetricsConfig:
    """What `landscape metrics` computes; defaults match the CLI's."""

    surfaces: tuple[str, ...] = ()
    checkpoints: tuple[str, ...] = ()
    metric: str = "train_loss"
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    store: bool = True
    data: str | None = None
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    split: str = "train"
    samples: int = 1000
    data_seed: int = 0
    hessian: HessianOptions | None = None  # None: skip the Hessian
    dead_units: bool = False
    eps: float = 1e-6
    device: str = "auto"
    quiet: bool = False
    partial: bool = False  # measure unfinished surfaces too (their rows say so; nothing is stored)

    def __post_init__(self):
        if not self.surfaces and not self.checkpoints:
            raise LandscapeError("give at least one surface file or --checkpoint")
        if any(t <= 0 for t in self.thresholds):
            raise LandscapeError(f"--thresholds must be positive; got {self.thresholds}")


@dataclass(frozen=True)
class SharpnessConfig:
    """What `landscape sharpness` computes; defaults match the CLI's."""

    checkpoints: tuple[str, ...]  # landscape checkpoints, or with `model.factory` your model's weights files
    out_dir: str = "sharpness"
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    directions: int = 20
    planes: int = 0  # > 0: also that many independent 2-D random planes per checkpoint, for pictures
    x: str = "-1:1:31"  # the α grid of every slice, and both axes of every plane
    splits: tuple[str, ...] = ("train",)
    samples: int = 1000
    data_seed: int = 0
    seed: int = 0
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    eval: EvalOptions = field(default_factory=EvalOptions)
    device: str = "auto"
    force: bool = False
    flush_seconds: float = 5.0
    store_directions: bool = False  # each direction is as large as the model: keep only seed and checksums
    quiet: bool = False

    def __post_init__(self):
        if not self.checkpoints:
            raise LandscapeError("give at least one checkpoint")
        require_at_least(self, {"directions": 1, "planes": 0})
        if any(t <= 0 for t in self.thresholds):
            raise LandscapeError(f"--thresholds must be positive; got {self.thresholds}")

    def surface_config(self, checkpoint: str) -> SurfaceConfig:
        return SurfaceConfig(checkpoint=checkpoint, out=str(slices_path(self.out_dir, checkpoint)), data=self.data,
                             model=self.model, dataset=self.dataset,
                             x=self.x, splits=self.splits, samples=self.samples, data_seed=self.data_seed,
                             directions=DirectionOptions(seed=self.seed), slices=self.directions, eval=self.eval,
                             store_directions=self.store_directions, device=self.device, force=self.force,
                             flush_seconds=self.flush_seconds, quiet=self.quiet)

    def plane_config(self, checkpoint: str, k: int) -> SurfaceConfig:
        """Plane k: a random plane of direction seed `seed + k` (plane 0's axes are slices 0 and 1),
        on the slices' grid along both axes, the same images and settings."""
        return replace(self.surface_config(checkpoint), out=str(plane_path(self.out_dir, checkpoint, k)), y=self.x,
                       directions=DirectionOptions(seed=self.seed + k), slices=0)


@dataclass(frozen=True)
class SpectrumConfig:
    """What `landscape spectrum` computes: the Hessian's eigenvalue density by stochastic Lanczos
    quadrature, `runs` Lanczos runs of `steps` steps from random starts (seed `seed`), on `samples`
    class-balanced images, broadened by Gaussians of `broadening` × the spectrum's range on `bins` points."""

    checkpoints: tuple[str, ...]  # landscape checkpoints, or with `model.factory` your model's weights files
    out_dir: str = "spectrum"
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    split: str = "train"
    samples: int = 500
    data_seed: int = 0
    runs: int = 3
    steps: int = 80
    seed: int = 0
    batch_size: int = 200
    bins: int = 1000
    broadening: float = 0.01
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self):
        if not self.checkpoints:
            raise LandscapeError("give at least one checkpoint")
        require_at_least(self, {"runs": 1, "steps": 2, "samples": 1, "bins": 10})
        if not 0 < self.broadening < 1:
            raise LandscapeError(f"--broadening must lie between 0 and 1 (a fraction of the spectrum's range); "
                                 f"got {self.broadening}")

    def numbers(self) -> dict:
        """The settings that decide the density (a stored run is reused only under the same ones)."""
        return {k: getattr(self, k) for k in ("data", "split", "samples", "data_seed", "steps", "seed")} | {
            "dataset": asdict(self.dataset)}


def spectrum_path(out_dir: str | Path, checkpoint: str | Path) -> Path:
    return Path(out_dir) / f"{Path(checkpoint).stem}_spectrum.json"


def slices_path(out_dir: str | Path, checkpoint: str | Path) -> Path:
    return Path(out_dir) / f"{Path(checkpoint).stem}_slices.h5"


def plane_path(out_dir: str | Path, checkpoint: str | Path, k: int) -> Path:
    return Path(out_dir) / f"{Path(checkpoint).stem}_plane{k}.h5"


@dataclass(frozen=True)
class CurvatureMapConfig:
    """What `landscape hessian-map` computes: λmin and λmax of the Hessian at every `every`-th grid
    point of a plane surface (through the origin), by `lanczos_steps` Lanczos steps from a Gaussian start (seed `seed`
    and the point's index), on the surface's own images of its first split (`samples`: only the
    first that many of them). `checkpoint` None: the one the surface names."""

    surface: str
    checkpoint: str | None = None
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    every: int = 5
    lanczos_steps: int = 20
    seed: int = 0
    samples: int | None = None
    batch_size: int = 200
    device: str = "auto"
    force: bool = False
    quiet: bool = False

    def __post_init__(self):
        require_at_least(self, {"every": 1, "lanczos_steps": 2, "batch_size": 1})
        if self.samples is not None:
            require_at_least(self, {"samples": 1})


@dataclass(frozen=True)
class AdaptiveSharpnessConfig:
    """What `landscape adaptive-sharpness` measures per checkpoint (Andriushchenko et al. 2023): on
    `samples` class-balanced training images in batches of m = `batch_size` (m-sharpness), the
    average-case sharpness under Gaussian noise of scale `rho_average`·|w| (`draws` draws per batch)
    and the worst-case sharpness in the box |δ| ≤ `rho_worst`·|w| (`steps` steps of sign-gradient
    ascent per batch); and each model's accuracy on the test split and on `gap_samples` training
    images, for the generalisation gap."""

    checkpoints: tuple[str, ...]
    data: str | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    samples: int = 1024
    batch_size: int = 128
    rho_average: float = 0.1
    rho_worst: float = 0.002
    draws: int = 10
    steps: int = 20
    gap_samples: int = 10000
    data_seed: int = 0
    seed: int = 0
    device: str = "auto"
    quiet: bool = False

    def __post_init__(self):
        if not self.checkpoints:
            raise LandscapeError("give at least one checkpoint")
        require_at_least(self, {"samples": 2, "batch_size": 1, "draws": 1, "steps": 1, "gap_samples": 1})
        if self.samples < 2 * self.batch_size:
            raise LandscapeError(f"--samples {self.samples} gives fewer than two batches of {self.batch_size}: no "
                                 f"interval over batches; use more samples or a smaller --batch-size")
        for flag, rho in (("--rho-average", self.rho_average), ("--rho-worst", self.rho_worst)):
            if not 0 < rho < 1:
                raise LandscapeError(f"{flag} must lie between 0 and 1 (a fraction of each weight); got {rho}")
