"""Training speed of the depth study's networks, and what a 50-epoch run costs on this machine.

One RMSProp step (forward, backward, update) of the study's MLP (500 units per hidden layer,
Linear → BatchNorm → activation → dropout 0.25) on a batch of 128 random 32×32 images, for the
shallowest and deepest depth and each of the study's activations (their implementations as the
study builds them); reports images/s (best of 3 × 20 steps after warm-up) and the minutes 50 epochs
of 50,000 images would take at that rate (evaluation not counted). Then, for `--jobs`: relu and
mish at both depths trained by one process on all threads against two one-thread processes at
the same time (their images/s added; both timed over the same 100 steps after a shared start).
Run alone (pause training):

    python -m benchmarks.bench_depth [--json benchmarks/bench_depth.json] > benchmarks/bench_depth.txt
"""
from __future__ import annotations

import argparse
import json

import torch

from benchmarks.bench_train import random_batch, side_by_side, step_images_per_second
from landscape import activation_factory
from landscape.sources.models import MLP
from landscape.studies.depth.plan import DEPTH_PROFILES
from landscape.studies.mish_plan import STUDY_ACTIVATIONS


def study_mlp(depth: int, activation: str) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The paper profile's network at `depth` with its optimizer."""
    profile = DEPTH_PROFILES["paper"]
    model = MLP(3 * 32 * 32, (profile.width,) * depth, 10,
                activation_factory(activation, **STUDY_ACTIVATIONS[activation]), batch_norm=True,
                dropout=profile.dropout)
    return model, torch.optim.RMSprop(model.parameters(), lr=profile.lr)


def images_per_second(depth: int, activation: str) -> float:
    return step_images_per_second(*study_mlp(depth, activation), *random_batch(channels_last=False), steps=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    profile = DEPTH_PROFILES["paper"]
    depths = (min(profile.depths), max(profile.depths))
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads; MLP width {profile.width}, "
          f"batch 128, RMSProp; minutes for {profile.epochs} epochs of 50,000 images, evaluation not counted")
    rows = []
    for depth in depths:
        for name in STUDY_ACTIVATIONS:
            rate = images_per_second(depth, name)
            minutes = profile.epochs * 50_000 / rate / 60
            rows.append({"depth": depth, "activation": name, "images_per_s": rate, "minutes_per_run": minutes})
            print(f"  depth {depth:2d} {name:11s} {rate:7.0f} images/s  {minutes:5.1f} min per run")
    threads = torch.get_num_threads()
    print(f"side by side (--jobs): one run on {threads} threads against {threads} one-thread runs at once")
    jobs_rows = []
    for depth in depths:
        for name in ("relu", "mish"):
            alone, together = side_by_side(study_mlp, (depth, name), channels_last=False)
            jobs_rows.append({"depth": depth, "activation": name, "one_run_images_per_s": alone,
                              "side_by_side_images_per_s": together, "ratio": together / alone})
            print(f"  depth {depth:2d} {name:11s} one run {alone:6.0f} images/s, {threads} side by side "
                  f"{together:6.0f} images/s in total: {together / alone:.2f}×")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": threads, "rows": rows, "side_by_side": jobs_rows},
                      f, indent=1)


if __name__ == "__main__":
    main()
