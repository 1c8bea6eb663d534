"""docs/operators.md is the registry, rendered: it lists every converter and cannot go stale."""

from __future__ import annotations

from pathlib import Path

import torch

from torch_trt.convert.catalog import main, operators_markdown, shipped_ops
from torch_trt.convert.registry import converter, registered_ops
from torch_trt.settings import op_name

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def test_page_is_current() -> None:
    """The checked-in page equals a fresh rendering (regenerate with the command it names)."""
    assert PAGE.read_text(encoding="utf-8") == operators_markdown(), (
        "docs/operators.md is stale: run `python -m torch_trt.convert.catalog docs/operators.md`"
    )


def test_every_shipped_op_has_one_row() -> None:
    """Each op with a converter in torch_trt.convert.ops appears in exactly one row of its table
    (real converters, complex converters), and there are no other rows."""
    rows = [line for line in operators_markdown().splitlines() if line.startswith("| `")]
    names = [row.split("`")[1] for row in rows]
    listed = [*shipped_ops(), *shipped_ops(complex=True)]
    assert sorted(names) == sorted(op_name(t) for t in listed)
    assert len(names) > 200  # the whole registry, not an empty rendering


def test_run_time_registrations_are_not_listed() -> None:
    """A converter registered outside torch_trt.convert.ops (a user's, a test's) is in the
    registry but not on the page."""
    lib = torch.library.Library("torch_trt_catalog_test", "DEF")
    lib.define("probe(Tensor x) -> Tensor")
    op = torch.ops.torch_trt_catalog_test.probe.default
    converter(op)(lambda ctx, x: x)
    assert op in registered_ops() and op not in shipped_ops()
    assert "probe" not in operators_markdown()


def test_main_writes_the_page(tmp_path: Path) -> None:
    """``python -m torch_trt.convert.catalog PATH`` writes the rendering to PATH."""
    out = tmp_path / "ops.md"
    assert main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == operators_markdown()
