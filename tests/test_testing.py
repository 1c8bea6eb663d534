"""torch_trt.testing: the tolerance policy and the checks themselves must be able to fail."""

from __future__ import annotations

import math

import pytest
import torch

import torch_trt
from torch_trt import Input
from torch_trt.testing import assert_close, check_dynamic_conversion, rel_error

INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(
    ("got", "want", "expected"),
    [
        ([1.0, 2.0], [1.0, 2.0], 0.0),
        ([1.0, 2.5], [1.0, 2.0], 0.25),
        ([INF, 1.0], [INF, 1.0], 0.0),
        ([-INF, NAN], [-INF, NAN], 0.0),
        ([INF, 1.0], [5.0, 1.0], INF),
        ([NAN, 1.0], [5.0, 1.0], INF),
        ([2.0, 1.0], [INF, 1.0], INF),
        ([INF, 3.0], [INF, 2.0], 0.5),  # the scale ignores infinite values
    ],
)
def test_rel_error(got: list[float], want: list[float], expected: float) -> None:
    """Infinities and NaNs count as equal only when both sides agree."""
    assert rel_error(torch.tensor(got), torch.tensor(want)) == pytest.approx(expected)


def test_fp16_policy_compares_against_fp64() -> None:
    """fp16 results may be as far from fp64 as fp16 eager is (times the slack), not further."""
    ref = torch.tensor([1.0, 2.0, 3.0001], dtype=torch.float64)
    eager = ref.half()
    assert_close(eager.clone(), eager, ref)
    worse = eager + torch.tensor([0.0, 0.0, 0.1], dtype=torch.float16)
    with pytest.raises(AssertionError, match="error vs fp64"):
        assert_close(worse, eager, ref)


def test_varargs_module_keeps_ranges() -> None:
    """A forward(*xs) module gets its Input ranges (export names the inputs xs_0, xs_1)."""

    class Add(torch.nn.Module):
        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return torch.relu(xs[0] + xs[1])

    spec = Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4))
    result = check_dynamic_conversion(Add(), [spec, spec], ops=[torch.ops.aten.add.Tensor])
    assert result.outputs[0].shape == (6, 4)
    with pytest.raises(torch_trt.InputShapeError, match="input 'xs_0' has shape \\(7, 4\\)"):
        result.compiled(torch.randn(7, 4), torch.randn(7, 4))


def test_dynamic_check_uses_fp16_policy() -> None:
    """A dynamic fp16 linear is judged by the fp16 policy at every point."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 32).half()
    spec = Input(min_shape=(1, 64), opt_shape=(8, 64), max_shape=(16, 64), dtype=torch.float16)
    check_dynamic_conversion(lin, [spec], ops=[torch.ops.aten.linear.default])


def test_check_fallback_passes_and_fails() -> None:
    """check_fallback accepts a real refusal and rejects a node that converted."""
    from torch_trt.testing import FnModule, check_fallback, ranged

    check_fallback(
        FnModule(torch.mm),
        [torch.ones(2, 3, dtype=torch.int64), torch.ones(3, 2, dtype=torch.int64)],
        op=torch.ops.aten.mm.default,
        detail="float32/float16/bfloat16 only",
    )
    with pytest.raises(AssertionError, match="engine=trt_0"):
        check_fallback(
            FnModule(torch.relu), [ranged((1, 2, 4), 3)], op=torch.ops.aten.relu.default, detail=""
        )
