"""The engine-cache key: a SHA-256 of everything that decides an engine, and nothing else.

Computed after conversion, right before the build (see ``cache.py`` for why), from:

- the region's fx graph as a Merkle digest: each node by its op, literal arguments, recorded
  dtype/shape and its inputs' digests, so neither node names nor node order nor Python ids
  enter it (partition may order independent nodes differently in another process);
  placeholders by name, since that is the engine's binding name;
- the bytes of every tensor the region reads, streamed once through SHA-256 (no pickling, no
  copy); :class:`TensorDigests` hashes them in background threads while the regions convert,
  so the key mostly finds them done;
- the converters' code: all of torch-trt's sources, plus the file of any user converter used;
- the network TensorRT sees at its boundary: input/output names, dtypes and shapes, and the
  number of layers of each type;
- the builder config read back (every builder setting, compute-capability targets), the
  optimization profile, every engine-affecting compile setting, the TensorRT flavour and
  version, and the key format version.

Example:
    >>> key = region_key(sub, network, config, profile, settings)
    >>> len(key)
    64
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import marshal
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import fx

from torch_trt import _trt
from torch_trt.build import Profile
from torch_trt.convert import registry
from torch_trt.convert.interpreter import Network
from torch_trt.settings import CompileSettings, op_name

FORMAT_VERSION = 1

# Settings that never change an engine: partitioning options act through the region's graph,
# which the key hashes itself; the others never reach the builder. Every other setting is keyed,
# so a new engine-affecting option is keyed without anyone remembering to.
UNKEYED_SETTINGS = frozenset(
    {
        "min_block_size",
        "torch_executed_ops",
        "require_full_compilation",
        "fallback_on_build_failure",
        "runtime",
        "progress",
        "debug",
        "cache_dir",
        "cache_max_bytes",
    }
)


class Uncacheable(Exception):
    """The region holds something the key cannot describe deterministically."""


def region_key(
    sub: fx.GraphModule,
    network: Network,
    config: Any,
    profile: Profile,
    s: CompileSettings,
    digests: TensorDigests | None = None,
) -> str:
    """The cache key of region ``sub`` converted to ``network`` and built with ``config``.

    ``digests`` holds the region's tensors, maybe hashed already (see :class:`TensorDigests`);
    without it they are hashed here.

    Raises:
        Uncacheable: the region holds a value the key cannot describe.
    """
    head = {
        "format": FORMAT_VERSION,
        "trt": [_trt.flavour(), _trt.version()],
        "config": _trt.config_fingerprint(config),
        "profile": {k: [list(d) for d in v] for k, v in sorted(profile.items())},
        "settings": {
            f.name: _canon(getattr(s, f.name), {})
            for f in dataclasses.fields(s)
            if f.name not in UNKEYED_SETTINGS
        },
        "code": _code_fingerprint(sub),
        "network": _network_signature(network),
        "graph": _graph_digest(sub, digests),
    }
    return hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()


def region_tensors(sub: fx.GraphModule) -> list[torch.Tensor]:
    """The tensors region ``sub`` reads (its ``get_attr`` values that are tensors)."""
    values = (_fetch(sub, str(n.target)) for n in sub.graph.find_nodes(op="get_attr"))
    return [v for v in values if isinstance(v, torch.Tensor)]


def _graph_digest(sub: fx.GraphModule, digests: TensorDigests | None = None) -> str:
    """A digest of the region's graph that ignores node names and node order.

    Partition may list independent nodes (and attributes) in a different order in another
    process, and that order does not change what the engine computes. So each node is named by
    a digest of what it is (op, literal arguments, recorded dtype/shape) and of the digests of
    its inputs, as in a Merkle tree; a placeholder by its name (that is the engine's binding
    name); an attribute by its bytes. The graph's digest is that of its output node.
    """
    values = {
        str(n.target): _fetch(sub, str(n.target)) for n in sub.graph.find_nodes(op="get_attr")
    }
    for target, value in values.items():
        if not isinstance(value, torch.Tensor):
            raise Uncacheable(f"attribute {target} of type {type(value).__name__}")
    if digests is None:
        with TensorDigests() as digests:
            hashes = digests.get(list(values.values()))
    else:
        hashes = digests.get(list(values.values()))
    tensor_digests = dict(zip(values, hashes, strict=True))
    digest: dict[fx.Node, Any] = {}
    root = ""
    for n in sub.graph.nodes:
        if n.op == "get_attr":
            digest[n] = ["tensor", tensor_digests[str(n.target)]]
            continue
        if n.op == "call_function":
            what: Any = op_name(n.target)
        elif n.op == "placeholder":
            what = ["placeholder", n.name]
        elif n.op == "output":
            what = "output"
        else:  # call_module / call_method: code the key does not see
            raise Uncacheable(f"{n.op} node")
        data = [what, _canon(n.args, digest), _canon(n.kwargs, digest), _meta(n.meta.get("val"))]
        root = hashlib.sha256(json.dumps(data).encode()).hexdigest()
        digest[n] = ["node", root]
    return root


def _fetch(gm: fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _canon(v: Any, index: dict[fx.Node, Any]) -> Any:
    """``v`` as JSON-able data that means the same in every process."""
    if isinstance(v, fx.Node):
        return index[v]
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return ["float", repr(v)]  # repr round-trips exactly, also nan/inf
    if isinstance(v, list | tuple):
        return [type(v).__name__, [_canon(x, index) for x in v]]
    if isinstance(v, dict):
        return ["dict", [[str(k), _canon(x, index)] for k, x in sorted(v.items())]]
    if isinstance(v, torch.dtype | torch.device | torch.layout | torch.memory_format):
        return ["torch", str(v)]
    if isinstance(v, torch.SymInt | torch.SymFloat | torch.SymBool):
        return ["sym", str(v)]
    if isinstance(v, slice):
        return ["slice", _canon([v.start, v.stop, v.step], index)]
    if v is Ellipsis:
        return ["ellipsis"]
    if isinstance(v, frozenset | set):
        return ["set", sorted(str(x) for x in v)]
    raise Uncacheable(f"argument of type {type(v).__name__}")


def _meta(val: Any) -> Any:
    """The dtype and shape torch recorded for a node (converters read them)."""
    if isinstance(val, torch.Tensor):
        return [str(val.dtype), [str(d) for d in val.shape]]
    if isinstance(val, list | tuple):
        return [_meta(v) for v in val]
    if val is None or isinstance(val, bool | int | float | torch.SymInt | torch.SymFloat):
        return str(val)
    return type(val).__name__


# Tensors are hashed in chunks of this size, in parallel (hashlib drops the GIL), and the
# chunk digests are hashed in order: the key does not depend on the number of threads.
# SHA-256 because it is the fastest collision-resistant hash in the stdlib on CPUs with SHA
# extensions (x86 since 2017, ARMv8): 1.6-2 GB/s per core here, blake2b 0.85, sha512 0.77.
CHUNK = 4 << 20
T = TypeVar("T")
_HASH_CPU: list[float] = []  # CPU seconds of every chunk hashed in this process (benchmarks)


def usable_cpus() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parallel_map(fn: Callable[[memoryview], T], chunks: list[memoryview]) -> list[T]:
    """``[fn(c) for c in chunks]`` on all usable CPUs: hashlib and zlib drop the GIL."""
    workers = min(len(chunks), usable_cpus())
    if workers <= 1:
        return [fn(c) for c in chunks]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, chunks))


def chunks_of(data: memoryview) -> list[memoryview]:
    """``data`` cut at fixed offsets (so results never depend on the number of threads)."""
    return [data[j : j + CHUNK] for j in range(0, len(data), CHUNK)]


def hashing_cpu_seconds() -> float:
    """CPU seconds this process spent hashing tensor bytes (for benchmarks/cache.py)."""
    return sum(_HASH_CPU)


def _sha256(chunk: memoryview) -> bytes:
    start = time.thread_time()
    digest = hashlib.sha256(chunk).digest()
    _HASH_CPU.append(time.thread_time() - start)
    return digest


@dataclasses.dataclass
class _Job:
    """One tensor being hashed: its head (dtype, shape, length) and one slot per chunk."""

    tensor: torch.Tensor  # held so that id(tensor) cannot be reused while the job lives
    head: bytes = b""
    chunks: list[memoryview] = dataclasses.field(default_factory=list)
    futures: list[concurrent.futures.Future[bytes] | None] = dataclasses.field(default_factory=list)
    error: Uncacheable | None = None
    digest: str = ""  # set once every chunk is hashed


class TensorDigests:
    """SHA-256 of tensors (dtype, shape, bytes), hashed in background threads during a compile.

    :meth:`start` is called as soon as the regions are known, so the weights are hashed on the
    other cores while the regions convert (conversion is Python and keeps one core busy); the
    key then only waits for what is left, and hashes the chunks no thread has started itself.
    Each tensor's bytes are read once, in place (a view of its storage, no copy, no pickling).
    Digests are kept by tensor identity, so a tensor several regions read is hashed once; they
    live for one compile only, so a tensor changed in place between two compiles is hashed again.

    Example:
        >>> with TensorDigests() as digests:
        ...     digests.start([w])
        ...     (hex_digest,) = digests.get([w])
    """

    def __init__(self, workers: int | None = None) -> None:
        # One core is left to the conversion running meanwhile; one core: no background.
        n = usable_cpus() - 1 if workers is None else workers
        self._pool = concurrent.futures.ThreadPoolExecutor(n) if n > 0 else None
        self._jobs: dict[int, _Job] = {}
        if self._pool is not None:  # read once per process; meanwhile, the graph is partitioned
            self._pool.submit(_package_fingerprint)

    def __enter__(self) -> TensorDigests:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel what has not started and wait for the threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def start(self, tensors: list[torch.Tensor]) -> None:
        """Queue ``tensors`` for hashing (those not queued yet); never raises."""
        for t in tensors:
            if id(t) in self._jobs:
                continue
            job = self._jobs[id(t)] = _Job(t)
            try:
                data = _tensor_bytes(t)
            except Uncacheable as e:
                job.error = e
                continue
            job.head = f"{t.dtype}{tuple(t.shape)}:{len(data)};".encode()
            job.chunks = chunks_of(data)
            pool = self._pool
            job.futures = [pool.submit(_sha256, c) if pool else None for c in job.chunks]

    def get(self, tensors: list[torch.Tensor]) -> list[str]:
        """The hex digest of each tensor, hashing here what no thread has started yet.

        Raises:
            Uncacheable: a tensor whose bytes cannot be read (meta, sparse).
        """
        self.start(tensors)
        jobs = [self._jobs[id(t)] for t in tensors]
        for job in jobs:
            if job.error is not None:
                raise job.error
        # Threads take chunks from the front of the queue, so this thread works from the back.
        unique = {id(job): job for job in jobs if not job.digest}.values()
        todo = [(job, i) for job in unique for i in range(len(job.chunks))]
        done: dict[tuple[int, int], bytes] = {}
        for job, i in reversed(todo):
            f = job.futures[i]
            done[id(job), i] = _sha256(job.chunks[i]) if f is None or f.cancel() else f.result()
        for job in unique:
            h = hashlib.sha256(job.head)
            for i in range(len(job.chunks)):
                h.update(done[id(job), i])
            job.digest, job.chunks, job.futures = h.hexdigest(), [], []
        return [job.digest for job in jobs]


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    """The bytes of ``t`` in C order: a view of its storage when it is a contiguous CPU tensor."""
    t = t.detach()
    if t.is_meta or t.layout != torch.strided:
        raise Uncacheable(f"a {t.layout} tensor{' on meta' if t.is_meta else ''}")
    t = t.to("cpu").contiguous()
    if t.numel() == 0:
        return memoryview(b"")
    return t.reshape(-1).view(torch.uint8).numpy().data.cast("B")


def _network_signature(network: Network) -> dict[str, Any]:
    """What TensorRT sees at the engine's boundary: I/O names, dtypes, shapes; layer types.

    Inputs are sorted by name and layers only counted per type, because the layer order follows
    the node order, which does not change the engine (see :func:`_graph_digest`).
    """
    net = network.net

    def io(t: Any) -> list[Any]:
        return [str(t.name), str(t.dtype.name), [int(d) for d in t.shape]]

    # Counted by enum value first: reading an enum's ``.name`` costs ~40 us per call.
    by_type = collections.Counter(net.get_layer(i).type for i in range(net.num_layers))
    types = {str(t.name): n for t, n in by_type.items()}
    return {
        "inputs": sorted(io(net.get_input(i)) for i in range(net.num_inputs)),
        "outputs": [io(net.get_output(i)) for i in range(net.num_outputs)],
        "layer_types": sorted(types.items()),
    }


@functools.cache
def _package_fingerprint() -> str:
    """SHA-256 over torch-trt's own sources: a changed converter never reuses old engines."""
    root = pathlib.Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _code_fingerprint(sub: fx.GraphModule) -> list[str]:
    """torch-trt's sources plus the code of each user converter the region uses."""
    parts = [_package_fingerprint()]
    user = {}
    for n in sub.graph.nodes:
        conv = registry.lookup(n.target, n) if n.op == "call_function" else None
        if conv is not None and not conv.fn.__module__.startswith("torch_trt."):
            user[op_name(n.target)] = _function_fingerprint(conv.fn)
    return parts + [f"{k}={v}" for k, v in sorted(user.items())]


def _function_fingerprint(fn: Any) -> str:
    """The file a user converter lives in (helpers it calls included), else its code object."""
    with contextlib.suppress(OSError, TypeError):
        source = inspect.getsourcefile(fn)
        if source:
            return hashlib.sha256(pathlib.Path(source).read_bytes()).hexdigest()
    return hashlib.sha256(marshal.dumps(fn.__code__)).hexdigest()
