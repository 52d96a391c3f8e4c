"""landscape: measure and draw the loss landscapes of neural networks.

Pipeline: checkpoint → model → directions → grid evaluation → HDF5 → metrics → figures.

The public API is importable from here (`from landscape import SurfaceConfig, run_surface`); each
name lives in the layer listed in `PUBLIC`. Names are imported on first use, so `import landscape`
(and `landscape --help`) does not import torch.
"""
import importlib

from landscape.errors import LandscapeError
from landscape.version import __version__

# public name → the module that defines it (docs/architecture.md lists the layers)
PUBLIC = {
    # sources: models and data
    "ACTIVATIONS": "landscape.sources.specs", "activation_factory": "landscape.sources.activations",
    "get_activation": "landscape.sources.activations", "resnet": "landscape.sources.models",
    "MLP": "landscape.sources.models", "ModelSpec": "landscape.sources.specs",
    "load_checkpoint": "landscape.sources.checkpoint", "save_checkpoint": "landscape.sources.checkpoint",
    "load_model": "landscape.sources.checkpoint", "ImageSet": "landscape.sources.data",
    "balanced_subset": "landscape.sources.data", "load_cifar10": "landscape.sources.data",
    "DatasetSpec": "landscape.sources.specs",
    # geometry and evaluation
    "DirectionOptions": "landscape.geometry.options", "random_directions": "landscape.geometry.directions",
    "Grid": "landscape.geometry.grid", "EvalSet": "landscape.evaluation.evaluate",
    "EvalOptions": "landscape.evaluation.options",
    # surfaces and their files
    "SurfaceConfig": "landscape.surfaces.config", "plan_surface": "landscape.surfaces.plan",
    "execute": "landscape.surfaces.sweep", "run_surface": "landscape.surfaces.sweep",
    "compute_surface": "landscape.surfaces.in_memory", "read_surface": "landscape.storage.surface_file",
    "ConnectConfig": "landscape.surfaces.config", "connect_pair": "landscape.surfaces.connect",
    # metrics and statistics
    "surface_metrics": "landscape.metrics.surface", "MetricsConfig": "landscape.metrics.options",
    "run_metrics": "landscape.metrics.checkpoint", "HessianOptions": "landscape.metrics.options",
    "hessian_spectrum": "landscape.metrics.hessian", "SharpnessConfig": "landscape.metrics.options",
    "run_sharpness": "landscape.metrics.sharpness", "SpectrumConfig": "landscape.metrics.options",
    "run_spectrum": "landscape.metrics.spectrum", "estimate": "landscape.metrics.stats",
    "CurvatureMapConfig": "landscape.metrics.options", "run_curvature_map": "landscape.metrics.curvature_map",
    "AdaptiveSharpnessConfig": "landscape.metrics.options",
    "run_adaptive_sharpness": "landscape.metrics.adaptive_sharpness", "lanczos": "landscape.evaluation.curvature",
    "compare": "landscape.metrics.stats",
    # figures and reports
    "PlotOptions": "landscape.viz.options", "plot_surface": "landscape.viz.plots",
    "plot_comparison": "landscape.viz.comparison", "write_report": "landscape.viz.report",
    # training
    "TrainConfig": "landscape.training.config", "train": "landscape.training.loop",
    "train_side_by_side": "landscape.training.side_by_side", "run_connect": "landscape.training.curve",
}

__all__ = ["LandscapeError", "__version__", *PUBLIC]


def __getattr__(name: str):
    if name not in PUBLIC:
        raise AttributeError(f"module 'landscape' has no attribute {name!r}")
    return getattr(importlib.import_module(PUBLIC[name]), name)
