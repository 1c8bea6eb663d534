"""Checks for converters and models, shared by our tests and usable by yours.

``check_conversion(module, inputs)`` compiles with ``runtime="reference"``, asserts that every
node landed in one engine (the engine built) and that the reference runtime matches eager under
the tolerance policy:

* fp32: relative error below 1e-4 (max abs error over max abs eager value);
* fp16/bf16: the compiled result is no further from an fp64 eager reference than
  ``LOW_PRECISION_SLACK`` times fp16/bf16 eager's own distance (plus one ulp of the dtype).

Example:
    >>> from torch_trt.testing import check_conversion
    >>> check_conversion(torch.nn.ReLU(), [torch.randn(4, 4)], ops=[torch.ops.aten.relu.default])
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torch_trt.convert.registry import Reason
from torch_trt.inputs import Input
from torch_trt.report import Report, report
from torch_trt.settings import op_name

FP32_RTOL = 1e-4
LOW_PRECISION_SLACK = 2.0


@dataclasses.dataclass
class ConversionCheck:
    """What :func:`check_conversion` found, for further assertions."""

    compiled: torch.nn.Module
    report: Report
    outputs: list[torch.Tensor]
    expected: list[torch.Tensor]


def rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (denominator at least 1e-6), computed in fp64."""
    g, w = got.detach().double(), want.detach().double()
    if g.shape != w.shape:
        raise AssertionError(f"shape {tuple(g.shape)} != expected {tuple(w.shape)}")
    if w.numel() == 0:
        return 0.0
    # Equal values (infinities included) and NaN-against-NaN count as no error; an infinity or
    # NaN on one side only is an infinite error. The scale is the largest finite |want|.
    same = (g == w) | (torch.isnan(g) & torch.isnan(w))
    diff = torch.where(same, 0.0, (g - w).abs())
    diff = torch.where(torch.isnan(diff), float("inf"), diff)
    finite = w[torch.isfinite(w)].abs()
    scale = finite.max().clamp_min(1e-6) if finite.numel() else torch.tensor(1.0)
    return float(diff.max() / scale)


def _flatten(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, list | tuple):
        return [t for item in x for t in _flatten(item)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _flatten(v)]
    return []


def _to_fp64(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.double()
    return x


def assert_close(got: torch.Tensor, want: torch.Tensor, fp64: torch.Tensor | None) -> None:
    """Apply the tolerance policy (see module docstring) to one output."""
    if got.dtype != want.dtype:
        raise AssertionError(f"dtype {got.dtype} != expected {want.dtype}")
    if not want.is_floating_point():
        if not torch.equal(got.cpu(), want.cpu()):
            raise AssertionError(f"integer/bool outputs differ:\n{got}\n!=\n{want}")
        return
    if want.dtype == torch.float32 or fp64 is None:
        err = rel_error(got, want)
        if err >= FP32_RTOL:
            raise AssertionError(f"relative error {err:.3g} >= {FP32_RTOL}")
        return
    eager_err = rel_error(want, fp64)
    err = rel_error(got, fp64)
    ulp = float(torch.finfo(want.dtype).eps)
    if err > LOW_PRECISION_SLACK * eager_err + ulp:
        raise AssertionError(
            f"{want.dtype} error vs fp64 {err:.3g} > "
            f"{LOW_PRECISION_SLACK} x eager's {eager_err:.3g}"
        )


def _fp64_reference(
    module: torch.nn.Module, inputs: Sequence[Any], expected: list[torch.Tensor]
) -> list[Any]:
    """fp64 eager outputs when some output is fp16/bf16 (the low-precision policy needs them)."""
    if not any(t.dtype in (torch.float16, torch.bfloat16) for t in expected):
        return [None] * len(expected)
    return _flatten(copy.deepcopy(module).double()(*map(_to_fp64, inputs)))


def _compare(
    module: torch.nn.Module,
    compiled: torch.nn.Module,
    rep: Report,
    inputs: Sequence[Any],
    where: str,
) -> ConversionCheck:
    """Run both on ``inputs`` and apply the tolerance policy to every output."""
    with torch.no_grad():
        expected = _flatten(module(*inputs))
        outputs = _flatten(compiled(*inputs))
        fp64 = _fp64_reference(module, inputs, expected)
    if len(outputs) != len(expected):
        raise AssertionError(f"{where}{len(outputs)} outputs, expected {len(expected)}")
    for i, (g, w, r) in enumerate(zip(outputs, expected, fp64, strict=True)):
        try:
            assert_close(g, w, r)
        except AssertionError as e:
            raise AssertionError(f"{where}output {i}: {e}") from None
    return ConversionCheck(compiled, rep, outputs, expected)


def _assert_one_engine(rep: Report, ops: Sequence[torch._ops.OpOverload]) -> None:
    if rep.fallbacks:
        lines = [f"{p.node} {p.op}: {p.reason} {p.detail}" for p in rep.fallbacks]
        raise AssertionError("nodes fell back to PyTorch:\n" + "\n".join(lines))
    if rep.engines != 1:
        raise AssertionError(f"expected one engine, got {rep.engines}")
    landed = {p.op for p in rep.placements if p.engine is not None}
    for op in ops:
        if op_name(op) not in landed:
            raise AssertionError(
                f"{op_name(op)} is not in the engine; engine ops: {sorted(landed)}"
            )


def check_conversion(
    module: torch.nn.Module,
    inputs: Sequence[Any],
    *,
    ops: Sequence[torch._ops.OpOverload] = (),
    min_block_size: int = 1,
    **settings: Any,
) -> ConversionCheck:
    """Compile with the reference runtime; assert one engine, no fallback, eager-equal outputs.

    Args:
        module: the module to compile (put it in eval mode yourself if it matters).
        inputs: example inputs; also the inputs the comparison runs on.
        ops: ATen overloads that must appear in the lowered graph and land in the engine.
        min_block_size: forwarded to compile (default 1: a single op is worth an engine here).
        **settings: more compile settings.
    """
    import torch_trt

    module = module.eval()
    compiled = torch_trt.dynamo.compile(
        module, list(inputs), min_block_size=min_block_size, runtime="reference", **settings
    )
    rep = report(compiled)
    _assert_one_engine(rep, ops)
    return _compare(module, compiled, rep, inputs, "")


def random_inputs(specs: Sequence[Input], point: str) -> list[torch.Tensor]:
    """Random tensors at the ``"min"``, ``"opt"`` or ``"max"`` shape of each spec (small
    non-negative ints for integer specs, random bools for bool specs)."""
    out = []
    for spec in specs:
        shape = {"min": spec.min_shape, "opt": spec.opt_shape, "max": spec.max_shape}[point]
        if spec.dtype.is_floating_point:
            out.append(torch.randn(shape, dtype=spec.dtype))
        elif spec.dtype == torch.bool:
            out.append(torch.rand(shape) > 0.5)
        else:
            out.append(torch.randint(0, 4, shape, dtype=spec.dtype))
    return out


def check_dynamic_conversion(
    module: torch.nn.Module,
    specs: Sequence[Input],
    *,
    ops: Sequence[torch._ops.OpOverload] = (),
    make_inputs: Callable[[str], Sequence[Any]] | None = None,
    points: Sequence[str] = ("min", "opt", "max"),
    min_block_size: int = 1,
    **settings: Any,
) -> ConversionCheck:
    """:func:`check_conversion` for ranged inputs: compile once, then check every point.

    Args:
        module: the module.
        specs: one ranged :class:`Input` per positional input.
        ops: ATen overloads that must land in the engine.
        make_inputs: ``point -> inputs`` (default :func:`random_inputs`), e.g. for index inputs.
        points: which of ``"min"``, ``"opt"``, ``"max"`` to run.
        min_block_size: forwarded to compile.
        **settings: more compile settings.

    Returns:
        The check of the last point; its report shows the one engine.
    """
    import torch_trt

    module = module.eval()
    compiled = torch_trt.dynamo.compile(
        module, list(specs), min_block_size=min_block_size, runtime="reference", **settings
    )
    rep = report(compiled)
    _assert_one_engine(rep, ops)
    result = None
    for point in points:
        inputs = list(make_inputs(point) if make_inputs else random_inputs(specs, point))
        result = _compare(module, compiled, rep, inputs, f"{point} shapes, ")
    assert result is not None, "no points to check"
    return result


def randomize_norm_stats(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every batch norm non-trivial statistics and affine weights (in place).

    Freshly initialised batch norms have mean 0, variance 1, weight 1 and bias 0, which makes
    folding them nearly an identity; a check on such a model proves little.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                for name, lo, hi in (
                    ("running_mean", -0.5, 0.5),
                    ("running_var", 0.5, 2.0),
                    ("weight", 0.5, 1.5),
                    ("bias", -0.2, 0.2),
                ):
                    t = getattr(mod, name)
                    if t is not None:
                        t.copy_(torch.rand(t.shape, generator=gen) * (hi - lo) + lo)
    return model


class FnModule(torch.nn.Module):
    """A function of the positional inputs as a module, for op-level tests.

    Example:
        >>> check_conversion(FnModule(torch.relu), [torch.randn(4)])
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: Any) -> Any:
        return self.fn(*xs)


def ranged(*dims: int | tuple[int, int, int], dtype: torch.dtype = torch.float32) -> Input:
    """An :class:`Input` whose tuple dims are ``(min, opt, max)`` and int dims are static.

    Example:
        >>> ranged((1, 4, 8), 16)     # batch 1..8 (opt 4), 16 features
    """
    lo, opt, hi = ([d if isinstance(d, int) else d[i] for d in dims] for i in range(3))
    return Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=dtype)


def check_fallback(
    module: torch.nn.Module,
    inputs: Sequence[Any],
    *,
    op: torch._ops.OpOverload,
    detail: str,
    reason: Reason = Reason.UNSUPPORTED_ARGUMENTS,
    **settings: Any,
) -> Report:
    """Assert every ``op`` node stays in PyTorch with ``reason`` and a detail containing
    ``detail``, and that the compiled module still matches eager: bit for bit when no engine
    was built, else under the tolerance policy.

    Args:
        module: the module (inputs may be tensors or ranged :class:`Input` specs).
        inputs: compile inputs; ranged specs are run at their opt shape.
        op: the ATen overload that must fall back.
        detail: text the fallback's detail must contain.
        reason: the expected :class:`Reason`.
        **settings: more compile settings (default ``runtime="reference"``, min_block_size 1).
    """
    import torch_trt

    settings = {"runtime": "reference", "min_block_size": 1, **settings}
    compiled = torch_trt.dynamo.compile(module.eval(), list(inputs), **settings)
    rep = report(compiled)
    placed = [p for p in rep.placements if p.op == op_name(op)]
    if not placed:
        raise AssertionError(
            f"no {op_name(op)} node; ops: {sorted({p.op for p in rep.placements})}"
        )
    for p in placed:
        if p.engine is not None or p.reason is not reason or detail not in p.detail:
            raise AssertionError(f"{p.node}: engine={p.engine} reason={p.reason} {p.detail!r}")
    run = [x.example() if isinstance(x, Input) else x for x in inputs]
    with torch.no_grad():
        for g, w in zip(_flatten(compiled(*run)), _flatten(module(*run)), strict=True):
            if rep.engines:  # other nodes converted: the tolerance policy applies
                assert_close(g, w, None)
            else:  # everything ran in PyTorch: bit-identical
                torch.testing.assert_close(g, w, rtol=0, atol=0, equal_nan=True)
    return rep
