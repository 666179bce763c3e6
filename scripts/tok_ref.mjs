// scripts/tok_ref.mjs: runs the reference tokenizer (transformers.js from .ref/, local files only) on
// tests/data/tok_strings.jsonl and a few conversations, and writes the expected files test_tok.c reads.
// Usage: bash scripts/tok_install_ref.sh && node scripts/tok_ref.mjs
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ref = path.join(root, '.ref', 'node_modules');
const tjs = await import(pathToFileURL(path.join(ref, '@huggingface', 'transformers', 'dist', 'transformers.node.mjs')).href);
const { env, AutoTokenizer, Qwen2Tokenizer } = tjs;

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root + path.sep;
const tok = await AutoTokenizer.from_pretrained('models');

// The same tokenizer with the special added tokens removed: what encoding with parse_special = 0
// gives (HF's split_special_tokens): special tokens become plain text, non-special added ones stay.
const tokJson = JSON.parse(fs.readFileSync(path.join(root, 'models', 'tokenizer.json'), 'utf8'));
const tokConfig = JSON.parse(fs.readFileSync(path.join(root, 'models', 'tokenizer_config.json'), 'utf8'));
const specials = tokJson.added_tokens.filter((a) => a.special).map((a) => a.content);
const plainJson = { ...tokJson, added_tokens: tokJson.added_tokens.filter((a) => !a.special) };
const plainConfig = { ...tokConfig, additional_special_tokens: [], added_tokens_decoder: {} };
const tokPlain = new Qwen2Tokenizer(plainJson, plainConfig);

// HF's Rust tokenizer, if installed: recorded only where it disagrees with transformers.js.
let rust = null;
try {
    const require = createRequire(path.join(ref, 'x.js'));
    const { Tokenizer } = require('tokenizers');
    rust = Tokenizer.fromFile(path.join(root, 'models', 'tokenizer.json'));
} catch (e) {
    console.error(`tok_ref: HF tokenizers (Rust) not available, no cross-check: ${e.message}`);
}

const encode = (t, s) => Array.from(t.encode(s, { add_special_tokens: false }));
const decode = (ids, skip) => (ids.length ? tok.decode(ids, { skip_special_tokens: skip }) : '');

const strings = fs.readFileSync(path.join(root, 'tests', 'data', 'tok_strings.jsonl'), 'utf8')
    .split('\n').filter((l) => l.length).map((l) => JSON.parse(l).text);
const out = [];
let n_diff = 0;
for (const text of strings) {
    const ids = encode(tok, text);
    const rec = { text, ids, decoded: decode(ids, false), decoded_skip: decode(ids, true) };
    if (specials.some((s) => text.includes(s))) rec.ids_plain = encode(tokPlain, text);
    if (rust) {
        const r = Array.from((await rust.encode(text, null, { addSpecialTokens: false })).getIds());
        if (JSON.stringify(r) !== JSON.stringify(ids)) {
            rec.rust_ids = r;
            n_diff++;
        }
    }
    out.push(JSON.stringify(rec));
}
fs.writeFileSync(path.join(root, 'tests', 'data', 'tok_expected.jsonl'), out.join('\n') + '\n');
console.error(`tok_ref: ${strings.length} strings` + (rust ? `, ${n_diff} where Rust tokenizers differs` : ''));

// Chat template renderings.
const convs = [
    [{ role: 'user', content: 'Hello!' }],
    [{ role: 'system', content: 'You are a terse assistant.' }, { role: 'user', content: 'What is 2+2?' }],
    [
        { role: 'user', content: 'Hi, who are you?' },
        { role: 'assistant', content: 'I am Qwen.' },
        { role: 'user', content: 'Write a haiku about CPUs.' },
    ],
    [
        { role: 'system', content: '你是一个有用的助手。' },
        { role: 'user', content: '你好！' },
        { role: 'assistant', content: '你好！有什么可以帮你的吗？' },
        { role: 'user', content: 'Explain <think> tags\nin two lines.' },
    ],
    [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: 'Let me check.' },
        { role: 'tool', content: '{"temp": 21}' },
        { role: 'tool', content: '{"sky": "clear"}' },
        { role: 'assistant', content: 'It is 21 degrees and clear.' },
    ],
    [
        { role: 'user', content: 'first' },
        { role: 'system', content: 'a system message in the middle' },
        { role: 'user', content: '' },
    ],
    [{ role: 'system', content: '' }, { role: 'user', content: '  spaces  \n' }],
];
const chat = [];
for (const messages of convs) {
    for (const add_generation_prompt of [false, true]) {
        const text = tok.apply_chat_template(messages, { tokenize: false, add_generation_prompt });
        chat.push(JSON.stringify({ messages, add_generation_prompt, text }));
    }
}
fs.writeFileSync(path.join(root, 'tests', 'data', 'tok_chat_expected.jsonl'), chat.join('\n') + '\n');
console.error(`tok_ref: ${chat.length} chat renderings`);
