"""Every reason in ``peer_ops.LEFT_TO_DECOMPOSITION`` is checked by lowering a module that uses
the overload: it is gone after lowering, the ops a "decomposes to" reason names are there, and
the module becomes one engine that matches eager (static, and dynamic where a probe says so)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt import Input
from torch_trt.convert.peer_ops import LEFT_TO_DECOMPOSITION
from torch_trt.dynamo.capture import capture
from torch_trt.dynamo.lower import lower
from torch_trt.settings import op_name
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, ranged

aten = torch.ops.aten


def r(*shape: int, seed: int = 0) -> torch.Tensor:
    """A small deterministic float tensor."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape) + seed))


class Dropout(torch.nn.Module):
    """``F.dropout`` following the module's mode, as ``nn.Dropout`` does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, 0.5, training=self.training) * 2


Probe = tuple[Callable[..., Any] | torch.nn.Module, list[Any]]
BATCH = (1, 3, 5)

# overload -> modules using it, with static tensors or ranged Input specs
PROBES: dict[str, list[Probe]] = {
    "aten.group_norm.default": [(lambda x: F.group_norm(x, 2), [r(2, 4, 3)])],
    "aten.matmul.default": [
        (torch.matmul, [r(2, 3, 4), r(4, 5)]),
        (torch.matmul, [r(2, 3, 4), r(2, 4, 5)]),
        (torch.matmul, [ranged(BATCH, 3, 4), ranged(4, 2)]),
    ],
    "aten.dot.default": [(torch.dot, [r(5), r(5, seed=1)])],
    "aten.mv.default": [(torch.mv, [r(3, 4), r(4)])],
    "aten.linalg_cross.default": [(torch.linalg.cross, [r(2, 3), r(2, 3, seed=1)])],
    "aten.split.sizes": [(lambda x: [t * 2 for t in torch.split(x, [1, 3], -1)], [r(2, 4)])],
    "aten.clip.default": [(lambda x: torch.clip(x, -0.5, 0.5), [r(3, 4)])],
    "aten.clip.Tensor": [(lambda x, lo: torch.clip(x, min=lo), [r(3, 4), r(4)])],
    "aten.index_copy.default": [
        (lambda x, s: x.index_copy(0, torch.tensor([2, 0]), s), [r(3, 4), r(2, 4)])
    ],
    "aten.tile.default": [
        (lambda x: x.tile(2, 1), [r(2, 3)]),
        (lambda x: x.tile(2), [ranged(BATCH, 3)]),
    ],
    "aten.floor_divide.default": [(torch.floor_divide, [r(3, 4), r(3, 4, seed=1).abs() + 0.5])],
    "aten.floor_divide.Scalar": [(lambda x: torch.floor_divide(x, 3), [torch.arange(-7, 8)])],
    "aten.softplus.default": [
        (lambda x: F.softplus(x, 2.0, 5.0), [r(3, 4) * 5]),
        (F.softplus, [ranged(BATCH, 4)]),
    ],
    "aten.hardsigmoid.default": [(F.hardsigmoid, [r(3, 4) * 4])],
    "aten._prelu_kernel.default": [
        (lambda x: F.prelu(x, torch.tensor([0.1, 0.2, 0.3])), [r(2, 3, 4)])
    ],
    "aten.roll.default": [
        (lambda x: x.roll(1, -1), [r(2, 5)]),
        (lambda x: x.roll(2, 0), [ranged(BATCH, 4)]),
    ],
    "aten.pad.default": [
        (lambda x: aten.pad(x, [1, 2], "constant", 0.5), [r(2, 3)]),
        (lambda x: aten.pad(x, [1, 2], "reflect"), [r(1, 2, 5)]),
        (lambda x: aten.pad(x, [1, 2], "replicate"), [r(1, 2, 5)]),
        (lambda x: aten.pad(x, [1, 2], "circular"), [r(1, 2, 5)]),
    ],
    "aten.embedding_bag.default": [
        (
            lambda w, i: aten.embedding_bag(w, i, torch.tensor([0, 2]), False, 0)[0],
            [r(10, 3), torch.tensor([1, 2, 4, 5])],
        )
    ],
    "aten.grid_sampler.default": [
        (lambda x, g: aten.grid_sampler(x, g, 0, 0, False), [r(1, 2, 4, 4), r(1, 3, 3, 2) / 3])
    ],
    "aten.avg_pool1d.default": [(lambda x: F.avg_pool1d(x, 2), [r(1, 2, 8)])],
    "aten.max_pool1d.default": [(lambda x: F.max_pool1d(x, 2), [r(1, 2, 8)])],
    "aten.max_pool3d.default": [(lambda x: F.max_pool3d(x, 2), [r(1, 2, 4, 4, 4)])],
    "aten.adaptive_avg_pool1d.default": [(lambda x: F.adaptive_avg_pool1d(x, 4), [r(1, 2, 8)])],
    "aten.pixel_shuffle.default": [(lambda x: F.pixel_shuffle(x, 2), [r(1, 8, 3, 3)])],
    "aten.pixel_unshuffle.default": [(lambda x: F.pixel_unshuffle(x, 2), [r(1, 2, 4, 4)])],
    "aten.resize_.default": [(lambda x: x.clone().resize_(2, 3) * 2, [r(3, 2)])],
    "aten.detach.default": [(lambda x: x.detach() + 1, [r(3, 4)])],
    "aten.native_dropout.default": [(Dropout(), [r(3, 4)])],
    "aten.atan2.out": [
        (lambda a, b: torch.atan2(a, b, out=torch.empty_like(a)), [r(3, 4), r(3, 4, seed=1)])
    ],
    "aten.sym_numel.default": [(lambda x: x.reshape(x.numel()) * 2, [ranged(BATCH, 4)])],
}

CHECKED = sorted(n for n, why in LEFT_TO_DECOMPOSITION.items() if not why.startswith("pending"))


def test_every_checked_reason_has_a_probe() -> None:
    """Each decomposition / never-reaches reason has probes here, and no probe is stale."""
    assert sorted(PROBES) == CHECKED


def _named_ops(why: str) -> set[str]:
    return set(re.findall(r"`(aten\.[\w.]+)`", why)) if why.startswith("decomposes to") else set()


def _lowered_ops(module: torch.nn.Module, inputs: list[Any]) -> set[str]:
    gm = lower(capture(module.eval(), inputs, None))
    nodes = gm.graph.nodes
    return {op_name(n.target) for n in nodes if n.op == "call_function"} - {
        op_name(operator.getitem)
    }


def _module(fn: Callable[..., Any] | torch.nn.Module) -> torch.nn.Module:
    return fn if isinstance(fn, torch.nn.Module) else FnModule(fn)


@pytest.mark.parametrize("name", CHECKED)
def test_reason_holds(name: str) -> None:
    """The overload is gone after lowering, every op the reason names appears, and each probe
    module becomes one engine that matches eager (at min/opt/max for ranged inputs)."""
    seen: set[str] = set()
    for fn, inputs in PROBES[name]:
        ops = _lowered_ops(_module(fn), inputs)
        assert name not in ops, f"{name} survives lowering: {sorted(ops)}"
        seen |= ops
        if any(isinstance(x, Input) for x in inputs):
            check_dynamic_conversion(_module(fn), inputs)
        else:
            check_conversion(_module(fn), inputs)
    missing = _named_ops(LEFT_TO_DECOMPOSITION[name]) - seen
    assert not missing, f"{name}: the reason names {sorted(missing)}, lowering gave {sorted(seen)}"
