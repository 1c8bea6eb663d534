"""Converter: ``_grouped_mm``, the grouped matrix product of mixture-of-experts layers.

``torch._grouped_mm(input, weight, offs)`` multiplies consecutive row ranges of a 2-D ``input``
(the tokens routed to each expert, sorted by expert) by one matrix of a 3-D ``weight`` each:
group ``g`` is rows ``offs[g-1] <= s < offs[g]``. Without ``offs`` and with two 3-D operands it
is a batched product (``bmm``). Hugging Face transformers routes Mixtral / Qwen2-MoE experts
through it (``experts_implementation="grouped_mm"``, the default) for bfloat16 weights.

TensorRT has no grouped GEMM layer that builds here (``IMoELayer`` targets SM100+ and its build
fails on this machine), and the row ranges are data: so the converter multiplies every row by
every group's matrix (one IMatrixMultiplyLayer, ``(1, S, K) @ (G, K, N)``), then keeps each row's
own group with a gather. The row's group is the number of group ends at or before it. Cost:
``G`` times the FLOPs of the grouped product and a ``(G, S, N)`` intermediate, for static
shapes and no host synchronisation. Rows at or past ``offs[-1]`` belong to no group; torch
leaves them undefined and we return zeros (as transformers' own fallback does).

The forms torch uses for weight gradients (2-D x 2-D with ragged K, 3-D x 2-D with ragged N) and
the ``bias`` argument (which torch's kernels refuse) are not converted.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.compare import select
from torch_trt.convert.ops.matmul import MATMUL_DTYPES, matmul
from torch_trt.convert.ops.reduce import iota, reduce
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten


def _grouped_mm_check(node: fx.Node) -> str | None:
    a, b, offs = arg_val(node, "self"), arg_val(node, "mat2"), arg_val(node, "offs")
    if a.dtype not in MATMUL_DTYPES or b.dtype != a.dtype:
        return f"_grouped_mm of {a.dtype} by {b.dtype}: TensorRT multiplies equal float types"
    if arg_val(node, "bias") is not None:
        return "_grouped_mm with a bias is not converted (torch's kernels refuse it too)"
    out_dtype = arg_val(node, "out_dtype")
    if out_dtype is not None and out_dtype != a.dtype:
        return f"_grouped_mm with out_dtype={out_dtype} different from the inputs' {a.dtype}"
    if offs is None and (a.dim(), b.dim()) == (3, 3):
        return None
    if offs is not None and (a.dim(), b.dim()) == (2, 3):
        if not isinstance(b.shape[0], int):
            return f"_grouped_mm with a symbolic group count ({b.shape[0]}): it must be static"
        return None
    form = f"{a.dim()}-D x {b.dim()}-D {'with' if offs is not None else 'without'} offs"
    return (
        f"_grouped_mm {form}: only 2-D x 3-D with offs (expert dispatch) and 3-D x 3-D "
        "without offs (batched) are converted"
    )


@converter(aten._grouped_mm.default, check=_grouped_mm_check, dynamic=True)
def convert_grouped_mm(
    ctx: ConversionContext,
    self: Any,
    mat2: Any,
    offs: Any = None,
    bias: Any = None,
    out_dtype: torch.dtype | None = None,
) -> Any:
    """``self[rows of g] @ mat2[g]`` per group ``g`` of ``offs`` (2-D x 3-D, computed densely:
    every row times every group's matrix, ``G`` x the FLOPs; rows past ``offs[-1]`` give 0),
    or a batched product (3-D x 3-D, no ``offs``)."""
    dtype = ctx.out.dtype
    a, b = ctx.itensor(self, dtype), ctx.itensor(mat2, dtype)
    if offs is None:
        return matmul(ctx, a, b)
    groups = ctx.shape(b)[0]
    # group[s] = #{g : offs[g] <= s}, as a (S,) int32 vector.
    rows = iota(ctx, a, 0)  # (S, 1) int64
    ends = ctx.reshape(ctx.itensor(offs, torch.int64), (1, groups))
    ended = ctx.unary(ctx.elementwise(rows, ends, "LESS"), "NOT")  # (S, G): offs[g] <= s
    group = reduce(ctx, ctx.cast(ended, torch.int32), "SUM", [1], keepdim=False)
    last = ctx.itensor(groups - 1, torch.int32, 1)
    every = matmul(ctx, ctx.unsqueeze_to(a, 3), b)  # (G, S, N)
    # Gather each row's own group: data (S, G, N) with the row as a batch (elementwise) dim.
    layer = ctx.net.add_gather(
        ctx.permute(every, (1, 0, 2)), ctx.elementwise(group, last, "MIN"), 1
    )
    layer.num_elementwise_dims = 1
    picked = layer.get_output(0)  # (S, N)
    inside = ctx.elementwise(group, ctx.itensor(groups, torch.int32, 1), "LESS")
    inside = ctx.net.add_unsqueeze(inside, ctx.axes_tensor([1])).get_output(0)
    return select(ctx, inside, picked, ctx.itensor(0.0, dtype, 2))
