#!/usr/bin/env bash
# bench/bench_quant.sh: qwick's integer kernels against llama.cpp on the same quantized GGUFs of the 3B shape,
# 2 threads, alternating in one `qwick bench --vs llama.cpp` per type. The GGUFs are qwick's round-to-nearest
# conversions of a random-weight 3B model (speed does not depend on weight values).
#   bash bench/bench_quant.sh [MODEL_DIR] [TYPES]   (default /tmp/qwen3b-bf16, "q8_0 q4_0 q4_k")
# Needs scripts/llamacpp_install.sh and bench/llamacpp_peer_build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/qwen3b-bf16}
types=${2:-q8_0 q4_0 q4_k}
q=build/qwick
[ -f "$model/config.json" ] || "$q" init --shape 3b --dtype bf16 -o "$model"
[ -f "$model/tokenizer.json" ] || cp models/tokenizer.json models/tokenizer_config.json "$model/" # llama.cpp needs a vocabulary
for t in $types; do
    f=/tmp/qk3b-$t.gguf
    [ -f "$f" ] || "$q" convert "$model" --type "$t" -o "$f" -t 2
    echo "### $t: $f"
    echo
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo '```'
    "$q" bench "$f" --vs llama.cpp -t 2 -p "${PLENS:-512}" -B "${BATCHES:-1}" -n "${NGEN:-16}" -r "${REPS:-3}"
    echo '```'
    echo
done
