"""Converters: discrete Fourier transforms (``_fft_r2c``, ``_fft_c2r``, ``_fft_c2c``) as matmuls.

TensorRT has no FFT layer, so each 1-D transform along a dim of static length n is one matrix
multiply by a constant DFT matrix, computed in float64 on the host (angles from ``j*k mod n``,
so they are exact) and stored in float32; the normalization (``normalization``: 0 none,
1 ``1/sqrt(n)``, 2 ``1/n``, as ``torch.fft``'s ``norm`` modes map to it) is folded into the
matrix. A transform over several dims is a 1-D transform per dim (the DFT is separable).

Complex tensors are float32 with a trailing (real, imag) dim of 2 (see ``convert/registry.py``),
so for a complex input the (..., n, 2) values are flattened to (..., 2n) and multiplied by a
(2n, 2m) real matrix holding the real and imaginary parts. Per 1-D transform of length n into
m outputs (torch's definitions, ``torch.fft``):

* r2c: ``X[k] = sum_j x[j] exp(-2 pi i jk/n)``, k < m (m = n//2 + 1 when ``onesided``);
* c2c: the same with ``exp(+2 pi i jk/n)`` for the inverse (``forward=False``);
* c2r: ``x[j] = sum_k X[k] exp(+2 pi i jk/n)`` over the Hermitian-completed spectrum, i.e.
  ``sum_{k<=n/2} w_k (Re X[k] cos - Im X[k] sin)`` with ``w_k = 2`` except for k = 0 and
  k = n/2, whose imaginary parts do not count (as in torch).

A dim that is not the last is moved last with a transpose and back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten
_NORMS = (0, 1, 2)


def _scale(normalization: int, n: int) -> float:
    return (1.0, 1.0 / math.sqrt(n), 1.0 / n)[normalization]


def _angles(n: int, rows: int, cols: int) -> torch.Tensor:
    """``2 pi (j*k mod n) / n`` for j < rows, k < cols, in float64."""
    j = torch.arange(rows, dtype=torch.int64).reshape(-1, 1)
    k = torch.arange(cols, dtype=torch.int64).reshape(1, -1)
    return (j * k % n).to(torch.float64) * (2 * math.pi / n)


def r2c_matrix(n: int, m: int, scale: float) -> torch.Tensor:
    """(n, 2m): real input times it gives (real, imag) pairs of the forward DFT."""
    a = _angles(n, n, m)
    return torch.stack([a.cos(), -a.sin()], dim=-1).reshape(n, 2 * m) * scale


def c2c_matrix(n: int, forward: bool, scale: float) -> torch.Tensor:
    """(2n, 2n): (real, imag) pairs in, (real, imag) pairs of the DFT (inverse: +i) out."""
    a = _angles(n, n, n)
    cos, sin = a.cos(), (-1.0 if forward else 1.0) * a.sin()
    from_real = torch.stack([cos, sin], dim=-1).reshape(n, 2 * n)  # row 2j: Re x_j's share
    from_imag = torch.stack([-sin, cos], dim=-1).reshape(n, 2 * n)  # row 2j+1: Im x_j's
    return torch.stack([from_real, from_imag], dim=1).reshape(2 * n, 2 * n) * scale


def c2r_matrix(m: int, n: int, scale: float) -> torch.Tensor:
    """(2m, n): (real, imag) pairs of the half spectrum in, the real inverse DFT out."""
    a = _angles(n, m, n)
    w = torch.full((m, 1), 2.0, dtype=torch.float64)
    w[0] = 1.0
    if n % 2 == 0 and m > n // 2:
        w[n // 2] = 1.0
    return torch.stack([w * a.cos(), -w * a.sin()], dim=1).reshape(2 * m, n) * scale


# -- layer helpers -------------------------------------------------------------------------------


def _reshape_tail(ctx: ConversionContext, t: Any, drop: int, tail: Sequence[int]) -> Any:
    """Replace the last ``drop`` dims of ``t`` by ``tail``; leading dims are kept by the
    shuffle's 0 placeholders, so dynamic batch dims need no shape tensor."""
    layer = ctx.net.add_shuffle(t)
    layer.zero_is_placeholder = True
    layer.reshape_dims = (0,) * (len(ctx.shape(t)) - drop) + tuple(tail)
    return layer.get_output(0)


def _times(ctx: ConversionContext, t: Any, matrix: torch.Tensor) -> Any:
    """``t @ matrix`` over the last dim (a float32 constant, broadcast over leading dims)."""
    rank = len(ctx.shape(t))
    mm = ctx.trt.MatrixOperation
    if rank == 1:
        w = ctx.constant(matrix, torch.float32)
        return ctx.net.add_matrix_multiply(t, mm.VECTOR, w, mm.NONE).get_output(0)
    w = ctx.constant(matrix.reshape((1,) * (rank - 2) + tuple(matrix.shape)), torch.float32)
    return ctx.net.add_matrix_multiply(t, mm.NONE, w, mm.NONE).get_output(0)


class _Step:
    """One 1-D transform of the last logical dim by ``matrix``, complex in and/or out."""

    def __init__(self, matrix: torch.Tensor, complex_in: bool, complex_out: bool) -> None:
        self.matrix, self.complex_in, self.complex_out = matrix, complex_in, complex_out

    def apply(self, ctx: ConversionContext, t: Any, axis: int) -> Any:
        """The transform along logical ``axis`` of ``t`` (moved last and back by a swap; a
        complex tensor's (real, imag) dim stays last)."""
        logical = len(ctx.shape(t)) - self.complex_in
        last = logical - 1
        perm = list(range(logical))
        perm[axis], perm[last] = last, axis
        if axis != last:
            t = ctx.permute(t, perm + [logical] * self.complex_in)
        if self.complex_in:  # (..., n, 2) -> (..., 2n)
            t = _reshape_tail(ctx, t, 2, (int(self.matrix.shape[0]),))
        y = _times(ctx, t, self.matrix)
        if self.complex_out:  # (..., 2m) -> (..., m, 2)
            y = _reshape_tail(ctx, y, 1, (int(self.matrix.shape[1]) // 2, 2))
        if axis != last:  # a swap is its own inverse
            y = ctx.permute(y, perm + [logical] * self.complex_out)
        return y


# -- checks --------------------------------------------------------------------------------------


def _check_fft(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    out = meta_val(node)
    if {x.dtype, out.dtype} - {torch.float32, torch.complex64}:
        return f"FFT of {x.dtype} to {out.dtype} (float32 / complex64 only)"
    if arg_val(node, "normalization") not in _NORMS:
        return f"normalization mode {arg_val(node, 'normalization')}"
    dims = [normalize_dim(d, x.dim()) for d in arg_val(node, "dim")]
    if not dims or len(set(dims)) != len(dims):
        return f"transform dims {list(arg_val(node, 'dim'))}"
    for d in dims:
        if not isinstance(x.shape[d], int) or not isinstance(out.shape[d], int):
            return f"dim {d} has a dynamic length (transform lengths must be static)"
    if 0 in [x.shape[d] for d in dims]:
        return "an empty transform dim"
    return None


def _c2r_check(node: fx.Node) -> str | None:
    problem = _check_fft(node)
    if problem is not None:
        return problem
    x = arg_val(node, "self")
    last = normalize_dim(arg_val(node, "dim")[-1], x.dim())
    n = arg_val(node, "last_dim_size")
    if not isinstance(n, int) or x.shape[last] != n // 2 + 1:
        return f"a half spectrum of {x.shape[last]} entries for an output of length {n}"
    return None


# -- converters ----------------------------------------------------------------------------------


def _c2c_dims(
    ctx: ConversionContext, z: Any, dims: Sequence[int], normalization: int, forward: bool
) -> Any:
    for d in dims:
        n = ctx.shape(z)[d]
        z = _Step(c2c_matrix(n, forward, _scale(normalization, n)), True, True).apply(ctx, z, d)
    return z


@converter(aten._fft_r2c.default, check=_check_fft, dynamic=True, complex=True)
def convert_fft_r2c(
    ctx: ConversionContext, self: Any, dim: Sequence[int], normalization: int, onesided: bool
) -> Any:
    """Real-to-complex DFT (``torch.fft.rfft`` / ``fft`` of real input) over static-length dims:
    one constant-matrix matmul per dim."""
    x = ctx.cast(self, torch.float32)
    rank = len(ctx.shape(x))
    dims = [normalize_dim(d, rank) for d in dim]
    last = dims[-1]
    n = ctx.shape(x)[last]
    m = n // 2 + 1 if onesided else n
    z = _Step(r2c_matrix(n, m, _scale(normalization, n)), False, True).apply(ctx, x, last)
    return _c2c_dims(ctx, z, dims[:-1], normalization, True)


@converter(aten._fft_c2c.default, check=_check_fft, dynamic=True, complex=True)
def convert_fft_c2c(
    ctx: ConversionContext, self: Any, dim: Sequence[int], normalization: int, forward: bool
) -> Any:
    """Complex-to-complex DFT (``torch.fft.fft`` / ``ifft``) over static-length dims: one
    constant-matrix matmul per dim."""
    rank = len(ctx.shape(self)) - 1
    return _c2c_dims(ctx, self, [normalize_dim(d, rank) for d in dim], normalization, forward)


@converter(aten._fft_c2r.default, check=_c2r_check, dynamic=True, complex=True)
def convert_fft_c2r(
    ctx: ConversionContext,
    self: Any,
    dim: Sequence[int],
    normalization: int,
    last_dim_size: int,
) -> Any:
    """Complex-to-real inverse DFT (``torch.fft.irfft`` / ``irfftn``) of a half spectrum: inverse
    transforms over the leading dims, then one matmul into ``last_dim_size`` reals."""
    rank = len(ctx.shape(self)) - 1
    dims = [normalize_dim(d, rank) for d in dim]
    z = _c2c_dims(ctx, self, dims[:-1], normalization, False)
    m = ctx.shape(z)[dims[-1]]
    matrix = c2r_matrix(m, last_dim_size, _scale(normalization, last_dim_size))
    return _Step(matrix, True, False).apply(ctx, z, dims[-1])
