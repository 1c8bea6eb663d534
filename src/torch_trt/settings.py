"""Compile settings: one frozen, validated dataclass shared by every frontend.

Example:
    >>> from torch_trt import CompileSettings
    >>> s = CompileSettings.from_kwargs(min_block_size=3, runtime="reference")
    >>> s.min_block_size
    3
    >>> CompileSettings.from_kwargs(min_blok_size=3)
    Traceback (most recent call last):
    TypeError: unknown compile option 'min_blok_size'; did you mean 'min_block_size'?
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import torch

Runtime = Literal["tensorrt", "reference"]
_RUNTIMES = ("tensorrt", "reference")
Precision = Literal["fp32", "fp16", "bf16"]
#: ``precision`` values and the dtype each runs matrix and convolution work in.
PRECISIONS: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}
# Op names look like ``aten.relu`` / ``aten.relu.default``; other exclude strings are patterns.
_OP_LIKE = re.compile(r"(torch\.ops\.)?(aten|prims|torch_trt)\.[A-Za-z_][\w.]*")


def _default_workspace() -> int:
    return 1 << 30


@dataclasses.dataclass(frozen=True)
class CompileSettings:
    """Options of a compile.

    Args:
        min_block_size: smallest number of convertible compute nodes worth an engine; smaller
            regions stay in PyTorch with reason ``block too small``.
        torch_executed_ops: ops (``OpOverload``, ``OpOverloadPacket`` or their string names such as
            ``"aten.relu.default"`` or ``"aten.relu"``) that must stay in PyTorch.
        require_full_compilation: raise :class:`UnsupportedOperatorError` listing every node that
            cannot run in TensorRT instead of falling back.
        fallback_on_build_failure: when TensorRT refuses to build a region, keep it in PyTorch
            (reason ``build failed``) instead of raising :class:`EngineBuildError`.
        pass_through_build_failures: raise the error of a region whose conversion or build fails
            (and, in the ``torch.compile`` backend, of a graph that cannot be lowered) instead of
            running it in PyTorch with a warning. With neither this nor
            ``fallback_on_build_failure`` set, each frontend keeps its default:
            ``torch_trt.dynamo.compile`` raises on build failures (conversion failures fall
            back), the ``torch.compile`` backend falls back. Setting both is a ``ValueError``.
        runtime: ``"tensorrt"`` runs engines on a GPU; ``"reference"`` evaluates each network with
            PyTorch ops (any device, no GPU needed) to check numerics.
        workspace_size: builder workspace memory limit in bytes.
        optimization_level: TensorRT builder optimization level, 0..5.
        progress: ``True`` draws a progress bar per stage and per engine build on stderr
            (``rich``; see ``torch_trt.progress``); a callable ``(phase, step, total)`` is
            called during engine builds instead; ``None`` / ``False``: nothing.
        debug: keep the graph after every stage on the report for inspection.
        pass_through_build_failures: ``torch.compile`` backend only: raise when a graph fails
            to compile instead of running it eagerly.
        keep_source: keep each TensorRT region's ATen subgraph on the compiled module, so
            ``torch_trt.save(..., with_source=True)`` can store it. Off by default: the sources
            keep the region's weights in host memory beside the engine.
        cache_dir: directory of the on-disk engine cache (see ``docs/cache.md``). ``None`` (the
            default) uses ``$TORCH_TRT_CACHE_DIR`` when set, else no cache; ``False`` turns the
            cache off even when the variable is set; a path always wins over the variable.
        cache_max_bytes: size limit of the engine cache; least recently used entries go first.
        dynamic_dim_max: optimization-profile maximum of a dynamic dimension that has no upper
            bound of its own. ``None``: the ``torch.compile`` backend uses 4096 (or the next
            power of two above the traced size when that is larger), and
            ``torch_trt.dynamo.compile`` of an ``ExportedProgram`` with unbounded dims asks for
            ``Input`` ranges; when set, both use it.
        precision: ``"fp16"`` or ``"bf16"`` runs matrix multiplies, convolutions and attention
            of float32 models in that type, keeping numerically sensitive ops in float32 (see
            ``docs/precision.md``); ``"fp32"`` (the default) keeps the dtypes the model
            computes in, so a ``model.half()`` compiles in half as it is. A torch dtype
            (``torch.float16``) is accepted too.
        precision_exclude: what keeps float32 under ``precision="fp16"``/``"bf16"``: ops (as in
            ``torch_executed_ops``) and node-name patterns (regular expressions searched in the
            lowered graph's node names, e.g. ``"^linear_3$"``).
        truncate_double: compile float64 work as float32 (TensorRT has no float64); inputs and
            outputs keep their float64 dtype, cast in PyTorch at the engine boundary. Without
            it, float64 nodes run in PyTorch with the reason.

    Example:
        >>> CompileSettings.from_kwargs(precision="fp16", precision_exclude=["aten.mm"]).precision
        'fp16'
    """

    min_block_size: int = 5
    torch_executed_ops: frozenset[str] = frozenset()
    require_full_compilation: bool = False
    fallback_on_build_failure: bool = False
    runtime: Runtime = "tensorrt"
    workspace_size: int = dataclasses.field(default_factory=_default_workspace)
    optimization_level: int = 3
    progress: Callable[[str, int, int], None] | bool | None = None
    debug: bool = False
    pass_through_build_failures: bool = False
    keep_source: bool = False
    cache_dir: str | os.PathLike[str] | Literal[False] | None = None
    cache_max_bytes: int = 5 << 30
    dynamic_dim_max: int | None = None
    precision: Precision = "fp32"
    precision_exclude: frozenset[str] = frozenset()
    truncate_double: bool = False

    def __post_init__(self) -> None:
        _check_int("min_block_size", self.min_block_size, 1)
        _check_int("workspace_size", self.workspace_size, 0)
        _check_int("optimization_level", self.optimization_level, 0, 5)
        if self.runtime not in _RUNTIMES:
            raise ValueError(f"runtime must be one of {_RUNTIMES}, got {self.runtime!r}")
        progress = self.progress
        if not (progress is None or isinstance(progress, bool) or callable(progress)):
            raise TypeError(
                f"progress must be True, False, None or a callable (phase, step, total), got "
                f"{type(self.progress).__name__}"
            )
        _check_int("cache_max_bytes", self.cache_max_bytes, 1)
        if not (self.cache_dir is None or self.cache_dir is False) and not isinstance(
            self.cache_dir, str | os.PathLike
        ):
            raise TypeError(f"cache_dir must be a path, False or None, got {self.cache_dir!r}")
        if self.dynamic_dim_max is not None:
            _check_int("dynamic_dim_max", self.dynamic_dim_max, 1)
        for flag in (
            "pass_through_build_failures",
            "require_full_compilation",
            "fallback_on_build_failure",
            "debug",
            "keep_source",
            "truncate_double",
        ):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        if self.pass_through_build_failures and self.fallback_on_build_failure:
            raise ValueError(
                "pass_through_build_failures=True (raise on a failed region) contradicts "
                "fallback_on_build_failure=True (run it in PyTorch); set at most one"
            )
        object.__setattr__(
            self, "torch_executed_ops", frozenset(_op_names(self.torch_executed_ops))
        )
        object.__setattr__(self, "precision", _precision(self.precision))
        excludes = frozenset(_exclude_entries(self.precision_exclude))
        object.__setattr__(self, "precision_exclude", excludes)
        if excludes and self.precision == "fp32":
            raise ValueError(
                "precision_exclude keeps ops in float32 under reduced precision, but "
                "precision='fp32'; set precision='fp16' or 'bf16', or leave precision_exclude out"
            )

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> CompileSettings:
        """Build settings from keyword options; an unknown option is a ``TypeError``."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in kwargs:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; valid options: {names}"
                raise TypeError(f"unknown compile option {key!r}{hint}")
        return cls(**kwargs)

    def excludes(self, target: object) -> bool:
        """True when the user asked for ``target`` (an ATen op) to run in PyTorch."""
        name = op_name(target)
        return name in self.torch_executed_ops or name.rsplit(".", 1)[0] in self.torch_executed_ops

    @property
    def low_precision(self) -> torch.dtype | None:
        """The dtype of reduced-precision work, or ``None`` for ``precision="fp32"``."""
        return None if self.precision == "fp32" else PRECISIONS[self.precision]

    def precision_excluded(self, node_name: str, target: object) -> str | None:
        """The ``precision_exclude`` entry that keeps this node in float32, if any."""
        name = op_name(target)
        for entry in sorted(self.precision_exclude):
            if is_op_entry(entry):
                if entry in (name, name.rsplit(".", 1)[0]):
                    return entry
            elif re.search(entry, node_name):
                return entry
        return None


def op_name(target: object) -> str:
    """``aten.add.Tensor`` style name of an op overload or packet."""
    if isinstance(target, torch._ops.OpOverload):
        ns = target.namespace
        return f"{ns}.{target._schema.name.split('::')[-1]}.{target._overloadname}"
    if isinstance(target, torch._ops.OpOverloadPacket):
        return f"{target._qualified_op_name.replace('::', '.')}"
    module = getattr(target, "__module__", None)
    name = getattr(target, "__name__", None)
    if module in ("_operator", "operator") and name:
        return f"operator.{name}"
    if module and name:
        return f"{module}.{name}"
    return str(target)


def _op_names(ops: Iterable[object] | Mapping[object, object]) -> list[str]:
    if isinstance(ops, str):
        raise TypeError("torch_executed_ops must be a collection of ops, not a single string")
    names = []
    for op in ops:
        if not isinstance(op, str | torch._ops.OpOverload | torch._ops.OpOverloadPacket):
            raise TypeError(f"torch_executed_ops entries must be ATen ops or names, got {op!r}")
        name = op if isinstance(op, str) else op_name(op)
        name = name.removeprefix("torch.ops.")
        if isinstance(op, str) and not _resolves(name):
            raise ValueError(_unknown_op_message(name))
        names.append(name)
    return names


def _precision(value: object) -> str:
    if isinstance(value, torch.dtype):
        named = {d: n for n, d in PRECISIONS.items()}
        if value not in named:
            raise ValueError(
                f"precision must be one of {tuple(PRECISIONS)} (or their torch dtypes), got {value}"
            )
        return named[value]
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {value!r}")
    return str(value)


def is_op_entry(entry: str) -> bool:
    """Whether a ``precision_exclude`` entry names an op (else it is a node-name pattern)."""
    return _OP_LIKE.fullmatch(entry) is not None


def _exclude_entries(entries: Iterable[object]) -> list[str]:
    if isinstance(entries, str):
        raise TypeError("precision_exclude must be a collection of ops or patterns, not a string")
    out = []
    for entry in entries:
        if isinstance(entry, torch._ops.OpOverload | torch._ops.OpOverloadPacket):
            out.append(op_name(entry))
            continue
        if not isinstance(entry, str):
            raise TypeError(
                f"precision_exclude entries must be ATen ops, op names or node-name patterns, "
                f"got {entry!r}"
            )
        if is_op_entry(entry):
            name = entry.removeprefix("torch.ops.")
            if not _resolves(name):
                raise ValueError(_unknown_op_message(name, "precision_exclude"))
            out.append(name)
            continue
        try:
            re.compile(entry)
        except re.error as e:
            raise ValueError(
                f"precision_exclude pattern {entry!r} is not a valid regular expression: {e}"
            ) from e
        out.append(entry)
    return out


def _resolves(name: str) -> bool:
    """Whether ``name`` (``ns.op`` or ``ns.op.overload``) names a registered op."""
    parts = name.split(".")
    if len(parts) not in (2, 3) or not all(parts):
        return False
    try:
        packet = getattr(getattr(torch.ops, parts[0]), parts[1])
        if len(parts) == 3:
            getattr(packet, parts[2])
    except (AttributeError, RuntimeError):
        return False
    return isinstance(packet, torch._ops.OpOverloadPacket)


def _unknown_op_message(name: str, option: str = "torch_executed_ops") -> str:
    candidates = [f"aten.{name}"] if "." not in name and _resolves(f"aten.{name}") else []
    if not candidates:
        known: set[str] = set()
        for qualified in torch._C._dispatch_get_all_op_names():
            op, _, overload = qualified.replace("::", ".").partition(".")
            packet = op + "." + overload.split(".")[0] if overload else op
            known.add(packet)
            known.add(packet + "." + (overload.split(".", 1)[1] if "." in overload else "default"))
        candidates = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f"; did you mean {candidates[0]!r}?" if candidates else ""
    return (
        f"{option} entry {name!r} names no registered op (expected 'namespace.op' or "
        f"'namespace.op.overload', e.g. 'aten.relu.default'){hint}"
    )


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bound}, got {value}")
