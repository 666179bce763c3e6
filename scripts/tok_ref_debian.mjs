// scripts/tok_ref_debian.mjs: runs transformers.js (from .ref/, local files only) on the trimmed tokenizer
// of qwick's shipped model and writes tests/data/tok_debian_expected.jsonl, which tests/test_data.c reads.
// Strings: tests/data/tok_strings.jsonl (all scripts, emoji, whitespace, special tokens), the first 100
// prompts of data/sections/test.jsonl with their ChatML rendering, and 100 pieces of data/corpus_val.txt.
// Usage: bash scripts/tok_install_ref.sh && node scripts/tok_ref_debian.mjs [models/qwick-debian]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ref = path.join(root, '.ref', 'node_modules');
const tjs = await import(pathToFileURL(path.join(ref, '@huggingface', 'transformers', 'dist', 'transformers.node.mjs')).href);
const { env, AutoTokenizer } = tjs;
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root + path.sep;
const dir = process.argv[2] || 'models/qwick-debian';
const tok = await AutoTokenizer.from_pretrained(dir);

const lines = (f) => fs.readFileSync(path.join(root, f), 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
const strings = lines('tests/data/tok_strings.jsonl').map((r) => r.text);
for (const it of lines('data/sections/test.jsonl').slice(0, 100)) {
    strings.push(it.prompt);
    strings.push(tok.apply_chat_template([{ role: 'user', content: it.prompt }, { role: 'assistant', content: it.answer }],
        { tokenize: false }));
}
// pieces of the validation text, cut at line ends, about 600 characters each, spread over the file
const val = fs.readFileSync(path.join(root, 'data', 'corpus_val.txt'), 'utf8');
for (let k = 0; k < 100; k++) {
    let a = Math.floor((k * val.length) / 100);
    a = val.indexOf('\n', a) + 1;
    let b = val.indexOf('\n', a + 400);
    if (b < 0) b = val.length;
    if (b > a) strings.push(val.slice(a, b));
}
// HF's Rust tokenizer (a Node binding), if installed, as a second opinion: it must agree everywhere
let rust = null;
try {
    rust = createRequire(path.join(ref, 'x.js'))('tokenizers').Tokenizer.fromFile(path.join(root, dir, 'tokenizer.json'));
} catch (e) {
    console.error(`tok_ref_debian: HF tokenizers (Rust) not available, no cross-check: ${e.message}`);
}
const out = [];
let n_diff = 0;
for (const text of strings) {
    const ids = Array.from(tok.encode(text, { add_special_tokens: false }));
    if (rust) {
        const r = Array.from((await rust.encode(text, null, { addSpecialTokens: false })).getIds());
        if (JSON.stringify(r) !== JSON.stringify(ids)) n_diff++;
    }
    out.push(JSON.stringify({ text, ids }));
}
fs.writeFileSync(path.join(root, 'tests', 'data', 'tok_debian_expected.jsonl'), out.join('\n') + '\n');
console.error(`tok_ref_debian: ${strings.length} strings` + (rust ? `, ${n_diff} where Rust tokenizers differs` : ''));
