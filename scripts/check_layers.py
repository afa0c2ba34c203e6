#!/usr/bin/env python3
"""The domain crate's layering rule (docs/design.md, "Layers"): each top-level module may use only
the modules listed for it. Prints every use that breaks the rule; exit 1 when there is one.
(`module_cycles.py` shows there is no cycle; this shows the cycle-free graph is the intended one.)"""
import re
import sys
from pathlib import Path

ALLOWED = {
    "model": set(),
    "ports": {"model"},
    "views": {"model"},
    "service": {"model", "ports", "views"},
    "memory": {"model", "ports"},
}

src = Path(sys.argv[1] if len(sys.argv) > 1 else "shared/domain/src")
broken = []
for path in sorted(src.rglob("*.rs")):
    module = path.relative_to(src).with_suffix("").parts[0]
    if module in ("lib", "main"):
        continue
    allowed = ALLOWED.get(module)
    if allowed is None:
        broken.append(f"{path}: module `{module}` has no place in the layers")
        continue
    text = path.read_text()
    used = set(re.findall(r"crate::(\w+)", text))
    for block in re.findall(r"use crate::\{([^;]*)\}", text, re.S):
        used |= set(re.findall(r"(?:^|[,{\s])(\w+)::", block))
    for other in sorted(used & set(ALLOWED) - allowed - {module}):
        broken.append(f"{path}: `{module}` uses `{other}`")
for line in broken:
    print(line)
print(f"{len(broken)} layering violations")
sys.exit(1 if broken else 0)
