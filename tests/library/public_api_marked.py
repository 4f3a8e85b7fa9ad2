#!/usr/bin/env python3
"""public_api_marked.py SOURCE_DIR: every public declaration that has a symbol
in the library carries COURIER_EXPORT (courier/export.h).

Courier compiles with -fvisibility=hidden, so an unmarked function or class of
a public header would be missing from a shared build. In each public header
(core/include, adapters/*/include) this checks:
  - namespace-scope functions that are not inline, constexpr or templates;
  - classes and structs that are polymorphic (`virtual`) or declare a member
    function defined elsewhere (a declaration ending in `;`).
The symbols themselves are checked by tests/consumer (consumer_shared).
"""
import pathlib
import re
import sys

SKIP_START = re.compile(
    r"^(inline|constexpr|template|static|using|typedef|extern|#|//|namespace|enum|\}|COURIER_EXPORT)")
FUNC = re.compile(r"^[A-Za-z_][\w:<>,*& ]*?[\s*&>](\w+)\(")
CLASS = re.compile(r"^(class|struct) (?!COURIER_EXPORT)(?:ABSL_\w+(?:\([^)]*\))? )?(\w+)\b[^;]*$")
MEMBER_DECL = re.compile(r"\)\s*(const)?\s*(noexcept)?\s*(override|final)?\s*(ABSL_\w+(\([^)]*\))?\s*)*;\s*(//.*)?$")


def check(path, rel):
    problems = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = CLASS.match(line)
        if m and "{" in line:
            depth, body, j = 0, [], i
            while j < len(lines):
                text = lines[j].split("//", 1)[0]
                if depth == 1:
                    body.append(text)
                depth += text.count("{") - text.count("}")
                if depth == 0 and j > i:
                    break
                j += 1
            polymorphic = any("virtual " in b for b in body)
            out_of_line = any(MEMBER_DECL.search(b) and "= 0" not in b for b in body)
            if polymorphic or out_of_line:
                problems.append(f"{rel}:{i + 1}: {m.group(1)} {m.group(2)} needs COURIER_EXPORT")
            i = j + 1
            continue
        if re.match(r"^(class|struct) COURIER_EXPORT", line):
            # Skip an exported class's body.
            depth, j = 0, i
            while j < len(lines):
                text = lines[j].split("//", 1)[0]
                depth += text.count("{") - text.count("}")
                if depth == 0 and j > i and "}" in text:
                    break
                j += 1
            i = j + 1
            continue
        after_template = i > 0 and lines[i - 1].startswith("template")
        if not SKIP_START.match(line) and not after_template and not line.startswith((" ", "\t")):
            f = FUNC.match(line)
            if f and "{" not in line.split("//", 1)[0]:
                problems.append(f"{rel}:{i + 1}: {f.group(1)}() needs COURIER_EXPORT")
        i += 1
    return problems


def main():
    src = pathlib.Path(sys.argv[1])
    headers = sorted(list((src / "core/include").rglob("*.h")) + list(src.glob("adapters/*/include/**/*.h")))
    problems = []
    for h in headers:
        problems += check(h, h.relative_to(src))
    print(f"{len(headers)} public headers")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("OK: every public function and class with a symbol is COURIER_EXPORT")


if __name__ == "__main__":
    main()
