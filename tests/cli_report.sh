#!/usr/bin/env bash
# tests/cli_report: `qwick report` end to end on hand-written eval and bench results: the HTML holds every
# model and renders as well-formed markup; bad inputs get a clear error naming the file and write nothing.
. "$(dirname "$0")/lib_cli.sh" "$1"
d=tests/data/report
# expect_fail NAME STATUS PATTERN ARGS...: qwick report ARGS exits STATUS with PATTERN in its message
expect_fail() {
    local name=$1 want=$2 pat=$3 out rc
    shift 3
    rm -f "$tmp/bad.html"
    out=$("$q" report "$@" -o "$tmp/bad.html" 2>&1 >/dev/null); rc=$?
    checks=$((checks + 1))
    if [ $rc -ne "$want" ] || ! grep -qE -- "$pat" <<< "$out" || [ -e "$tmp/bad.html" ]; then
        echo "FAIL $name: status $rc, message '$out'"; fails=$((fails + 1))
    else
        echo "ok   $name: $out"
    fi
}

"$q" report --help | grep -q "usage: qwick report"; check "report --help" $?
"$q" report --eval $d/eval_base.json --eval $d/eval_q8.json --eval=$d/eval_q4.json \
    --bench $d/bench_base_vs_torch.json --bench=$d/bench_q8_vs_q4.json --title "Sample" -o "$tmp/r.html" 2>/dev/null
check "report from three evals and two bench runs" $?
h="$tmp/r.html"
for name in 'qwen2.5-3b-ft<br/>' 'qwen2.5-3b-ft-q8 &lt;&amp;&quot;&#39;&gt;' 'qwen2.5-3b-ft-q4' 'qwen2.5-3b-ft (pytorch-eager)'; do
    grep -qF -- "$name" "$h"; check "column for $name" $?
done
! grep -qF 'q8 <&' "$h"; check "the path with <, &, quotes is escaped" $?
[ "$(grep -o '<svg ' "$h" | wc -l)" -eq 5 ]; check "five inline SVG charts" $?
! grep -qiE '<script|https://|<link|<img' "$h"; check "self-contained (no script, link, image, URL)" $?
[ -z "$(ls "$tmp" | grep '\.tmp\.')" ]; check "atomic write left no temporary file" $?
if command -v python3 > /dev/null; then
    python3 -c "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); assert len(d.getElementsByTagName('svg')) == 5" "$h"
    check "HTML parses as XML (python3), SVG elements inside" $?
fi
"$q" report --bench $d/bench_q8_vs_q4.json --baseline qwen2.5-3b-ft-q4 -o "$tmp/b.html" 2>/dev/null &&
    grep -q 'class="base" scope="col">qwen2.5-3b-ft-q4' "$tmp/b.html"
check "--baseline picks the first column" $?

printf '{"model": "m", "ppl": {"ppl": 3.1' > "$tmp/trunc.json"
expect_fail "truncated JSON names the file" 1 "trunc.json.*not valid JSON" --eval "$tmp/trunc.json"
expect_fail "eval file given as --bench" 1 "eval_q8.json.*--eval" --bench $d/eval_q8.json
expect_fail "bench file given as --eval" 1 "bench_q8_vs_q4.json.*--bench" --eval $d/bench_q8_vs_q4.json
expect_fail "missing file named" 1 "nope.json" --eval "$tmp/nope.json"
echo '{"model": "m", "tasks": [{"file": "t.jsonl", "acc": "high"}]}' > "$tmp/badacc.json"
expect_fail "wrong field type names file and field" 1 "badacc.json.*tasks\[0\].*acc" --eval "$tmp/badacc.json"
expect_fail "unknown baseline" 2 "--baseline nope" --eval $d/eval_q8.json --baseline nope
expect_fail "no inputs" 2 "at least one" 
out=$("$q" report --eval $d/eval_q8.json 2>&1); [ $? -eq 2 ] && grep -q -- "-o" <<< "$out"; check "missing -o is a usage error" $?

echo "$checks checks, $fails failures"
exit $fails
