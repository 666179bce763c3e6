#!/usr/bin/env python3
"""Builds models/calib.txt, the default calibration text of `qwick quantize`: English, Chinese and code
from files every Debian system with vim and python3 ships (the Vim tutor in English and Simplified
Chinese, under the Vim license; Python's heapq.py and textwrap.py, under the PSF license), cut into
paragraph-sized pieces and interleaved so that any stretch of it (the held-out tail for --eval too)
mixes the three."""
import re, sys

SOURCES = ["/usr/share/vim/vim90/tutor/tutor", "/usr/share/vim/vim90/tutor/tutor.zh_cn.utf-8",
           "/usr/lib/python3.11/heapq.py", "/usr/lib/python3.11/textwrap.py"]

def pieces(text, size=2500):
    text = re.sub(r"[=~]{20,}\n", "", text)      # the tutor's banner rules carry no language
    text = re.sub(r"\n{3,}", "\n\n", text)
    out, cur = [], ""
    for para in text.split("\n\n"):
        if cur and len(cur) + len(para) > size:
            out.append(cur.strip("\n") + "\n")
            cur = ""
        cur += para + "\n\n"
    if cur.strip():
        out.append(cur.strip("\n") + "\n")
    return out

def main():
    streams = [pieces(open(p, encoding="utf-8").read()) for p in SOURCES]
    streams = [streams[0], streams[1], streams[2] + streams[3]]
    out = []
    while any(streams):
        for s in streams:
            if s:
                out.append(s.pop(0))
    sys.stdout.write("\n".join(out))

main()
