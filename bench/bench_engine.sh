#!/usr/bin/env bash
# bench/bench_engine: qwick against PyTorch eager (bf16, oneDNN via Debian's torch with OpenBLAS) on the
# same Hugging Face weights, same thread count, alternating runs, in one invocation. Prints a table with
# ratios and writes bench/out/engine-<date>.json. Usage: bench/bench_engine.sh [MODEL_DIR] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/qwick-3b-bf16}
threads=${2:-2}
plen=${PLEN:-512}
ngen=${NGEN:-32}
rounds=${ROUNDS:-2}
q=build/qwick
[ -x "$q" ] || make all
[ -f "$model/config.json" ] || "$q" init --shape 3b --dtype bf16 -o "$model"
bash scripts/install_torch.sh > /dev/null
mkdir -p bench/out
out=bench/out/engine-$(date +%Y%m%d-%H%M%S).json
echo "[" > "$out"
for r in $(seq 1 "$rounds"); do
    QWICK_THREADS=$threads "$q" bench "$model" -p "$plen" -n "$ngen" -t "$threads" -r 3 --json $([ "$r" -gt 1 ] && echo --no-bandwidth) >> "$out"
    echo "," >> "$out"
    /usr/bin/python3 bench/torch_peer.py "$model" --threads "$threads" --prompt-len "$plen" --decode "$ngen" --dtype bf16 --json >> "$out"
    [ "$r" -lt "$rounds" ] && echo "," >> "$out"
done
echo "]" >> "$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys, statistics as st
rows = json.load(open(sys.argv[1]))
q = [r for r in rows if r.get("engine") == "qwick"]
t = [r for r in rows if r.get("engine") != "qwick"]
def med(rs, *keys):
    for k in keys:
        v = [r[k] for r in rs if k in r]
        if v: return st.median(v)
    return float("nan")
bw = max(r.get("bandwidth_gb_s", 0) for r in q)
qp, qd, qt = med(q, "prefill_tok_s"), med(q, "decode_tok_s"), med(q, "ttft_s")
tp, td, tt = med(t, "prefill_tok_s"), med(t, "decode_tok_s"), med(t, "ttft_s")
print(f"model {q[0]['model']}  threads {q[0]['threads']}  cpu {q[0]['cpu']}")
print(f"{'':14}{'qwick':>10}{'pytorch':>10}{'ratio':>8}")
print(f"{'prefill tok/s':14}{qp:10.2f}{tp:10.2f}{qp/tp:8.2f}")
print(f"{'decode tok/s':14}{qd:10.2f}{td:10.2f}{qd/td:8.2f}")
print(f"{'ttft s':14}{qt:10.3f}{tt:10.3f}{tt/qt:8.2f}")
gbs = q[0]["weight_bytes_per_token"] * qd / 1e9
print(f"qwick decode streams {gbs:.1f} GB/s = {100*gbs/bw:.1f}% of the measured {bw:.1f} GB/s")
print(f"peak RSS: qwick {max(r['peak_rss_bytes'] for r in q)/1e9:.2f} GB (other than weights+KV: "
      f"{max(r['overhead_bytes'] for r in q)/1e6:.0f} MB), pytorch {max(r.get('peak_rss_bytes', 0) for r in t)/1e9:.2f} GB")
PY
echo "raw: $out"
