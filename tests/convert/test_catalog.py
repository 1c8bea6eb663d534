"""docs/operators.md is the registry, rendered: it lists every converter and cannot go stale."""

from __future__ import annotations

from pathlib import Path

from torch_trt.convert.catalog import main, operators_markdown
from torch_trt.convert.registry import registered_ops
from torch_trt.settings import op_name

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def test_page_is_current() -> None:
    """The checked-in page equals a fresh rendering (regenerate with the command it names)."""
    assert PAGE.read_text(encoding="utf-8") == operators_markdown(), (
        "docs/operators.md is stale: run `python -m torch_trt.convert.catalog docs/operators.md`"
    )


def test_every_registered_op_has_one_row() -> None:
    """Each registered op appears in exactly one table row, and there are no other rows."""
    rows = [line for line in operators_markdown().splitlines() if line.startswith("| `")]
    names = [row.split("`")[1] for row in rows]
    assert sorted(names) == sorted(op_name(t) for t in registered_ops())


def test_main_writes_the_page(tmp_path: Path) -> None:
    """``python -m torch_trt.convert.catalog PATH`` writes the rendering to PATH."""
    out = tmp_path / "ops.md"
    assert main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == operators_markdown()
