"""Fail when a module or function outgrows the house budget (STYLE.md rule 9)."""

from __future__ import annotations

import ast
import pathlib
import sys

MODULE_LINES = 600
FUNCTION_LINES = 60


def main() -> int:
    """Print every module over MODULE_LINES and function over FUNCTION_LINES; exit 1 if any."""
    problems: list[str] = []
    for path in sorted(pathlib.Path("src").rglob("*.py")):
        text = path.read_text()
        n = text.count("\n")
        if n > MODULE_LINES:
            problems.append(f"{path}: {n} lines (budget {MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    where = f"{path}:{node.lineno} {node.name}"
                    problems.append(f"{where}: {length} lines (budget {FUNCTION_LINES})")
    for p in problems:
        print(p)
    print(f"size budget: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
