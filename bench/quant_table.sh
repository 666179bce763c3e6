#!/usr/bin/env bash
# bench/quant_table.sh: what each quantization costs on a model, against its float weights: qwick's RTN, GPTQ,
# AWQ (METHODS) at q4_k, q4_0 and q8_0 (and at --bpw, llama.cpp Q4_K_M's bits per weight), next to llama.cpp's
# own Q8_0 and Q4_K_M of the same weights (llama_model_quantize, when bench/llamacpp_peer_build.sh has run).
# Every candidate GGUF is run by qwick (`qwick eval`): KLD and top-1 agreement against the float model on
# held-out text, and accuracy on a task JSONL with a paired test against the float model.
#
#   bash bench/quant_table.sh MODEL [WORKDIR]
# env: TEXT (default data/corpus_val.txt), TASK (data/sections/test.jsonl), CALIB (data/sections/train.jsonl),
#      CALIB_SAMPLES (128), CTX (256), PPL_LIMIT windows (64), TASK_LIMIT items (1000), TYPES, METHODS, THREADS (2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
q=${QWICK:-$root/build/qwick}
ll="$root/.ref/llamacpp/bin/llamacpp_quantize"
model=${1:?usage: quant_table.sh MODEL [WORKDIR]}
work=${2:-$(mktemp -d)}
text=${TEXT:-$root/data/corpus_val.txt}
task=${TASK:-$root/data/sections/test.jsonl}
calib=${CALIB:-$root/data/sections/train.jsonl}
ns=${CALIB_SAMPLES:-128}
types=${TYPES:-q4_k q4_0 q8_0}
methods=${METHODS:-rtn gptq awq}
th=${THREADS:-2}
mkdir -p "$work"
echo "quant_table: $model -> $work" >&2

cands=()
if [ -x "$ll" ]; then
    [ -f "$work/float-f32.gguf" ] || "$q" convert "$model" --type f32 -o "$work/float-f32.gguf" -t "$th" >&2
    for t in Q8_0 Q4_K_M; do
        [ -f "$work/llama.cpp-$t.gguf" ] || "$ll" "$work/float-f32.gguf" "$work/llama.cpp-$t.gguf" "$t" --threads "$th" >&2
        cands+=("$work/llama.cpp-$t.gguf")
    done
else
    echo "quant_table: no llama.cpp quantizer ($ll); run scripts/llamacpp_install.sh and bench/llamacpp_peer_build.sh" >&2
fi
for t in $types; do
    for m in $methods; do
        out="$work/qwick-$t-$m.gguf"
        [ -f "$out" ] || "$q" quantize "$model" --type "$t" --method "$m" --calib "$calib" --calib-samples "$ns" \
            -t "$th" -q -o "$out" >&2
        cands+=("$out")
    done
done
# at the bits per weight of llama.cpp's Q4_K_M: GPTQ onto q4_k with --bpw spending the rest where it helps most
if [ -f "$work/llama.cpp-Q4_K_M.gguf" ]; then
    bpw=$("$q" info "$work/llama.cpp-Q4_K_M.gguf" --json | python3 -c "import json,sys; print(round(json.load(sys.stdin)[\"bits_per_weight\"], 3))")
    for m in gptq awq+gptq; do
        out="$work/qwick-q4_k-$m-bpw$bpw.gguf"
        [ -f "$out" ] || "$q" quantize "$model" --type q4_k --method "$m" --bpw "$bpw" --calib "$calib" \
            --calib-samples "$ns" -t "$th" -q -o "$out" >&2
        cands+=("$out")
    done
fi

# perplexity and KLD over windows of CTX tokens (the context the model was trained at); the task on its own,
# since a task prompt may be longer than CTX
ctx=${CTX:-256}
"$q" eval "$model" --ppl "$text" -c "$ctx" --limit "${PPL_LIMIT:-64}" -t "$th" --json --no-progress > "$work/ppl-float.json"
"$q" eval "$model" --task "$task" --limit "${TASK_LIMIT:-1000}" -t "$th" --json --no-progress > "$work/task-float.json"
for c in "${cands[@]}"; do
    name=$(basename "$c" .gguf)
    [ -s "$work/ppl-$name.json" ] || "$q" eval "$c" --ppl "$text" -c "$ctx" --ref "$model" --limit "${PPL_LIMIT:-64}" \
        -t "$th" --json --no-progress > "$work/ppl-$name.json"
    [ -s "$work/task-$name.json" ] || "$q" eval "$c" --task "$task" --ref "$model" --limit "${TASK_LIMIT:-1000}" \
        -t "$th" --json --no-progress > "$work/task-$name.json"
done
python3 "$root/bench/quant_table.py" "$work" "$model"
