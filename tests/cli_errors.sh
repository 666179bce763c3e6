#!/usr/bin/env bash
# tests/cli_errors: bad model folders get a clear error that names the file and the problem, a non-zero
# exit (not a crash: status < 128), and the input left byte-identical.
. "$(dirname "$0")/lib_cli.sh" "$1"
fix=tests/fixtures/gqa1_tied_f32

# expect_error NAME DIR PATTERN: `qwick info DIR` fails cleanly with PATTERN in its message, DIR unchanged
expect_error() {
    local name=$1 dir=$2 pat=$3 before after out rc
    before=$(cd "$dir" && sha256sum * | sha256sum)
    out=$("$q" info "$dir" 2>&1 >/dev/null); rc=$?
    after=$(cd "$dir" && sha256sum * | sha256sum)
    checks=$((checks + 1))
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then
        echo "FAIL $name: exit status $rc"; echo "  $out"; fails=$((fails + 1))
    elif ! grep -qE -- "$pat" <<< "$out"; then
        echo "FAIL $name: message does not match /$pat/: $out"; fails=$((fails + 1))
    elif [ "$before" != "$after" ]; then
        echo "FAIL $name: input changed"; fails=$((fails + 1))
    else
        echo "ok   $name: $out"
    fi
}

fresh() { rm -rf "$tmp/m"; cp -r "$fix" "$tmp/m"; }
setcfg() { sed -i -E "s/\"$1\": [^,]*,/\"$1\": $2,/" "$tmp/m/config.json"; }

# an 8-byte little-endian length, then the header, then data bytes
craft() { # craft FILE HEADER DATA_BYTES
    local len=${#2}
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((len & 255)) $(((len >> 8) & 255)) $(((len >> 16) & 255)) $(((len >> 24) & 255)))" > "$1"
    printf '%s' "$2" >> "$1"
    head -c "$3" /dev/urandom >> "$1"
}

expect_error "missing folder" "$tmp" "config.json"
fresh; truncate -s 5000 "$tmp/m/model.safetensors"
expect_error "truncated safetensors" "$tmp/m" "model.safetensors"
fresh; printf '\xff\xff\xff\x00\x00\x00\x00\x00{}' > "$tmp/m/model.safetensors"
expect_error "header length past end of file" "$tmp/m" "model.safetensors"
fresh; craft "$tmp/m/model.safetensors" '{"model.embed_tokens.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,4000]}}' 16
expect_error "tensor offsets out of range" "$tmp/m" "model.safetensors.*(range|end|offset|size)"
fresh; craft "$tmp/m/model.safetensors" '{"model.embed_tokens.weight":{"dtype":"F32","shape":[384,64],"data_offsets":[0,98304]}}' 98304
expect_error "missing tensors" "$tmp/m" "model.layers.0.*missing"
fresh; setcfg torch_dtype '"bfloat16"'
expect_error "dtype disagrees with config.json" "$tmp/m" "F32.*bfloat16"
fresh; setcfg intermediate_size 128
expect_error "shape disagrees with config.json" "$tmp/m" "mlp.*shape"
fresh; setcfg num_hidden_layers 3
expect_error "more layers than the file holds" "$tmp/m" "model.layers.2.*missing"
fresh; printf '{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64,' > "$tmp/m/config.json"
expect_error "malformed config.json" "$tmp/m" "config.json"
fresh; sed -i 's/Qwen2ForCausalLM/LlamaForCausalLM/; s/"qwen2"/"llama"/' "$tmp/m/config.json"
expect_error "unsupported architecture" "$tmp/m" "LlamaForCausalLM"
fresh; setcfg rope_scaling '{"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}'
expect_error "unsupported rope_scaling" "$tmp/m" "yarn"
fresh; printf 'not json' > "$tmp/m/generation_config.json"
expect_error "malformed generation_config.json" "$tmp/m" "generation_config.json"

# bad command lines: usage errors exit 2 with a message
for args in "run" "run $fix --temp abc" "run $fix --bogus" "init" "tokenize"; do
    checks=$((checks + 1))
    out=$("$q" $args 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 2 ] || [ -z "$out" ]; then echo "FAIL qwick $args: status $rc, '$out'"; fails=$((fails + 1)); fi
done
# a prompt id past the vocabulary is refused by the forward, not run
checks=$((checks + 1))
out=$("$q" run "$fix" --tokens 1,2,99999 -n 1 2>&1 >/dev/null); rc=$?
if [ $rc -eq 0 ] || [ $rc -ge 128 ] || ! grep -q "99999" <<< "$out"; then
    echo "FAIL out-of-range token: status $rc, '$out'"; fails=$((fails + 1)); fi

echo "$checks checks, $fails failures"
exit $fails
