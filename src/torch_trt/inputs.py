"""``Input``: what the compiled module will be called with.

A static input has one shape. A dynamic input (see the dynamic-shapes work) has a
``(min, opt, max)`` range per dimension; the constructor already takes those keywords so that
callers will not break when ranges arrive, but only static shapes are accepted today.

Example:
    >>> import torch
    >>> from torch_trt import Input
    >>> Input((1, 3, 224, 224))
    Input(shape=(1, 3, 224, 224), dtype=torch.float32)
    >>> Input.from_tensor(torch.zeros(2, 8, dtype=torch.int64)).dtype
    torch.int64
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_DTYPES = (
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int8,
    torch.bool,
)


class Input:
    """One model input: a shape (or, later, a min/opt/max range), a dtype and an optional name.

    Args:
        shape: static shape.
        dtype: element type; TensorRT has no float64.
        name: name of the engine binding; defaults to the graph placeholder name.
        min_shape, opt_shape, max_shape: reserved for shape ranges.
    """

    def __init__(
        self,
        shape: Sequence[int] | None = None,
        dtype: torch.dtype = torch.float32,
        *,
        name: str | None = None,
        min_shape: Sequence[int] | None = None,
        opt_shape: Sequence[int] | None = None,
        max_shape: Sequence[int] | None = None,
    ) -> None:
        if min_shape is not None or opt_shape is not None or max_shape is not None:
            raise NotImplementedError(
                "Input shape ranges (min_shape/opt_shape/max_shape) are not supported yet; "
                "pass a static shape"
            )
        if shape is None:
            raise TypeError("Input needs a shape, e.g. Input((1, 3, 224, 224))")
        dims = tuple(shape)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
            raise ValueError(f"Input shape must be non-negative ints, got {tuple(shape)}")
        if dtype not in _DTYPES:
            hint = (
                " (TensorRT has no float64; cast the model to float32)"
                if dtype in (torch.float64,)
                else ""
            )
            raise TypeError(f"Input dtype {dtype} is not supported{hint}; use one of {_DTYPES}")
        self.shape: tuple[int, ...] = dims
        self.dtype = dtype
        self.name = name

    @classmethod
    def from_tensor(cls, t: torch.Tensor, name: str | None = None) -> Input:
        """The static Input that describes ``t``."""
        return cls(tuple(t.shape), t.dtype, name=name)

    def example(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """A tensor of this shape and dtype, used to trace the model."""
        if self.dtype.is_floating_point:
            return torch.randn(self.shape, dtype=self.dtype, device=device)
        if self.dtype == torch.bool:
            return torch.ones(self.shape, dtype=torch.bool, device=device)
        return torch.zeros(self.shape, dtype=self.dtype, device=device)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        return f"Input(shape={self.shape}, dtype={self.dtype}{name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Input) and (self.shape, self.dtype, self.name) == (
            other.shape,
            other.dtype,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.name))
