#!/usr/bin/env python3
"""The rooms of the workspace and who imports whom, read from the code.

A room is a module of a crate: one level under `src/` (a file or a folder),
two levels for the rooms that hold several (`model/src/core`,
`model/src/check`, `impl/src/runtime`, `impl/src/config`). An arrow A -> B
says a file of A names a path of B (`use crate::...`, `use super::...`, a
`crate::` path in the code, or another crate's path such as
`connseq_model::core::...`). Test files and `#[cfg(test)]` modules in their
own files (`tests.rs`, `*/tests/*`) are left out.

    scripts/rooms.py            the arrows, one a line
    scripts/rooms.py --dot F    also writes them as Graphviz (dot -Tsvg F)
    scripts/rooms.py --check    exits 1 when rooms import each other in a circle

docs/design.md's room diagram (docs/diagrams/rooms.svg) is made by
`scripts/rooms.py --dot docs/diagrams/rooms.dot && dot -Tsvg ...`.
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRATES = {
    "model": "connseq_model",
    "impl": "connseq",
    "tls": "connseq_tls",
    "proxy-protocol": "connseq_proxy_protocol",
    "conformance": "connseq_conformance",
}
# Rooms split one level deeper: they hold rooms of their own.
DEEP = {("model", "core"), ("model", "check"), ("impl", "runtime"), ("impl", "config")}
USE = re.compile(r"\buse\s+([^;]+);", re.S)
PATH = re.compile(r"\b(crate|super|[a-z_]+)::([A-Za-z_][A-Za-z0-9_]*)(?:::([A-Za-z_][A-Za-z0-9_]*))?")


def module_path(crate, file):
    """The module path of a source file, e.g. ['runtime', 'exec', 'plain']."""
    rel = file.relative_to(ROOT / crate / "src").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def room(crate, parts):
    if not parts:
        return f"{crate}"
    if (crate, parts[0]) in DEEP and len(parts) > 1:
        return f"{crate}/{parts[0]}/{parts[1]}"
    return f"{crate}/{parts[0]}"


def expand(tree):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d'] (one line, no comments)."""
    tree = tree.strip()
    i = tree.find("{")
    if i < 0:
        return [tree]
    head, body = tree[:i], tree[i + 1 : tree.rindex("}")]
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    return [p for it in items if it.strip() for p in expand(head + it.strip())]


def targets(crate, parts, is_mod, text):
    """The module paths a file names, resolved to (crate, parts)."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    found = []
    paths = [p for u in USE.findall(text) for p in expand(" ".join(u.split()))]
    paths += [m.group(0) for m in PATH.finditer(text)]
    here = parts if is_mod else parts[:-1]
    for p in paths:
        segs = [s.strip() for s in p.split("::")]
        segs = [s.split(" as ")[0].strip() for s in segs if s]
        if not segs:
            continue
        if segs[0] == "crate" or segs[0] == CRATES[crate]:
            found.append((crate, segs[1:3]))
        elif segs[0] == "super":
            base = list(here)
            while segs and segs[0] == "super":
                base = base[:-1]
                segs = segs[1:]
            found.append((crate, (base + segs)[:2]))
        elif segs[0] == "self":
            found.append((crate, (list(here) + segs[1:])[:2]))
        elif len(here) < 2 and exists(room(crate, list(here) + segs[:1])):
            # A path from a module's own child (`use worker::Worker;` in runtime/mod.rs).
            found.append((crate, (list(here) + segs)[:2]))
        else:
            for c, name in CRATES.items():
                if segs[0] == name and c != crate:
                    found.append((c, segs[1:3]))
    return found


def arrows():
    edges = set()
    for crate in CRATES:
        src = ROOT / crate / "src"
        for f in sorted(src.rglob("*.rs")):
            if f.name == "tests.rs" or "tests" in f.relative_to(src).parts[:-1]:
                continue
            parts = module_path(crate, f)
            text = f.read_text()
            # Leave out inline test modules: what the program imports is what counts.
            cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests\s*\{", text)
            if cut:
                text = text[: cut.start()]
            is_mod = f.stem in ("mod", "lib", "main")
            a = room(crate, parts)
            for c, t in targets(crate, parts, is_mod, text):
                if not t:
                    if c == crate:
                        continue
                    b = c
                elif (c, t[0]) in DEEP and len(t) < 2:
                    b = f"{c}/{t[0]}"
                else:
                    b = room(c, t)
                # A name of a room that is a file (an item) and not a module: keep the room.
                if not exists(b):
                    b = "/".join(b.split("/")[:-1]) if exists("/".join(b.split("/")[:-1])) else None
                if b and b != a and not a.startswith(b + "/"):
                    edges.add((a, b))
    return edges


def exists(r):
    if not r or "/" not in r:
        return bool(r) and r in CRATES
    crate, *rest = r.split("/")
    base = ROOT / crate / "src" / "/".join(rest)
    return base.with_suffix(".rs").exists() or base.is_dir()


def circles(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def dot(edges):
    nodes = sorted({n for e in edges for n in e})
    lines = ["digraph rooms {", "  rankdir=BT; node [shape=box, fontname=Helvetica, fontsize=10];"]
    for crate in CRATES:
        mine = [n for n in nodes if n.split("/")[0] == crate]
        if not mine:
            continue
        lines.append(f'  subgraph "cluster_{crate}" {{ label="{crate}"; style=rounded;')
        for n in mine:
            label = n.split("/", 1)[1] if "/" in n else n
            lines.append(f'    "{n}" [label="{label}"];')
        lines.append("  }")
    for a, b in sorted(edges):
        cross = a.split("/")[0] != b.split("/")[0]
        lines.append(f'  "{a}" -> "{b}"' + (" [color=gray60];" if cross else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dot", type=pathlib.Path)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    edges = arrows()
    found = circles(edges)
    if args.dot:
        args.dot.write_text(dot(edges))
    if not args.check:
        for a, b in sorted(edges):
            print(f"{a} -> {b}")
    print(f"{len({n for e in edges for n in e})} rooms, {len(edges)} arrows, {len(found)} circles", file=sys.stderr)
    for c in found:
        print("circle: " + " <-> ".join(c), file=sys.stderr)
    return 1 if found and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
