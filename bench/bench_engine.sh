#!/usr/bin/env bash
# bench/bench_engine: the run behind bench/RESULTS.md: qwick against PyTorch eager (bf16) on the same Hugging
# Face weights and thread count, alternating repetition by repetition in one `qwick bench --vs torch`.
# Keeps the JSON and the chart in bench/out/ and prints a Markdown section for bench/RESULTS.md.
# Usage: bench/bench_engine.sh [MODEL_DIR] [THREADS]     env: PLENS=512 BATCHES=1,4 NGEN=16 REPS=3
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/qwen3b-bf16}
threads=${2:-2}
plens=${PLENS:-512}
batches=${BATCHES:-1,4}
ngen=${NGEN:-16}
reps=${REPS:-3}
q=build/qwick
[ -x "$q" ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null && cmake --build build -j2 > /dev/null; }
[ -f "$model/config.json" ] || "$q" init --shape 3b --dtype bf16 -o "$model"
bash scripts/install_torch.sh > /dev/null
mkdir -p bench/out
out=bench/out/engine-$(date +%Y%m%d-%H%M%S)
cmd="qwick bench $model -t $threads -p $plens -B $batches -n $ngen -r $reps --vs torch --json --svg $out.svg"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
QWICK_QUIET=1 "$q" bench "$model" -t "$threads" -p "$plens" -B "$batches" -n "$ngen" -r "$reps" --vs torch --json \
    --svg "$out.svg" > "$out.json"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$out.json" "$cmd" "$load0" "$load1" "$(git rev-parse --short HEAD)" <<'PY'
import json, re, subprocess, sys, datetime
r = json.load(open(sys.argv[1])); v = r["vs"]; rat = v["ratios"]
cpu = open("/proc/cpuinfo").read()
model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
flags = re.search(r"flags\s*:\s*(.*)", cpu).group(1).split()
simd = [f for f in flags if re.match(r"(avx|fma|f16c|amx)", f)]
ncpu = cpu.count("processor\t:")
mem = int(re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read()).group(1)) / 1e6
print(f"### {datetime.date.today().isoformat()}: {r['model']} ({r['dtype']}), {r['threads']} threads\n")
print(f"- command: `{sys.argv[2]}` (qwick {sys.argv[5]})")
print(f"- machine: {model}, {ncpu} CPUs, {mem:.0f} GB RAM; SIMD flags: {' '.join(simd)}")
print(f"- qwick kernels: {r['isa']}; peer: PyTorch eager ({v['isa']}, bf16 weights and activations)")
print(f"- read bandwidth measured by the same command: {r.get('bandwidth_gb_s', float('nan')):.1f} GB/s")
print(f"- load average before/after: {sys.argv[3]} / {sys.argv[4]}; other processes' CPU share while the peer "
      f"measured: up to {100 * v.get('foreign_cpu_load', 0):.0f}%")
print(f"- {r['reps']} repetitions after a warm-up each, qwick and PyTorch alternating (ABBA); "
      f"median [min-max]; A/B = median of the paired per-repetition ratios\n")
print("| measurement | qwick | PyTorch eager | qwick / PyTorch |")
print("|---|---|---|---|")
def st(row, key, scale=1, dec=2):
    return f"{row[key] * scale:.{dec}f} [{row[key + '_min'] * scale:.{dec}f}-{row[key + '_max'] * scale:.{dec}f}]"
for a, b, x in zip(r["prefill"], v["prefill"], rat["prefill"]):
    print(f"| prefill {a['prompt_len']} tokens, tok/s | {st(a, 'tok_s')} | {st(b, 'tok_s')} | {x['tok_s']:.2f} |")
    print(f"| time to first token, s | {st(a, 'ttft_s')} | {st(b, 'ttft_s')} | {x['ttft_s']:.2f} |")
for a, b, x in zip(r["decode"], v["decode"], rat["decode"]):
    print(f"| decode, {a['batch']} sequence{'s' if a['batch'] > 1 else ''}, tok/s (all) | {st(a, 'tok_s')} | "
          f"{st(b, 'tok_s')} | {x['tok_s']:.2f} |")
    print(f"| time per output token, ms | {st(a, 'tpot_s', 1e3, 0)} | {st(b, 'tpot_s', 1e3, 0)} | {x['tpot_s']:.2f} |")
print(f"| decode GB/s of weights (batch {r['decode'][0]['batch']}) | {r['decode_gb_s']:.1f} "
      f"({100 * r.get('bandwidth_fraction', 0):.0f}% of measured) | {v['decode_gb_s']:.1f} "
      f"({100 * v.get('bandwidth_fraction', 0):.0f}%) | {r['decode_gb_s'] / v['decode_gb_s']:.2f} |")
print(f"| peak RSS, GB | {r['peak_rss_bytes'] / 1e9:.2f} | {v['peak_rss_bytes'] / 1e9:.2f} | "
      f"{r['peak_rss_bytes'] / v['peak_rss_bytes']:.2f} |")
print(f"| model bytes, GB | {r['model_bytes'] / 1e9:.2f} | {v['model_bytes'] / 1e9:.2f} | |")
PY
echo
echo "raw: $out.json, chart: $out.svg"
