"""The engine-cache key: a SHA-256 of everything that decides an engine, and nothing else.

Computed after conversion, right before the build (see ``cache.py`` for why), from:

- the region's fx graph as a Merkle digest: each node by its op, literal arguments, recorded
  dtype/shape and its inputs' digests, so neither node names nor node order nor Python ids
  enter it (partition may order independent nodes differently in another process);
  placeholders by name, since that is the engine's binding name;
- the bytes of every tensor the region reads, streamed once through SHA-256 (no pickling);
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
    sub: fx.GraphModule, network: Network, config: Any, profile: Profile, s: CompileSettings
) -> str:
    """The cache key of region ``sub`` converted to ``network`` and built with ``config``.

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
        "graph": _graph_digest(sub),
    }
    return hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()


def _graph_digest(sub: fx.GraphModule) -> str:
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
    tensor_digests = dict(zip(values, _tensor_digests(list(values.values())), strict=True))
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
CHUNK = 4 << 20
T = TypeVar("T")


def parallel_map(fn: Callable[[memoryview], T], chunks: list[memoryview]) -> list[T]:
    """``[fn(c) for c in chunks]`` on all usable CPUs: hashlib and zlib drop the GIL."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(len(chunks), cpus or 1)
    if workers <= 1:
        return [fn(c) for c in chunks]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, chunks))


def chunks_of(data: memoryview) -> list[memoryview]:
    """``data`` cut at fixed offsets (so results never depend on the number of threads)."""
    return [data[j : j + CHUNK] for j in range(0, len(data), CHUNK)]


def _sha256(chunk: memoryview) -> bytes:
    return hashlib.sha256(chunk).digest()


def _tensor_digests(tensors: list[torch.Tensor]) -> list[str]:
    """SHA-256 of each tensor (dtype, shape, bytes), its bytes streamed once, no pickling."""
    owner: list[int] = []
    chunks: list[memoryview] = []
    heads = []
    for i, t in enumerate(tensors):
        data = _tensor_bytes(t)
        heads.append(f"{t.dtype}{tuple(t.shape)}:{len(data)};".encode())
        pieces = chunks_of(data)
        chunks += pieces
        owner += [i] * len(pieces)
    hashes = [hashlib.sha256(head) for head in heads]
    for i, d in zip(owner, parallel_map(_sha256, chunks), strict=True):
        hashes[i].update(d)
    return [h.hexdigest() for h in hashes]


def _tensor_bytes(t: torch.Tensor) -> memoryview:
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

    types = collections.Counter(str(net.get_layer(i).type.name) for i in range(net.num_layers))
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
