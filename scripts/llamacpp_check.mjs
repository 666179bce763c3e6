// scripts/llamacpp_check: does llama.cpp (pinned node-llama-cpp, installed by llamacpp_install.sh) run
// what `qwick convert` writes, and agree with qwick? Tokens, greedy generation and prompt logits.
//
//   node scripts/llamacpp_check.mjs [--qwick build/qwick] [--work DIR] [--shape tiny|3b] [--types f32,q8_0,...]
//                                   [--ref f32|bf16] [--threads 2] [--init "--hidden 256 --ff 768 ..."]
//
// For each type: qwick convert the model, load it in llama.cpp, compare tokenization of a few strings,
// 16 greedy tokens (text, with `qwick run --temp 0`) and the prompt's logits (max |a - b| / max |b| per
// position, with `qwick run -n 0 --dump-logits` on the same GGUF). For quantized types three figures:
// llama.cpp vs qwick running the same quantized file (both round activations to 8 bits, in blocks of
// their own), vs qwick on the file dequantized to f32, and vs the float reference (the quantization error).
import {execFileSync} from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {createRequire} from "node:module";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
    (v.startsWith("--") ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const qwick = path.resolve(args.qwick ?? path.join(root, "build/qwick"));
const shape = args.shape ?? "tiny";
const work = path.resolve(args.work ?? path.join(root, ".ref/llamacpp-check", shape));
const types = (args.types ?? "f32,f16,bf16,q8_0,q4_0,iq4_nl,q4_k").split(",");
const threads = Number(args.threads ?? 2);

const require = createRequire(path.join(root, ".ref/llamacpp/package.json"));
const {getLlama} = await import(require.resolve("node-llama-cpp"));

const run = (...a) => execFileSync(qwick, a, {encoding: "utf8", maxBuffer: 1 << 30,
    env: {...process.env, QWICK_THREADS: String(threads)}, stdio: ["ignore", "pipe", "pipe"]});

function readNpyF32(file) {
    const b = fs.readFileSync(file);
    const hlen = b.readUInt16LE(8), header = b.subarray(10, 10 + hlen).toString("latin1");
    const shape = header.match(/\(([^)]*)\)/)[1].split(",").filter(s => s.trim()).map(Number);
    const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + hlen, b.byteOffset + b.length));
    return {shape, data};
}

fs.mkdirSync(work, {recursive: true});
const hf = path.join(work, "hf");
if (!fs.existsSync(path.join(hf, "config.json")))
    run("init", "--shape", shape, "-o", hf, "--dtype", "bf16", ...(args.init ?? "").split(" ").filter(Boolean));

const texts = ["Hello world", " Hello, world!", "The capital of France is", "你好，世界。12345 tokens",
               "<|im_start|>user\nHi<|im_end|>\n", "def f(x):\n    return x**2  # 3.14"];
const prompt = "The quick brown fox jumps over the lazy dog.";
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
console.log(`llama.cpp: node-llama-cpp ${JSON.parse(fs.readFileSync(path.join(root, ".ref/llamacpp/node_modules/node-llama-cpp/package.json"))).version}, ` +
            `build ${llama.llamaCppRelease?.release ?? "?"}; qwick: ${qwick}; model: qwick init --shape ${shape} ${args.init ?? ""} (bf16)`);

// qwick's float reference: the HF folder (greedy text, prompt logits); repetition penalty off on both sides
// (qwick prints a newline after the generated text)
const greedy = m => run("run", m, "-p", prompt, "-n", "16", "--temp", "0", "--repeat-penalty", "1", "-q").replace(/\n$/, "");
const logitsOf = (m, name) => {
    run("run", m, "-p", prompt, "-n", "0", "--dump-logits", path.join(work, name), "-q");
    return readNpyF32(path.join(work, name));
};
// the reference for quantized types: qwick on a float GGUF (--ref f32 by default: bf16 weights widened,
// exact; bf16 halves the bytes for big shapes)
const refType = args.ref ?? "f32";
const refGguf = path.join(work, `${shape}-${refType}-ref.gguf`);
run("convert", hf, "-o", refGguf, "--type", refType);
const refText = greedy(refGguf), refLogits = logitsOf(refGguf, "ref.npy");

const rows = [];
for (const type of types) {
    const gguf = path.join(work, `${shape}-${type}.gguf`);
    const t0 = Date.now();
    run("convert", hf, "-o", gguf, "--type", type);
    const convertS = (Date.now() - t0) / 1000;
    const row = {type, MB: (fs.statSync(gguf).size / 1e6).toFixed(1), convertS: convertS.toFixed(1)};
    const floatType = ["f32", "f16", "bf16"].includes(type);
    let model;
    try {
        model = await llama.loadModel({modelPath: gguf});
    } catch (e) {
        rows.push({...row, load: "FAILED: " + e.message});
        continue;
    }
    row.load = "ok";
    row.template = model.fileInfo?.metadata?.tokenizer?.chat_template ? "yes" : "no";
    // tokenization, parsing special tokens as both sides do by default
    let tokOk = 0;
    for (const t of texts) {
        const a = Array.from(model.tokenize(t, true)).join(" ");
        const b = run("tokenize", gguf, t).trim();
        if (a === b) tokOk++;
        else console.log(`  [${type}] tokenize ${JSON.stringify(t)}: llama.cpp ${a} / qwick ${b}`);
    }
    row.tokenize = `${tokOk}/${texts.length}`;

    // quantized: qwick dequantizes the same file to f32 (qwick convert Q.gguf --type f32) and runs that,
    // so both sides use the same weight values; llama.cpp still rounds activations to 8 bits in its dot
    // products. Against the float reference the figure is the quantization error.
    let deqLogits = null, deqText = null, qLogits = null, qText = null;
    if (!floatType) {
        qLogits = logitsOf(gguf, `${type}-q.npy`); // qwick's integer kernels on the quantized file itself
        qText = greedy(gguf);
        const deq = path.join(work, `${shape}-${type}-deq.gguf`);
        run("convert", gguf, "-o", deq, "--type", "f32");
        deqLogits = logitsOf(deq, `${type}-deq.npy`);
        deqText = greedy(deq);
        fs.rmSync(deq);
    }
    const qwLogits = floatType ? logitsOf(gguf, `${type}.npy`) : refLogits;
    // an f32 KV cache and no flash attention, as qwick computes attention (llama.cpp's default is f16)
    const ctx = await model.createContext({contextSize: 256, threads, batchSize: 256, flashAttention: false,
        experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
    // prompt logits at every position
    const seq = ctx.getSequence();
    const ptoks = model.tokenize(prompt, true);
    const res = await seq.controlledEvaluate(ptoks.map(t => [t, {generateNext: {logits: true}}]));
    const relErr = (mine, res) => {
        let worst = 0;
        const V = mine.shape[1];
        for (let p = 0; p < ptoks.length; p++) {
            const m = res[p]?.next?.logits;
            if (!m) return Infinity;
            let md = 0, mr = 0;
            const ref = mine.data.subarray(p * V, (p + 1) * V);
            for (const [tok, v] of m) {
                if (tok >= V) continue;
                md = Math.max(md, Math.abs(v - ref[tok]));
                mr = Math.max(mr, Math.abs(ref[tok]));
            }
            worst = Math.max(worst, md / mr);
        }
        return worst;
    };
    row.logitsRelErr = relErr(qwLogits, res).toExponential(2);
    if (qLogits) row.vsQwickQuantRelErr = relErr(qLogits, res).toExponential(2);
    if (deqLogits) row.vsDequantRelErr = relErr(deqLogits, res).toExponential(2);
    // greedy generation: 16 tokens from a fresh sequence
    await seq.clearHistory();
    const gen = [];
    for await (const t of seq.evaluate(ptoks, {temperature: 0, yieldEogToken: true})) {
        gen.push(t);
        if (gen.length >= 16) break;
    }
    const text = model.detokenize(gen);
    row.generated = gen.length;
    const qwText = floatType ? greedy(gguf) : refText;
    row.greedy = text === qwText ? "same" : "DIFFERENT";
    if (text !== qwText) console.log(`  [${type}] greedy: llama.cpp ${JSON.stringify(text)} / qwick ${JSON.stringify(qwText)}`);
    if (!floatType) {
        row.greedy += ` (vs qwick ${refType})`;
        row.greedyVsDequant = text === deqText ? "same" : "DIFFERENT";
        row.greedyVsQwickQuant = text === qText ? "same" : "DIFFERENT";
    }
    rows.push(row);
    await ctx.dispose();
    await model.dispose();
}
console.table(rows);
fs.writeFileSync(path.join(work, "results.json"), JSON.stringify(rows, null, 1));
