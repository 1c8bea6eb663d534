"""docs/operators.md is the registry, rendered: it lists every converter and cannot go stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from torch_trt.convert.catalog import main, operators_markdown, shipped_ops
from torch_trt.convert.peer_ops import LEFT_TO_DECOMPOSITION, PEER_OVERLOADS
from torch_trt.convert.registry import converter, registered_ops
from torch_trt.settings import op_name

PEER_HEADING = "## Torch-TensorRT's converters"
# The forms a reason may take (tests/convert/test_peer.py checks the first two by lowering).
REASON_FORMS = ("decomposes to `", "never reaches partition: ", "pending: ")
WORK_AREAS = ("opsa", "ddshape", "loops")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def test_page_is_current() -> None:
    """The checked-in page equals a fresh rendering (regenerate with the command it names)."""
    assert PAGE.read_text(encoding="utf-8") == operators_markdown(), (
        "docs/operators.md is stale: run `python -m torch_trt.convert.catalog docs/operators.md`"
    )


def test_every_shipped_op_has_one_row() -> None:
    """Each op with a converter in torch_trt.convert.ops appears in exactly one row of its table
    (real converters, complex converters), and there are no other rows."""
    ours = operators_markdown().split(PEER_HEADING)[0]
    rows = [line for line in ours.splitlines() if line.startswith("| `")]
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


def _shipped_names() -> set[str]:
    return {op_name(t) for t in shipped_ops()}


def test_every_peer_overload_is_converted_or_reasoned() -> None:
    """Each overload Torch-TensorRT converts has a converter here or a documented reason."""
    shipped = _shipped_names()
    missing = [n for n in PEER_OVERLOADS if n not in shipped and n not in LEFT_TO_DECOMPOSITION]
    assert missing == [], f"peer overloads with neither a converter nor a reason: {missing}"


def test_no_stale_reason() -> None:
    """No overload is both converted and listed as left to decomposition (a stale reason), and
    every reason is about a peer overload."""
    shipped = _shipped_names()
    stale = sorted(n for n in LEFT_TO_DECOMPOSITION if n in shipped)
    assert stale == [], f"converted here, so drop their LEFT_TO_DECOMPOSITION entries: {stale}"
    strays = sorted(set(LEFT_TO_DECOMPOSITION) - set(PEER_OVERLOADS))
    assert strays == [], f"reasons for overloads Torch-TensorRT does not convert: {strays}"


def test_reasons_take_a_checked_form() -> None:
    """Every reason says it decomposes (naming the ops), never reaches partition, or is pending
    in a named work area."""
    for name, why in LEFT_TO_DECOMPOSITION.items():
        assert why.startswith(REASON_FORMS), f"{name}: {why!r}"
        if why.startswith("pending: "):
            assert why.split()[1] in WORK_AREAS, f"{name}: unknown work area in {why!r}"


def test_peer_overloads_are_real_and_unique() -> None:
    """Each listed name resolves to an ATen OpOverload of the installed torch, once."""
    assert len(set(PEER_OVERLOADS)) == len(PEER_OVERLOADS) == 218
    for name in PEER_OVERLOADS:
        _, op, overload = name.split(".")
        assert isinstance(getattr(getattr(torch.ops.aten, op), overload), torch._ops.OpOverload)


def test_peer_section_lists_every_overload_once() -> None:
    """The page's comparison table has one row per peer overload, "converted" exactly for the
    shipped ones."""
    section = operators_markdown().split(PEER_HEADING)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    cells = {row.split("`")[1]: row.split("|")[2].strip() for row in rows}
    assert sorted(cells) == sorted(PEER_OVERLOADS)
    shipped = _shipped_names()
    assert {n for n, c in cells.items() if c == "converted"} == shipped & set(PEER_OVERLOADS)


def test_catalog_fails_on_an_unreasoned_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer overload with neither converter nor reason shows as missing on the page (and
    test_every_peer_overload_is_converted_or_reasoned fails)."""
    from torch_trt.convert import catalog

    monkeypatch.setattr(catalog, "PEER_OVERLOADS", (*PEER_OVERLOADS, "aten.no_such_op.default"))
    assert "| `aten.no_such_op.default` | **missing** |" in catalog.operators_markdown()
