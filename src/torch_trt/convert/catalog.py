"""The operator catalog: docs/operators.md rendered from the converter registry.

The registry is the only list of supported ops; this module formats it. ``python -m
torch_trt.convert.catalog PATH`` writes the page, and a test fails when the checked-in page
differs from a fresh rendering, so the page cannot go stale.

Example:
    >>> from torch_trt.convert.catalog import operators_markdown
    >>> "aten.add.Tensor" in operators_markdown()
    True
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence

import torch

import torch_trt.convert.ops  # noqa: F401  (registers every converter)
from torch_trt.convert.peer_ops import LEFT_TO_DECOMPOSITION, PEER_OVERLOADS
from torch_trt.convert.registry import Converter, lookup, lookup_complex, registered_ops
from torch_trt.settings import op_name

_HEADER = """\
# Supported ATen operators

Generated from the converter registry by `python -m torch_trt.convert.catalog docs/operators.md`;
`tests/convert/test_catalog.py` fails when this page differs from a fresh rendering. Do not edit
it by hand: change the converter's docstring instead.

Each row is one ATen overload with a converter. *Dynamic* says whether the converter takes
symbolic dimensions (otherwise nodes with dynamic shapes stay in PyTorch). A node can still stay
in PyTorch when its converter's check refuses its arguments (dtypes TensorRT lacks, sizes past
TensorRT's limits, ...); the compile report names the reason for every such node. Ops missing
here may still convert through their core-ATen decompositions (`roll`, `tril`, `masked_fill`,
`addcmul`, `baddbmm`, `select_scatter`, ... are tested that way in `tests/convert/`).

The last section compares with Torch-TensorRT's converter set (`convert/peer_ops.py`): each
overload it converts is either converted here or left to decomposition, with the reason.
"""


_COMPLEX_NOTE = """\
TensorRT has no complex dtype: a complex64 tensor lives in an engine as float32 with a trailing
(real, imag) dim of 2. A node that holds a complex tensor converts only with a converter listed
here, and a complex value never crosses an engine boundary: the producer and every user must
convert, or the complex part of the graph runs in PyTorch. FFT lengths must be static.
"""


def _summary(conv: Converter) -> str:
    """The first sentence of the converter's docstring, on one line, table-safe."""
    doc = inspect.getdoc(conv.fn) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.replace("|", "\\|")


def _rows(targets: Sequence[object], complex: bool = False) -> list[str]:
    rows = []
    for target in targets:
        conv = lookup_complex(target) if complex else lookup(target)
        assert conv is not None
        module = conv.fn.__module__.rsplit(".", 1)[-1]
        dynamic = "yes" if conv.dynamic else "no"
        rows.append(f"| `{op_name(target)}` | {dynamic} | {module} | {_summary(conv)} |")
    return rows


def shipped_ops(complex: bool = False) -> list[object]:
    """Registered ops whose converter ships with torch-trt (in ``torch_trt.convert.ops``), not
    ones a user or a test registered at run time (``complex=True``: the complex converters)."""
    ops = []
    for target in registered_ops(complex):
        conv = lookup_complex(target) if complex else lookup(target)
        if conv is not None and conv.fn.__module__.startswith("torch_trt.convert.ops."):
            ops.append(target)
    return ops


def peer_rows(converted: set[str]) -> list[str]:
    """One row per Torch-TensorRT overload: "converted", or why it needs no converter here.

    Args:
        converted: names (``aten.op.overload``) of the overloads with a shipped converter.
    """
    rows = []
    for name in PEER_OVERLOADS:
        here = "converted" if name in converted else LEFT_TO_DECOMPOSITION.get(name, "**missing**")
        cell = here.replace("|", "\\|")
        rows.append(f"| `{name}` | {cell} |")
    return rows


def _peer_section(converted: set[str]) -> list[str]:
    done = sum(1 for name in PEER_OVERLOADS if name in converted)
    pending = sum(1 for v in LEFT_TO_DECOMPOSITION.values() if v.startswith("pending:"))
    return [
        f"## Torch-TensorRT's converters ({len(PEER_OVERLOADS)} overloads)\n",
        f"Converted here: {done}; left to decomposition or never reaching partition: "
        f"{len(LEFT_TO_DECOMPOSITION) - pending}; pending in another work area: {pending}. "
        "`tests/convert/test_peer.py` exports and lowers a module for each reason and checks "
        "it.\n",
        "| Overload | Here |\n|---|---|",
        *peer_rows(converted),
        "",
    ]


def operators_markdown() -> str:
    """The operator page: every shipped ATen overload, the SymInt operators, then the comparison
    with Torch-TensorRT's converter set.

    Returns:
        The Markdown text of docs/operators.md.
    """
    ops = shipped_ops()
    aten_ops = [t for t in ops if isinstance(t, torch._ops.OpOverload)]
    sym_ops = [t for t in ops if not isinstance(t, torch._ops.OpOverload)]
    complex_ops = shipped_ops(complex=True)
    head = "| Overload | Dynamic | Family | Notes |\n|---|---|---|---|"
    lines = [
        _HEADER,
        f"## ATen overloads ({len(aten_ops)})\n",
        head,
        *_rows(aten_ops),
        "",
        f"## Size arithmetic on SymInts ({len(sym_ops)})\n",
        "Python operators torch.export emits for shape arithmetic, computed on size tensors.\n",
        head,
        *_rows(sym_ops),
        "",
        f"## Complex tensors ({len(complex_ops)})\n",
        _COMPLEX_NOTE,
        head,
        *_rows(complex_ops, complex=True),
        "",
        *_peer_section({op_name(t) for t in aten_ops}),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    """Write the page to ``argv[0]`` (or print it)."""
    text = operators_markdown()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
