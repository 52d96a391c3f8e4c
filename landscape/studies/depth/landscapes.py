"""The depth study's landscapes: random slices and planes of the shallowest and deepest network of
each activation, and their widths compared within a depth (paired by direction) and across depths.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError
from landscape.metrics.checkpoint import run_metrics
from landscape.metrics.options import DEFAULT_THRESHOLDS, MetricsConfig, SharpnessConfig
from landscape.metrics.sharpness import summarise
from landscape.metrics.slices import has_second_minimum
from landscape.metrics.stats import Comparison, compare, describe, unpaired_difference, verdict
from landscape.metrics.surface import finite_values
from landscape.sources.specs import DatasetSpec, display_name
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import write_rows
from landscape.studies.depth.plan import DepthProfile
from landscape.studies.depth.records import record_path
from landscape.studies.findings import CLAIMS, slice_values
from landscape.studies.mish_plan import STUDY_ACTIVATIONS
from landscape.surfaces.config import SurfaceConfig
from landscape.surfaces.sweep import finished_surface, run_surface
from landscape.training.config import TrainConfig
from landscape.viz.comparison import plot_comparison
from landscape.viz.options import PlotOptions


def landscape_file(config: SurfaceConfig, record: dict) -> Path:
    """The finished file of this run's checkpoint (the SHA-256 in its record) where there is one,
    without planning it again; else `run_surface` from the checkpoint, which must be on disk (the
    sweep's are not committed)."""
    finished = finished_surface(config, record["checkpoint_sha256"])
    if finished is not None:
        return finished
    if not Path(config.checkpoint).exists():
        raise LandscapeError(f"{config.checkpoint} is not on disk and {config.out} is not its finished "
                             f"surface: delete {record_path(config.checkpoint)} and rerun to train it again")
    return run_surface(config)


def is_end(run: TrainConfig, profile: DepthProfile) -> bool:
    """Whether the study draws this run's landscape: the first seed's shallowest and deepest networks."""
    return run.seed == profile.seeds[0] and run.depth in (min(profile.depths), max(profile.depths))


def end_landscape(run: TrainConfig, record: dict, profile: DepthProfile, data: str | None, device: str,
                  quiet: bool) -> tuple[Path, Path]:
    """The 2-D surface and the random slices of one end network, on the study's images: computed
    (or resumed) from its checkpoint, else read finished. The study makes them as soon as the run
    is recorded, so the checkpoint never has to outlive its session. Directions are kept as seeds
    and checksums: a plane's two would take 40–60 MB."""
    surface = landscape_file(SurfaceConfig(
        checkpoint=run.out, out=str(Path(profile.output_dir) / "surfaces" / f"{Path(run.out).stem}.h5"), data=data,
        x=profile.grid, y=profile.grid, samples=profile.samples, dataset=DatasetSpec(profile.dataset),
        store_directions=False, device=device, quiet=quiet), record)
    slices = SharpnessConfig(checkpoints=(run.out,), out_dir=str(Path(profile.output_dir) / "sharpness"), data=data,
                             dataset=DatasetSpec(profile.dataset), directions=profile.directions, x=profile.slice_grid,
                             samples=profile.samples, device=device, quiet=quiet)
    return surface, landscape_file(slices.surface_config(run.out), record)


def landscapes(ends: dict[tuple[str, int], tuple[TrainConfig, dict]], profile: DepthProfile, data: str | None,
               device: str, quiet: bool) -> tuple[list[Path], list[dict], list[str]]:
    """The shallowest and deepest network of each activation (`ends`: (activation, depth) → its
    first seed's run and record): one comparison figure of their surfaces per depth on shared
    levels; a row per network of the surface's roughness, local minima and width, and the
    slices' widths and curvature over directions and how many cross a second basin (a second
    local minimum below their minimum + 1); and the slices' comparisons (`landscape_comparisons`)."""
    out = Path(profile.output_dir)
    depths = (min(profile.depths), max(profile.depths))
    chosen = [(name, d) for d in depths for name in STUDY_ACTIVATIONS]
    files = {key: end_landscape(*ends[key], profile, data, device, quiet) for key in chosen}
    planes = run_metrics(MetricsConfig(surfaces=tuple(str(files[key][0]) for key in chosen)))
    bottom = min(r["minimum"] for r in planes)
    options = PlotOptions(formats=("png", "pdf"), width=6.9, dpi=200, vmin=bottom, vmax=bottom + 5)
    written = [p for d in depths for p in plot_comparison([files[(name, d)][0] for name in STUDY_ACTIVATIONS],
                                                          out / f"landscape_depth_{d}", options)]
    slices = [summarise(files[key][1], "train_loss", DEFAULT_THRESHOLDS) for key in chosen]
    write_rows(slices, out / "sharpness" / "summary.json", out / "sharpness" / "summary.csv")
    second = [sum(has_second_minimum(z) for z in finite_values(read_surface(files[key][1]), "train_loss"))
              for key in chosen]
    rows = [{"activation": display_name(name, STUDY_ACTIVATIONS[name]), "depth": d, "surface_minimum": plane["minimum"],
             "surface_roughness": plane["roughness"], "surface_local_minima": plane["local_minima"],
             "surface_nonconvex_fraction": plane["nonconvex_fraction"],
             "surface_width_radius_0.5": plane["width_radius_0.5"],
             **{f"slice_{key}{end}": sl[f"{key}{end}"] for key in ("width_0.5", "curvature")
                for end in ("", "_low", "_high")}, "slice_censored_0.5": sl["censored_0.5"],
             "slices_with_second_minimum": n, "slices": sl["directions"]}
            for (name, d), plane, sl, n in zip(chosen, planes, slices, second)]
    by_depth = {d: slice_values({name: [files[(name, d)][1]] for name in STUDY_ACTIVATIONS}) for d in depths}
    return written, rows, landscape_comparisons(by_depth)


LANDSCAPE_MEASURES = ("width_0.5", "curvature")  # of the random slices, compared at and across the ends


def landscape_comparisons(slices: dict[int, dict[str, dict[str, np.ndarray]]]) -> list[str]:
    """From the end networks' random slices ({depth: measure → activation → [seeds, directions]}):
    Mish against each activation at each end, paired by direction (one depth's networks share
    their direction seeds); each activation's change from the shallow end to the deep one (Li et
    al.: sharper with depth); and Mish's change minus each other's (positive for width where
    Mish's basin narrows less). Across depths the weight spaces differ, so those are unpaired."""
    shallow, deep = min(slices), max(slices)
    lines = []
    for measure in LANDSCAPE_MEASURES:
        sign = CLAIMS[measure][1]  # the paper's: Mish wider (+1), flatter (−1)
        at = {d: slices[d][measure] for d in (shallow, deep)}
        lines += [f"- L={d}: {describe(c)}" for d in (shallow, deep) for c in compare(measure, at[d], "mish", sign)]
        for name, params in STUDY_ACTIVATIONS.items():
            e = unpaired_difference(at[deep][name], at[shallow][name])
            way = {0: "no clear change", sign: "wider" if sign > 0 else "flatter",
                   -sign: "narrower" if sign > 0 else "sharper"}[e.excludes_zero()]
            lines.append(f"- {display_name(name, params)}: {measure} L={deep} − L={shallow} = {e.mean:.3g} "
                         f"[{e.low:.3g}, {e.high:.3g}] (unpaired, over {e.levels}): {way} with depth"
                         + (" (exploratory: one training seed)" if e.seeds == 1 else ""))
        for other in (n for n in STUDY_ACTIVATIONS if n != "mish"):
            e = unpaired_difference(at[deep]["mish"] - at[deep][other], at[shallow]["mish"] - at[shallow][other])
            c = Comparison(f"{measure} change L={shallow}→{deep}", "mish", other, e, sign, verdict(e, sign), "unpaired")
            lines.append(f"- {describe(c)}")
    return lines
