"""`landscape spectrum`: the Hessian's eigenvalue density of checkpoints (stochastic Lanczos quadrature)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from landscape.cli.common import (
    add_dataset_flags,
    add_figure_flags,
    add_image_flags,
    add_model_flags,
    add_table_flags,
    comma_list,
    dataset_of,
    default_of,
    model_of,
    show,
    subcommand,
)
from landscape.files import require_output_folder, require_safe_outputs
from landscape.metrics.options import SpectrumConfig
from landscape.viz.options import PlotOptions


def add_spectrum_parser(sub) -> None:
    p = subcommand(sub, "spectrum", "the Hessian's eigenvalue density of checkpoints (stochastic Lanczos quadrature)",
                   "Run --runs Lanczos runs of --steps Hessian-vector products from random starts on --samples "
                   "fixed images, turn each run's Ritz values and weights into a density (Gaussians of --broadening "
                   "× the spectrum's range), and write CHECKPOINT_spectrum.json (every run, the density on its "
                   "grid, λmin, λmax) and the figure spectrum.FORMAT into --out-dir. Resumes from the runs an "
                   "interrupted call finished.",
                   run_spectrum_command)
    p.add_argument("checkpoints", nargs="*", help="checkpoints written by `landscape train`; or use --model/--weights")
    add_model_flags(p, many=True)
    add_dataset_flags(p)
    add_image_flags(p, SpectrumConfig, "data split", "class-balanced images of the loss whose Hessian is measured")
    p.add_argument("--runs", type=int, default=default_of(SpectrumConfig, "runs"),
                   help="Lanczos runs from independent random starts (their spread is drawn)")
    p.add_argument("--steps", type=int, default=default_of(SpectrumConfig, "steps"),
                   help="Lanczos steps (Hessian-vector products) per run")
    p.add_argument("--seed", type=int, default=default_of(SpectrumConfig, "seed"), help="seed of the start vectors")
    p.add_argument("--broadening", type=float, default=default_of(SpectrumConfig, "broadening"),
                   help="Gaussian broadening of each Ritz value, as a fraction of the spectrum's range")
    p.add_argument("--bins", type=int, default=default_of(SpectrumConfig, "bins"), help="points of the density grid")
    p.add_argument("--out-dir", default=default_of(SpectrumConfig, "out_dir"),
                   help="folder for the spectrum files and the figure")
    add_figure_flags(p, width=3.3, dpi=300)
    add_table_flags(p)


def run_spectrum_command(args: argparse.Namespace) -> None:
    from landscape.metrics.spectrum import run_spectrum
    from landscape.storage.tables import markdown_table, write_rows
    from landscape.viz.plots import save
    from landscape.viz.spectrum import spectrum_figure

    weights, model = model_of(args, args.checkpoints)
    require_safe_outputs({"--json": args.json, "--csv": args.csv}, weights)
    require_output_folder(args.out_dir, "--out-dir")
    options = PlotOptions(formats=comma_list(args.format), dpi=args.dpi, width=args.width)
    config = SpectrumConfig(checkpoints=tuple(weights), out_dir=args.out_dir, data=args.data, model=model,
                            dataset=dataset_of(args), split=args.split, samples=args.samples, data_seed=args.data_seed,
                            runs=args.runs, steps=args.steps, seed=args.seed, broadening=args.broadening,
                            bins=args.bins, device=args.device, quiet=args.quiet)
    rows = run_spectrum(config)
    write_rows(rows, args.json, args.csv)
    spectra = {Path(r["source"]).stem: json.loads(Path(r["spectrum"]).read_text()) for r in rows}
    figures = save(spectrum_figure(spectra, options), Path(args.out_dir) / "spectrum", options)
    show(markdown_table([{k: v for k, v in r.items() if k != "spectrum"} for r in rows]), *figures)
