"""The Mish paper's output landscape: what a randomly initialised fully connected network computes
over a plane of inputs, and how smooth that is.

Stage: a study of its own (no checkpoint, no data). A 2 → 64 → 32 → 16 → 1 network with the
activation after each hidden layer, PyTorch's default initialisation drawn from a seeded
generator, is evaluated on a resolution × resolution grid over [0, 10]² and min–max scaled to
[0, 1], as in the paper's figure. Smoothness is measured on the scaled image, so only its shape
counts, not its amplitude:

- `curvature`: mean |∇²f| (five-point Laplacian) per unit input². A piecewise-linear surface is
  flat except on its kinks, so this is the measure of sharp transitions the paper's figure
  shows; it is the headline number.
- `gradient`: mean |∇f| per unit input, how fast the scaled output varies at all (the total
  variation per unit area); reported beside it because a surface can be smooth yet busy.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from landscape.files import atomic_write
from landscape.metrics.stats import compare, describe, estimate
from landscape.sources.activations import activation_factory
from landscape.sources.models import MLP
from landscape.sources.specs import display_name
from landscape.studies.figures import output_landscape_figure
from landscape.viz.options import PlotOptions
from landscape.viz.plots import save

HIDDEN = (64, 32, 16)
EXTENT = (0.0, 10.0)


@dataclass(frozen=True)
class OutputSmoothness:
    """Smoothness of one network's min–max scaled output image."""

    activation: str
    seed: int
    curvature: float
    gradient: float


def random_network(activation: str, seed: int, params: dict | None = None) -> MLP:
    """The paper's network with PyTorch's default initialisation, drawn from a seeded RNG fork."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(2, HIDDEN, 1, activation_factory(activation, **(params or {}))).eval()


def output_image(model: torch.nn.Module, resolution: int = 400) -> np.ndarray:
    """The output over the input grid, [resolution, resolution] rows following the second input,
    min–max scaled to [0, 1]."""
    axis = torch.linspace(*EXTENT, resolution, dtype=torch.float32)
    second, first = torch.meshgrid(axis, axis, indexing="ij")
    with torch.inference_mode():
        out = model(torch.stack([first.ravel(), second.ravel()], dim=1)).view(resolution, resolution)
    image = out.double().numpy()
    span = image.max() - image.min()
    return (image - image.min()) / span if span > 0 else np.zeros_like(image)


def smoothness(image: np.ndarray, activation: str = "", seed: int = 0) -> OutputSmoothness:
    """Mean |∇²f| and mean |∇f| of a scaled image on the [0, 10]² grid (interior points)."""
    h = (EXTENT[1] - EXTENT[0]) / (image.shape[0] - 1)
    gy, gx = np.gradient(image, h)
    laplacian = (image[1:-1, 2:] + image[1:-1, :-2] + image[2:, 1:-1] + image[:-2, 1:-1]
                 - 4 * image[1:-1, 1:-1]) / h ** 2
    return OutputSmoothness(activation, seed, float(np.abs(laplacian).mean()), float(np.hypot(gx, gy).mean()))


def measure_activations(activations: dict[str, dict], seeds: int = 20,
                        resolution: int = 400) -> list[OutputSmoothness]:
    """Smoothness of every activation's network for initialisation seeds 0 … seeds − 1."""
    return [smoothness(output_image(random_network(name, seed, params), resolution), name, seed)
            for name, params in activations.items() for seed in range(seeds)]


def curvature_values(summary: dict) -> dict[str, np.ndarray]:
    """activation → [initialisation seeds, 1] mean |∇²f| from `run_output_landscape`'s summary: the
    study's measure `output_curvature`, paired by seed (the same seed, the same weights)."""
    rows = summary["rows"]
    return {a: np.array([[r["curvature"]] for r in rows if r["activation"] == a])
            for a in dict.fromkeys(r["activation"] for r in rows)}


def run_output_landscape(activations: dict[str, dict], out_dir: str | Path, seeds: int = 20, resolution: int = 400,
                         subject: str = "mish", options: PlotOptions = PlotOptions(formats=("png", "pdf"), width=6.9,
                                                                                   dpi=200)) -> dict:
    """Measure every activation over `seeds` initialisations (the same seeds, hence the same weights,
    for every activation: paired), draw the figure, and save the rows and the comparisons of
    `subject` with the others (claim: its output is smoother, i.e. lower curvature)."""
    rows = measure_activations(activations, seeds, resolution)
    values = {m: {a: np.array([[getattr(r, m)] for r in rows if r.activation == a]) for a in activations}
              for m in ("curvature", "gradient")}
    estimates = {m: {a: estimate(v) for a, v in per.items()} for m, per in values.items()}
    comparisons = [c for m in values for c in compare(m, values[m], subject, claimed_sign=-1)]
    out = Path(out_dir)
    label = {a: display_name(a, p).replace(" (", "\n(") for a, p in activations.items()}
    images = {label[a]: output_image(random_network(a, 0, p), resolution) for a, p in activations.items()}
    figure = output_landscape_figure(images, {label[a]: v[:, 0] for a, v in values["curvature"].items()},
                                     {label[a]: e for a, e in estimates["curvature"].items()},
                                     "mean |∇²f| (scaled output)", options)
    written = save(figure, out / "output_landscape", options)
    summary = {"seeds": seeds, "resolution": resolution, "rows": [asdict(r) for r in rows],
               "estimates": {m: {a: asdict(e) for a, e in per.items()} for m, per in estimates.items()},
               "comparisons": [{**asdict(c), "text": describe(c)} for c in comparisons],
               "figures": [str(p) for p in written]}
    with atomic_write(out / "output_landscape.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    return summary
