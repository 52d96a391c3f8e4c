"""What the anchors offer, measured in the Mish study: the Hessian's eigenvalue density per
activation with its seed spread (PyHessian), the loss barrier on the line between every two seeds
of an activation (mode connectivity), adaptive sharpness against generalisation (Andriushchenko et
al. 2023), and for each seed-0 model a curvature map of its surface (Li et al. 2018, section 6) and
a plane along its Hessian's top eigenvectors.

Stage: orchestration only. Each step calls the library command that owns it, which resumes or
skips what is on disk; the numbers are exploratory (no claim of the paper is about them), each
with its interval.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from landscape.files import atomic_write
from landscape.metrics.adaptive_sharpness import kendall, measured_sharpness, sharpness_settings, stored_settings
from landscape.metrics.curvature_map import run_curvature_map
from landscape.metrics.options import AdaptiveSharpnessConfig, CurvatureMapConfig
from landscape.metrics.spectrum import QuadratureRule, density
from landscape.metrics.stats import Estimate, estimate, pair_mean_jackknife, paired_difference
from landscape.runtime import resolve_device
from landscape.sources.specs import display_name
from landscape.storage.surface_file import read_surface
from landscape.storage.tables import format_estimate, markdown_table
from landscape.studies.mish_plan import STUDY_ACTIVATIONS, AnchorProfile, StudyProfile
from landscape.surfaces.config import ConnectConfig, SurfaceConfig
from landscape.surfaces.sweep import run_surface
from landscape.training.curve import run_connect

SUBJECT = "mish"
BROADENING = 0.01  # Gaussian width of each Ritz value, as a fraction of the spectra's common range
BINS = 600
NEGLIGIBLE = 0.01  # |λ| up to this fraction of λmax counts as zero: most of the mass sits there, and a
# Ritz value of ±0.05 falls on either side of zero by chance, so "below 0" means below −1 % of λmax
SHARPNESS_MEASURES = {"sharpness_average": "average case", "sharpness_worst": "worst case"}


def mass(rule: QuadratureRule, where) -> float:
    """The density's mass at the Ritz values v where `where(v, λmax)` holds."""
    return float(sum(w for v, w in zip(rule.values, rule.weights) if where(v, rule.values[-1])))


def seed_spectra(measured: dict[str, list[dict]]) -> dict[str, dict]:
    """activation → a spectrum record (`grid`, `density`, `density_runs`: one per seed) from the
    Lanczos run each checkpoint's Hessian metrics kept, all on one grid so activations compare."""
    rules = {name: [QuadratureRule(r["hessian_detail"]["ritz_values"], r["hessian_detail"]["ritz_weights"])
                    for r in rows if r.get("hessian_detail", {}).get("ritz_values")] for name, rows in measured.items()}
    values = np.concatenate([rule.values for per in rules.values() for rule in per])
    sigma = BROADENING * float(np.ptp(values))
    grid = np.linspace(values.min() - 5 * sigma, values.max() + 5 * sigma, BINS)
    out = {}
    for name, per in rules.items():
        each = np.stack([density(rule, grid, sigma) for rule in per])
        out[name] = {"grid": grid.tolist(), "density": each.mean(0).tolist(), "density_runs": each.tolist(),
                     "lambda_max_seeds": [rule.values[-1] for rule in per],
                     "lambda_min_seeds": [rule.values[0] for rule in per],
                     "negative_mass_seeds": [mass(rule, lambda v, top: v < -NEGLIGIBLE * top) for rule in per],
                     "near_zero_mass_seeds": [mass(rule, lambda v, top: abs(v) <= NEGLIGIBLE * top) for rule in per]}
    return out


def barriers_all(checkpoints: dict[str, list[Path]], profile: StudyProfile, data: str | None, device: str,
                 quiet: bool) -> dict[str, dict[tuple[int, int], float]]:
    """activation → {(seed i, seed j): barrier on the line between them}, BatchNorm recomputed."""
    settings: AnchorProfile = profile.anchors
    out = {}
    for name, paths in checkpoints.items():
        config = ConnectConfig(checkpoints=tuple(map(str, paths)), out_dir=str(Path(profile.output_dir) / "connect"),
                               data=data, points=settings.connect_points, bn="recompute",
                               bn_samples=settings.bn_samples, samples=profile.samples, device=device, quiet=quiet)
        rows = run_connect(config)
        pairs = [(i, j) for i in range(len(paths)) for j in range(i + 1, len(paths))]
        out[name] = {(profile.seeds[i], profile.seeds[j]): row["barrier"] for (i, j), row in zip(pairs, rows)}
    return out


def barrier_estimates(barriers: dict[str, dict[tuple[int, int], float]]) -> tuple[dict[str, Estimate], dict]:
    """Each activation's mean barrier, and the subject minus each other activation (paired by seed
    pair), with jackknife intervals over seeds."""
    means = {name: pair_mean_jackknife(pairs) for name, pairs in barriers.items()}
    differences = {other: pair_mean_jackknife({p: barriers[SUBJECT][p] - pairs[p] for p in pairs})
                   for other, pairs in barriers.items() if other != SUBJECT}
    return means, differences


def sharpness_all(checkpoints: dict[str, list[Path]], profile: StudyProfile, data: str | None, device: str,
                  quiet: bool) -> tuple[list[dict], list[dict]]:
    """Adaptive sharpness of every checkpoint (each row kept in a JSON file, reused while the
    checkpoint and the settings are the same), beside the depth-study networks' rows measured with
    the same settings; Kendall's τ over the ResNets, over those networks and over all."""
    settings: AnchorProfile = profile.anchors
    config = settings.sharpness.config(tuple(str(p) for paths in checkpoints.values() for p in paths), data, device,
                                       quiet)
    out_dir = Path(profile.output_dir) / "adaptive_sharpness"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in config.checkpoints:
        cache = out_dir / f"{Path(path).stem}.json"
        stored = json.loads(cache.read_text()) if cache.is_file() else {}
        wanted = stored_settings(path, config)
        if stored.get("settings") != wanted:
            stored = measured_sharpness(path, replace(config, checkpoints=(path,)), resolve_device(device), wanted)
            with atomic_write(cache) as tmp:
                tmp.write_text(json.dumps(stored, indent=1))
        rows.append({**stored["row"], "family": "ResNet-20"})
    pooled = [{**row, "family": "depth MLP"} for row in pooled_sharpness(settings.pooled_records, config)]
    return rows + pooled, correlations(rows, pooled)


def sharpness_by_activation(rows: list[dict]) -> tuple[dict[str, dict[str, Estimate]], dict[str, dict[str, Estimate]]]:
    """Per sharpness measure: each activation's mean over its ResNet seeds with a 95 % t-interval,
    and the subject minus each other activation, paired by seed (rows come seed by seed within an
    activation, the study's order)."""
    by_name: dict[str, list[dict]] = {}
    for row in rows:
        if row["family"] == "ResNet-20":
            by_name.setdefault(row["activation"], []).append(row)
    means, differences = {}, {}
    for measure in SHARPNESS_MEASURES:
        values = {name: np.array([[r[measure]] for r in per]) for name, per in by_name.items()}
        means[measure] = {name: estimate(v, replicates="seeds") for name, v in values.items()}
        differences[measure] = {name: paired_difference(values[SUBJECT], v, replicates="seeds")
                                for name, v in values.items() if name != SUBJECT and SUBJECT in values}
    return means, differences


def pooled_sharpness(folders: tuple[str, ...], config: AdaptiveSharpnessConfig) -> list[dict]:
    """The adaptive-sharpness rows stored in the depth study's run records under `folders` that were
    measured with `config`'s settings (its runs' checkpoints are not kept; their records are)."""
    wanted = sharpness_settings(config)
    rows = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.run.json")):
            stored = json.loads(path.read_text()).get("adaptive_sharpness")
            if stored and {k: v for k, v in stored["settings"].items() if k != "checkpoint_sha256"} == wanted:
                rows.append(stored["row"])
    return rows


def correlations(resnets: list[dict], others: list[dict]) -> list[dict]:
    """Kendall's τ of each sharpness measure with the test accuracy and with the generalisation gap,
    over each family of networks with three or more members and over all of them together."""
    groups = {"ResNet-20": resnets, "depth MLP": others, "all": resnets + others if others else []}
    return [{"networks": group, "measure": m, "against": t, **kendall([r[m] for r in rows], [r[t] for r in rows])}
            for group, rows in groups.items() if len(rows) >= 3
            for m in SHARPNESS_MEASURES for t in ("test_acc", "generalization_gap")]


def maps_all(surfaces: list[Path], profile: StudyProfile, data: str | None, device: str, quiet: bool) -> list[dict]:
    """A Hessian map of each seed-0 surface (stored in the surface's file)."""
    settings: AnchorProfile = profile.anchors
    return [run_curvature_map(CurvatureMapConfig(surface=str(s), data=data, every=settings.map_every,
                                                 lanczos_steps=settings.map_steps, samples=settings.map_samples,
                                                 device=device, quiet=quiet)) for s in surfaces]


def eigen_planes(first: list[Path], profile: StudyProfile, data: str | None, device: str, quiet: bool) -> list[dict]:
    """A plane along each seed-0 model's top two Hessian eigenvectors, and how its curvature at the
    origin (the second difference of the loss along each axis) compares with their eigenvalues."""
    settings: AnchorProfile = profile.anchors
    rows = []
    for ckpt in first:
        path = run_surface(SurfaceConfig(checkpoint=str(ckpt), out=str(Path(profile.output_dir) / "surfaces" /
                                                                        f"{ckpt.stem}_hessian.h5"),
                                         data=data, x=settings.eigen_grid, y=settings.eigen_grid, splits=("train",),
                                         samples=settings.eigen_samples, eigenvectors=True, device=device,
                                         quiet=quiet))
        surface = read_surface(path)
        loss, h = surface.values["train_loss"], float(surface.x[1] - surface.x[0])
        iy, ix = int(np.argmin(np.abs(surface.y))), int(np.argmin(np.abs(surface.x)))
        along = [(loss[iy, ix + 1] - 2 * loss[iy, ix] + loss[iy, ix - 1]) / h ** 2,
                 (loss[iy + 1, ix] - 2 * loss[iy, ix] + loss[iy - 1, ix]) / h ** 2]
        rows.append({"surface": str(path), "activation": surface.header.activation,
                     "lambda_1": surface.header.eigenvalues[0], "lambda_2": surface.header.eigenvalues[1],
                     "curvature_x": float(along[0]), "curvature_y": float(along[1])})
    return rows


def tau_table(taus: list[dict]) -> str:
    """Kendall's τ as one row per family and sharpness measure, a column per generalisation measure."""
    against = {"test_acc": "τ with test accuracy", "generalization_gap": "τ with the generalisation gap"}
    table = {}
    for t in taus:
        p = "p < 0.0001" if t["p_value"] < 1e-4 else f"p = {t['p_value']:.2g}"
        row = table.setdefault((t["networks"], t["measure"]), {
            "networks": f"{t['models']} {t['networks']}",
            "measure": SHARPNESS_MEASURES[t["measure"]]})
        row[against[t["against"]]] = f"{t['tau']:+.2f} ({p})"
    return markdown_table(list(table.values()))


def anchors_markdown(spectra: dict[str, dict], barriers: dict[str, dict] | None, sharpness: tuple[list, list],
                     maps: list[dict], planes: list[dict]) -> str:
    """The anchors' measurements as a Markdown page: every number with its interval or spread."""
    names = {name: display_name(name, params) for name, params in STUDY_ACTIVATIONS.items()}
    lines = ["# What the anchors measure, per activation", "",
             "Exploratory: the Mish paper makes no claim about these measures, so no verdict is drawn and no "
             "correction for multiplicity applies; intervals are 95 %.", "", "## Hessian spectrum (per seed)", "",
             f"Per seed, from each checkpoint's Lanczos run: the largest and smallest Ritz values, and the "
             f"density's mass within ±{100 * NEGLIGIBLE:g} % of λmax of zero and below −{100 * NEGLIGIBLE:g} % of "
             "λmax (clearly negative curvature).", "",
             markdown_table([{"activation": names[n],
                              "λmax": ", ".join(f"{v:.4g}" for v in s["lambda_max_seeds"]),
                              "λmin": ", ".join(f"{v:.3g}" for v in s["lambda_min_seeds"]),
                              "mass near 0": ", ".join(f"{v:.3f}" for v in s["near_zero_mass_seeds"]),
                              "mass below": ", ".join(f"{v:.1e}" for v in s["negative_mass_seeds"])}
                             for n, s in spectra.items()]), ""]
    if barriers:
        means, differences = barrier_estimates(barriers)
        lines += ["## Loss barrier on the line between two seeds (BatchNorm statistics recomputed)", "",
                  markdown_table([{"activation": names[n],
                                   "mean barrier (nats)": format_estimate(e.mean, e.low, e.high),
                                   f"{names[SUBJECT]} − this activation": "" if n == SUBJECT else
                                   format_estimate(differences[n].mean, differences[n].low, differences[n].high),
                                   "over": e.levels} for n, e in means.items()]), ""]
    rows, taus = sharpness
    families = ", ".join(f"{sum(r['family'] == f for r in rows)} {f}" for f in dict.fromkeys(r["family"] for r in rows))
    means, differences = sharpness_by_activation(rows)

    def cells(per_measure: dict[str, dict[str, Estimate]], key: str) -> dict[str, str]:
        return {word: format_estimate(per_measure[m][key].mean, per_measure[m][key].low, per_measure[m][key].high)
                for m, word in SHARPNESS_MEASURES.items()}
    lines += ["## Adaptive sharpness and generalisation", "", "### Per activation", "",
              "Each activation's ResNets, mean over seeds [95 % t-interval], and Mish's paired differences:", "",
              markdown_table([{"activation": names.get(n, n), **cells(means, n)} for n in means["sharpness_average"]]
                             + [{"activation": f"{names[SUBJECT]} − {names.get(o, o)}", **cells(differences, o)}
                                for o in differences["sharpness_average"]]), "",
              "### Kendall's τ with generalisation", "",
              f"Over the networks of each family and over all ({families}; p descriptive: the networks of one "
              "recipe, its seeds and depths, are not independent draws):", "", tau_table(taus), "",
              "### Per network", "",
              markdown_table([{"network": Path(r["source"]).stem, "family": r["family"],
                               "average case": format_estimate(r["sharpness_average"], r["sharpness_average_low"],
                                                               r["sharpness_average_high"]),
                               "worst case": format_estimate(r["sharpness_worst"], r["sharpness_worst_low"],
                                                             r["sharpness_worst_high"]),
                               "test acc %": f"{100 * r['test_acc']:.2f}",
                               "gap (points)": f"{100 * r['generalization_gap']:.2f}"} for r in rows]), ""]
    lines += ["## Curvature maps of the seed-0 surfaces", "", markdown_table(
        [{k: v for k, v in m.items() if k != "surface"} for m in maps]), "",
        "## Planes along the top two Hessian eigenvectors (seed 0)", "",
        "The loss's second difference at the origin along each axis should equal that axis's eigenvalue.", "",
        markdown_table([{"activation": names.get(p["activation"], p["activation"]), "λ1": p["lambda_1"],
                         "curvature along x": p["curvature_x"], "λ2": p["lambda_2"],
                         "curvature along y": p["curvature_y"]} for p in planes]), ""]
    return "\n".join(lines)


def run_anchors(checkpoints: dict[str, list[Path]], surfaces: list[Path], measured: dict[str, list[dict]],
                profile: StudyProfile, data: str | None,
                device: str, quiet: bool) -> tuple[dict[str, dict], list[Path]]:
    """Every anchors' measurement of the study; writes anchors.md and anchors.json into the output
    folder and returns the spectra and the eigenvector planes' files (for the figures). Barriers
    need three or more seeds."""
    out = Path(profile.output_dir)
    spectra = seed_spectra(measured)
    barriers = barriers_all(checkpoints, profile, data, device, quiet) \
        if min(len(p) for p in checkpoints.values()) >= 3 else None
    sharpness = sharpness_all(checkpoints, profile, data, device, quiet)
    maps = maps_all(surfaces, profile, data, device, quiet)
    planes = eigen_planes([paths[0] for paths in checkpoints.values()], profile, data, device, quiet)
    with atomic_write(out / "anchors.md") as tmp:
        tmp.write_text(anchors_markdown(spectra, barriers, sharpness, maps, planes))
    record = {"spectra": spectra, "sharpness": sharpness[0], "kendall": sharpness[1], "maps": maps,
              "planes": planes, "barriers": {n: [[*p, v] for p, v in b.items()] for n, b in (barriers or {}).items()}}
    with atomic_write(out / "anchors.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return spectra, [Path(p["surface"]) for p in planes]

