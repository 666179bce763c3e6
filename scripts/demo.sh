#!/usr/bin/env bash
# The demo `make demo` runs: qwick's main job on the model that ships with it (models/qwick-debian, a small
# Qwen2 model trained with qwick on Debian text and fine-tuned on the "description -> section" task, the
# stand-in for a user's fine-tuned Qwen2.5-3B): look at it, ask it something, make it smaller and faster
# with GPTQ 4-bit, and prove what that cost: task accuracy (paired against the float model), KL divergence,
# and speed side by side.
set -euo pipefail
build=${1:-build}
q="$build/qwick"
model=${QWICK_DEMO_MODEL:-models/qwick-debian}
out="$build/demo"
mkdir -p "$out"
n_items=${DEMO_ITEMS:-200}

echo "== the model"
"$q" info "$model"
echo
echo "== one question from the task's test split (greedy)"
prompt=$(python3 -c 'import json,sys; print(json.loads(open("data/sections/test.jsonl").readline())["prompt"])')
answer=$(python3 -c 'import json,sys; print(json.loads(open("data/sections/test.jsonl").readline())["answer"])')
"$q" run "$model" --chat -p "$prompt" -n 8 --temp 0
echo "(the label is: $answer)"
echo
echo "== quantize: GPTQ onto Q4_K, calibrated on the task's training split"
"$q" quantize "$model" --type q4_k --method gptq --calib data/sections/train.jsonl --calib-samples 64 \
    -o "$out/qwick-debian-q4_k.gguf"
echo
echo "== what it cost: accuracy on $n_items test items, paired against the float model"
"$q" eval "$out/qwick-debian-q4_k.gguf" --ref "$model" --task data/sections/test.jsonl --limit "$n_items" --no-progress
echo
echo "== ... and KL divergence against the float model on held-out text (the context it was trained at)"
"$q" eval "$out/qwick-debian-q4_k.gguf" --ref "$model" --ppl data/corpus_val.txt -c 256 --limit 32 --no-progress
echo
echo "== what it bought: size"
ls -l "$model/model.safetensors" "$out/qwick-debian-q4_k.gguf"
echo "(a 7M-parameter model lives in the CPU caches, so it is not faster at 4 bits; on the 3B shape, where"
echo " decode streams every weight from memory, see bench/RESULTS.md or run: bash bench/bench_quant.sh)"
