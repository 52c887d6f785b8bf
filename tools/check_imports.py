"""Import rules that import-linter cannot express, checked by `nox -s lint`.

1. No private name crosses a package line: ``from modet.structures.x import _helper`` in another
   package is an error (a package's private names may change without notice).
2. An import inside a function says why it is there, in a comment on its line or the line
   above (deferred for start-up time, an optional extra, a cycle), or, for a module that defers
   all of them for one reason, in a top-level comment starting ``# Deferred imports:``; so the
   dependency graph is visible at the top of each module.

Usage: ``python tools/check_imports.py [ROOT]``; prints each violation and exits 1 if any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path


def owner(module: str) -> str:
    """``modet.ops.mask_ops`` -> ``modet.ops``; ``modet_safetensors.format`` -> ``modet_safetensors``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "modet" else parts[0]


def module_name(path: Path, root: Path) -> str:
    """``packages/ops/src/modet/ops/mask_ops.py`` -> ``modet.ops.mask_ops``."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[parts.index("src") + 1 :])


def explained(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def source_files(root: Path) -> Iterator[Path]:
    for pattern in ("packages/*/src/**/*.py", "plugins/*/src/**/*.py"):
        yield from sorted(p for p in root.glob(pattern) if "model_zoo/configs" not in p.as_posix())


def violations(path: Path, root: Path) -> Iterator[str]:
    module = module_name(path, root)
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines), filename=str(path))
    own = owner(module)
    deferred_module = any(line.startswith("# Deferred imports:") for line in lines)
    function_imports: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function_imports.update(
                sub.lineno for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))
            )
    for node in ast.walk(tree):
        crosses = isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("modet")
        if crosses and owner(node.module) != own:
            private_module = any(part.startswith("_") for part in node.module.split("."))
            private_names = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
            if private_module or private_names:
                what = node.module if private_module else ", ".join(private_names)
                yield f"{path.relative_to(root)}:{node.lineno}: private name of {owner(node.module)} used in {own}: {what}"
        in_function = isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno in function_imports
        if in_function and not deferred_module and not explained(lines, node.lineno):
            line = lines[node.lineno - 1].strip()
            yield f"{path.relative_to(root)}:{node.lineno}: import inside a function without a comment saying why: {line}"


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    found = [v for path in source_files(root) for v in violations(path, root)]
    print("\n".join(found) or "import rules: no violation")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
