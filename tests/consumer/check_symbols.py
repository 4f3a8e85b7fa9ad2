#!/usr/bin/env python3
"""check_symbols.py SO SOURCE_DIR: what a shared build of Courier exports.

SO is a shared library linked from Courier's static archives with
--whole-archive (run_consumer.cmake, MODE=shared), so its dynamic symbol table
is what a shared build would export. Checks, with `nm -DC --defined-only`:
  - every COURIER_EXPORT function of the public headers (core/include,
    adapters/*/include) of a library in SO is exported;
  - no class or struct of the internal headers (core/src, adapters/*/src) and
    nothing in a namespace `internal` is (-fvisibility=hidden hides them).
"""
import pathlib
import re
import subprocess
import sys


def exported(so):
    out = subprocess.run(["nm", "-DC", "--defined-only", so], check=True,
                         capture_output=True, text=True).stdout
    return [line.split(" ", 2)[2] for line in out.splitlines() if line.count(" ") >= 2]


def public_functions(src):
    """(namespace, name, header) of each COURIER_EXPORT namespace-scope function."""
    found = []
    headers = list((src / "core/include").rglob("*.h")) + list(src.glob("adapters/*/include/**/*.h"))
    for h in headers:
        ns = None
        for line in h.read_text().splitlines():
            m = re.match(r"namespace (courier[\w:]*) \{", line)
            if m:
                ns = m.group(1)
            m = re.match(r"COURIER_EXPORT .*?\b(\w+)\(", line)
            if m and ns:
                found.append((ns, m.group(1), h.relative_to(src)))
    return found


def internal_types(src):
    names = set()
    for h in list(src.glob("core/src/*.h")) + list(src.glob("adapters/*/src/*.h")):
        for line in h.read_text().splitlines():
            m = re.match(r"(?:class|struct) (\w+)\b(?!;)", line)
            if m and not line.rstrip().endswith(";"):
                names.add(m.group(1))
    return names


def main():
    so, src = sys.argv[1], pathlib.Path(sys.argv[2])
    symbols = exported(so)
    text = "\n".join(symbols)
    courier_syms = [s for s in symbols if "courier::" in s]
    print(f"{len(symbols)} exported symbols, {len(courier_syms)} naming courier::")
    problems = []
    # Which of Courier's namespaces the library holds at all.
    present_ns = set(re.findall(r"\b(courier(?:::[a-z_]+)*)::[A-Z]\w*\(", text))
    checked = 0
    for ns, name, header in public_functions(src):
        if ns != "courier" and ns not in present_ns:
            continue  # that adapter is not in this library
        checked += 1
        if not re.search(re.escape(f"{ns}::{name}") + r"(\[abi:\w+\])?\(", text):
            problems.append(f"public {ns}::{name} ({header}) is not exported")
    internal = internal_types(src)
    pattern = re.compile(r"courier::(?:\w+::)*(?:internal::|(?:%s)(?:::|\(|<|$| ))" %
                         "|".join(sorted(internal)))
    for s in courier_syms:
        # The name before the parameters: a std:: or absl:: instantiation over
        # an internal type counts too (it could only come from Courier).
        head = s.split("(", 1)[0]
        if pattern.search(head):
            problems.append(f"internal symbol exported: {s}")
    print(f"checked {checked} public functions; {len(internal)} internal type names")
    if problems:
        print("\n".join(problems[:50]))
        sys.exit(1)
    print("OK: the public API is exported, the internals are hidden")


if __name__ == "__main__":
    main()
