#!/usr/bin/env bash
# tests/cli_llamacpp: `qwick bench --vs llama.cpp` and saved-logits KLD (`qwick eval CAND.qwl --ref REF.qwl`).
# Always: the peer protocol against fake peers (a missing peer, an error line, an early exit, wrong rows, a
# good fake that checks it got the temporary GGUF of an HF folder, removed afterwards) and eval of saved
# files. With the real peer built (scripts/llamacpp_install.sh && bench/llamacpp_peer_build.sh; not in CI):
# bench against llama.cpp, its logits against qwick's on the same F32 GGUF, and its quantizer.
. "$(dirname "$0")/lib_cli.sh" "$1"
root=$(pwd)
py=$(command -v python3 || true)
export QWICK_QUIET=1

"$q" init --shape tiny -o "$tmp/tiny" --dtype bf16 2> /dev/null; check "init tiny" $?
"$q" convert "$tmp/tiny" -o "$tmp/tiny.gguf" 2> /dev/null; check "convert tiny" $?
"$q" bench --help | grep -q "llama.cpp"; check "bench --help names llama.cpp" $?
b=(-p 8,16 -B 1,2 -n 2 -r 2 --no-bandwidth)

# --- the peer protocol, against fake peers -------------------------------------------------------------
out=$(QWICK_LLAMACPP_PEER="$tmp/absent_peer" "$q" bench "$tmp/tiny" "${b[@]}" --vs llama.cpp 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "absent_peer" <<< "$out" && grep -q "llamacpp_peer_build.sh" <<< "$out"
check "missing peer: named, with how to build it, exit 1 ($out)" $?

fake() { # fake NAME BODY: an executable peer script
    printf '#!/usr/bin/env bash\n%s\n' "$2" > "$tmp/$1"
    chmod +x "$tmp/$1"
}
fake err 'echo "{\"error\": \"boom: cannot load\"}"; exit 1'
out=$(QWICK_LLAMACPP_PEER="$tmp/err" "$q" bench "$tmp/tiny.gguf" "${b[@]}" --vs llama.cpp 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "llama.cpp peer: boom: cannot load" <<< "$out"; check "peer error line becomes qwick's error ($out)" $?
fake quiet 'echo "some log line on stdout"; exit 3'
out=$(QWICK_LLAMACPP_PEER="$tmp/quiet" "$q" bench "$tmp/tiny.gguf" "${b[@]}" --vs llama.cpp 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "llama.cpp peer: exited early" <<< "$out"; check "peer that exits early ($out)" $?
ready='echo "{\"ready\": true, \"peer\": \"llama.cpp\", \"version\": \"fake 1\", \"model\": \"$1\", \"dtype\": \"bf16\", \"model_bytes\": 1e6, \"n_params\": 5e5, \"step_bytes\": 9e5}"'
fake dies "$ready"'
read -r line; exit 0'
out=$(QWICK_LLAMACPP_PEER="$tmp/dies" "$q" bench "$tmp/tiny.gguf" "${b[@]}" --vs llama.cpp 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "exited early" <<< "$out"; check "peer that dies at the first rep ($out)" $?
fake rows "$ready"'
while read -r line; do echo "{\"prefill\": [{\"prompt_len\": 8, \"tok_s\": 1, \"ttft_s\": 1}], \"decode\": []}"; done'
out=$(QWICK_LLAMACPP_PEER="$tmp/rows" "$q" bench "$tmp/tiny.gguf" "${b[@]}" --vs llama.cpp 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q 'expected 2 "prefill" rows' <<< "$out"; check "peer with the wrong rows ($out)" $?
# a good fake: answers the plan it was given, and records the model it was handed
fake good 'echo "$@" > "'"$tmp"'/good.args"; head -c 4 "$1" > "'"$tmp"'/good.magic"
'"$ready"'
pl= ; bs=
while [ $# -gt 0 ]; do case "$1" in --prompt-lens) pl=$2; shift;; --batches) bs=$2; shift;; esac; shift; done
while read -r line; do
  p=; for x in ${pl//,/ }; do p="$p${p:+, }{\"prompt_len\": $x, \"tok_s\": 100, \"ttft_s\": 0.5}"; done
  d=; for x in ${bs//,/ }; do d="$d${d:+, }{\"batch\": $x, \"tok_s\": $((10 * x)), \"tpot_s\": 0.1}"; done
  echo "{\"prefill\": [$p], \"decode\": [$d], \"peak_rss_bytes\": 1e8, \"foreign_cpu_load\": 0}"
done'
mkdir -p "$tmp/t"
TMPDIR="$tmp/t" QWICK_LLAMACPP_PEER="$tmp/good" "$q" bench "$tmp/tiny" "${b[@]}" --vs llama.cpp --json > "$tmp/g.json"
check "bench HF folder --vs llama.cpp (fake peer)" $?
[ "$(cat "$tmp/good.magic" 2> /dev/null)" = "GGUF" ] && grep -q -- "--serve --threads" "$tmp/good.args" &&
    grep -q -- "--chunk 512" "$tmp/good.args"
check "the peer got a GGUF converted from the folder, and the plan" $?
[ -z "$(ls -A "$tmp/t")" ]; check "the temporary GGUF is removed" $?
# interrupted while the peer works (a peer that never answers): Ctrl-C still removes the temporary GGUF
fake hang "$ready"'
sleep 60'
mkdir -p "$tmp/h"
TMPDIR="$tmp/h" QWICK_LLAMACPP_PEER="$tmp/hang" "$q" bench "$tmp/tiny" "${b[@]}" --vs llama.cpp > /dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ -n "$(ls -A "$tmp/h")" ] && break; sleep 0.1; done
sleep 1
kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] && [ -z "$(ls -A "$tmp/h")" ]; check "Ctrl-C: exit 130, the temporary GGUF removed (rc $rc: $(ls "$tmp/h"))" $?
pkill -f "$tmp/hang" 2> /dev/null
if [ -n "$py" ]; then
    "$py" - "$tmp/g.json" "$tmp/tiny" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
v = r["vs"]
assert v["engine"] == "llama.cpp" and v["isa"] == "fake 1" and r["engine"] == "qwick", (v["engine"], v["isa"])
assert r["model"] == v["model"] == os.path.realpath(sys.argv[2])  # rows name what the user gave
assert r["dtype"] == "bf16" and v["dtype"] == "bf16"
assert [d["batch"] for d in v["decode"]] == [1, 2] and v["decode"][1]["tok_s"] == 20
assert [x["batch"] for x in v["ratios"]["decode"]] == [1, 2]
PY
    check "--vs llama.cpp JSON: both sides, ratios, the folder named" $?
fi
QWICK_LLAMACPP_PEER="$tmp/good" "$q" bench "$tmp/tiny.gguf" "${b[@]}" --vs llama.cpp | grep -q "A/B"
check "a GGUF is run as it is; the table shows A/B" $?
grep -q "tiny.gguf --serve" "$tmp/good.args"; check "the peer got the GGUF itself" $?

# --- saved logits as MODEL ------------------------------------------------------------------------------
head -c 3000 README.md > "$tmp/text.txt"
"$q" eval "$tmp/tiny" --ppl "$tmp/text.txt" --ctx 32 --limit 3 --save-logits "$tmp/a.qwl" --no-progress > /dev/null 2>&1
check "save logits" $?
"$q" eval "$tmp/a.qwl" --ref "$tmp/a.qwl" --json > "$tmp/self.json"; check "eval LOGITS --ref LOGITS" $?
if [ -n "$py" ]; then
    "$py" -c "
import json, sys
r = json.load(open(sys.argv[1]))
assert abs(r['ref']['kld_mean']) < 1e-6 and r['ref']['top1_agree'] == 1 and r['n_params'] is None, r
assert r['ppl']['n_windows'] == 3 and abs(r['ref']['ppl_ratio'] - 1) < 1e-6
" "$tmp/self.json"
    check "a file against itself: KLD 0, agreement 1" $?
fi
"$q" eval "$tmp/tiny" --ppl "$tmp/text.txt" --ctx 16 --limit 3 --save-logits "$tmp/b.qwl" --no-progress > /dev/null 2>&1
out=$("$q" eval "$tmp/a.qwl" --ref "$tmp/b.qwl" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "not saved on the same windows" <<< "$out"; check "files of different windows are refused ($out)" $?
out=$("$q" eval "$tmp/a.qwl" --ref "$tmp/tiny" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "REF_LOGITS" <<< "$out"; check "a logits MODEL needs a logits --ref ($out)" $?
out=$("$q" eval "$tmp/a.qwl" --ref "$tmp/a.qwl" --task "$tmp/x.jsonl" 2>&1); rc=$?
[ $rc -eq 2 ]; check "a logits MODEL cannot run tasks" $?

# --- the real llama.cpp (only where it is built) --------------------------------------------------------
peer="$root/.ref/llamacpp/bin/llamacpp_peer"
if [ -x "$peer" ] && "$peer" --version > /dev/null 2>&1; then
    "$q" bench "$tmp/tiny" -p 16 -B 1,2 -n 4 -r 2 -t 2 --no-bandwidth --vs llama.cpp --json > "$tmp/l.json"
    check "bench --vs llama.cpp (real peer)" $?
    grep -q '"engine":	"llama.cpp"' "$tmp/l.json" && grep -q '"ratios"' "$tmp/l.json"; check "real peer JSON" $?
    "$q" convert "$tmp/tiny" -o "$tmp/f32.gguf" --type f32 2> /dev/null
    "$q" eval "$tmp/f32.gguf" --ppl "$tmp/text.txt" --ctx 32 --limit 3 --save-logits "$tmp/r.qwl" --no-progress > /dev/null 2>&1
    "$peer" logits "$tmp/f32.gguf" --like "$tmp/r.qwl" -o "$tmp/l32.qwl" --kv f32 2> /dev/null; check "llama.cpp logits" $?
    "$q" eval "$tmp/l32.qwl" --ref "$tmp/r.qwl" --json > "$tmp/k.json"; check "eval llama.cpp logits" $?
    "$root/.ref/llamacpp/bin/llamacpp_quantize" "$tmp/f32.gguf" "$tmp/q8.gguf" Q8_0 2> /dev/null; check "llamacpp_quantize Q8_0" $?
    "$peer" logits "$tmp/q8.gguf" --like "$tmp/r.qwl" -o "$tmp/l8.qwl" 2> /dev/null &&
        "$q" eval "$tmp/l8.qwl" --ref "$tmp/r.qwl" --json > "$tmp/k8.json"
    check "eval llama.cpp Q8_0 logits" $?
    if [ -n "$py" ]; then
        "$py" -c "
import json, sys
a, b = (json.load(open(f))['ref'] for f in sys.argv[1:3])
assert a['kld_mean'] < 1e-5 and a['top1_agree'] >= 0.99, a   # the same F32 file in both engines
assert b['kld_mean'] >= a['kld_mean'], (a, b)
" "$tmp/k.json" "$tmp/k8.json"
        check "llama.cpp F32 agrees with qwick F32; Q8_0 diverges more" $?
    fi
    out=$("$peer" logits "$tmp/f32.gguf" --like "$tmp/text.txt" -o "$tmp/x.qwl" 2>&1); rc=$?
    [ $rc -ne 0 ] && grep -q "not a qwick logits file" <<< "$out"; check "peer logits: bad --like is refused" $?
    out=$(printf 'rep\n' | "$peer" "$tmp/absent.gguf" --serve 2>&1); rc=$?
    [ $rc -ne 0 ] && grep -q '"error"' <<< "$out"; check "peer --serve: a missing model is an error line" $?
else
    echo "skip the real llama.cpp peer (not built: bash scripts/llamacpp_install.sh && bash bench/llamacpp_peer_build.sh)"
fi

echo "$checks checks, $fails failures"
exit $fails
