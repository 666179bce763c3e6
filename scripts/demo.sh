#!/usr/bin/env bash
# The demo `make demo` runs: a model in the Hugging Face layout, what is in it, and a chat reply streamed
# from it. Until the trained model ships (issue 5) this is a random-weight tiny model: the text is noise,
# the pipeline (tokenizer, chat template, forward, sampling, streaming) is the real one.
set -euo pipefail
build=${1:-build}
q="$build/qwick"
model=${QWICK_DEMO_MODEL:-$build/demo-tiny}
[ -f "$model/config.json" ] || "$q" init --shape tiny -o "$model"
"$q" info "$model"
echo
"$q" run "$model" --chat -p "用一句话介绍你自己 (introduce yourself in one sentence)" -n 24 --temp 0.8 --seed 1
echo
"$q" tokenize "$model" "Hello, 世界! <|im_start|>"
