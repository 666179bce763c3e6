#!/usr/bin/env bash
# tests/cli_quantize: `qwick quantize` end to end on the tiny model (GQA, rows too short for K-quants):
# every method writes a GGUF that converts back and runs, --eval reports KLD and top-1, JSONL calibration,
# and clear errors for bad input.
. "$(dirname "$0")/lib_cli.sh" "$1"
fast="--calib-samples 4 --calib-len 48 --eval-samples 2 --awq-grid 4 --awq-tokens 96 --keep embed -t 2 -q"

"$q" init --shape tiny -o "$tmp/tiny" 2> /dev/null; check "init tiny" $?
"$q" quantize --help | grep -q -- "--method"; check "quantize --help" $?
for m in rtn gptq awq awq+gptq; do
    out=$("$q" quantize "$tmp/tiny" --type q4_0 --method $m --eval $fast -o "$tmp/$m.gguf" 2>&1); rc=$?
    [ $rc -eq 0 ] && echo "$out" | grep -q "KLD mean" && echo "$out" | grep -q "top-1 agreement"
    check "quantize --method $m --eval ($(echo "$out" | tail -1))" $?
    "$q" convert "$tmp/$m.gguf" --type f32 -o "$tmp/$m-f32.gguf" 2> /dev/null &&
        "$q" run "$tmp/$m-f32.gguf" -p "hi" -n 2 --temp 0 -q > /dev/null
    check "$m GGUF loads, dequantizes and runs" $?
done
# K-quants on rows of 64: every matrix falls back with a warning, as convert does
"$q" quantize "$tmp/tiny" --type q4_k --method gptq $fast -o "$tmp/k.gguf" 2>&1 | grep -q "not whole Q4_K blocks of 256; they are written as Q8_0"
check "K-quant fallback warns" $?
printf '%s\n' '{"prompt": "What is 2+2?", "answer": "4"}' '{"prompt": "你好", "answer": "你好！"}' \
    '{"messages": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]}' \
    '{"prompt": "def f(x):", "answer": "return x"}' '{"prompt": "Capital of France?", "answer": "Paris"}' > "$tmp/task.jsonl"
out=$("$q" quantize "$tmp/tiny" --type q8_0 --method gptq --calib "$tmp/task.jsonl" --eval $fast -o "$tmp/j.gguf" 2>&1)
[ $? -eq 0 ] && echo "$out" | grep -q "KLD mean"; check "JSONL calibration with --eval" $?

"$q" quantize "$tmp/tiny" --type q4_0 2> /dev/null; [ $? -eq 2 ]; check "missing -o is a usage error" $?
"$q" quantize "$tmp/tiny" --type q3_k -o "$tmp/x.gguf" 2> /dev/null; [ $? -eq 2 ]; check "unknown --type" $?
"$q" quantize "$tmp/tiny" --method squeeze -o "$tmp/x.gguf" 2> /dev/null; [ $? -eq 2 ]; check "unknown --method" $?
err=$("$q" quantize "$tmp/tiny" --type q4_0 --keep attn_z -o "$tmp/x.gguf" 2>&1); [ $? -ne 0 ] && echo "$err" | grep -q "unknown tensor 'attn_z'"
check "bad --keep is named ($err)" $?
err=$("$q" quantize "$tmp/tiny" --type q4_0 --keep blk.9.attn_v -o "$tmp/x.gguf" 2>&1); [ $? -ne 0 ] && echo "$err" | grep -q "names no layer"
check "--keep of a missing layer ($err)" $?
err=$("$q" quantize "$tmp/tiny" --type q4_0 --calib "$tmp/nope.txt" -o "$tmp/x.gguf" 2>&1); [ $? -ne 0 ] && echo "$err" | grep -q "nope.txt"
check "missing calibration file is named ($err)" $?
echo '{"prompt": 3}' > "$tmp/bad.jsonl"
err=$("$q" quantize "$tmp/tiny" --type q4_0 --calib "$tmp/bad.jsonl" -o "$tmp/x.gguf" 2>&1); [ $? -ne 0 ] && echo "$err" | grep -q "bad.jsonl:1"
check "bad JSONL names file and line ($err)" $?
"$q" convert "$tmp/tiny" --type q8_0 -o "$tmp/q8.gguf" 2> /dev/null
err=$("$q" quantize "$tmp/q8.gguf" --method gptq --type q4_0 $fast -o "$tmp/x.gguf" 2>&1); [ $? -ne 0 ] && echo "$err" | grep -q "already Q8_0"
check "GPTQ on a quantized GGUF is refused clearly ($err)" $?
"$q" quantize "$tmp/q8.gguf" --method rtn --type q4_0 -q -o "$tmp/re.gguf" 2> /dev/null; check "RTN requantizes a quantized GGUF" $?
[ ! -e "$tmp/x.gguf" ] && [ -z "$(ls "$tmp" | grep '\.tmp\.')" ]; check "no partial or temporary files left" $?

echo "$checks checks, $fails failures"
[ $fails -eq 0 ]
