#!/usr/bin/env bash
# The GPU check: the CUDA tests (tests/gpu, `pytest -m gpu`) and the throughput benchmark
# (benchmarks/gpu.py) on a machine with a CUDA GPU, in under 8 minutes.
#
# The GPU machine it is written for reaches no package registry and has Python 3.12 with CUDA
# torch, numpy, scipy and scikit-learn, and matplotlib and safetensors (which the project
# imports too; that machine has them, and many more). The project's
# other dependencies travel as wheels fetched beforehand, on a machine with PyPI:
#
#   scripts/gpu_check.sh --fetch-wheels [DIR]
#
# downloads into DIR (default .cache/gpu, ignored by git) the CPython 3.12 manylinux x86_64
# wheels of what `import zero_cost`, the worker and tests/gpu need beyond that machine's
# packages (pydantic, pydantic-settings, SQLAlchemy, alembic and their small dependencies;
# never torch, numpy, scipy or scikit-learn), at the versions this checkout's .venv has, about
# 8 MB; and copies ../shared/data/cifar10_sample.npz there when it exists (14 MB; without it
# the benchmark scores a synthetic batch). Then, on the GPU machine, from the checkout with
# DIR in it:
#
#   scripts/gpu_check.sh [DIR]
#
# installs the wheels into a temporary folder (never into the machine's Python), runs
# `python -m pytest -m gpu -q tests/gpu`, then `python benchmarks/gpu.py`, and writes the
# benchmark's table to gpu.md and each step's whole output to gpu_tests.log and
# gpu_benchmark.log, in $OUT when OUT is set, else in DIR. It exits non-zero when a step
# failed. With the device tool of this workplace: run
# `scripts/gpu_check.sh --fetch-wheels` here, then `scripts/gpu_check.sh` there with carry
# [".cache/gpu"]. PYTHON names the interpreter (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
# What the GPU machine lacks: module-level imports of zero_cost, app.worker and tests/gpu,
# minus the packages it has. Their own dependencies are listed too (pip runs with --no-deps).
WHEELS=(
  pydantic pydantic_core pydantic-settings python-dotenv typing-inspection annotated-types
  typing_extensions SQLAlchemy alembic Mako
)
NEVER='^(torch|numpy|scipy|scikit_learn)-'

fetch_wheels() {
  local dir="$1" versions
  mkdir -p "$dir"
  versions="$(.venv/bin/python - "${WHEELS[@]}" <<'EOF'
import importlib.metadata
import sys

print(" ".join(f"{name}=={importlib.metadata.version(name)}" for name in sys.argv[1:]))
EOF
)"
  # shellcheck disable=SC2086  # one argument per requirement
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir" \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    $versions
  if [[ -f ../shared/data/cifar10_sample.npz ]]; then
    cp ../shared/data/cifar10_sample.npz "$dir/"
  fi
  echo "fetched into $dir: $(ls "$dir" | tr '\n' ' ')"
  du -sh "$dir"
}

check() {
  local dir="$1" site status=0 out
  site="$(mktemp -d)"
  if ls "$dir" | grep -Eiq "$NEVER"; then
    echo "refusing: $dir holds a torch/numpy/scipy/scikit-learn wheel; use the machine's own" >&2
    exit 2
  fi
  "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
    --target "$site" "$dir"/*.whl
  export PYTHONPATH="$site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONUNBUFFERED=1
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

  out="${OUT:-$dir}"
  echo "== pytest -m gpu tests/gpu"
  # --noconftest: tests/gpu needs none of the service's fixtures (nor FastAPI, uvicorn)
  timeout 200 "$PYTHON" -m pytest -m gpu -q -rs -p no:cacheprovider --noconftest tests/gpu \
    2>&1 | tee "$out/gpu_tests.log" || status=1

  echo "== benchmarks/gpu.py"
  local data=()
  if [[ -f "$dir/cifar10_sample.npz" ]]; then
    data=(--data "$dir/cifar10_sample.npz")
  fi
  timeout 260 "$PYTHON" benchmarks/gpu.py "${data[@]}" --budget 170 --out "$out/gpu.md" \
    2>&1 | tee "$out/gpu_benchmark.log" || status=1
  echo "table written to $out/gpu.md, logs to $out/gpu_tests.log and $out/gpu_benchmark.log"
  return "$status"
}

case "${1:-}" in
  --fetch-wheels) fetch_wheels "${2:-.cache/gpu}" ;;
  -h | --help) sed -n '2,28p' "$0" ;;
  *) check "${1:-.cache/gpu}" ;;
esac
