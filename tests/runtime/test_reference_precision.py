"""Reference runtime: layers evaluate in the dtype the network declares (docs/precision.md).

Each expected value is computed step by step with torch from the documented definition, and
each test also checks that a wider evaluation would have given another answer, so it can fail.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from torch_trt.runtime.reference import read_network


def _attention_fp16(tn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    trt = tn.trt
    att = tn.net.add_attention_v2(
        tn.input(q),
        tn.input(k),
        tn.input(v),
        trt.AttentionNormalizationOp.SOFTMAX,
        trt.CausalMaskKind.NONE,
    )
    att.decomposable = True
    tn.out(att)
    (y,) = read_network(tn.net).run(tn.values)
    return y


def test_attention_rounds_scores_and_probabilities_to_fp16(tn: Any) -> None:
    """fp16 IAttention: Q·Kᵀ is an fp16 tensor, the softmax result is an fp16 operand of the
    second product; both products accumulate in fp32 and round once."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 8, 16, generator=g).mul(3).half() for _ in range(3))
    got = _attention_fp16(tn, q, k, v)
    scores = (q.float() @ k.float().mT).half().float()
    probs = torch.softmax(scores, -1).half().float()
    want = (probs @ v.float()).half()
    assert got.dtype == torch.float16
    assert torch.equal(got, want)
    wide = (torch.softmax(q.float() @ k.float().mT, -1) @ v.float()).half()
    assert not torch.equal(got, wide)  # the intermediate roundings are visible


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_activation_alpha_is_rounded_to_the_tensor_dtype(tn: Any, dtype: torch.dtype) -> None:
    """LEAKY_RELU's alpha is rounded to the tensor's dtype before use, as the builder does."""
    x = -torch.linspace(1, 3000, 4096).to(dtype)
    layer = tn.net.add_activation(tn.input(x), tn.trt.ActivationType.LEAKY_RELU)
    layer.alpha = 0.01
    tn.out(layer)
    (got,) = read_network(tn.net).run(tn.values)
    alpha = torch.tensor(0.01).to(dtype).float()
    assert torch.equal(got, (x.float() * alpha).to(dtype))
    assert not torch.equal(got, (x.float() * 0.01).to(dtype))


def test_fp16_matrix_multiply_accumulates_in_fp32(tn: Any) -> None:
    """An fp16 matrix multiply equals the fp32 product of its fp16 operands rounded once (the
    documented assumption), not an fp16 running sum."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(4, 3000, generator=g).half(), torch.rand(3000, 4, generator=g).half()
    none = tn.trt.MatrixOperation.NONE
    tn.out(tn.net.add_matrix_multiply(tn.input(a), none, tn.input(b), none))
    (got,) = read_network(tn.net).run(tn.values)
    assert torch.equal(got, (a.float() @ b.float()).half())
    running = torch.zeros(4, 4, dtype=torch.float16)
    for i in range(a.shape[1]):  # what an fp16 accumulator would give
        running = running + (a[:, i : i + 1].float() * b[i : i + 1].float()).half()
    assert not torch.equal(got, running)
