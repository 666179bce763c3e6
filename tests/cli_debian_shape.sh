#!/usr/bin/env bash
# tests/cli_debian_shape: the shipped model's shape and data work together end to end, untrained:
# scripts/init_debian_model.sh writes a model with the trimmed tokenizer (eos/bos renumbered), which
# runs, and qwick eval reads the task (generative and multiple choice) and the validation text.
. "$(dirname "$0")/lib_cli.sh" "$1"

QWICK="$q" bash scripts/init_debian_model.sh "$tmp/m" 2> /dev/null; check "init_debian_model.sh" $?
"$q" info "$tmp/m" --json | grep -q '"vocab_size":[[:space:]]*8192'; check "vocab 8192" $?
grep -q '"bos_token_id": 8189' "$tmp/m/config.json"; check "bos is the trimmed <|endoftext|>" $?
[ "$(stat -c %s "$tmp/m/model.safetensors")" -lt 30000000 ]; check "weights under 30 MB" $?
out=$("$q" tokenize "$tmp/m" "<|im_start|>user"); [ "$out" = "8190 826" ]; check "special token (got '$out')" $?
"$q" run "$tmp/m" --chat -p "Hello" -n 4 --temp 0 -q > /dev/null 2>&1; check "run --chat" $?
"$q" eval "$tmp/m" --task data/sections/test.jsonl --task data/sections/test_mc.jsonl --ppl data/corpus_val.txt \
    --limit 2 --json > "$tmp/e.json" 2> /dev/null; check "eval reads the task and the validation text" $?

echo "$checks checks, $fails failures"
exit $fails
