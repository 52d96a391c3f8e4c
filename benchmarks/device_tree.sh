#!/usr/bin/env bash
# Prepare the working tree for a lent GPU machine, and put it back afterwards.
#   benchmarks/device_tree.sh aside   before the device call: moves what the GPU check does not need
#                                     (training snapshots, seed runs, published figures: over 64 MiB
#                                     together, the most that travels) to /tmp/landscape-aside, and
#                                     fetches the wheels the device lacks into .whl/ (ignored by git)
#   benchmarks/device_tree.sh back    after it: moves them back
# Then, with the device tool: run `benchmarks/gpu.sh "$OUT"` with carry [".whl"] and a timeout of
# about 500 s.
set -euo pipefail
cd "$(dirname "$0")/.."
aside=/tmp/landscape-aside
folders=(checkpoints/resnet20_relu.snapshots checkpoints/resnet20_leaky_relu.snapshots
         checkpoints/resnet20_swish.snapshots checkpoints/resnet20_mish.snapshots checkpoints/seeds
         figures benchmarks/budget benchmarks/precision_ab)
case "${1:-}" in
  aside)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    # the versions installed here (the device has Python 3.12; these are pure-Python wheels)
    pins=$(python3 -c "from importlib.metadata import version as v; print(f'plotly=={v(\"plotly\")} pyevtk=={v(\"pyevtk\")}')")
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .whl $pins pyhessian==0.1
    for f in "${folders[@]}"; do
      if [ -e "$f" ]; then mkdir -p "$aside/$(dirname "$f")" && mv "$f" "$aside/$f"; fi
    done
    du -sh --exclude=.git . ;;
  back)
    for f in "${folders[@]}"; do
      if [ -e "$aside/$f" ]; then mkdir -p "$(dirname "$f")" && mv "$aside/$f" "$f"; fi
    done
    git status --short | head ;;
  *) echo "usage: $0 aside|back" >&2; exit 2 ;;
esac
