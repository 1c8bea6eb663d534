"""torch_trt::kv_cache_update: IKVCacheUpdateLayer where the cache can be written in place,
a functional gather/select elsewhere; both equal eager, static and dynamic shapes."""

from __future__ import annotations

import pytest
import torch

import torch_trt
from torch_trt.runtime.reference import ReferenceProgram
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, ranged

KV = torch.ops.torch_trt.kv_cache_update.default


def layer_types(compiled: torch.nn.Module) -> list[str]:
    """The TensorRT layer types of the compiled module's (one) engine."""
    blob = compiled.get_buffer("trt_0_reference")
    return [r.type for r in ReferenceProgram.from_bytes(blob.numpy().tobytes()).layers]


def returned(cache: torch.Tensor, update: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The updated cache is the result: in-place form (the cache is read by nothing else)."""
    return KV(cache, update, w)


def used(cache: torch.Tensor, update: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The updated cache feeds more math: functional form."""
    return KV(cache, update, w) * 2 + 1


def read_twice(cache: torch.Tensor, update: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The cache is also read directly: an in-place write would race, so functional form."""
    return KV(cache, update, w) + cache


CASES = [
    # (fn, cache shape, update shape, write indices, dtype, in-place form)
    (returned, (2, 3, 8, 4), (2, 3, 1, 4), [5, 0], torch.float32, True),
    (returned, (1, 2, 6, 8), (1, 2, 6, 8), [0], torch.float32, True),
    (returned, (2, 2, 8, 4), (2, 2, 3, 4), [2, 5], torch.float16, True),
    (used, (2, 3, 8, 4), (2, 3, 2, 4), [6, 1], torch.float32, False),
    (read_twice, (2, 3, 8, 4), (2, 3, 1, 4), [7, 3], torch.float32, False),
    (used, (1, 2, 8, 4), (1, 2, 3, 4), [4], torch.bfloat16, False),
]


@pytest.mark.parametrize(("fn", "cache", "update", "w", "dtype", "in_place"), CASES)
def test_kv_cache_update_static(
    fn: object,
    cache: tuple[int, ...],
    update: tuple[int, ...],
    w: list[int],
    dtype: torch.dtype,
    in_place: bool,
) -> None:
    """The converted update equals eager, uses the in-place layer exactly where allowed, and
    leaves the caller's cache untouched (execute_engine is functional)."""
    c = torch.randn(cache).to(dtype)
    before = c.clone()
    args = [c, torch.randn(update).to(dtype), torch.tensor(w, dtype=torch.int64)]
    result = check_conversion(FnModule(fn), args, ops=[KV])
    assert ("KV_CACHE_UPDATE" in layer_types(result.compiled)) is in_place
    assert torch.equal(c, before)


@pytest.mark.parametrize("fn", [returned, used])
def test_kv_cache_update_dynamic(fn: object) -> None:
    """Batch and update length are dynamic; write indices stay in bounds at every point."""
    specs = [
        ranged((1, 2, 3), 2, 16, 4),
        ranged((1, 2, 3), 2, (1, 4, 16), 4),
        ranged((1, 2, 3), dtype=torch.int64),
    ]

    def make(point: str) -> list[torch.Tensor]:
        batch, length = {"min": (1, 1), "opt": (2, 4), "max": (3, 16)}[point]
        w = torch.randint(0, 16 - length + 1, (batch,))
        return [torch.randn(batch, 2, 16, 4), torch.randn(batch, 2, length, 4), w]

    check_dynamic_conversion(FnModule(fn), specs, ops=[KV], make_inputs=make)


def test_kv_cache_update_eager_contract() -> None:
    """The eager op is functional, writes update[b] at w[b].., and refuses bad arguments."""
    cache = torch.zeros(2, 1, 5, 2)
    upd = torch.ones(2, 1, 2, 2)
    out = KV(cache, upd, torch.tensor([0, 3], dtype=torch.int32))
    assert cache.abs().sum() == 0
    assert out[0, 0, :, 0].tolist() == [1, 1, 0, 0, 0] and out[1, 0, :, 0].tolist() == [
        0,
        0,
        0,
        1,
        1,
    ]
    with pytest.raises(IndexError, match="writes 2 position"):
        KV(cache, upd, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="write_indices must be an int32/int64 tensor"):
        KV(cache, upd, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="does not fit cache"):
        KV(cache, torch.ones(2, 2, 1, 2), torch.tensor([0, 1]))


def test_kv_cache_update_refuses_dynamic_cache_length() -> None:
    """A cache whose length dim is dynamic stays in PyTorch with the reason (TensorRT needs a
    static one)."""
    specs = [ranged(1, 2, (4, 8, 16), 4), ranged(1, 2, 1, 4), ranged(1, dtype=torch.int64)]
    compiled = torch_trt.dynamo.compile(FnModule(used), specs, runtime="reference")
    (place,) = [
        p for p in torch_trt.report(compiled).placements if p.op.endswith("kv_cache_update.default")
    ]
    assert place.engine is None and "cache length (dim 2) must be static" in place.detail
