#!/usr/bin/env bash
# tests/cli_train: `qwick train` and `qwick finetune` (full and LoRA) end to end on a tiny shape: the written
# folder loads and runs; a run killed with SIGKILL resumes from its last checkpoint and logs the same losses
# as an uninterrupted run; bad data gets a clear error. With PyTorch present, the training fixtures are made
# again by scripts/train_ref.py and checked by test_train_torch (skipped, with a message, without torch).
. "$(dirname "$0")/lib_cli.sh" "$1"
b="$1"
q="$b/qwick"
export QWICK_THREADS=2

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch, numpy" 2> /dev/null; then
    /usr/bin/python3 scripts/train_ref.py --out "$tmp/ref" > /dev/null; check "train_ref.py" $?
    QWICK_TRAIN_FIXTURES="$tmp/ref" "$b/test_train_torch" > "$tmp/ref.log"; check "fresh torch reference" $?
else
    echo "skipped: PyTorch missing, so the training fixtures are not made again (test_train_torch checks the committed ones)"
fi

"$q" init --shape custom --hidden 32 --ff 64 --layers 2 --heads 4 --kv-heads 2 -o "$tmp/shape" --dtype f32 2> /dev/null
check "init" $?
"$q" train --help | grep -q -- "--config-from"; check "train --help" $?
"$q" finetune --help | grep -q -- "--lora-targets"; check "finetune --help" $?
head -c 30000 README.md > "$tmp/train.txt"
tail -c 6000 README.md > "$tmp/val.txt"
opts=(--ctx 16 -b 2 -t 2 --log-every 1)
"$q" train --config-from "$tmp/shape" --data "$tmp/train.txt" --val "$tmp/val.txt" -o "$tmp/m1" --steps 4 "${opts[@]}" \
    2> "$tmp/t.log"
check "train from scratch" $?
grep -q "val loss" "$tmp/t.log"; check "train evaluates on --val" $?
"$q" run "$tmp/m1" -p "qwick" -n 3 --temp 0 > /dev/null 2>&1; check "trained model runs" $?

printf '%s\n' '{"prompt": "Which section: a C library", "answer": "libs"}' \
    '{"messages": [{"role": "user", "content": "Which section: a game"}, {"role": "assistant", "content": "games"}]}' \
    '{"prompt": "Which section: a Python module", "answer": "python"}' > "$tmp/task.jsonl"
"$q" finetune "$tmp/m1" --data "$tmp/task.jsonl" -o "$tmp/m2" --steps 3 --dtype f32 "${opts[@]}" --ctx 64 2> /dev/null
check "finetune (full)" $?
"$q" finetune "$tmp/m1" --data "$tmp/task.jsonl" -o "$tmp/m3" --steps 3 --lora 4 --lora-targets q,v,down "${opts[@]}" --ctx 64 \
    2> /dev/null
check "finetune --lora" $?
"$q" run "$tmp/m3" -p "x" -n 2 --temp 0 > /dev/null 2>&1; check "LoRA-merged model runs" $?

# killed midway: the last complete checkpoint resumes to the same losses as an uninterrupted run
run=("$q" train --config-from "$tmp/shape" --data "$tmp/train.txt" --steps 12 --ckpt-every 1 "${opts[@]}")
"${run[@]}" -o "$tmp/u" 2> "$tmp/u.log"; check "uninterrupted run" $?
"${run[@]}" -o "$tmp/k" --ckpt-dir "$tmp/ck" 2> "$tmp/k.log" &
pid=$!
for _ in $(seq 1 600); do
    [ -f "$tmp/ck/checkpoint.bin" ] && grep -q "^step 3/" "$tmp/k.log" && break
    sleep 0.05
done
kill -9 "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
"${run[@]}" -o "$tmp/k" --ckpt-dir "$tmp/ck" --resume 2> "$tmp/r.log"; check "resume after SIGKILL" $?
grep -q "resumed from" "$tmp/r.log"; check "resume says where it starts" $?
losses() { grep '^step [0-9]*/' "$1" | sed 's/ | grad norm.*//'; }
losses "$tmp/r.log" > "$tmp/r.l"
n=$(wc -l < "$tmp/r.l")
[ "$n" -ge 1 ] && losses "$tmp/u.log" | tail -n "$n" | cmp -s - "$tmp/r.l"
check "resumed losses equal the uninterrupted run's ($n steps)" $?

# bad data: clear errors naming file and line, no crash
printf '%s\n' '{"prompt": "a", "answer": "b"}' '{"prompt": ' > "$tmp/bad.jsonl"
"$q" finetune "$tmp/m1" --data "$tmp/bad.jsonl" -o "$tmp/x" "${opts[@]}" 2> "$tmp/e.log"
[ $? -eq 1 ] && grep -q "bad.jsonl:2: malformed JSON" "$tmp/e.log"; check "malformed JSONL names file:line" $?
: > "$tmp/empty.txt"
"$q" train --config-from "$tmp/shape" --data "$tmp/empty.txt" -o "$tmp/x" "${opts[@]}" 2> "$tmp/e.log"
[ $? -eq 1 ] && grep -q "empty.txt: empty file" "$tmp/e.log"; check "empty file refused" $?
"$q" train --config-from "$tmp/shape" -o "$tmp/x" 2> /dev/null
[ $? -eq 2 ]; check "train without --data is a usage error" $?
"$q" finetune "$tmp/m1" --data "$tmp/task.jsonl" -o "$tmp/x" --lora 4 --lora-targets q,bogus 2> /dev/null
[ $? -eq 2 ]; check "bad --lora-targets refused" $?

echo "$checks checks, $fails failures"
exit "$fails"
