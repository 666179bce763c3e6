#!/usr/bin/env bash
# scripts/train_shipped_model.sh: reproduces models/qwick-debian/ (the model qwick ships: the stand-in for a
# user's fine-tuned Qwen2.5-3B) from scratch with qwick itself, and says how long each stage took.
#   1. the pre-training corpus (scripts/make_corpus.sh: Debian descriptions, man pages, documents, Chinese text)
#   2. an untrained model of the shipped shape (scripts/init_debian_model.sh)
#   3. pre-training on the corpus (qwick train), validation text data/corpus_val.txt
#   4. fine-tuning on the Debian "description -> section" task (qwick finetune, loss on the answers)
#   5. the figures: perplexity and task accuracy of the untrained, pre-trained and fine-tuned models
# Usage: bash scripts/train_shipped_model.sh [WORKDIR]   (default /tmp/qwick-ship; resumable: rerun after a kill)
# Budget knobs (env): PRE_STEPS, FT_STEPS, THREADS. The shipped model was made with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/qwick-ship}
q=${QWICK:-./build/qwick}
th=${THREADS:-2}
pre_steps=${PRE_STEPS:-300}
ft_steps=${FT_STEPS:-250}
mkdir -p "$work"
stage() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
t_all=$(date +%s)

stage "corpus"
t=$(date +%s)
[ -s data/corpus/train.txt ] || bash scripts/make_corpus.sh
echo "corpus: $(( $(date +%s) - t )) s"

stage "untrained model"
[ -d "$work/init" ] || bash scripts/init_debian_model.sh "$work/init" 1

stage "pre-training: $pre_steps steps of 16 x 256 tokens"
t=$(date +%s)
[ -d "$work/pre" ] || "$q" train --config-from "$work/init" --data data/corpus/train.txt --val data/corpus_val.txt \
    -o "$work/pre" --ctx 256 -b 8 --accum 2 --steps "$pre_steps" --lr 1e-3 --warmup 20 --eval-every 100 \
    --eval-batches 20 --log-every 10 --ckpt-dir "$work/ck-pre" --ckpt-every 50 --resume --dtype f32 -t "$th"
echo "pre-training: $(( $(date +%s) - t )) s"

stage "fine-tuning on data/sections/train.jsonl: $ft_steps steps of 16 examples"
t=$(date +%s)
[ -d "$work/ft" ] || "$q" finetune "$work/pre" --data data/sections/train.jsonl --val data/sections/val.jsonl \
    -o "$work/ft" --ctx 256 -b 8 --accum 2 --steps "$ft_steps" --lr 5e-4 --warmup 20 --eval-every 125 \
    --eval-batches 10 --log-every 10 --ckpt-dir "$work/ck-ft" --ckpt-every 50 --resume --dtype bf16 -t "$th"
echo "fine-tuning: $(( $(date +%s) - t )) s"

stage "figures"
for m in init pre ft; do
    echo "-- $m"
    "$q" eval "$work/$m" --ppl data/corpus_val.txt --task data/sections/test.jsonl -t "$th" --json > "$work/eval_$m.json"
    cat "$work/eval_$m.json"
done
echo
echo "total: $(( $(date +%s) - t_all )) s; the model is $work/ft (copy it to models/qwick-debian/ to ship it)"
