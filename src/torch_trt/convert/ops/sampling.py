"""Converters: grid sampling (``grid_sampler_2d`` / ``grid_sampler_3d``).

Two paths, chosen per mode:

* **IGridSampleLayer** where its documented semantics (TensorRT's GridSample page, the ONNX
  GridSample definition TensorRT's parser maps onto it; see runtime/reference/heavy_sample.py)
  coincide with torch's: 2-D bilinear with every padding mode, 2-D nearest with zeros and border
  padding. One layer, dynamic shapes everywhere.
* **A gather composition** elsewhere: bicubic (torch pads each of the 4 taps per dim, the ONNX
  definition pads the sampling coordinate first, so border/reflection differ; and TensorRT does
  not document its grid-sample cubic coefficient), nearest with reflection (rounding and
  reflecting do not commute at ties, and the two definitions order them differently), and every
  3-D mode (TensorRT's page documents 2-D only). It follows torch's definition step by step:
  unnormalize, pad the coordinate (bilinear/nearest), round (nearest: half to even, as torch's
  CPU and CUDA kernels do for 2-D and 3-D), take the taps with their weights, pad each tap
  (bicubic), zero the weight of taps outside the input, and gather every tap combination from the
  input flattened to (N, H·W, C) with one IGatherLayer (its batch dim paired with the index's),
  then weight and sum. Input spatial sizes must be static there (they are the strides of the
  flat index); batch and grid sizes may be dynamic.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten

_FLOAT = (torch.float32, torch.float16, torch.bfloat16)
_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDINGS = {0: "zeros", 1: "border", 2: "reflection"}
# torch's bicubic uses Keys' cubic convolution with this A (as upsample_bicubic2d does).
_CUBIC_A = -0.75


def _uses_layer(nd: int, mode: str, padding: str) -> bool:
    """Whether TensorRT's grid-sample layer computes exactly what torch does for this mode."""
    if nd != 2:
        return False
    return mode == "bilinear" or (mode == "nearest" and padding != "reflection")


def _check_grid_sampler(node: fx.Node) -> str | None:
    nd = 2 if node.target == aten.grid_sampler_2d.default else 3
    x, grid = arg_val(node, "input"), arg_val(node, "grid")
    if x.dtype not in _FLOAT or grid.dtype != x.dtype:
        return f"grid sampling needs float input and grid of one dtype, got {x.dtype}/{grid.dtype}"
    mode = _MODES.get(arg_val(node, "interpolation_mode"))
    padding = _PADDINGS.get(arg_val(node, "padding_mode"))
    if mode is None or padding is None:
        return "unknown interpolation or padding mode"
    if nd == 3 and mode == "bicubic":
        return "bicubic 3-D grid sampling (torch has none)"
    if _uses_layer(nd, mode, padding):
        return None
    if any(not isinstance(d, int) for d in x.shape[2:]):
        return (
            f"{mode} {nd}-D grid sampling with {padding} padding is composed from gathers, which "
            "needs static input spatial sizes (batch and grid sizes may be dynamic)"
        )
    return None


@converter(
    aten.grid_sampler_2d.default,
    aten.grid_sampler_3d.default,
    check=_check_grid_sampler,
    dynamic=True,
)
def convert_grid_sampler(
    ctx: ConversionContext,
    input: Any,
    grid: Any,
    interpolation_mode: int,
    padding_mode: int,
    align_corners: bool,
) -> Any:
    """``F.grid_sample``, every mode: 2-D bilinear and nearest as TensorRT's grid-sample layer;
    bicubic, nearest with reflection and 3-D composed from gathers (static input spatial
    sizes)."""
    nd = len(ctx.shape(input)) - 2
    mode, padding = _MODES[interpolation_mode], _PADDINGS[padding_mode]
    if _uses_layer(nd, mode, padding):
        layer = ctx.net.add_grid_sample(input, grid)
        trt = ctx.trt
        layer.interpolation_mode = (
            trt.InterpolationMode.LINEAR if mode == "bilinear" else trt.InterpolationMode.NEAREST
        )
        layer.sample_mode = trt.SampleMode.FILL if padding == "zeros" else trt.SampleMode.CLAMP
        if padding == "reflection":
            layer.sample_mode = trt.SampleMode.REFLECT
        layer.align_corners = bool(align_corners)
        return layer.get_output(0)
    return _GridComposer(ctx, mode, padding, bool(align_corners)).sample(input, grid)


class _GridComposer:
    """torch's grid sampling from elementwise layers and one gather (see the module doc)."""

    def __init__(self, ctx: ConversionContext, mode: str, padding: str, align: bool) -> None:
        self.ctx, self.mode, self.padding, self.align = ctx, mode, padding, align

    # -- small elementwise helpers on fp32 tensors ------------------------------------------
    def _k(self, t: Any, value: float) -> Any:
        return self.ctx.itensor(float(value), torch.float32, len(self.ctx.shape(t)))

    def _op(self, a: Any, b: Any | float, op: str) -> Any:
        if isinstance(b, int | float):
            b = self._k(a, b)
        return self.ctx.elementwise(a, b, op)

    def _clip(self, x: Any, n: int) -> Any:
        return self._op(self._op(x, 0.0, "MAX"), float(n - 1), "MIN")

    def _reflect(self, x: Any, lo: float, hi: float) -> Any:
        """torch's reflect_coordinates: reflect by lo and hi until inside [lo, hi]."""
        span = hi - lo
        if span <= 0:
            return self._op(self._op(x, 0.0, "PROD"), lo, "SUM")
        ctx = self.ctx
        d = ctx.unary(self._op(x, lo, "SUB"), "ABS")
        flips = ctx.unary(self._op(d, span, "DIV"), "FLOOR")
        rest = self._op(d, self._op(flips, span, "PROD"), "SUB")
        half = ctx.unary(self._op(flips, 0.5, "PROD"), "FLOOR")
        even = self._op(self._op(half, 2.0, "PROD"), flips, "EQUAL")
        up, down = self._op(rest, lo, "SUM"), self._op(self._k(rest, hi), rest, "SUB")
        cond, a, b = ctx.broadcast(even, up, down)
        return ctx.net.add_select(cond, a, b).get_output(0)

    def _pad(self, x: Any, n: int) -> Any:
        """torch's compute_coordinates: clip (border) or reflect then clip (reflection)."""
        if self.padding == "border":
            return self._clip(x, n)
        if self.padding == "reflection":
            lo, hi = (0.0, n - 1.0) if self.align else (-0.5, n - 0.5)
            return self._clip(self._reflect(x, lo, hi), n)
        return x

    # -- one spatial dim -------------------------------------------------------------------
    def _axis(self, g: Any, n: int) -> tuple[Any, Any]:
        """Tap indices (int32) and weights (fp32, 0 for taps outside) along a dim of size n;
        ``g`` is (N, *O, 1) and both results are (N, *O, taps)."""
        ctx = self.ctx
        g1 = self._op(g, 1.0, "SUM")
        if self.align:  # ((g + 1) / 2) * (n - 1)
            x = self._op(self._op(g1, 2.0, "DIV"), float(n - 1), "PROD")
        else:  # ((g + 1) * n - 1) / 2
            x = self._op(self._op(self._op(g1, float(n), "PROD"), 1.0, "SUB"), 2.0, "DIV")
        if self.mode != "bicubic":
            x = self._pad(x, n)
        if self.mode == "nearest":
            taps, weights = [ctx.unary(x, "ROUND")], [self._k(x, 1.0)]
        else:
            base = ctx.unary(x, "FLOOR")
            t = self._op(x, base, "SUB")
            if self.mode == "bilinear":
                taps = [base, self._op(base, 1.0, "SUM")]
                weights = [self._op(self._k(t, 1.0), t, "SUB"), t]
            else:
                taps = [self._op(base, float(o), "SUM") for o in (-1, 0, 1, 2)]
                weights = self._keys(t)
                taps = [self._pad(tap, n) for tap in taps]
        tap, w = self._cat(taps), self._cat(weights)
        inside = ctx.elementwise(
            self._op(tap, -0.5, "GREATER"), self._op(tap, n - 0.5, "LESS"), "AND"
        )
        w = self._op(w, ctx.cast(inside, torch.float32), "PROD")
        return ctx.cast(self._clip(tap, n), torch.int32), w

    def _keys(self, t: Any) -> list[Any]:
        """Keys' cubic weights of the taps at distances 1 + t, t, 1 − t, 2 − t."""
        a = _CUBIC_A
        one_minus = self._op(self._k(t, 1.0), t, "SUB")

        def near(d: Any) -> Any:  # ((a + 2) d − (a + 3)) d² + 1
            p = self._op(self._op(d, a + 2, "PROD"), a + 3, "SUB")
            return self._op(self._op(self._op(p, d, "PROD"), d, "PROD"), 1.0, "SUM")

        def far(d: Any) -> Any:  # ((a d − 5a) d + 8a) d − 4a
            p = self._op(self._op(d, a, "PROD"), 5 * a, "SUB")
            p = self._op(self._op(p, d, "PROD"), 8 * a, "SUM")
            return self._op(self._op(p, d, "PROD"), 4 * a, "SUB")

        return [
            far(self._op(t, 1.0, "SUM")),
            near(t),
            near(one_minus),
            far(self._op(one_minus, 1.0, "SUM")),
        ]

    def _cat(self, parts: list[Any]) -> Any:
        if len(parts) == 1:
            return parts[0]
        layer = self.ctx.net.add_concatenation(parts)
        layer.axis = len(self.ctx.shape(parts[0])) - 1
        return layer.get_output(0)

    # -- the whole sampling ----------------------------------------------------------------
    def sample(self, x: Any, grid: Any) -> Any:
        ctx = self.ctx
        rank = len(ctx.shape(x))
        nd, spatial = rank - 2, [int(d) for d in ctx.shape(x)[2:]]
        g32 = ctx.cast(grid, torch.float32)
        flat = weight = None
        for d in range(nd):  # outermost dim first; grid entry nd − 1 − d holds dim d
            pick = ctx.constant(torch.tensor([nd - 1 - d], dtype=torch.int32), torch.int32)
            g = ctx.net.add_gather(g32, pick, rank - 1).get_output(0)  # (N, *O, 1)
            idx, w = self._axis(g, spatial[d])
            if flat is None:
                flat, weight = idx, w
                continue
            # Each tap combination: flat = flat * n + idx, weight = weight * w (one more tap axis).
            scaled = ctx.elementwise(flat, ctx.itensor(spatial[d], torch.int32, 0), "PROD")
            flat = ctx.elementwise(self._last_axis(scaled), self._spread(idx, d), "SUM")
            weight = ctx.elementwise(self._last_axis(weight), self._spread(w, d), "PROD")
        assert flat is not None and weight is not None
        # The input as (N, prod(spatial), C): the batch pairs with the index's first dim.
        n, c = ctx.dim(x, 0), ctx.dim(x, 1)
        data = ctx.reshape(ctx.cast(x, torch.float32), [n, c, math.prod(spatial)])
        data = ctx.permute(data, [0, 2, 1])
        gather = ctx.net.add_gather_v2(data, flat, ctx.trt.GatherMode.DEFAULT)
        gather.axis = 1
        gather.num_elementwise_dims = 1
        picked = gather.get_output(0)  # (N, *O, taps..., C)
        out_rank = len(ctx.shape(picked))
        w = ctx.net.add_unsqueeze(weight, ctx.axes_tensor([out_rank - 1])).get_output(0)
        y = ctx.elementwise(picked, w, "PROD")
        tap_dims = range(1 + nd, out_rank - 1)
        mask = sum(1 << i for i in tap_dims)
        y = ctx.net.add_reduce(y, ctx.trt.ReduceOperation.SUM, mask, False).get_output(0)
        y = ctx.permute(y, [0, 1 + nd, *range(1, 1 + nd)])  # (N, *O, C) -> (N, C, *O)
        return ctx.cast(y, ctx.out.dtype)

    def _last_axis(self, t: Any) -> Any:
        """``t`` with a new size-1 axis at the end."""
        axis = self.ctx.axes_tensor([len(self.ctx.shape(t))])
        return self.ctx.net.add_unsqueeze(t, axis).get_output(0)

    def _spread(self, t: Any, k: int) -> Any:
        """``t`` (N, *O, taps) with ``k`` size-1 axes before its tap axis."""
        r = len(self.ctx.shape(t))
        axis = self.ctx.axes_tensor(range(r - 1, r - 1 + k))
        return self.ctx.net.add_unsqueeze(t, axis).get_output(0)
