"""Hessian-vector products: ours against PyHessian's, side by side on the same model and images.

Times one product H·v of the mean cross-entropy of a ResNet-20 checkpoint on N real CIFAR-10
training images (one batch, default memory layout, eval mode) by
  graph kept       `curvature.KeptGradientGraphs` (what `landscape metrics --hessian` uses)
  graph rebuilt    `curvature.hessian_vector_product` (`--hessian-low-memory`)
  PyHessian        `pyhessian.hessian` in its full-batch mode (`pip install pyhessian --no-deps`)
in turns (rotating order) for several rounds after a warm-up round; reports each one's seconds
and PyHessian's time over ours round by round, and checks the products agree. Run it alone:

    python -m benchmarks.bench_hvp --data ../shared/cifar10 [--samples 500] [--json benchmarks/bench_hvp.json]
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import torch

from benchmarks.bench_surface import paired_ratios, summary
from benchmarks.synthetic_cifar import training_images
from landscape.evaluation.batch_size import synchronize
from landscape.evaluation.curvature import KeptGradientGraphs, hessian_vector_product
from landscape.evaluation.evaluate import prepare_inputs
from landscape.runtime import resolve_device
from landscape.sources.checkpoint import load_checkpoint


def products(model, inputs, labels, vector) -> dict:
    """name → a function computing H·v (a list of tensors), each with its own graph."""
    params = [p for p in model.parameters() if p.requires_grad]
    kept = KeptGradientGraphs(model, params, inputs, labels, len(labels))
    out = {"landscape, graph kept": lambda: kept(vector),
           "landscape, graph rebuilt": lambda: hessian_vector_product(model, params, inputs, labels, vector,
                                                                      len(labels))}
    try:
        from pyhessian import hessian as PyHessian
        from pyhessian.utils import hessian_vector_product as pyhessian_product
    except ImportError:
        print("PyHessian not installed (pip install pyhessian --no-deps): ours only")
        return out
    reference = PyHessian(model, torch.nn.CrossEntropyLoss(), data=(inputs, labels), cuda=inputs.is_cuda)
    out["PyHessian"] = lambda: pyhessian_product(reference.gradsH, reference.params, vector)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 folder, or 'synthetic' (benchmarks/synthetic_cifar.py)")
    parser.add_argument("--checkpoint", default="checkpoints/resnet20_relu.pt")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Using backward")  # PyHessian's own backward(create_graph=True)
    device = resolve_device(args.device)
    chosen = training_images(args.data, args.samples, 1)
    inputs, labels = prepare_inputs(chosen.images, device).contiguous(), chosen.labels.to(device)
    model = load_checkpoint(args.checkpoint)[0].to(device).eval()
    vector = [torch.randn_like(p) for p in model.parameters()]
    methods = products(model, inputs, labels, vector)
    names = list(methods)
    results = {name: methods[name]() for name in names}  # warm-up round, and the values compared
    first = results[names[0]]
    agreement = {name: max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(values, first))
                 for name, values in results.items()}
    times = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            synchronize(device)
            started = time.perf_counter()
            methods[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - started)
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads; {args.checkpoint}, "
          f"{args.samples} training images in one batch; seconds per Hessian-vector product:")
    for name in names:
        stats = summary(times[name])
        print(f"  {name:26s} {stats['median']:.3f} (min {stats['min']:.3f}, max {stats['max']:.3f}); "
              f"largest difference from the first, relative: {agreement[name]:.1e}")
    out = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "checkpoint": args.checkpoint, "samples": args.samples,
           "seconds": {name: summary(t) for name, t in times.items()}, "relative_difference": agreement}
    if "PyHessian" in times:
        ratio = paired_ratios(times["PyHessian"], times["landscape, graph kept"])
        out["pyhessian_over_graph_kept"] = ratio
        print(f"  PyHessian's time over ours (graph kept), round by round: median {ratio['median']:.2f} "
              f"({ratio['min']:.2f}-{ratio['max']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
