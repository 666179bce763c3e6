#!/usr/bin/env bash
# scripts/init_debian_model.sh: the shape of qwick's shipped model (the stand-in for a fine-tuned
# Qwen2.5-3B), as an untrained random-weight model: the starting point of pre-training, and the
# "untrained model of the same shape" that its perplexity and task accuracy are compared with.
# Usage: bash scripts/init_debian_model.sh OUTDIR [SEED]   (needs build/qwick or $QWICK, models/qwick-debian)
#
# Qwen2 architecture: hidden 256, 6 layers, 4 query heads and 2 key/value heads of 64 (GQA 2:1), SwiGLU
# FFN 768, q/k/v biases, tied embeddings, RMSNorm eps 1e-6, RoPE theta 1e6, vocabulary 8,192 (the trimmed
# Qwen tokenizer). Every matrix's input width (256, 256, 768) is a multiple of 256, as K-quant
# super-blocks need. Parameters: 4.52M in the layers + 2.10M embedding = 6.62M; 13.2 MB in bf16.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: init_debian_model.sh OUTDIR [SEED]}
"${QWICK:-./build/qwick}" init --shape custom --hidden 256 --ff 768 --layers 6 --heads 4 --kv-heads 2 --vocab 8192 \
    --tokenizer models/qwick-debian --dtype bf16 --seed "${2:-1}" -o "$out"
