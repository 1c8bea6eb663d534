"""Shape ranges: from the user's Input ranges to every symbolic dim of the graph.

torch.export names each dynamic dimension with a sympy symbol (``s0``) shared by all dims it
found equal. :class:`ShapeRanges` maps each symbol to the declared ``(min, opt, max)`` and
bounds any dimension expression (``2*s0``, ``s0*s1``) from them: the optimization profile of an
engine whose input is an intermediate tensor comes from here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import sympy
import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols
from torch.utils._sympy.value_ranges import ValueRanges, bound_sympy

from torch_trt.errors import CaptureError
from torch_trt.inputs import Input

Dim3 = tuple[int, int, int]


def dim_expr(d: int | torch.SymInt) -> sympy.Expr:
    """The sympy expression of a (possibly symbolic) dimension."""
    if isinstance(d, torch.SymInt):
        return sympy.sympify(d.node.expr)
    return sympy.Integer(int(d))


def is_static(shape: Sequence[int | torch.SymInt]) -> bool:
    """True when every dimension is a plain int."""
    return all(isinstance(d, int) for d in shape)


@dataclasses.dataclass
class ShapeRanges:
    """Declared ``(min, opt, max)`` per symbol; bounds for any expression of symbols."""

    symbols: dict[sympy.Symbol, Dim3] = dataclasses.field(default_factory=dict)

    def bounds(self, d: int | torch.SymInt | sympy.Expr) -> Dim3:
        """``(min, opt, max)`` of a dimension."""
        expr = d if isinstance(d, sympy.Expr) else dim_expr(d)
        if expr.is_number:
            v = int(expr)
            return (v, v, v)
        missing = expr.free_symbols - set(self.symbols)
        if missing:
            raise KeyError(f"no declared range for {sorted(map(str, missing))} in {expr}")
        ranges = {s: ValueRanges(lo, hi) for s, (lo, _, hi) in self.symbols.items()}
        vr = bound_sympy(expr, ranges)
        lo, hi = int(vr.lower), int(vr.upper)
        opt = int(expr.subs({s: o for s, (_, o, _) in self.symbols.items()}))
        return (lo, min(max(opt, lo), hi), hi)

    def profile(
        self, shape: Sequence[int | torch.SymInt]
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """``(min_shape, opt_shape, max_shape)`` of a tensor shape."""
        b = [self.bounds(d) for d in shape]
        lo, opt, hi = (tuple(x[i] for x in b) for i in range(3))
        return lo, opt, hi


def _declare(
    table: dict[sympy.Symbol, Dim3],
    where: dict[sympy.Symbol, str],
    sym: sympy.Symbol,
    rng: Dim3,
    name: str,
) -> None:
    if sym in table and table[sym] != rng:
        raise CaptureError(
            f"{where[sym]} and {name} are the same dimension for the model (torch.export found "
            f"them equal) but were given different ranges {table[sym]} and {rng}; give them one "
            "range"
        )
    table.setdefault(sym, rng)
    where.setdefault(sym, name)


def _export_range(size: torch.SymInt, name: str, default_max: int | None) -> Dim3:
    """The range torch.export recorded for an undeclared symbol, with the traced size as opt;
    ``default_max`` (the ``dynamic_dim_max`` setting) caps an unbounded one."""
    node = size.node
    env = node.shape_env
    vr = env.var_to_range.get(node.expr) if env is not None else None
    # torch's int_oo claims is_finite; only a concrete Integer is a usable bound.
    if vr is not None and default_max is not None and isinstance(node.hint, int):
        hi = int(vr.upper) if isinstance(vr.upper, sympy.Integer) else default_max
        lo = int(vr.lower)
        if lo <= node.hint <= hi:
            return (lo, node.hint, hi)
    if vr is None or not isinstance(vr.upper, sympy.Integer) or not isinstance(node.hint, int):
        raise CaptureError(
            f"{name} is dynamic in the ExportedProgram but has no upper bound; pass "
            "Input(min_shape=..., opt_shape=..., max_shape=...) for it"
        )
    lo, hi = int(vr.lower), int(vr.upper)
    return (lo, min(max(int(node.hint), lo), hi), hi)


def shape_ranges(
    gm: fx.GraphModule, specs: Mapping[str, Input | None], default_max: int | None = None
) -> ShapeRanges:
    """Map every input symbol of ``gm`` to its declared range; check nothing was specialized.

    Symbols of inputs without a spec (an ExportedProgram compiled with tensors) take the range
    torch.export recorded, capped at ``default_max`` when it has no upper bound.
    """
    table: dict[sympy.Symbol, Dim3] = {}
    where: dict[sympy.Symbol, str] = {}
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for node in placeholders:
        spec = specs.get(str(node.target))  # target keeps the argument name; name may not
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            continue
        if spec is None or not spec.is_dynamic:
            _undeclared(table, where, node, val, default_max)
            continue
        for d, size in enumerate(val.shape):
            rng = (spec.min_shape[d], spec.opt_shape[d], spec.max_shape[d])
            name = f"input {node.target!r} dim {d}"
            expr = dim_expr(size)
            if expr.is_number and rng[0] != rng[2]:
                raise CaptureError(
                    f"{name} was declared dynamic {rng[0]}..{rng[2]}, but the model only works "
                    f"with {int(expr)} (torch.export specialized it); declare it static or "
                    "remove the code that fixes it"
                )
            if isinstance(expr, sympy.Symbol):
                _declare(table, where, expr, rng, name)
    return ShapeRanges(table)


def _undeclared(
    table: dict[sympy.Symbol, Dim3],
    where: dict[sympy.Symbol, str],
    node: fx.Node,
    val: torch.Tensor,
    default_max: int | None,
) -> None:
    for d, size in enumerate(val.shape):
        expr = dim_expr(size)
        if isinstance(size, torch.SymInt) and isinstance(expr, sympy.Symbol) and expr not in table:
            name = f"input {node.target!r} dim {d}"
            _declare(table, where, expr, _export_range(size, name, default_max), name)


def dims_json(shape: Sequence[int | torch.SymInt]) -> list[Any]:
    """Per dim an int (static) or the expression as a string (``"s0"``, ``"2*s1"``)."""
    out: list[Any] = []
    for d in shape:
        expr = dim_expr(d)
        out.append(int(expr) if expr.is_number else str(expr))
    return out


# -- data-dependent sizes ------------------------------------------------------------------------
# Ops whose output sizes count elements of their inputs (nonzero, x[mask], unique): each such
# size lies in [0, number of input elements] whatever the data.
_COUNTING_OPS = frozenset(
    {
        torch.ops.aten.nonzero.default,
        torch.ops.aten.index.Tensor,
        torch.ops.aten.masked_select.default,
        torch.ops.aten._unique2.default,
        torch.ops.aten.unique_consecutive.default,
        torch.ops.aten.unique_dim.default,
    }
)


def _upper(expr: sympy.Expr, ranges: Mapping[sympy.Symbol, ValueRanges[Any]]) -> Any:
    return bound_sympy(expr, dict(ranges)).upper


def counted_ranges(gm: fx.GraphModule) -> dict[sympy.Symbol, ValueRanges[Any]]:
    """``[0, elements of the inputs]`` for every data-dependent size symbol an op of
    ``_COUNTING_OPS`` makes (the size symbols of inputs keep the ranges torch.export recorded).

    torch's own ranges for these symbols also hold what the program *checks* about them
    (``torch._check(n > 2)`` narrows ``u0`` to ``[3, ...]``), so they cannot tell a check that
    always holds from one that can fail.
    """
    ranges: dict[sympy.Symbol, ValueRanges[Any]] = {}
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target not in _COUNTING_OPS:
            continue
        vals = node.meta.get("val")
        outs = vals if isinstance(vals, list | tuple) else [vals]
        made = {
            s
            for t in outs
            if isinstance(t, torch.Tensor)
            for s in free_unbacked_symbols(t)
            if s not in ranges
        }
        if not made:
            continue
        counted = node.all_input_nodes
        if node.target is torch.ops.aten.index.Tensor:  # x[mask] counts the mask's elements
            counted = [i for i in node.args[1] if isinstance(i, fx.Node)]
        ins = [i.meta.get("val") for i in counted]
        ins = [t for t in ins if isinstance(t, torch.Tensor)]
        known = {s: vr for t in ins for d in t.shape for s, vr in _backed_ranges(d).items()}
        rank = max(t.dim() for t in ins)
        total: Any = 1
        for k in range(1, rank + 1):  # the broadcast shape's dims are at most these
            total *= max(_upper(dim_expr(t.shape[-k]), known) for t in ins if t.dim() >= k)
        for s in made:
            ranges[s] = ValueRanges(0, total)
    return ranges


def _backed_ranges(d: int | torch.SymInt) -> dict[sympy.Symbol, ValueRanges[Any]]:
    if not isinstance(d, torch.SymInt) or d.node.shape_env is None:
        return {}
    env = d.node.shape_env
    return {s: env.var_to_range[s] for s in d.node.expr.free_symbols if s in env.var_to_range}


def always_holds(cond: torch.SymBool, counted: Mapping[sympy.Symbol, ValueRanges[Any]]) -> bool:
    """Whether a runtime assertion on data-dependent sizes holds for any data: true from the
    input ranges and ``counted`` (:func:`counted_ranges`) alone."""
    expr = cond.node.expr
    env = cond.node.shape_env
    ranges: dict[sympy.Symbol, ValueRanges[Any]] = {}
    for s in expr.free_symbols:
        if s in counted:
            ranges[s] = counted[s]
        elif env is not None and s in env.var_to_range and not free_unbacked_symbols(s):
            ranges[s] = env.var_to_range[s]
        else:
            ranges[s] = ValueRanges.unknown()
    vr = bound_sympy(expr, ranges)
    return bool(vr.is_singleton() and vr.lower == sympy.true)
