#!/usr/bin/env python3
# scripts/tok_make_strings.py: writes tests/data/tok_strings.jsonl, the strings the tokenizer is checked
# on: hand-picked cases (scripts, code, numbers, emoji, whitespace, special tokens, non-NFC text) plus
# strings generated from a fixed seed, so that rerunning it gives the same file byte for byte.
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "tok_strings.jsonl")

# ------------------------------------------------------------------------------------------------
# hand-written cases

english = [
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "trailing space ",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "It's John's book, isn't it? They're sure we'll win; I'd say you've seen I'm right.",
    "IT'S JOHN'S BOOK; THEY'RE SURE WE'LL WIN. I'D SAY YOU'VE SEEN I'M RIGHT.",
    "'s 'S 't 'T 're 'RE 'Re 'rE 've 'VE 'm 'M 'll 'LL 'Ll 'd 'D",
    "don't won't can't shan't y'all o'clock rock'n'roll",
    "We'Ve a'lL 'LL'll''s",
    "''''''```````\"\"\"\"......!!!!!!??????",
    "e-mail: someone@example.com, web: https://www.example.org/path?q=1&r=two#frag",
    "Mr. O'Neil paid $1,234.56 (about €1.100) on 2024-03-15 at 09:30 a.m.",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "A",
    "a",
    ".",
    "I",
    "camelCaseIdentifier snake_case_identifier SCREAMING_SNAKE kebab-case-name",
    "# Heading\n\n* item one\n* item two\n\n> quote\n\n**bold** _italic_ `code`",
    "| col a | col b |\n|-------|-------|\n| 1     | 2     |",
    "Dear Sir or Madam,\n\nI am writing to you about the invoice #4521.\n\nBest regards,\nJane",
    "...and then?! Yes!!! No??? Maybe... (perhaps) [certainly] {never}",
    "Ümlaut façade naïve café coöperate résumé piñata smörgåsbord",
]

cjk = [
    "你好，世界！",
    "我是通义千问，由阿里云开发的大型语言模型。",
    "北京欢迎你。今天天气很好，我们去公园散步吧。",
    "机器学习（Machine Learning）是人工智能的一个分支。",
    "数字123和字母abc混在一起",
    "请帮我解读以下这段代码：System.out.println(\"你好，大模型\");",
    "中文标点：，。！？；：“”‘’（）《》【】、……——",
    "繁體中文測試：臺灣、香港、澳門。",
    "こんにちは、世界！",
    "私は日本語を勉強しています。漢字とひらがなとカタカナ。",
    "ｶﾀｶﾅ ﾊﾝｶｸ halfwidth katakana",
    "東京タワーは333メートルです。",
    "ガ ギ グ ゲ ゴ パピプペポ ヴ",
    "안녕하세요, 세계!",
    "한국어 문장입니다. 오늘은 날씨가 좋네요.",
    "ㄱㄴㄷㄹ ㅏㅑㅓㅕ compatibility jamo",
]

other_scripts = [
    "مرحبا بالعالم",
    "اللُّغَةُ العَرَبِيَّةُ جَمِيلَةٌ",
    "العدد ١٢٣٤٥ بالأرقام العربية",
    "שלום עולם! עברית עם ניקוד: שָׁלוֹם",
    "Привет, мир! Съешь же ещё этих мягких французских булок.",
    "Γειά σου Κόσμε! Ελληνικά με τόνους: άέήίόύώ ΐΰ",
    "नमस्ते दुनिया! हिन्दी भाषा।",
    "স্বাগতম বাংলা ভাষা",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "ព្រះរាជាណាចក្រកម្ពុជា",
    "Tiếng Việt có dấu: Xin chào thế giới, người Việt Nam.",
    "Ελληνικά, Русский, العربية, עברית, 中文, 日本語, 한국어 in one line",
    "Türkçe: İstanbul ılık ığdır şçöü",
    "Polski: zażółć gęślą jaźń",
    "ქართული ენა",
    "Հայերեն լեզու",
    "ᚠᚢᚦᚨᚱᚲ runes and 𐌰𐌱𐌲 gothic",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𝒮𝒸𝓇𝒾𝓅𝓉 𝟙𝟚𝟛",
    "mixed: Hello世界Привет123مرحبا!",
]

code = [
    "#include <stdio.h>\n\nint main(void) {\n    printf(\"hello, world\\n\");\n    return 0;\n}\n",
    "static inline uint16_t f(float x) {\n\tuint32_t u;\n\tmemcpy(&u, &x, 4);\n\treturn (uint16_t)(u >> 16);\n}",
    "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; } // dot product",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n\nprint([fib(i) for i in range(10)])\n",
    "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, x: int = 0) -> None:\n        self._x = x\n",
    "    if x:\n        pass\n    else:\n\t\treturn None  \n",
    "{\"name\": \"qwick\", \"version\": \"0.1.0\", \"tags\": [\"llm\", \"cpu\"], \"nested\": {\"a\": 1, \"b\": [true, false, null]}}",
    "{\n  \"model\": {\n    \"type\": \"BPE\",\n    \"vocab\": {}\n  }\n}",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE 'A%' ORDER BY name DESC;",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}",
    "const f = async (x) => { await g(x ?? 0); return x?.y || null; };",
    "<html><head><title>Test</title></head><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\" | tr a-z A-Z; done\n",
    "x = [1, 2, 3]; y = {'a': 1}; z = (x, y) # tuple\n",
    "if (a && b || !c) { *p++ = ~mask & 0xFF; } else { q->next = NULL; }",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@[a-z]+\\.[a-z]{2,}$",
    "\\begin{equation} E = mc^2 \\quad \\int_0^\\infty e^{-x^2} dx = \\frac{\\sqrt{\\pi}}{2} \\end{equation}",
    "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n-int a = 1;\n+int a = 2;\n",
    "        deeply_indented_line = 1\n                even_deeper = 2\n",
    "a\n\tb\n\t\tc\n\t\t\td",
    "key: value\nlist:\n  - one\n  - two\nmap:\n  nested: true\n",
]

numbers = [
    "0",
    "7",
    "42",
    "3.14159265358979323846264338327950288419716939937510",
    "1234567890123456789012345678901234567890",
    "00000000000000000000",
    "1,234,567,890 and 1.234.567,89 and 1 234 567",
    "phone: +1 (555) 123-4567, ext. 89",
    "0xDEADBEEF 0b10110 0o777 1e-9 6.02214076e23 -273.15",
    "2024-01-01T12:34:56.789Z",
    "１２３４５ fullwidth digits",
    "٠١٢٣٤٥٦٧٨٩ Arabic-Indic and ۰۱۲۳ Persian and ०१२३ Devanagari",
    "x² + y³ = z⁴, ½ + ¼ = ¾, Ⅻ ⅷ ①②③",
    "version 1.2.3-rc.4+build.567",
    "3.3 33.33 333.333 3..3 3...3",
    "pi=3.14,e=2.71;phi=1.618",
    "1+1=2 2*3=6 10/2=5 2^10=1024 7%3=1",
]

emoji = [
    "😀",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
    "👨‍👩‍👧‍👦 family, 👩‍❤️‍💋‍👨 kiss, 🧑🏽‍💻 technologist",
    "🇺🇸🇬🇧🇨🇳🇯🇵🇰🇷🇩🇪🇫🇷 flags",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland tag sequence",
    "👍🏻👍🏼👍🏽👍🏾👍🏿 skin tones",
    "1️⃣ 2️⃣ #️⃣ *️⃣ keycaps",
    "❤️ ❤ ♥️ ☺️ ✌️ variation selectors",
    "I ❤️ Qwen!!! 🎉🎉🎉",
    "🐱🐶🐭🐹🐰🦊🐻🐼",
    "emoji🙂inside🙃words",
    "⚡️🔥💯✨🌈",
]

whitespace = [
    "",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n",
    "\n\n\n",
    "\t\n",
    "\r\n",
    "\r\n\r\n",
    "line one\r\nline two\r\n",
    "   Hello",
    "Hello   ",
    "Hello\n",
    "Hello \n",
    "Hello\n\n\nworld",
    "a  b   c    d     e",
    "\t\tindented with tabs",
    "mixed \t \n \r\n whitespace",
    " \n \n \n",
    "word \n\n  next",
    "                                                            ",
    "trailing tabs\t\t\t",
    "non\u00a0breaking\u00a0space",
    "ideographic\u3000space",
    "line\u2028separator and paragraph\u2029separator",
    "next\u0085line",
    "zero\u200bwidth\u200cnon\u200djoiner",
    "byte\ufefforder mark",
    "mongolian\u180evowel separator",
    "en\u2002em\u2003thin\u2009hair\u200a spaces",
    "\u000b vertical tab \u000c form feed",
    "\u001c\u001d\u001e\u001f info separators",
    # characters whose \\s-ness differs between regex engines (PCRE2 counts U+180E, JS counts U+FEFF
    # but not U+0085), in the places where it changes the split
    "a\u180e\u180e", "\u180e\u180e\u180e", "a \u180e", "a\u180e\n", "\u180e  b", "x\u180e\u180e y",
    "a\u0085\u0085b", "\u0085\u0085", "x \u0085", "\u0085 y", "a\u0085\n", "x\u0085\u0085 y",
    "\ufeff\ufeff", "x \ufeff", "\ufeff y", "a\ufeff\ufeff b", "a\ufeff\n",
    "\u3000\u3000a", "\u00a0 \u00a0x", "\u2028\u2028", "x\u2029 y", "\u001c\u001c a", "a\u001f\u001f",
    "\u200b\u200b x", "\u2060\u2060", "\u1680\u1680 x",
]

special = [
    "<|im_start|>",
    "<|endoftext|>",
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n",
    "text<|endoftext|>more text",
    "<think>\nLet me think about this.\n</think>\n\nThe answer is 4.",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<tool_response>\n{\"temp\": 21}\n</tool_response>",
    "<|fim_prefix|>def f(x):<|fim_suffix|>    return y<|fim_middle|>",
    "<|im_start|><|im_end|><|endoftext|>",
    "<<|im_end|>>",
    "<|im_start",
    "<|endoftext|",
    "im_start|>",
    "< |im_start| >",
    "<|IM_START|>",
    "<think><think></think></think>",
    " <|im_end|> spaced <|im_end|> ",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "<|box_start|>(10,20),(30,40)<|box_end|>",
    "<|repo_name|>qwick<|file_sep|>src/tok/tok.c",
    "a<|endoftext|>b<|endoftext|>c",
    "<|object_ref_start|>the cat<|object_ref_end|>",
    "<|im_end|>\n<|im_start|>",
]

non_nfc = [
    "e\u0301",
    "cafe\u0301",
    "A\u030a",
    "\u212b Angstrom sign",
    "\u2126 Ohm sign",
    "\u1100\u1161\u11a8 conjoining jamo",
    "\u1112\u1161\u11ab\u1100\u1173\u11af",
    "\uf900\uf901 CJK compatibility ideographs",
    "a\u0323\u0307 and a\u0307\u0323",
    "\u1f71 Greek oxia",
    "o\u0308\u0304 stacked",
    "Vie\u0323\u0302t Nam",
    "n\u0303 vs \u00f1",
    "\u0041\u030a\u0042\u0301\u0043\u0327",
    "\u304b\u3099 kana with combining dakuten",
    "\u0915\u093c Devanagari nukta",
    "\u0e01\u0e34\u0e4a Thai marks",
    "\u00c5\u0301 already composed plus mark",
    "\u0301 leading combining mark",
    "x\u20d7 vector arrow",
    "q\u0307\u0323 no precomposed form",
    "\u0344 combining greek dialytika tonos",
    "\u0958 Devanagari qa (excluded from composition)",
    "\u2000 en quad (singleton)",
]

controls = [
    "\u0001\u0002\u0003 control chars",
    "\u001b[31mred\u001b[0m ANSI escape",
    "bell\u0007 and delete\u007f",
    "\u0080\u0081\u009f C1 controls",
    "soft\u00adhyphen",
    "right\u200fto\u200eleft marks \u202ebackwards\u202c",
    "\ufffd replacement character",
    "\U0010fffd plane 16 private use \ue000",
    "\uffff\ufffe noncharacters",
    "tab\tseparated\tvalues\t1\t2",
]

# ------------------------------------------------------------------------------------------------
# generated: a small xorshift generator so the file does not depend on Python's random module


class Rng:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF or 1

    def next(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        return self.next() % n

    def pick(self, seq):
        return seq[self.below(len(seq))]


# code point ranges that have long been assigned (so every Unicode version in play agrees on them)
BLOCKS = [
    (0x20, 0x7E), (0xA0, 0xFF), (0x100, 0x17F), (0x370, 0x3FF), (0x400, 0x4FF), (0x5D0, 0x5EA),
    (0x621, 0x64A), (0x660, 0x669), (0x905, 0x939), (0x966, 0x96F), (0xE01, 0xE3A), (0x3041, 0x3096),
    (0x30A1, 0x30FA), (0x4E00, 0x9FA5), (0xAC00, 0xD7A3), (0x2190, 0x21FF), (0x2500, 0x257F),
    (0x1F600, 0x1F64F), (0x1F300, 0x1F5FF), (0xFF01, 0xFF5E), (0x2010, 0x2027), (0x300, 0x36F),
    (0x1100, 0x1112), (0x1161, 0x1175), (0x11A8, 0x11C2), (0x2070, 0x2079), (0x2460, 0x2473),
]
WORDS = ("the of and to in is you that it he was for on are as with his they I at be this have from "
         "or one had by word but not what all were we when your can said there use an each which she do "
         "how their if will up other about out many then them these so some her would make like him into "
         "time has look two more write go see number no way could people my than first water been call "
         "who oil its now find long down day did get come made may part token model Qwen quantize").split()
CJK_WORDS = ["模型", "量化", "推理", "速度", "中文", "测试", "我们", "今天", "学习", "数据", "日本", "東京",
             "한국", "사람", "世界", "ありがとう", "コンピュータ"]
PUNCT = list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`") + ["...", "--", "->", "=>", "::", "//", "/*", "*/", "'s", "'ll", "'RE"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\n\n", "   ", " \n", "\u00a0", "\u3000"]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "<|fim_pad|>"]


def gen_random_chars(r):
    out = []
    for _ in range(1 + r.below(40)):
        lo, hi = r.pick(BLOCKS)
        out.append(chr(lo + r.below(hi - lo + 1)))
    return "".join(out)


def gen_mixed(r, n_items):
    out = []
    for _ in range(n_items):
        k = r.below(100)
        if k < 40:
            w = r.pick(WORDS)
            if r.below(5) == 0:
                w = w.capitalize()
            if r.below(12) == 0:
                w = w.upper()
            out.append(w)
        elif k < 52:
            out.append(r.pick(CJK_WORDS))
        elif k < 62:
            out.append(str(r.below(10 ** (1 + r.below(12)))))
        elif k < 75:
            out.append(r.pick(PUNCT))
        elif k < 93:
            out.append(r.pick(SPACES))
        elif k < 96:
            out.append(gen_random_chars(r)[:4])
        else:
            out.append(r.pick(SPECIALS))
    return "".join(out)


def generated():
    r = Rng(0x5157494B)  # "QWIK"
    out = []
    for _ in range(120):
        out.append(gen_mixed(r, 1 + r.below(30)))
    for _ in range(60):
        out.append(gen_random_chars(r))
    for _ in range(30):  # digit runs of every length up to 40
        out.append("".join(str(r.below(10)) for _ in range(1 + r.below(40))))
    for _ in range(20):  # whitespace soup
        out.append("".join(r.pick(SPACES + ["a", "1", "."]) for _ in range(1 + r.below(20))))
    for _ in range(15):  # text with a combining mark after random letters (NFC composes some)
        s = []
        for _ in range(1 + r.below(10)):
            s.append(r.pick("aeiouAEIOUcnsyzCNSYZ"))
            s.append(chr(0x300 + r.below(0x70)))
        out.append("".join(s))
    # long inputs: they take the path with the word cache, and stress the merge loop
    out.append(gen_mixed(r, 1500))
    out.append(gen_mixed(r, 3000))
    out.append(("lorem ipsum dolor sit amet " * 300).strip())
    out.append("a" * 5000)
    out.append("ab" * 2000 + " " + "的" * 1500)
    out.append(" " * 4100 + "x")
    out.append("9" * 4097)
    return out


def main():
    cases = (english + cjk + other_scripts + code + numbers + emoji + whitespace + special + non_nfc +
             controls + generated())
    seen = set()
    lines = []
    for s in cases:
        if s in seen:
            continue
        seen.add(s)
        lines.append(json.dumps({"text": s}, ensure_ascii=False))
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} strings to {os.path.relpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
