#!/usr/bin/env bash
# The GPU check, prepared for a lent GPU machine (not yet run on one): under 8 minutes, JSON and
# logs into the folder given as $1. Usage: benchmarks/gpu.sh OUT_DIR [CIFAR_DIR]
set -uo pipefail
out=${1:?give an output folder}; data=${2:-../shared/cifar10}
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
# 1. the tests that exercise the device paths (engine, folding, precision, uint8 images), on CUDA where they use it
timeout 150 python -m pytest -q tests/test_runtime.py tests/test_engine.py tests/test_evaluate.py tests/test_folding.py \
  > "$out/tests.txt" 2>&1; echo "tests exit $?" >> "$out/tests.txt"
# 2. reference loop, per-point (fp32, bf16, tf32, compiled) and batched grid points on 1,000 training images,
#    and Hessian-vector products against PyHessian
timeout 150 python -m benchmarks.bench_surface --device cuda --data "$data" --samples 1000 --points-per-batch 16 \
  --rounds 8 --json "$out/bench_1000.json" > "$out/bench_1000.txt" 2>&1
# 3. the whole training set per point (images kept on the GPU), without the slow reference loop
timeout 120 python -m benchmarks.bench_surface --device cuda --data "$data" --samples 50000 --points-per-batch 8 \
  --rounds 3 --skip reference,"fp32 plain","fp32 1 worker","fp32 compiled" --hvp-rounds 0 \
  --json "$out/bench_50000.json" > "$out/bench_50000.txt" 2>&1
# 4. the CLI end to end, K chosen by its own calibration (recorded in the file)
timeout 90 python -m landscape surface checkpoints/resnet20_mish.pt --data "$data" --samples 1000 \
  --x=-1:1:21 --y=-1:1:21 --out "$out/mish_gpu.h5" --quiet > "$out/surface.txt" 2>&1
# 5. two ranks where the machine has two GPUs
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  timeout 90 torchrun --standalone --nproc_per_node=2 -m landscape surface checkpoints/resnet20_mish.pt --data "$data" \
    --samples 1000 --x=-1:1:21 --y=-1:1:21 --out "$out/mish_2gpu.h5" --quiet > "$out/torchrun.txt" 2>&1
fi
exit 0
