#!/usr/bin/env bash
# The GPU check, prepared for a lent GPU machine (not yet run on one): under 8 minutes, JSON and
# logs into the folder given as $1. Usage: benchmarks/gpu.sh OUT_DIR [CIFAR_DIR]
set -uo pipefail
out=${1:?give an output folder}; data=${2:-../shared/cifar10}
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
# 1. the test suite's device tests and the batched-vs-per-point equivalence, on CUDA where they use it
timeout 180 python -m pytest -q tests/test_runtime.py tests/test_engine.py tests/test_evaluate.py \
  > "$out/tests.txt" 2>&1; echo "tests exit $?" >> "$out/tests.txt"
# 2. per-point against batched grid points, fp32 and bf16, on 1,000 and on 50,000 training images
timeout 150 python -m benchmarks.bench_surface --device cuda --data "$data" --samples 1000 \
  --batch-sizes 256,1000 --points-per-batch 1,8,32 --json "$out/bench_1000.json" > "$out/bench_1000.txt" 2>&1
timeout 150 python -m benchmarks.bench_surface --device cuda --data "$data" --samples 50000 \
  --batch-sizes 1000,5000 --points-per-batch 1,8 --repeats 2 --json "$out/bench_50000.json" \
  > "$out/bench_50000.txt" 2>&1
# 3. the CLI end to end, K chosen by its own calibration (recorded in the file)
timeout 90 python -m landscape surface checkpoints/resnet20_mish.pt --data "$data" --samples 1000 \
  --x=-1:1:21 --y=-1:1:21 --out "$out/mish_gpu.h5" --quiet > "$out/surface.txt" 2>&1
# 4. two ranks where the machine has two GPUs
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  timeout 90 torchrun --standalone --nproc_per_node=2 -m landscape surface checkpoints/resnet20_mish.pt --data "$data" \
    --samples 1000 --x=-1:1:21 --y=-1:1:21 --out "$out/mish_2gpu.h5" --quiet > "$out/torchrun.txt" 2>&1
fi
exit 0
