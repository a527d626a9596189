#!/usr/bin/env bash
# GPU fine-tuning benchmark (issue 16): ours vs keras-hub (Keras on JAX) vs HF torch eager / torch.compile,
# BERT-base B256 T128 bf16 AdamW, MFU against a bf16 matmul peak measured in the same run. See benchmarks/gpu.py.
#
#   bash benchmarks/gpu.sh --fetch-wheels     # HERE (with internet to PyPI): keras + keras-hub wheels -> .whl/
#   bash benchmarks/gpu.sh [gpu.py flags]     # THERE (JAX, PyTorch, transformers; no TensorFlow needed)
#
# Through the device tool: run(command="bash benchmarks/gpu.sh", carry=[".whl"], timeout_s=580). Results go to
# benchmarks/results/gpu.json (and $OUT/gpu.json when $OUT is set).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "${1:-}" = "--fetch-wheels" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  KERAS=$($PY -c "import keras; print(keras.__version__)" 2>/dev/null || echo 3.15.1)
  HUB=$($PY -c "import importlib.metadata as m; print(m.version('keras-hub'))" 2>/dev/null || echo 0.29.1)
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "keras==$KERAS" "keras-hub==$HUB" namex optree
  ls -la .whl
  exit 0
fi

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
$PY benchmarks/gpu.py "$@"
if [ -n "${OUT:-}" ]; then cp benchmarks/results/gpu.json "$OUT/gpu.json"; fi
