#!/usr/bin/env bash
# scripts/llamacpp_install: installs the pinned node-llama-cpp (a prebuilt llama.cpp for Node) into the
# ignored .ref/llamacpp folder, for scripts/llamacpp_check.mjs. Needs npm and the npm registry; not in CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.ref/llamacpp"
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name": "qwick-llamacpp-ref", "private": true, "type": "module"}' > package.json
# The prebuilt binaries come with the package (@node-llama-cpp/<platform>); skip its source download.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund node-llama-cpp@3.22.1
ls node_modules/@node-llama-cpp/
