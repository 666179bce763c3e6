#!/usr/bin/env bash
# bench/llamacpp_peer_build: compiles bench/llamacpp_peer.c (`qwick bench --vs llama.cpp`, llama.cpp logits
# for `qwick eval`) and bench/llamacpp_quantize.c against the prebuilt libllama that the pinned node-llama-cpp
# ships (scripts/llamacpp_install.sh), with llama.h and ggml's headers taken from the package's own git bundle
# at the pinned commit, so header and library match. Output: .ref/llamacpp/bin/ (ignored). Not part of
# qwick's CMake build; tests that need it skip when it is not there.
#
#   bash scripts/llamacpp_install.sh && bash bench/llamacpp_peer_build.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ref="$root/.ref/llamacpp"
pkg="$ref/node_modules"
libdir="$pkg/@node-llama-cpp/linux-x64/bins/linux-x64"
bundle="$pkg/node-llama-cpp/llama/gitRelease.bundle"
commit=de3ff815ea7d559ee917f063901b8986f038abc6 # node-llama-cpp 3.22.1's llama.cpp (release v0.5.0)
tag=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$pkg/node-llama-cpp/llama/llama.cpp.info.json" 2> /dev/null || echo "?")

if [ ! -d "$libdir" ] || [ ! -f "$bundle" ]; then
    echo "llamacpp_peer_build: node-llama-cpp is not installed in $ref; run scripts/llamacpp_install.sh first" >&2
    exit 1
fi
libllama=$(cd "$libdir" && ls libllama.*so 2> /dev/null | grep -v common | head -1)
libggml=$(cd "$libdir" && ls libggml.*so 2> /dev/null | head -1)
if [ -z "$libllama" ] || [ -z "$libggml" ] || [ ! -f "$libdir/libggml-base.so" ]; then
    echo "llamacpp_peer_build: no libllama/libggml in $libdir" >&2
    exit 1
fi

inc="$ref/include-$commit"
if [ ! -f "$inc/include/llama.h" ]; then
    git bundle list-heads "$bundle" | grep -q "^$commit" || {
        echo "llamacpp_peer_build: $bundle is not at the pinned commit $commit" >&2
        exit 1
    }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    git init -q --bare "$tmp/r.git"
    git -C "$tmp/r.git" fetch -q "$bundle" "$commit"
    mkdir -p "$inc.tmp"
    git -C "$tmp/r.git" archive "$commit" include ggml/include | tar -x -C "$inc.tmp"
    rm -rf "$inc"
    mv "$inc.tmp" "$inc"
fi

mkdir -p "$ref/bin"
cc=${CC:-cc}
for prog in llamacpp_peer llamacpp_quantize; do
    "$cc" -std=c11 -O2 -Wall -Wextra -Werror -I"$inc/include" -I"$inc/ggml/include" \
        -DQW_LLAMA_LIBDIR="\"$libdir\"" -DQW_LLAMA_TAG="\"$tag (${commit:0:7}, node-llama-cpp 3.22.1)\"" \
        "$root/bench/$prog.c" -o "$ref/bin/$prog.tmp" \
        -L"$libdir" -l:"$libllama" -l:"$libggml" -l:libggml-base.so -Wl,-rpath,"$libdir" -lm
    mv "$ref/bin/$prog.tmp" "$ref/bin/$prog"
done
"$ref/bin/llamacpp_peer" --version
echo "llamacpp_peer_build: built $ref/bin/llamacpp_peer and $ref/bin/llamacpp_quantize"
