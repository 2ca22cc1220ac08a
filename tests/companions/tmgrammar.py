#!/usr/bin/env python3
"""A small TextMate grammar interpreter, enough for editors/vscode's grammar.

usage: tmgrammar.py GRAMMAR.json FILE

Prints one line per character of FILE: LINE:COL:SCOPES, with the scopes from
the outermost to the innermost separated by spaces (COL is 1-based, in bytes,
like Vim's). It implements what the nit grammar uses: match with captures
(capture patterns included), begin/end blocks with begin/end captures,
include of repository rules and $self, and TextMate's choice of rule: the
earliest match wins, the end pattern wins a tie, otherwise the first rule
listed. Regular expressions are Python's; every construct the grammar uses
(classes, \\b, lookahead, lookbehind, anchors) means the same in Oniguruma,
and compiling every pattern here catches a broken one.
"""
import json
import re
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Grammar:
    def __init__(self, g):
        self.g = g
        self.repo = g.get("repository", {})
        self.cache = {}

    def rx(self, pattern):
        if pattern not in self.cache:
            self.cache[pattern] = re.compile(pattern)
        return self.cache[pattern]

    def expand(self, patterns, seen=()):
        """Flatten includes and pattern-only containers into a rule list."""
        out = []
        for p in patterns:
            if "include" in p:
                inc = p["include"]
                if inc == "$self":
                    target = {"patterns": self.g["patterns"]}
                elif inc.startswith("#"):
                    target = self.repo[inc[1:]]
                else:
                    raise SystemExit("unsupported include " + inc)
                if inc in seen:
                    continue
                out += self.expand([target], seen + (inc,))
            elif "match" not in p and "begin" not in p:
                out += self.expand(p.get("patterns", []), seen)
            else:
                out.append(p)
        return out


def paint(scopes, start, end, name, base):
    for i in range(start, end):
        scopes[i] = base + [name]


def apply_captures(gr, caps, m, scopes, base):
    for key, cap in sorted(caps.items(), key=lambda kv: int(kv[0])):
        k = int(key)
        if m.start(k) < 0:
            continue
        inner = base + ([cap["name"]] if "name" in cap else [])
        if "name" in cap:
            for i in range(m.start(k), m.end(k)):
                scopes[i] = list(inner)
        if "patterns" in cap:
            scan_span(gr, gr.expand(cap["patterns"]), m.string, m.start(k), m.end(k), scopes, inner)


def scan_span(gr, rules, line, lo, hi, scopes, base):
    """Match rules (no blocks) inside line[lo:hi]."""
    pos = lo
    while pos < hi:
        best = None
        for r in rules:
            if "match" not in r:
                continue
            m = gr.rx(r["match"]).search(line, pos, hi)
            if m and (best is None or m.start() < best[0].start()):
                best = (m, r)
        if not best or best[0].end() == best[0].start():
            break
        m, r = best
        paint_rule(gr, r, m, scopes, base, "captures")
        pos = m.end()


def paint_rule(gr, r, m, scopes, base, capkey):
    inner = base + ([r["name"]] if "name" in r else [])
    for i in range(m.start(), m.end()):
        scopes[i] = list(inner)
    apply_captures(gr, r.get(capkey, {}), m, scopes, inner)


def tokenize(g, text):
    gr = Grammar(g)
    top = gr.expand(g["patterns"])
    # frame: (rule or None, rules, end regex, scope list)
    stack = [(None, top, None, [g["scopeName"]])]
    out = []
    for ln, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        scopes = [None] * len(line)
        pos = 0
        while True:
            rule, rules, end, base = stack[-1]
            best = None  # (start, order, match, kind, rule)
            if end is not None:
                m = end.search(line, pos)
                if m:
                    best = (m.start(), -1, m, "end", rule)
            for order, r in enumerate(rules):
                pat = r.get("match", r.get("begin"))
                m = gr.rx(pat).search(line, pos)
                if m and (best is None or m.start() < best[0]):
                    best = (m.start(), order, m, "begin" if "begin" in r else "match", r)
            if best is None:
                break
            _, _, m, kind, r = best
            for i in range(pos, m.start()):
                scopes[i] = list(base)
            if kind == "end":
                cap = rule.get("endCaptures", rule.get("captures", {}))
                for i in range(m.start(), m.end()):
                    scopes[i] = list(base)
                apply_captures(gr, cap, m, scopes, base)
                stack.pop()
            elif kind == "match":
                paint_rule(gr, r, m, scopes, base, "captures")
            else:
                inner = base + ([r["name"]] if "name" in r else [])
                for i in range(m.start(), m.end()):
                    scopes[i] = list(inner)
                apply_captures(gr, r.get("beginCaptures", r.get("captures", {})), m, scopes, inner)
                stack.append((r, gr.expand(r.get("patterns", [])), gr.rx(r["end"]), inner))
            if m.end() > m.start():
                pos = m.end()
            elif kind == "match":
                pos = m.end() + 1  # an empty match: step over one character
            else:
                pos = m.end()
            if pos >= len(line) and kind != "begin":
                break
        base = stack[-1][3]
        for i in range(len(line)):
            if scopes[i] is None:
                scopes[i] = list(base)
        for col, ch in enumerate(line):
            out.append("%d:%d:%s:%s" % (ln, col + 1, ch, " ".join(scopes[col])))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    g = load(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    for line in tokenize(g, text):
        print(line)


if __name__ == "__main__":
    main()
