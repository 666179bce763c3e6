#!/usr/bin/env bash
# tests/cli_bench: `qwick bench` on a tiny model: the JSON has every field with sane values (never
# timings against a bar), --vs FOLDER and --vs torch give both sides and ratios, --svg writes a chart,
# bad lists are refused clearly, and a bench result feeds `qwick report` (--vs llama.cpp: cli_llamacpp.sh).
. "$(dirname "$0")/lib_cli.sh" "$1"
py=$(command -v python3 || true)
bw=""

"$q" init --shape tiny -o "$tmp/tiny" --dtype bf16 2> /dev/null; check "init tiny" $?
"$q" init --shape tiny -o "$tmp/tiny2" --dtype f32 2> /dev/null; check "init tiny f32" $?
"$q" bench --help | grep -q -- "--vs"; check "bench --help" $?

"$q" bench "$tmp/tiny" -p 8,24 -B 1,2,3 -n 4 -r 3 $bw --json > "$tmp/a.json"; check "bench --json" $?
grep -q '"decode_tok_s"' "$tmp/a.json"; check "bench --json has decode_tok_s" $?
if [ -n "$py" ]; then
    "$py" - "$tmp/a.json" "$tmp/tiny" "$bw" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
if sys.argv[3]:
    r.update(bandwidth_gb_s=1.0, bandwidth_fraction=r["decode_gb_s"])
for k in ("engine", "model", "model_bytes", "n_params", "bpw", "dtype", "cpu", "threads", "bandwidth_gb_s",
          "peak_rss_bytes", "prefill", "decode", "decode_gb_s", "bandwidth_fraction", "step_bytes"):
    assert k in r, k
assert r["engine"] == "qwick" and r["model"] == os.path.realpath(sys.argv[2]) and r["dtype"] == "bf16"
assert [p["prompt_len"] for p in r["prefill"]] == [8, 24]
assert [d["batch"] for d in r["decode"]] == [1, 2, 3]
for row in r["prefill"] + r["decode"]:
    assert 0 < row["tok_s_min"] <= row["tok_s"] <= row["tok_s_max"], row
for p in r["prefill"]:
    assert 0 < p["ttft_s"] < 60
for d in r["decode"]:   # aggregate tok/s is batch / time per step
    assert abs(d["tok_s"] * d["tpot_s"] / d["batch"] - 1) < 0.35, d
size = sum(os.path.getsize(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]) if f.endswith(".safetensors"))
assert r["model_bytes"] == size and 15.9 < r["bpw"] < 16.2
assert 0 < r["step_bytes"] <= r["model_bytes"]
assert r["peak_rss_bytes"] > r["model_bytes"] / 2 and r["bandwidth_gb_s"] > 0
assert abs(r["bandwidth_fraction"] - r["decode_gb_s"] / r["bandwidth_gb_s"]) < 1e-3
assert r["reps"] == 3 and r["n_gen"] == 4 and "vs" not in r
PY
    check "bench JSON fields and values are sane" $?
fi

"$q" bench "$tmp/tiny" -p 8 -B 1,2 -n 4 -r 2 --no-bandwidth --vs "$tmp/tiny2" --json --svg "$tmp/s.svg" > "$tmp/ab.json"
check "bench --vs FOLDER --svg" $?
grep -q '"ratios"' "$tmp/ab.json" && grep -q "tiny2" "$tmp/ab.json"; check "--vs JSON has the other side and ratios" $?
if [ -n "$py" ]; then
    "$py" - "$tmp/ab.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = r["vs"]
assert v["model"].endswith("tiny2") and v["dtype"] == "f32" and r["dtype"] == "bf16"
assert [d["batch"] for d in v["decode"]] == [1, 2] and "bandwidth_gb_s" not in r
rat = v["ratios"]
assert [x["prompt_len"] for x in rat["prefill"]] == [8] and [x["batch"] for x in rat["decode"]] == [1, 2]
assert all(x["tok_s"] > 0 for x in rat["prefill"] + rat["decode"])
PY
    check "--vs JSON values" $?
    "$py" -c "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); assert len(d.getElementsByTagName('svg')) == 3" "$tmp/s.svg"
    check "--svg is well-formed SVG with two charts" $?
fi
"$q" bench "$tmp/tiny" -p 8 -B 1 -n 2 -r 1 --no-bandwidth --vs "$tmp/tiny2" | grep -q "A/B"; check "table shows A/B" $?

if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch, numpy" 2> /dev/null; then
    "$q" bench "$tmp/tiny" -p 8 -B 1,2 -n 3 -r 2 --no-bandwidth --vs torch --json > "$tmp/t.json"
    check "bench --vs torch" $?
    grep -q '"pytorch-eager"' "$tmp/t.json" && grep -q '"ratios"' "$tmp/t.json"; check "--vs torch JSON has the peer" $?
else
    echo "skip --vs torch (no PyTorch for /usr/bin/python3)"
fi

for args in "-p 0" "-p 8,x" "-B 1,,2" "-B 0" "-r 0" "-r 101" "-n 0"; do
    out=$("$q" bench "$tmp/tiny" $args 2>&1); rc=$?
    [ $rc -eq 2 ] && [ -n "$out" ]; check "bench $args is a usage error" $?
done
out=$(QWICK_TORCH_PEER="$tmp/none.py" "$q" bench "$tmp/tiny" -r 1 -n 2 -p 8 -B 1 --no-bandwidth --vs torch 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "none.py" <<< "$out"; check "missing peer script is named" $?
out=$("$q" bench "$tmp/tiny" -p 8 -B 1 -r 1 --vs "$tmp/absent" 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "absent" <<< "$out"; check "--vs a missing folder names it" $?

"$q" report --bench "$tmp/ab.json" --bench "$tmp/a.json" -o "$tmp/r.html" 2> /dev/null &&
    grep -q "tiny2" "$tmp/r.html" && grep -q "Decode speed vs batch size" "$tmp/r.html"
check "bench results feed qwick report" $?

echo "$checks checks, $fails failures"
exit $fails
