#!/usr/bin/env bash
# bench/kld_vs_llamacpp: KL divergence and top-token agreement against the float model, on the same token
# windows of a text, for llama.cpp's own quantizations (llama_model_quantize: Q8_0, Q4_K_M by default) and
# for any candidate qwick runs (--cand FILE, e.g. qwick's RTN/GPTQ/AWQ GGUFs). One table, plus one
# `qwick eval --json` file per row in the work folder, which `qwick report --eval DIR/*.json` takes.
#
#   bash bench/kld_vs_llamacpp.sh MODEL TEXT [-o DIR] [--ctx 512] [--limit 8] [--types Q8_0,Q4_K_M]
#                                 [--src f32|f16|bf16] [--cand FILE.gguf]... [--threads 2]
#
# How: qwick writes MODEL's float log-probs over the windows once (`qwick eval MODEL --ppl TEXT
# --save-logits`); MODEL is also written as a float GGUF (--src, default f32: lossless from bf16) that
# llama.cpp quantizes; bench/llamacpp_peer logits runs each llama.cpp file over the same windows and saves
# its log-probs in the same format; `qwick eval LLAMA.qwl --ref REF.qwl` compares the two. The first row,
# llama.cpp on the float GGUF itself, is the floor: what the two engines' float arithmetic differs by.
# Windows do not overlap (stride = ctx, as llama.cpp's perplexity); each saved file holds
# windows x (ctx-1) rows of vocab x 2 bytes (about 1.2 GB for 8 windows of 512 at Qwen's vocabulary); the
# candidates' files are deleted once scored. Needs scripts/llamacpp_install.sh and
# bench/llamacpp_peer_build.sh, and python3 for the table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
q=${QWICK:-$root/build/qwick}
bin="$root/.ref/llamacpp/bin"
[ $# -ge 2 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
model=$1 text=$2
shift 2
ctx=512 limit=8 types=Q8_0,Q4_K_M src=f32 threads=${QWICK_THREADS:-2} out="" cands=()
while [ $# -gt 0 ]; do
    case "$1" in
    -o) out=$2; shift ;;
    --ctx) ctx=$2; shift ;;
    --limit) limit=$2; shift ;;
    --types) types=$2; shift ;;
    --src) src=$2; shift ;;
    --cand) cands+=("$2"); shift ;;
    --threads) threads=$2; shift ;;
    *) echo "kld_vs_llamacpp: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for x in "$bin/llamacpp_peer" "$bin/llamacpp_quantize"; do
    [ -x "$x" ] || { echo "kld_vs_llamacpp: $x is not built (bash scripts/llamacpp_install.sh && bash bench/llamacpp_peer_build.sh)" >&2; exit 1; }
done
name=$(basename "${model%/}" .gguf)
out=${out:-$root/bench/out/kld-$name}
mkdir -p "$out"
export QWICK_THREADS=$threads QWICK_QUIET=1
ev=(--ctx "$ctx" --stride "$ctx" --limit "$limit" --no-progress --json)

echo "== reference: qwick on $model (float), $text, $limit windows of $ctx tokens" >&2
"$q" eval "$model" --ppl "$text" "${ev[@]}" --save-logits "$out/ref.qwl" > "$out/ref.json"
"$q" info "$model" --json > "$out/info.json"
srcg="$out/src-$src.gguf"
[ -f "$srcg" ] || "$q" convert "$model" -o "$srcg" --type "$src"

rows=() # label|gguf|eval json
score_llama() { # score_llama LABEL GGUF
    local j="$out/llama.cpp-$1.json"
    "$bin/llamacpp_peer" logits "$2" --like "$out/ref.qwl" -o "$out/cand.qwl" --threads "$threads"
    "$q" eval "$out/cand.qwl" --ref "$out/ref.qwl" --json --threads "$threads" > "$j"
    rm -f "$out/cand.qwl"
    rows+=("llama.cpp $1|$2|$j")
}
echo "== llama.cpp on the float GGUF ($src): the floor" >&2
score_llama "${src^^}" "$srcg"
for t in ${types//,/ }; do
    g="$out/llama.cpp-$t.gguf"
    [ -f "$g" ] || "$bin/llamacpp_quantize" "$srcg" "$g" "$t" --threads "$threads"
    echo "== llama.cpp $t" >&2
    score_llama "$t" "$g"
done
for c in "${cands[@]+"${cands[@]}"}"; do
    j="$out/qwick-$(basename "$c" .gguf).json"
    echo "== qwick $c" >&2
    "$q" eval "$c" --ppl "$text" --ref "$out/ref.qwl" "${ev[@]}" > "$j"
    rows+=("qwick $(basename "$c")|$c|$j")
done

python3 - "$out/info.json" "$out/ref.json" "${rows[@]}" <<'PY'
import json, os, sys
info = json.load(open(sys.argv[1]))
ref = json.load(open(sys.argv[2]))
n = info["n_params"]
print(f"model {info['path']} ({n / 1e9:.3f} B params); text {ref['ppl']['file']}: {ref['ppl']['n_tokens']} tokens "
      f"scored in {ref['ppl']['n_windows']} windows of {ref['ppl']['ctx']}; float PPL {ref['ppl']['ppl']:.4f}\n")
print("| candidate | MB | bits/weight | PPL | PPL ratio | KLD mean | KLD p99 | top-1 agree | top-5 agree |")
print("|---|---|---|---|---|---|---|---|---|")
for row in sys.argv[3:]:
    label, gguf, path = row.split("|")
    r = json.load(open(path))
    size = os.path.getsize(gguf)
    # the llama.cpp rows come from saved log-probs: give them the file's size, so qwick report shows it
    r.update(model=os.path.abspath(gguf), model_bytes=size, n_params=n, bpw=8 * size / n)
    json.dump(r, open(path, "w"), indent=1)
    k = r["ref"]
    print(f"| {label} | {size / 1e6:.1f} | {8 * size / n:.2f} | {r['ppl']['ppl']:.4f} | {k['ppl_ratio']:.4f} | "
          f"{k['kld_mean']:.6f} | {k['kld_p99']:.6f} | {100 * k['top1_agree']:.2f}% | {100 * k['top5_agree']:.2f}% |")
PY
echo "(eval JSON per row in $out; qwick report --eval '$out/*.json' puts them in one page)" >&2
