#!/usr/bin/env bash
# tests/cli_run: the commands a user runs, end to end: init a tiny model with the real tokenizer, info,
# tokenize (known ids), run (greedy is deterministic, a seed repeats a sample, -n 0 with --dump-logits
# writes an .npy of the right shape), chat over two turns reusing the KV cache, bench --json.
. "$(dirname "$0")/lib_cli.sh" "$1"

"$q" init --shape tiny -o "$tmp/tiny" --dtype bf16 2> /dev/null; check "init tiny" $?
[ -f "$tmp/tiny/config.json" ] && [ -f "$tmp/tiny/model.safetensors" ] && [ -f "$tmp/tiny/tokenizer.json" ]
check "init wrote config, weights, tokenizer" $?
"$q" init --shape tiny -o "$tmp/tiny" 2> /dev/null; [ $? -eq 1 ]; check "init refuses to overwrite a model" $?
"$q" info "$tmp/tiny" | grep -q "Qwen2ForCausalLM"; check "info" $?
"$q" info "$tmp/tiny" --json | grep -q '"hidden_size":[[:space:]]*64'; check "info --json" $?

out=$("$q" tokenize "$tmp/tiny" "Hello world"); [ "$out" = "9707 1879" ]; check "tokenize 'Hello world' = 9707 1879 (got '$out')" $?
printf ' Hello, world!' > "$tmp/t.txt"
out=$("$q" tokenize "$tmp/tiny" -f "$tmp/t.txt"); [ "$out" = "21927 11 1879 0" ]; check "tokenize --file (got '$out')" $?
out=$("$q" tokenize "$tmp/tiny" "<|im_start|>user"); [ "$out" = "151644 872" ]; check "special token (got '$out')" $?

a=$("$q" run "$tmp/tiny" -p "The capital of France is" -n 12 --temp 0 -q)
b=$("$q" run "$tmp/tiny" -p "The capital of France is" -n 12 --temp 0 -q)
[ -n "$a" ] && [ "$a" = "$b" ]; check "greedy run is deterministic" $?
a=$("$q" run "$tmp/tiny" -p "Once upon a time" -n 12 --temp 1 --seed 5 -q)
b=$("$q" run "$tmp/tiny" -p "Once upon a time" -n 12 --temp 1 --seed 5 -q)
[ -n "$a" ] && [ "$a" = "$b" ]; check "seeded sampling repeats" $?
"$q" run "$tmp/tiny" --chat -p "你好" -n 4 --temp 0.7 --top-k 40 --top-p 0.9 --min-p 0.05 --repeat-penalty 1.1 -q > /dev/null
check "run --chat with every sampling option" $?

"$q" run "$tmp/tiny" -p "one two three" -n 0 --dump-logits "$tmp/l.npy" -q; check "run -n 0 --dump-logits" $?
# 3 prompt tokens x 151936 floats, after a 128-byte .npy header
size=$(stat -c %s "$tmp/l.npy" 2>/dev/null || echo 0)
[ "$size" -eq $((128 + 3 * 151936 * 4)) ]; check "dump is [3, 151936] float32 (size $size)" $?
head -c 128 "$tmp/l.npy" | grep -q "'shape': (3, 151936)"; check "npy header shape" $?

out=$(printf 'hello\nand again\n/exit\n' | "$q" chat "$tmp/tiny" -n 6 --temp 0 -v 2>&1 >/dev/null)
grep -q "reused" <<< "$out" && [ "$(grep -c 'reused' <<< "$out")" -eq 2 ]; check "chat answered two turns" $?
reused=$(grep 'reused' <<< "$out" | tail -1 | sed -E 's/.*\(([0-9]+) reused.*/\1/')
[ "${reused:-0}" -gt 20 ]; check "second chat turn reused the cached prefix ($reused tokens)" $?

"$q" bench "$tmp/tiny" -p 16 -n 4 -r 1 --no-bandwidth --json | grep -q '"decode_tok_s"'; check "bench --json" $?
for c in info run chat tokenize init bench; do "$q" $c --help | grep -q usage; check "$c --help" $?; done

echo "$checks checks, $fails failures"
exit $fails
