#!/usr/bin/env bash
# tests/cli_gguf: `qwick convert` end to end on a tiny model with the real tokenizer: the GGUF tokenizes,
# generates and scores exactly as the HF folder does; quantized GGUFs are written and run (run, eval,
# bench, info); convert's own errors.
. "$(dirname "$0")/lib_cli.sh" "$1"

"$q" init --shape tiny -o "$tmp/tiny" --dtype bf16 2> /dev/null; check "init tiny" $?
"$q" convert "$tmp/tiny" -o "$tmp/tiny.gguf" 2> /dev/null; check "convert (model dtype)" $?
"$q" info "$tmp/tiny.gguf" | grep -q "BF16 weights in 1 file (GGUF)"; check "info on the GGUF" $?
for text in "Hello world" " Hello, world!" "<|im_start|>user
你好<|im_end|>" "def f(x):  return x**2  # 123456"; do
    a=$("$q" tokenize "$tmp/tiny" "$text"); b=$("$q" tokenize "$tmp/tiny.gguf" "$text")
    [ -n "$a" ] && [ "$a" = "$b" ]; check "tokenize via GGUF = via tokenizer.json ('$a' vs '$b')" $?
done
# GGUF carries no generation_config.json, so its repetition penalty (1.05 here) is set the same by hand
a=$("$q" run "$tmp/tiny" -p "The capital of France is" -n 16 --temp 0 --repeat-penalty 1 -q)
b=$("$q" run "$tmp/tiny.gguf" -p "The capital of France is" -n 16 --temp 0 --repeat-penalty 1 -q)
[ -n "$a" ] && [ "$a" = "$b" ]; check "greedy run: GGUF = HF folder" $?
"$q" run "$tmp/tiny" -p "one two three" -n 0 --dump-logits "$tmp/a.npy" -q
"$q" run "$tmp/tiny.gguf" -p "one two three" -n 0 --dump-logits "$tmp/b.npy" -q
cmp -s "$tmp/a.npy" "$tmp/b.npy"; check "prompt logits: GGUF = HF folder, bit for bit" $?
b=$("$q" run "$tmp/tiny.gguf" --chat -p "hi" -n 4 --temp 0 -q); check "run --chat on the GGUF" $?

"$q" convert "$tmp/tiny.gguf" -o "$tmp/again.gguf" --type f32 2> /dev/null; check "convert GGUF -> GGUF f32" $?
b=$("$q" run "$tmp/again.gguf" -p "The capital of France is" -n 16 --temp 0 -q); check "run the f32 GGUF" $?
grep -q "tokenizer.chat_template" "$tmp/again.gguf" && grep -q "im_start" "$tmp/again.gguf"; check "GGUF -> GGUF keeps the chat template" $?

for t in q8_0 q4_0 iq4_nl q4_k; do
    "$q" convert "$tmp/tiny" -o "$tmp/$t.gguf" --type $t 2> /dev/null; check "convert --type $t" $?
    out=$("$q" run "$tmp/$t.gguf" -p "The capital of France is" -n 8 --temp 0 -q 2>&1); rc=$?
    [ $rc -eq 0 ] && [ -n "$out" ]; check "run $t ($out)" $?
done
"$q" info "$tmp/q4_0.gguf" | grep -q "Q4_0 weights in 1 file (GGUF)"; check "info on a quantized GGUF" $?
"$q" info "$tmp/q4_0.gguf" | grep -q "runnable"; [ $? -ne 0 ]; check "info does not call a quantized GGUF unrunnable" $?
printf 'one two three four five six seven eight nine ten eleven twelve\n' > "$tmp/ppl.txt"
"$q" eval "$tmp/q8_0.gguf" --ppl "$tmp/ppl.txt" --json > "$tmp/e.json" 2> /dev/null && grep -q ppl "$tmp/e.json"; check "eval --ppl on Q8_0" $?
"$q" bench "$tmp/q4_0.gguf" -p 8 -n 4 -r 1 --json > "$tmp/b.json" 2> /dev/null; check "bench on Q4_0" $?
# a quantized file cut short: its last tensor's blocks no longer fit, which is an error, never a crash
head -c $(( $(stat -c %s "$tmp/q4_0.gguf") - 100 )) "$tmp/q4_0.gguf" > "$tmp/cut.gguf"
err=$("$q" run "$tmp/cut.gguf" -p hi -n 1 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$err" | grep -q "cut.gguf"; check "a truncated Q4_0 GGUF is refused ($err)" $?
"$q" convert "$tmp/q8_0.gguf" -o "$tmp/deq.gguf" --type f32 2> /dev/null; check "convert a quantized GGUF to f32" $?
"$q" run "$tmp/deq.gguf" -p "hi" -n 4 --temp 0 -q > /dev/null; check "run the dequantized GGUF" $?
# tiny's rows (64, 160) are not whole Q4_K blocks: every matrix falls back, with a warning
"$q" convert "$tmp/tiny" -o "$tmp/k.gguf" --type q5_k 2>&1 | grep -q "writing it as Q8_0"; check "K-quant fallback warns" $?

"$q" convert "$tmp/tiny" --type q3_k -o "$tmp/x.gguf" 2> /dev/null; [ $? -eq 2 ]; check "unknown --type is a usage error" $?
"$q" convert "$tmp/tiny" 2> /dev/null; [ $? -eq 2 ]; check "missing -o is a usage error" $?
printf 'GGUF\1\0\0\0' > "$tmp/v1.gguf"
err=$("$q" info "$tmp/v1.gguf" 2>&1); [ $? -ne 0 ] && echo "$err" | grep -q "v1.gguf: GGUF version 1"
check "a GGUF v1 file is refused by name ($err)" $?
echo "not gguf" > "$tmp/junk.gguf"
err=$("$q" run "$tmp/junk.gguf" -p hi -n 1 2>&1); [ $? -ne 0 ] && echo "$err" | grep -q "bad magic"
check "a non-GGUF file is refused ($err)" $?
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ]; check "no temporary files left" $?

echo "$checks checks, $fails failures"
[ $fails -eq 0 ]
