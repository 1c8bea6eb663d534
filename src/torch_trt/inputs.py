"""``Input``: what the compiled module will be called with.

A static input has one shape. A dynamic input has a ``(min, opt, max)`` range: the engine gets a
TensorRT optimization profile with exactly those values, and a call outside the range raises
:class:`InputShapeError`. Dimensions of different inputs that must be equal (a shared batch)
share one symbol: torch.export finds such equalities itself, and ``dim_names`` states them
explicitly (equal names = one symbol).

Example:
    >>> import torch
    >>> from torch_trt import Input
    >>> Input((1, 3, 224, 224))
    Input(shape=(1, 3, 224, 224), dtype=torch.float32)
    >>> Input(min_shape=(1, 8), opt_shape=(4, 64), max_shape=(8, 128), dtype=torch.int64,
    ...       dim_names=("batch", "seq"))
    Input(min_shape=(1, 8), opt_shape=(4, 64), max_shape=(8, 128), dtype=torch.int64, ...)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _dims(name: str, shape: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(shape)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise ValueError(f"Input {name} must be non-negative ints, got {dims}")
    return dims


class Input:
    """One model input: a static shape or a min/opt/max range, a dtype and an optional name.

    Args:
        shape: static shape (give either this or all of min/opt/max).
        dtype: element type. Any torch dtype is accepted; nodes on dtypes TensorRT lacks
            (float64, complex, uint8 for most layers) run in PyTorch with that reason.
        name: name used in error messages; defaults to the forward() argument name.
        min_shape, opt_shape, max_shape: the range of a dynamic input, equal ranks, with
            ``min <= opt <= max`` in every dimension.
        dim_names: optional name per dimension (``None`` for unnamed); dynamic dimensions with
            the same name, in this or other inputs, are one symbol and must have one range.
        format: memory format, as in Torch-TensorRT; only ``torch.contiguous_format``.
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
        dim_names: Sequence[str | None] | None = None,
        format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        ranged = (min_shape, opt_shape, max_shape)
        if shape is not None and any(r is not None for r in ranged):
            raise TypeError("give Input either shape or min_shape/opt_shape/max_shape, not both")
        if shape is not None:
            self.min_shape = self.opt_shape = self.max_shape = _dims("shape", shape)
        elif min_shape is None or opt_shape is None or max_shape is None:
            raise TypeError(
                "Input needs a shape, e.g. Input((1, 3, 224, 224)), or all of "
                "min_shape, opt_shape and max_shape"
            )
        else:
            self.min_shape = _dims("min_shape", min_shape)
            self.opt_shape = _dims("opt_shape", opt_shape)
            self.max_shape = _dims("max_shape", max_shape)
            self._check_range()
        if not isinstance(dtype, torch.dtype):
            raise TypeError(f"Input dtype must be a torch.dtype, got {dtype!r}")
        self.dtype = dtype
        self.name = name
        self.dim_names = self._check_names(dim_names)
        if format is not torch.contiguous_format:
            raise ValueError(
                f"Input format={format}: only torch.contiguous_format is supported (engines take "
                "contiguous inputs); leave format out"
            )
        self.format = format

    def _check_range(self) -> None:
        lo, opt, hi = self.min_shape, self.opt_shape, self.max_shape
        if not len(lo) == len(opt) == len(hi):
            raise ValueError(f"Input min/opt/max shapes must have one rank, got {lo}, {opt}, {hi}")
        for d, (a, b, c) in enumerate(zip(lo, opt, hi, strict=True)):
            if not a <= b <= c:
                raise ValueError(
                    f"Input dim {d}: need min <= opt <= max, got {a}, {b}, {c} "
                    f"(min_shape={lo}, opt_shape={opt}, max_shape={hi})"
                )

    def _check_names(self, names: Sequence[str | None] | None) -> tuple[str | None, ...]:
        if names is None:
            return (None,) * len(self.opt_shape)
        out = tuple(names)
        if len(out) != len(self.opt_shape):
            raise ValueError(
                f"dim_names has {len(out)} entries for a rank-{len(self.opt_shape)} Input"
            )
        for n in out:
            if n is not None and not (isinstance(n, str) and n.isidentifier()):
                raise ValueError(f"dim_names entries must be identifiers or None, got {n!r}")
        return out

    @classmethod
    def from_tensor(cls, t: torch.Tensor, name: str | None = None) -> Input:
        """The static Input that describes ``t``."""
        return cls(tuple(t.shape), t.dtype, name=name)

    @property
    def is_dynamic(self) -> bool:
        """True when some dimension has a range."""
        return self.min_shape != self.max_shape

    @property
    def shape(self) -> tuple[int, ...]:
        """The static shape; for a dynamic input, ``ValueError`` (use opt_shape)."""
        if self.is_dynamic:
            raise ValueError(f"{self!r} is dynamic: it has min/opt/max shapes, not one shape")
        return self.opt_shape

    def dynamic_dims(self) -> list[int]:
        """Indices of the dimensions whose min and max differ."""
        return [
            d for d, (a, b) in enumerate(zip(self.min_shape, self.max_shape, strict=True)) if a != b
        ]

    def example_shape(self) -> tuple[int, ...]:
        """The shape to trace with: opt, except that a dynamic dim of size 0 or 1 becomes 2 when
        the range allows it (torch.export would otherwise specialize it to a constant)."""
        shape = list(self.opt_shape)
        for d in self.dynamic_dims():
            if shape[d] < 2 <= self.max_shape[d]:
                shape[d] = 2
        return tuple(shape)

    def example(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """A tensor of :meth:`example_shape` and this dtype, used to trace the model."""
        shape = self.example_shape()
        if self.dtype.is_floating_point:
            return torch.randn(shape, dtype=self.dtype, device=device)
        if self.dtype == torch.bool:
            return torch.ones(shape, dtype=torch.bool, device=device)
        return torch.zeros(shape, dtype=self.dtype, device=device)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        if not self.is_dynamic:
            return f"Input(shape={self.opt_shape}, dtype={self.dtype}{name})"
        names = f", dim_names={self.dim_names}" if any(self.dim_names) else ""
        return (
            f"Input(min_shape={self.min_shape}, opt_shape={self.opt_shape}, "
            f"max_shape={self.max_shape}, dtype={self.dtype}{name}{names})"
        )

    def _key(self) -> tuple[object, ...]:
        return (
            self.min_shape,
            self.opt_shape,
            self.max_shape,
            self.dtype,
            self.name,
            self.dim_names,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Input) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())
