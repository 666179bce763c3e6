#!/usr/bin/env bash
# tests/cli_eval: `qwick eval` end to end on tiny models: perplexity and KLD (live and saved logits) as JSON,
# tasks with known answers and a paired test, every JSONL problem refused with FILE:LINE and no crash.
. "$(dirname "$0")/lib_cli.sh" "$1"
# jtrue FILE EXPR: the Python expression over the parsed JSON object `d` is true
jtrue() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }

"$q" init --shape tiny -o "$tmp/tiny" --seed 1 2> /dev/null; check "init tiny" $?
"$q" init --shape tiny -o "$tmp/tiny32" --seed 1 --dtype f32 2> /dev/null; check "init tiny f32" $?
"$q" init --shape tiny -o "$tmp/other" --seed 2 2> /dev/null; check "init another tiny" $?
"$q" eval --help | grep -q "usage: qwick eval"; check "eval --help" $?
"$q" eval "$tmp/tiny" 2> "$tmp/err"; [ $? -eq 2 ] && grep -q "nothing to evaluate" "$tmp/err"; check "eval with nothing to do: usage error" $?

for i in 1 2 3 4 5 6; do
    echo "Paragraph $i. The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs."
done > "$tmp/text.txt"

# perplexity, self-reference, no progress output when stderr is not a terminal
"$q" eval "$tmp/tiny" --ppl "$tmp/text.txt" --ctx 64 --ref "$tmp/tiny" --json > "$tmp/a.json" 2> "$tmp/err"
check "eval --ppl --ref self --json" $?
[ ! -s "$tmp/err" ]; check "stderr stays empty when it is not a terminal" $?
jtrue "$tmp/a.json" 'd["ppl"]["ctx"] == 64 and d["ppl"]["stride"] == 32 and d["ppl"]["n_tokens"] > 100 and d["ppl"]["ppl"] > 1000'
check "ppl JSON fields" $?
jtrue "$tmp/a.json" 'd["ref"]["kld_mean"] == 0 and d["ref"]["kld_max"] == 0 and d["ref"]["top1_agree"] == 1 and d["ref"]["ppl_ratio"] == 1'
check "KLD of a model against itself is 0, top-1 agreement 100%" $?
jtrue "$tmp/a.json" 'all(k in d for k in ("model","model_bytes","n_params","bpw","time_s")) and "tasks" not in d'
check "top-level JSON fields; tasks omitted when not asked" $?

"$q" eval "$tmp/other" --ppl "$tmp/text.txt" --ctx 64 --ref "$tmp/tiny" --json > "$tmp/b.json"
jtrue "$tmp/b.json" 'd["ref"]["kld_mean"] > 0 and d["ref"]["kld_p999"] <= d["ref"]["kld_max"] and d["ref"]["ref_ppl"] > 0'
check "KLD against another model > 0" $?

# saved logits: written once, then the reference need not be loaded
"$q" eval "$tmp/tiny" --ppl "$tmp/text.txt" --ctx 64 --save-logits "$tmp/ref.qwl" > /dev/null 2> "$tmp/err"
check "--save-logits" $?
grep -q "saved this model's log-probs" "$tmp/err"; check "--save-logits says where" $?
"$q" eval "$tmp/other" --ppl "$tmp/text.txt" --ref "$tmp/ref.qwl" --json > "$tmp/c.json"
check "--ref saved logits (ctx and stride taken from the file)" $?
python3 - "$tmp/b.json" "$tmp/c.json" << 'EOF'
import json, sys
b, c = (json.load(open(p))["ref"] for p in sys.argv[1:3])
assert abs(b["kld_mean"] - c["kld_mean"]) <= 1e-3 * b["kld_mean"], (b["kld_mean"], c["kld_mean"])
assert b["top1_agree"] == c["top1_agree"] and abs(b["ref_ppl"] - c["ref_ppl"]) <= 1e-5 * b["ref_ppl"]
EOF
check "saved-logits KLD equals the live reference's (16-bit)" $?
"$q" eval "$tmp/other" --ppl "$tmp/text.txt" --ref "$tmp/ref.qwl" --ctx 32 2> "$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "saved with --ctx 64 --stride 32; this run uses --ctx 32" "$tmp/err"; check "mismatched window refused (rc $rc)" $?
head -c 3000 /dev/urandom > "$tmp/noise.txt"
"$q" eval "$tmp/other" --ppl "$tmp/noise.txt" --ref "$tmp/ref.qwl" 2> "$tmp/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "different text or tokenizer" "$tmp/err"; check "another text refused (rc $rc)" $?
"$q" eval "$tmp/other" --task tests/data/eval_mc.jsonl --ref "$tmp/ref.qwl" 2> "$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "can serve --ppl only" "$tmp/err"; check "saved logits cannot serve --task" $?
"$q" eval "$tmp/tiny" --ppl "$tmp/text.txt" --ref "$tmp/ref.qwl" | grep -q "KLD mean"; check "table output" $?
printf 'x' > "$tmp/one.txt"
"$q" eval "$tmp/tiny" --ppl "$tmp/one.txt" 2> "$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "at least 2" "$tmp/err"; check "a one-token text is refused (rc $rc)" $?

# multiple choice, paired against itself and against another model
"$q" eval "$tmp/tiny" --task tests/data/eval_mc.jsonl --ref "$tmp/tiny" --json > "$tmp/mc.json"; check "eval --task MC" $?
jtrue "$tmp/mc.json" 'd["tasks"][0]["kind"] == "multiple_choice" and d["tasks"][0]["n"] == 6 and "acc_norm_ci" in d["tasks"][0] and "match" not in d["tasks"][0]'
check "MC JSON fields" $?
jtrue "$tmp/mc.json" 'd["tasks"][0]["paired"]["n_discordant"] == 0 and d["tasks"][0]["paired"]["p_value"] == 1 and d["tasks"][0]["paired"]["diff"] == 0'
check "paired against itself: no discordant items, p = 1" $?
"$q" eval "$tmp/tiny" --task tests/data/eval_mc.jsonl --limit 3 --json | python3 -c "import json,sys; sys.exit(json.load(sys.stdin)['tasks'][0]['n'] != 3)"
check "--limit caps items" $?

# generative with known answers: what `qwick run` produces greedily, and something else
ans() { "$q" run "$tmp/tiny32" -p "$1" -n 3 --temp 0 --repeat-penalty 1 -q; }
a1=$(ans "The answer is blue"); a2=$(ans "one two three"); a3=$(ans "Paris is in France")
python3 - "$tmp/gen.jsonl" "$a1" "$a2" "$a3" << 'EOF'
import json, sys
out, a1, a2, a3 = sys.argv[1:5]
with open(out, "w") as f:
    for p, a in (("The answer is blue", a1), ("one two three", "definitely wrong"), ("Paris is in France", a3),
                 ("Hello", "nope")):
        f.write(json.dumps({"prompt": p, "answer": a}, ensure_ascii=False) + "\n")
EOF
"$q" eval "$tmp/tiny32" --task "$tmp/gen.jsonl" --raw --max-new 3 -P 2 --json -v > "$tmp/g.json" 2> "$tmp/err"
check "eval --task generative" $?
jtrue "$tmp/g.json" 'd["tasks"][0]["kind"] == "generative" and d["tasks"][0]["match"] == "exact" and d["tasks"][0]["acc"] == 0.5'
check "generative: the two greedy answers right, the two others wrong (got: $(grep -c right "$tmp/err") right)" $?
"$q" eval "$tmp/tiny32" --task "$tmp/gen.jsonl" --raw --max-new 3 --match 'regex:(\w+)' --json > "$tmp/g2.json"
jtrue "$tmp/g2.json" 'd["tasks"][0]["match"] == "regex:(\\w+)" and d["tasks"][0]["n"] == 4'; check "--match regex" $?
"$q" eval "$tmp/tiny32" --task "$tmp/gen.jsonl" --match 'regex:(' 2> "$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "missing closing parenthesis" "$tmp/err"; check "bad regex refused (rc $rc)" $?
"$q" eval "$tmp/tiny32" --task "$tmp/gen.jsonl,tests/data/eval_mc.jsonl" --max-new 2 --ref "$tmp/tiny32" --json > "$tmp/g3.json"
jtrue "$tmp/g3.json" 'len(d["tasks"]) == 2 and d["tasks"][0]["paired"]["n_discordant"] == 0'; check "two task files, paired" $?

# every JSONL problem: exit 1 (not a crash), FILE:LINE and the problem named
bad() { # bad NAME CONTENT PATTERN [extra args]
    local name=$1 content=$2 pat=$3; shift 3
    printf '%b' "$content" > "$tmp/bad.jsonl"
    "$q" eval "$tmp/tiny" --task "$tmp/bad.jsonl" "$@" > /dev/null 2> "$tmp/err"; local rc=$?
    checks=$((checks + 1))
    if [ $rc -ne 1 ]; then echo "FAIL $name: exit status $rc: $(cat "$tmp/err")"; fails=$((fails + 1))
    elif ! grep -qF -- "$pat" "$tmp/err"; then echo "FAIL $name: '$(cat "$tmp/err")' lacks '$pat'"; fails=$((fails + 1))
    else echo "ok   $name: $(cat "$tmp/err")"; fi
}
bad "empty file" '' "bad.jsonl: no items (the file is empty)"
bad "malformed JSON" '{"prompt": "a", "answer": "b"}\n{"prompt": "a" "answer": "b"}\n' "bad.jsonl:2: malformed JSON"
bad "missing answer" '{"prompt": "a"}\n' "bad.jsonl:1: missing 'answer'"
bad "missing prompt" '\n\n{"answer": "a"}\n' "bad.jsonl:3: missing 'prompt' (or 'messages')"
bad "wrong type" '{"prompt": ["a"], "answer": "b"}\n' "bad.jsonl:1: 'prompt' must be a string"
bad "missing choices label" '{"prompt": "a", "choices": ["x", "y"]}\n' "bad.jsonl:1: missing 'label'"
bad "label out of range" '{"prompt": "a", "choices": ["x", "y"], "label": 0}\n{"prompt": "a", "choices": ["x", "y"], "label": 5}\n' "bad.jsonl:2: label 5 is out of range: 2 choices (0..1)"
bad "empty choices" '{"prompt": "a", "choices": [], "label": 0}\n' "bad.jsonl:1: 'choices' is empty"
bad "mixed kinds" '{"prompt": "a", "answer": "b"}\n{"prompt": "a", "choices": ["x"], "label": 0}\n' "bad.jsonl:2: has 'choices'"
bad "prompt longer than --ctx" '{"prompt": "one two three four five six seven eight nine ten", "answer": "b"}\n' \
    "bad.jsonl:1: prompt of" --raw --ctx 8
bad "MC longer than --ctx" '{"prompt": "one two three four five six seven eight", "choices": [" nine ten"], "label": 0}\n' \
    "bad.jsonl:1: prompt and choice are" --raw --ctx 8
bad "messages with --raw" '{"messages": [{"role": "user", "content": "q"}], "answer": "a"}\n' \
    "bad.jsonl:1: 'messages' items need the chat template" --raw
head -c 4000 /dev/urandom > "$tmp/bad.jsonl"
"$q" eval "$tmp/tiny" --task "$tmp/bad.jsonl" > /dev/null 2>&1; rc=$?
[ $rc -eq 1 ]; check "random bytes as JSONL: clean refusal (rc $rc)" $?
"$q" eval "$tmp/tiny" --task "$tmp/missing.jsonl" 2> "$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "missing.jsonl" "$tmp/err"; check "missing task file named (rc $rc)" $?

echo "$checks checks, $fails failures"
exit $fails
