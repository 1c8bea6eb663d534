"""Padding converters: constant_pad_nd, reflection_pad1d/2d/3d, replication_pad1d/2d/3d,
_pad_circular (with static or symbolic pad sizes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
f16, bf16, i8, i32, i64 = torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64
CONST = aten.constant_pad_nd.default
CIRCULAR = aten._pad_circular.default
REFLECT1, REFLECT2, REFLECT3 = (
    aten.reflection_pad1d.default,
    aten.reflection_pad2d.default,
    aten.reflection_pad3d.default,
)
REPLICATE1, REPLICATE2, REPLICATE3 = (
    aten.replication_pad1d.default,
    aten.replication_pad2d.default,
    aten.replication_pad3d.default,
)


def r(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor (ints in [-50, 50), bools at random)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-50, 50, shape, generator=g).to(dtype)


def pad(p: Sequence[int], mode: str = "constant", value: float | None = None) -> Any:
    """``F.pad`` with fixed arguments."""
    return lambda x: F.pad(x, tuple(p), mode=mode, value=value)


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("constant_last", pad((1, 2)), [r(2, 3, 4)], [CONST]),
    ("constant_two_dims", pad((1, 2, 3, 0), value=1.5), [r(2, 3, 4)], [CONST]),
    ("constant_every_dim", pad((1, 1, 0, 2, 2, 0)), [r(2, 3, 4)], [CONST]),
    ("constant_crop", pad((-1, -2)), [r(2, 3, 5)], [CONST]),
    ("constant_crop_and_pad", pad((-1, 2, 1, -2)), [r(2, 4, 5)], [CONST]),
    ("constant_crop_to_empty", lambda x: F.pad(x, (-2, -3)) + 1, [r(2, 5)], [CONST]),
    ("constant_rank1", pad((3, 1), value=-2.0), [r(4)], [CONST]),
    ("constant_rank5", pad((1, 0, 0, 1, 2, 1)), [r(1, 2, 2, 3, 2)], [CONST]),
    ("constant_neg_inf", pad((1, 1), value=float("-inf")), [r(2, 3)], [CONST]),
    ("constant_nan", pad((0, 2), value=float("nan")), [r(2, 3)], [CONST]),
    ("constant_fp16", pad((2, 2), value=0.25), [r(2, 3, dtype=f16)], [CONST]),
    ("constant_bf16", pad((1, 0, 0, 1)), [r(2, 3, dtype=bf16)], [CONST]),
    ("constant_int64", pad((1, 2), value=7), [r(2, 3, dtype=i64)], [CONST]),
    ("constant_int32_float_value", pad((1, 2), value=2.9), [r(2, 3, dtype=i32)], [CONST]),
    ("constant_int8", pad((2, 1), value=-3), [r(2, 3, dtype=i8)], [CONST]),
    ("constant_bool", pad((1, 1), value=1), [r(2, 3, dtype=torch.bool)], [CONST]),
    ("constant_zero_pads", lambda x: F.pad(x, (0, 0)) * 2, [r(2, 3)], []),
    ("reflect1d", pad((2, 3), "reflect"), [r(2, 3, 5)], [REFLECT1]),
    ("reflect1d_unbatched", pad((1, 2), "reflect"), [r(3, 4)], [REFLECT1]),
    ("reflect1d_crop", lambda x: aten.reflection_pad1d(x, [-1, 3]), [r(1, 2, 5)], [REFLECT1]),
    ("reflect2d", pad((1, 2, 3, 1), "reflect"), [r(1, 2, 4, 5)], [REFLECT2]),
    ("reflect2d_unbatched", pad((2, 2, 1, 1), "reflect"), [r(2, 3, 4)], [REFLECT2]),
    ("reflect2d_fp16", pad((1, 1, 1, 1), "reflect"), [r(1, 2, 3, 3, dtype=f16)], [REFLECT2]),
    ("reflect2d_max", pad((4, 4, 3, 3), "reflect"), [r(1, 1, 4, 5)], [REFLECT2]),
    ("reflect3d", pad((1, 2, 2, 1, 1, 1), "reflect"), [r(1, 2, 3, 4, 5)], [REFLECT3]),
    ("replicate1d", pad((2, 3), "replicate"), [r(2, 3, 5)], [REPLICATE1]),
    ("replicate1d_wide", pad((7, 9), "replicate"), [r(2, 2)], [REPLICATE1]),
    ("replicate2d", pad((1, 2, 3, 1), "replicate"), [r(1, 2, 4, 5)], [REPLICATE2]),
    ("replicate2d_crop", lambda x: aten.replication_pad2d(x, [2, -1, -1, 3]), [r(1, 3, 4)], []),
    ("replicate2d_bf16", pad((1, 1, 2, 0), "replicate"), [r(1, 2, 3, 3, dtype=bf16)], []),
    ("replicate3d", pad((1, 2, 2, 1, 3, 1), "replicate"), [r(1, 2, 3, 4, 5)], [REPLICATE3]),
    ("replicate3d_unbatched", pad((1, 1, 1, 1, 1, 1), "replicate"), [r(2, 2, 3, 2)], []),
    ("circular1d", pad((2, 3), "circular"), [r(2, 3, 5)], [CIRCULAR]),
    ("circular1d_full_width", pad((4, 4), "circular"), [r(1, 2, 4)], [CIRCULAR]),
    ("circular2d", pad((1, 2, 3, 1), "circular"), [r(1, 2, 4, 5)], [CIRCULAR]),
    ("circular3d", pad((1, 0, 2, 1, 1, 1), "circular"), [r(1, 2, 3, 4, 5)], [CIRCULAR]),
    ("circular2d_int64", pad((1, 1, 1, 1), "circular"), [r(1, 1, 3, 3, dtype=i64)], []),
    ("circular2d_fp16", pad((2, 0, 0, 2), "circular"), [r(1, 2, 3, 3, dtype=f16)], []),
    ("circular_via_aten_pad", lambda x: aten.pad(x, [1, 2], "circular"), [r(1, 2, 5)], []),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


def test_one_slice_layer() -> None:
    """A 2-D reflection pad is one TensorRT layer (a slice), not a chain of gathers."""
    rep = check_conversion(FnModule(pad((1, 1, 1, 1), "reflect")), [r(1, 2, 4, 4)]).report
    assert [e.layers for e in rep.engine_info] == [1]


def test_circular_is_one_slice_layer() -> None:
    """Circular padding is one WRAP-mode slice (the decomposition is 11 slice/copy nodes)."""
    rep = check_conversion(FnModule(pad((1, 2, 2, 1), "circular")), [r(1, 2, 4, 4)]).report
    assert [e.layers for e in rep.engine_info] == [1]


def test_circular_crop_falls_back() -> None:
    """Circular padding with a negative (cropping) pad stays in PyTorch: torch wraps the cropped
    tensor, which one WRAP slice cannot express."""
    check_fallback(
        FnModule(pad((-1, 2, 1, -2), "circular")),
        [r(1, 2, 4, 5)],
        op=CIRCULAR,
        detail="not all provably >= 0",
    )


def test_symbolic_fill_value_falls_back() -> None:
    """A fill value computed from a dynamic dim stays in PyTorch with a reason saying so."""
    check_fallback(
        FnModule(lambda x: aten.constant_pad_nd(x, [0, 1], x.shape[0])),
        [ranged((2, 3, 5), 4)],
        op=CONST,
        detail="a symbolic fill value is not supported",
    )


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SIDE = (1, 3, 6), (4, 6, 9)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], Input, Sequence[Any]]] = [
    ("constant_dyn", pad((1, 2, 0, 3), value=-1.0), ranged(BATCH, SIDE), [CONST]),
    ("constant_dyn_crop", pad((-1, 2)), ranged(BATCH, SIDE), [CONST]),
    ("constant_dyn_batch_pad", pad((0, 0, 2, 1)), ranged(BATCH, 3), [CONST]),
    ("constant_dyn_int64", pad((1, 1), value=3), ranged(BATCH, 3, dtype=i64), [CONST]),
    ("reflect1d_dyn", pad((2, 3), "reflect"), ranged(BATCH, 2, SIDE), [REFLECT1]),
    ("reflect2d_dyn", pad((1, 2, 3, 1), "reflect"), ranged(BATCH, 2, SIDE, SIDE), [REFLECT2]),
    ("reflect3d_dyn", pad((1, 1, 2, 1, 1, 2), "reflect"), ranged(1, 2, SIDE, 4, SIDE), []),
    ("replicate1d_dyn", pad((5, 1), "replicate"), ranged(BATCH, 2, SIDE), [REPLICATE1]),
    ("replicate2d_dyn", pad((1, 2, 3, 1), "replicate"), ranged(BATCH, 1, SIDE, 5), []),
    ("replicate3d_dyn", pad((1, 2, 1, 1, 2, 0), "replicate"), ranged(BATCH, 1, 4, SIDE, 4), []),
    ("circular1d_dyn", pad((2, 1), "circular"), ranged(BATCH, 2, SIDE), [CIRCULAR]),
    ("circular2d_dyn", pad((1, 2, 2, 1), "circular"), ranged(BATCH, 1, SIDE, SIDE), []),
    # symbolic pad sizes: pad to a multiple of 4 (Swin's window padding), pad by a size
    ("constant_dyn_symbolic_pad", lambda x: F.pad(x, (0, (-x.shape[-1]) % 4)), ranged(2, SIDE), []),
    ("constant_dyn_pad_by_size", lambda x: F.pad(x, (0, x.shape[0])), ranged(BATCH, 4), [CONST]),
    (
        "constant_dyn_symbolic_crop",
        lambda x: F.pad(x, (-(x.shape[1] // 2), 1)),
        ranged(2, SIDE),
        [],
    ),
    (
        "reflect2d_dyn_symbolic_pad",
        lambda x: F.pad(x, (0, (-x.shape[-1]) % 3, 0, (-x.shape[-2]) % 3), mode="reflect"),
        ranged(1, 2, SIDE, SIDE),
        [REFLECT2],
    ),
]


@pytest.mark.parametrize(
    ("fn", "spec", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], spec: Input, ops: Sequence[Any]) -> None:
    """With dynamic batch/spatial dims the op lands in one engine and matches eager at the
    min, opt and max shapes."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)
