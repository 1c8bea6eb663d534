"""Engine metadata, deserialization and GPU execution.

An engine travels as a uint8 tensor (the serialized plan) plus a JSON metadata record. The
record is versioned and names the TensorRT flavour and version that built the engine, the
binding names, dtypes and shapes. Deserialized engines and execution contexts are cached per
process by ``engine_id``; a call only checks inputs, binds pointers and launches on the current
torch CUDA stream.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Sequence
from typing import Any

import torch

from torch_trt import _trt
from torch_trt.errors import (
    EngineFormatError,
    InputShapeError,
    RuntimeUnavailableError,
    TensorRTUnavailableError,
)

FORMAT_VERSION = 1
# Compute capabilities TensorRT-RTX deserializes on (TENSORRT_NOTES.md).
_RTX_MIN_CC = {(8, 0), (8, 6), (8, 9)}


Dims = tuple[int | str, ...]
ProfileDims = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@dataclasses.dataclass(frozen=True)
class Binding:
    """One engine input or output.

    ``shape`` holds an int per static dim and the symbolic expression (``"s0"``, ``"2*s1"``)
    per dynamic one; ``profile`` is the ``(min, opt, max)`` of a dynamic input.
    """

    name: str
    dtype: str
    shape: Dims
    profile: ProfileDims | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Binding:
        prof = raw.get("profile")
        profile = tuple(tuple(int(d) for d in p) for p in prof) if prof else None
        return cls(raw["name"], raw["dtype"], tuple(raw["shape"]), profile)  # type: ignore[arg-type]

    @property
    def bounds(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Smallest and largest accepted shape."""
        if self.profile is not None:
            return self.profile[0], self.profile[2]
        static = tuple(d if isinstance(d, int) else -1 for d in self.shape)
        return static, static

    @property
    def torch_dtype(self) -> torch.dtype:
        dtype = getattr(torch, self.dtype, None)
        if not isinstance(dtype, torch.dtype):
            raise EngineFormatError(f"binding {self.name!r} has unknown dtype {self.dtype!r}")
        return dtype


@dataclasses.dataclass(frozen=True)
class EngineMetadata:
    """What the runtime must know about an engine without deserializing it."""

    engine_id: str
    name: str
    flavour: str
    trt_version: str
    inputs: tuple[Binding, ...]
    outputs: tuple[Binding, ...]
    runtime: str = "tensorrt"
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EngineMetadata:
        """Parse and validate a metadata record."""
        try:
            raw = json.loads(text)
            version = raw.get("format_version")
            if version != FORMAT_VERSION:
                raise EngineFormatError(
                    f"engine metadata format {version} is not supported by this torch-trt "
                    f"(expects {FORMAT_VERSION}); recompile the model"
                )
            raw["inputs"] = tuple(Binding.from_dict(b) for b in raw["inputs"])
            raw["outputs"] = tuple(Binding.from_dict(b) for b in raw["outputs"])
            return cls(**raw)
        except EngineFormatError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise EngineFormatError(f"corrupt engine metadata: {e}") from e


def shape_problem(
    name: str, shape: Sequence[int], lo: Sequence[int], hi: Sequence[int]
) -> str | None:
    """Why ``shape`` lies outside ``[lo, hi]`` (-1 = any size), or ``None`` when it does not.

    The message is documented (docs/dynamic_shapes.md): it names the input, its shape, the first
    offending dim with its allowed range, and the min and max shapes.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) != len(lo):
        return f"input {name!r} has shape {shape} of rank {len(shape)}, expected rank {len(lo)}"
    for d, (x, a, b) in enumerate(zip(shape, lo, hi, strict=True)):
        if a >= 0 and not a <= x <= b:
            allowed = f"{a}" if a == b else f"in [{a}, {b}]"
            return (
                f"input {name!r} has shape {shape}: dim {d} is {x}, allowed {allowed} "
                f"(min shape {tuple(lo)}, max shape {tuple(hi)})"
            )
    return None


def check_inputs(meta: EngineMetadata, inputs: Sequence[torch.Tensor]) -> None:
    """Raise :class:`InputShapeError` unless ``inputs`` match the engine's bindings."""
    if len(inputs) != len(meta.inputs):
        raise InputShapeError(
            f"engine {meta.name} takes {len(meta.inputs)} inputs, got {len(inputs)}"
        )
    for t, b in zip(inputs, meta.inputs, strict=True):
        if t.dtype != b.torch_dtype:
            raise InputShapeError(
                f"engine {meta.name}: input {b.name!r} must be {b.torch_dtype}, got {t.dtype}"
            )
        problem = shape_problem(b.name, t.shape, *b.bounds)
        if problem is not None:
            raise InputShapeError(f"engine {meta.name}: {problem}")


def _usable_device(meta: EngineMetadata, inputs: Sequence[torch.Tensor]) -> torch.device:
    """The CUDA device to run on, or :class:`RuntimeUnavailableError` saying why there is none."""
    if not torch.cuda.is_available():
        raise RuntimeUnavailableError(
            f"engine {meta.name} needs a CUDA GPU, but no CUDA device is available "
            "(torch.cuda.is_available() is False). Compile with runtime='reference' to evaluate "
            "the TensorRT network with PyTorch ops instead."
        )
    devices = {t.device for t in inputs}
    if any(d.type != "cuda" for d in devices) or len(devices) > 1:
        raise InputShapeError(
            f"engine {meta.name}: inputs must all be on one CUDA device, "
            f"got {sorted(map(str, devices))}"
        )
    device = next(iter(devices)) if devices else torch.device("cuda", torch.cuda.current_device())
    cc = torch.cuda.get_device_capability(device)
    if meta.flavour == "tensorrt_rtx" and cc not in _RTX_MIN_CC and cc < (12, 0):
        raise RuntimeUnavailableError(
            f"engine {meta.name} was built with TensorRT-RTX, which does not support compute "
            f"capability {cc[0]}.{cc[1]} of {torch.cuda.get_device_name(device)} "
            "(supported: 8.0, 8.6, 8.9, 12.0 and newer)"
        )
    return device


class _Loaded:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.context = engine.create_execution_context()
        self.lock = threading.Lock()


_CACHE: dict[str, _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def _load(meta: EngineMetadata, blob: torch.Tensor) -> _Loaded:
    with _CACHE_LOCK:
        if meta.engine_id in _CACHE:
            return _CACHE[meta.engine_id]
        try:
            trt = _trt.load()
        except TensorRTUnavailableError as e:
            raise RuntimeUnavailableError(f"cannot run engine {meta.name}: {e}") from e
        if _trt.flavour() != meta.flavour:
            raise RuntimeUnavailableError(
                f"engine {meta.name} was built with {meta.flavour} {meta.trt_version}, "
                f"but {_trt.flavour()} {_trt.version()} is installed"
            )
        logger = _trt.RecordingLogger()
        runtime = trt.Runtime(logger.trt_logger)
        engine = runtime.deserialize_cuda_engine(blob.cpu().numpy().tobytes())
        if engine is None:  # TensorRT logs and returns None rather than raising
            detail = " | ".join(logger.take_errors()) or "no reason given"
            raise RuntimeUnavailableError(f"TensorRT could not load engine {meta.name}: {detail}")
        _check_bindings(meta, engine)
        loaded = _CACHE[meta.engine_id] = _Loaded(engine)
        return loaded


def _check_bindings(meta: EngineMetadata, engine: Any) -> None:
    """The engine's I/O tensors must be exactly the metadata's, with the same dtypes."""
    from torch_trt.convert.context import torch_dtype

    trt = _trt.load()
    found = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        found[name] = (
            "input" if is_input else "output",
            torch_dtype(engine.get_tensor_dtype(name)),
        )
    expected = {b.name: ("input", b.torch_dtype) for b in meta.inputs}
    expected.update({b.name: ("output", b.torch_dtype) for b in meta.outputs})
    if found != expected:
        raise EngineFormatError(
            f"engine {meta.name} does not match its metadata: the engine has {found}, the "
            f"metadata says {expected}; the file is corrupt or mixes different engines"
        )


def execute(
    meta: EngineMetadata, blob: torch.Tensor, inputs: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Run the engine on CUDA tensors, on the current torch CUDA stream."""
    device = _usable_device(meta, inputs)
    check_inputs(meta, inputs)
    loaded = _load(meta, blob)
    with loaded.lock, torch.cuda.device(device):
        ctx = loaded.context
        keep = [t.contiguous() for t in inputs]
        for t, b in zip(keep, meta.inputs, strict=True):
            ctx.set_input_shape(b.name, tuple(t.shape))
            ctx.set_tensor_address(b.name, t.data_ptr())
        outputs = []
        for b in meta.outputs:
            shape = tuple(ctx.get_tensor_shape(b.name))
            out = torch.empty(shape, dtype=b.torch_dtype, device=device)
            ctx.set_tensor_address(b.name, out.data_ptr())
            outputs.append(out)
        stream = torch.cuda.current_stream(device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeUnavailableError(f"TensorRT failed to enqueue engine {meta.name}")
        # The input copies must outlive the launch: tie them to the stream.
        for t in keep:
            t.record_stream(stream)
    return outputs
