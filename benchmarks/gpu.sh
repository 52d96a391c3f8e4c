#!/usr/bin/env bash
# The GPU check for a lent GPU machine (not yet run on one), under 8 minutes. Usage, in the repository
# root there: benchmarks/gpu.sh OUT_DIR  →  OUT_DIR/gpu_results.tar.gz (every log and JSON file) and
# OUT_DIR/bench_1000.json, OUT_DIR/bench_50000.json.
#
# That machine gets the repository and nothing beside it, reaches no network and has its own Python
# (3.12) and PyTorch, so: the package runs from the tree (PYTHONPATH, no install); the wheels it lacks
# (plotly, pyevtk, PyHessian) travel in .whl/ (see benchmarks/device_tree.sh); and the timings use
# seeded random images of CIFAR-10's shape (benchmarks/synthetic_cifar.py; the 236 MB JPEG copy does
# not travel, and speed does not depend on what the images show). CPU and GPU numbers are compared on
# the device itself.
set -uo pipefail
out=${1:?give an output folder}
work=$(mktemp -d)
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi > "$work/nvidia-smi.txt" 2>&1
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" > "$work/torch.txt" 2>&1
# 1. the tests that exercise the device paths (engine, folding, precision, uint8 images), on CUDA where they use it
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_runtime.py tests/test_engine.py tests/test_evaluate.py \
  tests/test_folding.py > "$work/tests.txt" 2>&1; echo "tests exit $?" >> "$work/tests.txt"
# 2. reference loop, per-point (fp32, bf16, tf32, compiled) and batched grid points on 1,000 images
timeout 150 python3 -m benchmarks.bench_surface --device cuda --data synthetic --samples 1000 --points-per-batch 16 \
  --rounds 8 --json "$work/bench_1000.json" > "$work/bench_1000.txt" 2>&1
# 3. the whole training set's size per point (images kept on the GPU), without the slow reference loop
timeout 120 python3 -m benchmarks.bench_surface --device cuda --data synthetic --samples 50000 --points-per-batch 8 \
  --rounds 3 --skip reference,"fp32 plain","fp32 1 worker","fp32 compiled" \
  --json "$work/bench_50000.json" > "$work/bench_50000.txt" 2>&1
# 4. Hessian-vector products, ours against PyHessian's
timeout 60 python3 -m benchmarks.bench_hvp --device cuda --data synthetic --samples 500 --rounds 5 \
  --json "$work/bench_hvp.json" > "$work/bench_hvp.txt" 2>&1
# 5. the CLI end to end (K and the batch chosen by its own calibration, recorded in the file), and the
#    same points on the CPU: the largest difference per quantity
surface() { timeout 90 python3 -m landscape surface checkpoints/resnet20_mish.pt \
  --dataset benchmarks.synthetic_cifar:images --samples 1000 --quiet "$@"; }
surface --x=-1:1:21 --y=-1:1:21 --out "$work/mish_gpu.h5" > "$work/surface.txt" 2>&1
surface --x=-1:1:5 --y=-1:1:5 --device cpu --out "$work/mish_cpu.h5" >> "$work/surface.txt" 2>&1
python3 -m benchmarks.compare_surfaces "$work/mish_gpu.h5" "$work/mish_cpu.h5" --json "$work/gpu_vs_cpu.json" \
  >> "$work/surface.txt" 2>&1
# 6. two ranks where the machine has two GPUs
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  timeout 90 torchrun --standalone --nproc_per_node=2 -m landscape surface checkpoints/resnet20_mish.pt \
    --dataset benchmarks.synthetic_cifar:images --samples 1000 --x=-1:1:21 --y=-1:1:21 --out "$work/mish_2gpu.h5" \
    --quiet > "$work/torchrun.txt" 2>&1
fi
tar -czf "$out/gpu_results.tar.gz" -C "$work" .
cp "$work"/bench_1000.json "$work"/bench_50000.json "$out"/ 2>/dev/null
exit 0
