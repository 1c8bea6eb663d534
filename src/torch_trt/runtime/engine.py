"""Engine metadata, deserialization and GPU execution.

An engine travels as a uint8 tensor (the serialized plan) plus a JSON metadata record. The
record is versioned and names the TensorRT flavour and version that built the engine, the
compute capabilities it targets, the binding names, dtypes, shapes and profiles. Deserialized
engines and execution contexts are cached per process by ``engine_id`` and CUDA device (an
engine is deserialized under the device it runs on); a call only checks inputs, binds pointers
and launches on the current torch CUDA stream.

An output whose size depends on the data (``nonzero``, ``x[mask]``; its metadata shape names a
symbol no input defines, such as ``"u0"``) has no size before the engine runs: TensorRT reports
``-1`` for it after the input shapes are set. Such an output gets an ``IOutputAllocator``
(:class:`OutputBuffer`): during ``execute_async_v3`` TensorRT asks it for memory
(``reallocate_output_async``) and tells it the final shape (``notify_shape``, before
``execute_async_v3`` returns), and the output is that memory viewed with that shape.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from torch_trt import _trt
from torch_trt.errors import (
    EngineFormatError,
    InputShapeError,
    RuntimeUnavailableError,
    TensorRTUnavailableError,
)
from torch_trt.runtime import runtime_cache

# 1: flavour, version, bindings. 2: adds the compute capabilities the engine targets.
# 3: adds the optional layer census ("layers") and ``aliases``, outputs that share an input's
# memory (in-place KV-cache updates); both are absent in records of formats 1 and 2.
FORMAT_VERSION = 3
ALIASES_FORMAT_VERSION = 3
NEWEST_FORMAT_VERSION = 3
# Compute capabilities TensorRT-RTX deserializes on (TENSORRT_NOTES.md); "12.0+" = 12.0 and newer.
RTX_TARGETS = ("8.0", "8.6", "8.9", "12.0+")
_MiB = 1 << 20


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
    compute_capabilities: tuple[str, ...] = ()
    # (output name, input name): TensorRT writes the output into the input's memory (the
    # engine's ``get_aliased_input_tensor``); the two are bound to one address.
    aliases: tuple[tuple[str, str], ...] = ()
    # {"total": n, "by_precision": {"fp16": m, ...}, "casts": k}; None when not recorded.
    layers: dict[str, Any] | None = None

    def aliased_inputs(self) -> dict[int, int]:
        """``{output index: input index}`` for every output that shares an input's memory."""
        outs = {b.name: j for j, b in enumerate(self.outputs)}
        ins = {b.name: i for i, b in enumerate(self.inputs)}
        return {outs[o]: ins[i] for o, i in self.aliases}

    def to_json(self) -> str:
        raw = dataclasses.asdict(self)
        if self.aliases:  # older torch-trt must refuse it, not run it without the aliases
            raw["format_version"] = max(self.format_version, ALIASES_FORMAT_VERSION)
        else:  # no aliases: the key is left out, as in records written before it existed
            del raw["aliases"]
        return json.dumps(raw, sort_keys=True)

    def data_dependent_outputs(self) -> tuple[str, ...]:
        """Names of the outputs whose size depends on the data: a dim names a size symbol
        (``"u0"``, ``"5*u0"``) that no input dim defines, so it is known only after a run.

        Example:
            >>> meta.data_dependent_outputs()   # outputs shaped ("u0", 3) and (4, 3)
            ('output_0',)
        """
        known = {sym for b in self.inputs for d in b.shape for sym in _symbols(d)}
        return tuple(b.name for b in self.outputs if any(set(_symbols(d)) - known for d in b.shape))

    @classmethod
    def from_json(cls, text: str) -> EngineMetadata:
        """Parse and validate a metadata record."""
        try:
            raw = json.loads(text)
            version = raw.get("format_version")
            if not isinstance(version, int) or not 1 <= version <= NEWEST_FORMAT_VERSION:
                newer = isinstance(version, int) and version > NEWEST_FORMAT_VERSION
                raise EngineFormatError(
                    f"engine metadata format {version} is not supported by this torch-trt "
                    f"(it reads formats 1 to {NEWEST_FORMAT_VERSION}); "
                    + (
                        "it was written by a newer torch-trt: upgrade torch-trt to load it"
                        if newer
                        else "recompile the model"
                    )
                )
            if version == 1 and raw.get("flavour") == "tensorrt_rtx":
                raw["compute_capabilities"] = RTX_TARGETS  # what format 1 engines targeted
            raw["inputs"] = tuple(Binding.from_dict(b) for b in raw["inputs"])
            raw["outputs"] = tuple(Binding.from_dict(b) for b in raw["outputs"])
            raw["compute_capabilities"] = tuple(str(c) for c in raw.get("compute_capabilities", ()))
            raw["aliases"] = tuple((str(o), str(i)) for o, i in raw.get("aliases", ()))
            raw["layers"] = _layers(raw.get("layers"))
            meta = cls(**raw)
            meta.aliased_inputs()  # every alias names a real output and input
            return meta
        except EngineFormatError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise EngineFormatError(f"corrupt engine metadata: {e}") from e


def _symbols(dim: int | str) -> list[str]:
    """The size symbols (``s0``, ``u1``: lower-case letters then digits) in a dim expression;
    torch's size functions (``FloorDiv``, ``Max``) are capitalised."""
    return re.findall(r"\b[a-z]+[0-9]+\b", dim) if isinstance(dim, str) else []


def _layers(raw: Any) -> dict[str, Any] | None:
    """The optional layer census of a record, checked."""
    if raw is None:
        return None
    by = raw["by_precision"]
    if not (
        isinstance(raw["total"], int)
        and isinstance(raw["casts"], int)
        and isinstance(by, dict)
        and all(isinstance(k, str) and isinstance(v, int) for k, v in by.items())
    ):
        raise ValueError("the layer census holds non-integer counts")
    return {"total": raw["total"], "by_precision": dict(by), "casts": raw["casts"]}


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


class CudaDevices:
    """The CUDA queries and allocations the GPU path makes, in one place so tests can replace
    them with a double (no test machine has a GPU TensorRT runs on)."""

    def is_available(self) -> bool:
        return torch.cuda.is_available()

    def device_of(self, t: torch.Tensor) -> torch.device:
        return t.device

    def current(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device())

    def capability(self, device: torch.device) -> tuple[int, int]:
        major, minor = torch.cuda.get_device_capability(device)
        return int(major), int(minor)

    def name(self, device: torch.device) -> str:
        return str(torch.cuda.get_device_name(device))

    def free_bytes(self, device: torch.device) -> int:
        torch.cuda.empty_cache()  # blocks torch holds but does not use are free for TensorRT
        return int(torch.cuda.mem_get_info(device)[0])

    def use(self, device: torch.device) -> Any:
        return torch.cuda.device(device)

    def stream(self, device: torch.device) -> Any:
        return torch.cuda.current_stream(device)

    def empty(self, shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return torch.empty(tuple(shape), dtype=dtype, device=device)

    def keep_until_done(self, t: torch.Tensor, stream: Any) -> None:
        t.record_stream(stream)


cuda = CudaDevices()


def build_targets(flavour: str) -> tuple[str, ...]:
    """Compute capabilities an engine built now targets (we never narrow the builder's
    default): TensorRT-RTX's portable set, or full TensorRT's build GPU (unknown without one)."""
    if flavour == "tensorrt_rtx":
        return RTX_TARGETS
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        return (f"{major}.{minor}",)
    return ()


def _targets_cover(targets: Sequence[str], cc: tuple[int, int]) -> bool:
    if not targets:
        return True  # unrecorded: let TensorRT decide at deserialization
    for t in targets:
        lo = tuple(int(x) for x in t.rstrip("+").split("."))
        if (t.endswith("+") and cc >= lo) or cc == lo:
            return True
    return False


def trt_problem(meta: EngineMetadata) -> str | None:
    """Why the installed TensorRT cannot deserialize this engine, or ``None``."""
    if not _trt.available():
        return f"it was built with {meta.flavour} {meta.trt_version}, and no TensorRT is installed"
    if _trt.flavour() != meta.flavour or _trt.version() != meta.trt_version:
        return (
            f"it was built with {meta.flavour} {meta.trt_version}, but {_trt.flavour()} "
            f"{_trt.version()} is installed (engines load only in the TensorRT that built them)"
        )
    return None


def gpu_problem(meta: EngineMetadata, device: torch.device | None = None) -> str | None:
    """Why this machine's GPU cannot run the engine (no CUDA, unsupported compute
    capability), or ``None``."""
    if not cuda.is_available():
        return "no CUDA device is available (torch.cuda.is_available() is False)"
    device = device or cuda.current()
    cc = cuda.capability(device)
    if not _targets_cover(meta.compute_capabilities, cc):
        built = "TensorRT-RTX" if meta.flavour == "tensorrt_rtx" else meta.flavour
        return (
            f"it was built with {built} for compute capabilities "
            f"{', '.join(meta.compute_capabilities)}, which does not support compute "
            f"capability {cc[0]}.{cc[1]} of {cuda.name(device)} ({device})"
        )
    return None


def _usable_device(meta: EngineMetadata, inputs: Sequence[torch.Tensor]) -> torch.device:
    """The CUDA device to run on, or :class:`RuntimeUnavailableError` saying why there is none."""
    if not cuda.is_available():
        raise RuntimeUnavailableError(
            f"engine {meta.name} needs a CUDA GPU, but no CUDA device is available "
            "(torch.cuda.is_available() is False). Use runtime='reference' (at compile, at "
            "torch_trt.load, or `with torch_trt.runtime('reference'):`) to evaluate the "
            "TensorRT network with PyTorch ops instead."
        )
    devices = {cuda.device_of(t) for t in inputs}
    if any(d.type != "cuda" for d in devices) or len(devices) > 1:
        raise InputShapeError(
            f"engine {meta.name}: inputs must all be on one CUDA device, "
            f"got {sorted(map(str, devices))}"
        )
    device = next(iter(devices)) if devices else cuda.current()
    problem = gpu_problem(meta, device)
    if problem is not None:
        raise RuntimeUnavailableError(f"engine {meta.name} cannot run here: {problem}")
    return device


class _Loaded:
    def __init__(self, meta: EngineMetadata, engine: Any, device: torch.device) -> None:
        self.engine = engine
        needed = int(getattr(engine, "device_memory_size_v2", 0))
        free = cuda.free_bytes(device)
        made = (
            runtime_cache.create_context(engine, device, cuda.capability(device), cuda.name(device))
            if needed <= free
            else runtime_cache.Context(None)
        )
        if made.context is None:  # TensorRT returns None when it cannot allocate
            raise RuntimeUnavailableError(
                f"engine {meta.name} needs {needed / _MiB:.1f} MiB of device memory on "
                f"{device}, but only {free / _MiB:.1f} MiB are free; free GPU memory (other "
                "models, larger batches) or compile with a smaller workspace_size"
            )
        self.context: Any = made.context
        self.made = made  # the runtime config and cache must outlive the context
        self.lock = threading.Lock()


_CACHE: dict[tuple[str, int], _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def _load(meta: EngineMetadata, blob: torch.Tensor, device: torch.device) -> _Loaded:
    """The engine deserialized under ``device`` (an ICudaEngine belongs to the device it was
    deserialized on), cached per (engine, device)."""
    key = (meta.engine_id, int(device.index or 0))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        try:
            trt = _trt.load()
        except TensorRTUnavailableError as e:
            raise RuntimeUnavailableError(f"cannot run engine {meta.name}: {e}") from e
        problem = trt_problem(meta)
        if problem is not None:
            raise RuntimeUnavailableError(
                f"engine {meta.name} cannot run here: {problem}; load the saved program with "
                "on_incompatible='rebuild' or 'pytorch' (saved with_source=True)"
            )
        logger = _trt.RecordingLogger()
        with cuda.use(device):
            runtime = trt.Runtime(logger.trt_logger)
            engine = runtime.deserialize_cuda_engine(blob.cpu().numpy().tobytes())
            if engine is None:  # TensorRT logs and returns None rather than raising
                detail = " | ".join(logger.take_errors()) or "no reason given"
                raise RuntimeUnavailableError(
                    f"TensorRT could not load engine {meta.name} on {device}: {detail}"
                )
            _check_bindings(meta, engine)
            loaded = _CACHE[key] = _Loaded(meta, engine, device)
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
    aliased = getattr(engine, "get_aliased_input_tensor", None)
    if aliased is not None:  # outputs written into an input's memory must be bound that way
        pairs = {b.name: aliased(b.name) for b in meta.outputs}
        got = {o: i for o, i in pairs.items() if i}
        if got != dict(meta.aliases):
            raise EngineFormatError(
                f"engine {meta.name} writes outputs in place into inputs {got}, but its "
                f"metadata says {dict(meta.aliases)}; recompile the model"
            )


_SCRATCH: dict[int, torch.Tensor] = {}


def _address(t: torch.Tensor, device: torch.device) -> int:
    """A tensor's address for TensorRT; a zero-size tensor gets a valid scratch address
    (torch gives it none), so TensorRT never sees a null pointer."""
    if t.numel() > 0:
        return int(t.data_ptr())
    key = int(device.index or 0)
    if key not in _SCRATCH:
        _SCRATCH[key] = cuda.empty((256,), torch.uint8, device)
    return int(_SCRATCH[key].data_ptr())


class OutputBuffer:
    """Memory for one output of data-dependent size, handed to TensorRT as its
    ``IOutputAllocator`` (the object :func:`output_allocator` makes wraps one of these).

    TensorRT calls :meth:`reallocate` with the bytes it needs (possibly an upper bound, possibly
    more than once) and :meth:`notify_shape` once the shape is known; :meth:`result` is then the
    output. A new buffer is made for every call: the outputs of earlier calls stay valid.
    """

    def __init__(self, name: str, dtype: torch.dtype, device: torch.device) -> None:
        self.name = name
        self.dtype = dtype
        self.device = device
        self.memory: torch.Tensor | None = None
        self.shape: tuple[int, ...] | None = None
        self.problem: str | None = None

    def reallocate(self, size: int, alignment: int) -> int:
        """The address of at least ``size`` bytes aligned to ``alignment``, or 0 (TensorRT's
        "cannot allocate") after recording why."""
        if self.memory is None or self.memory.numel() < size:
            self.memory = cuda.empty((max(int(size), 1),), torch.uint8, self.device)
        address = int(self.memory.data_ptr())
        if alignment > 0 and address % alignment:
            self.problem = f"the allocation at {address:#x} is not {alignment}-byte aligned"
            return 0
        return address

    def notify_shape(self, shape: Sequence[int]) -> None:
        self.shape = tuple(int(d) for d in shape)

    def result(self, engine: str) -> torch.Tensor:
        """The output: the memory TensorRT wrote, viewed with the shape it reported."""
        if self.problem is not None or self.shape is None or any(d < 0 for d in self.shape):
            why = self.problem or f"it reported shape {self.shape}"
            raise RuntimeUnavailableError(
                f"engine {engine}: TensorRT did not produce output {self.name!r} of "
                f"data-dependent size: {why}"
            )
        numel = 1
        for d in self.shape:
            numel *= d
        if numel == 0 or self.memory is None:
            return cuda.empty(self.shape, self.dtype, self.device)
        nbytes = numel * self.dtype.itemsize
        return self.memory[:nbytes].view(self.dtype).view(self.shape)


def output_allocator(buffer: OutputBuffer) -> Any:
    """A ``trt.IOutputAllocator`` that forwards TensorRT's calls to ``buffer``."""
    trt = _trt.load()

    class _Allocator(trt.IOutputAllocator):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IOutputAllocator.__init__(self)

        def reallocate_output(self, name: str, memory: Any, size: int, alignment: int) -> int:
            return buffer.reallocate(size, alignment)

        def reallocate_output_async(
            self, name: str, memory: Any, size: int, alignment: int, stream: Any
        ) -> int:
            return buffer.reallocate(size, alignment)

        def notify_shape(self, name: str, shape: Any) -> None:
            buffer.notify_shape(shape)

    return _Allocator()


def _bind(ctx: Any, meta: EngineMetadata, inputs: Sequence[torch.Tensor]) -> Iterator[Any]:
    """Set input shapes and addresses; yield each output's binding and shape."""
    for t, b in zip(inputs, meta.inputs, strict=True):
        ctx.set_input_shape(b.name, tuple(t.shape))
    for t, b in zip(inputs, meta.inputs, strict=True):
        ctx.set_tensor_address(b.name, _address(t, t.device))
    for b in meta.outputs:
        yield b, tuple(int(d) for d in ctx.get_tensor_shape(b.name))


@dataclasses.dataclass
class CopyStats:
    """Bytes the runtime copied on top of the engine's own work (both runtimes): inputs cloned
    because the engine writes them in place, non-contiguous inputs, and outputs that would alias
    an input. ``reset()`` then read ``bytes`` around the calls to measure."""

    bytes: int = 0
    tensors: int = 0

    def add(self, t: torch.Tensor) -> None:
        self.bytes += t.numel() * t.element_size()
        self.tensors += 1

    def reset(self) -> None:
        self.bytes = self.tensors = 0


copies = CopyStats()


def bound_inputs(
    meta: EngineMetadata, inputs: Sequence[torch.Tensor], in_place: bool
) -> list[torch.Tensor]:
    """The tensors to bind for ``inputs``: contiguous, and for an input the engine writes in
    place (an alias target) the caller's own memory only when ``in_place``, else a copy, so a
    functional call never changes its arguments."""
    keep = []
    targets = set(meta.aliased_inputs().values())
    for i, t in enumerate(inputs):
        if (i in targets and not in_place) or not t.is_contiguous():
            t = t.clone(memory_format=torch.contiguous_format)
            copies.add(t)
        keep.append(t)
    return keep


def execute(
    meta: EngineMetadata, blob: torch.Tensor, inputs: Sequence[torch.Tensor], in_place: bool = False
) -> list[torch.Tensor]:
    """Run the engine on CUDA tensors, on the current torch CUDA stream of their device.

    An output that TensorRT writes into an input's memory (``meta.aliases``, KV-cache updates)
    is bound to that input's address, as TensorRT requires; it is returned as that tensor. With
    ``in_place`` the caller's input is written (copied back if it had to be made contiguous),
    otherwise a copy of it is.
    """
    device = _usable_device(meta, inputs)
    check_inputs(meta, inputs)
    loaded = _load(meta, blob, device)
    aliased = meta.aliased_inputs()
    with loaded.lock, cuda.use(device):
        ctx = loaded.context
        keep = bound_inputs(meta, inputs, in_place)
        outputs: list[torch.Tensor | OutputBuffer] = []
        allocators = []  # alive until the launch returns
        for j, (b, shape) in enumerate(_bind(ctx, meta, keep)):
            if j not in aliased and any(d < 0 for d in shape):  # data-dependent size
                buffer = OutputBuffer(b.name, b.torch_dtype, device)
                allocators.append(output_allocator(buffer))
                ctx.set_output_allocator(b.name, allocators[-1])
                outputs.append(buffer)
                continue
            out = keep[aliased[j]] if j in aliased else cuda.empty(shape, b.torch_dtype, device)
            ctx.set_tensor_address(b.name, _address(out, device))
            outputs.append(out)
        stream = cuda.stream(device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeUnavailableError(f"TensorRT failed to enqueue engine {meta.name}")
        if loaded.made.cache is not None:  # kernels TensorRT-RTX compiled for this run
            loaded.made.cache.after_run(meta.engine_id)
        # The input copies must outlive the launch: tie them to the stream.
        for t in keep:
            cuda.keep_until_done(t, stream)
        # TensorRT is done with the allocators when execute_async_v3 returns; unset them so the
        # cached context holds no pointer to a freed one.
        for o in outputs:
            if isinstance(o, OutputBuffer):
                ctx.set_output_allocator(o.name, None)
        for i in set(aliased.values()) if in_place else ():
            if keep[i] is not inputs[i]:  # written into a contiguous copy: write it back
                inputs[i].copy_(keep[i])
                copies.add(keep[i])
    return [o.result(meta.name) if isinstance(o, OutputBuffer) else o for o in outputs]
