"""The engine-cache key: a SHA-256 of everything that decides an engine, and nothing else.

Computed after conversion, right before the build (see ``cache.py`` for why), from:

- the region's fx graph in a canonical form: op names, literal arguments, node references as
  positions, recorded dtypes and shapes (no node names, no Python ids);
- the bytes of every tensor the region reads, streamed once through SHA-256 (no pickling);
- the converters' code: all of torch-trt's sources, plus the file of any user converter used;
- the network TensorRT sees: input/output names, dtypes and shapes, layer types and wiring;
- the builder config read back (every builder setting, compute-capability targets), the
  optimization profile, every engine-affecting compile setting, the TensorRT flavour and
  version, and the key format version.

Example:
    >>> key = region_key(sub, network, config, profile, settings)
    >>> len(key)
    64
"""

from __future__ import annotations

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
from typing import Any

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
    nodes, tensors = _canonical_graph(sub)
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
        "graph": nodes,
    }
    h = hashlib.sha256(json.dumps(head, sort_keys=True).encode())
    _hash_tensors(h, tensors)
    return h.hexdigest()


def _canonical_graph(sub: fx.GraphModule) -> tuple[list[Any], list[torch.Tensor]]:
    """The region's nodes as plain data (names replaced by positions) and its tensors.

    ``get_attr`` nodes are numbered by first use, not by where they sit in the graph: partition
    may place them in any order, and their order does not change the engine.
    """
    index: dict[fx.Node, Any] = {}
    tensors: list[torch.Tensor] = []
    by_target: dict[str, int] = {}
    nodes: list[Any] = []
    for n in sub.graph.nodes:
        if n.op == "get_attr":
            continue
        for used in n.all_input_nodes:
            if used.op == "get_attr" and used not in index:
                index[used] = ["tensor", _tensor_slot(sub, str(used.target), by_target, tensors)]
        index[n] = ["node", len(nodes)]
        if n.op == "call_function":
            target = op_name(n.target)
        elif n.op in ("placeholder", "output"):
            target = n.op
        else:  # call_module / call_method: code the key does not see
            raise Uncacheable(f"{n.op} node")
        args = [_canon(n.args, index), _canon(n.kwargs, index)]
        nodes.append([n.op, target, args, _meta(n.meta.get("val"))])
    return nodes, tensors


def _tensor_slot(
    sub: fx.GraphModule, target: str, by_target: dict[str, int], tensors: list[torch.Tensor]
) -> int:
    if target not in by_target:
        value = _fetch(sub, target)
        if not isinstance(value, torch.Tensor):
            raise Uncacheable(f"attribute of type {type(value).__name__}")
        by_target[target] = len(tensors)
        tensors.append(value)
    return by_target[target]


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
_CHUNK = 4 << 20


def _hash_tensors(h: Any, tensors: list[torch.Tensor]) -> None:
    """Stream every tensor's bytes through SHA-256 once: no pickling, no copy of CPU data."""
    chunks: list[memoryview] = []
    for t in tensors:
        data = _tensor_bytes(t)
        h.update(f"{t.dtype}{tuple(t.shape)}:{len(data)};".encode())
        chunks += [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)]
    workers = min(
        len(chunks),
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
    )
    if workers <= 1:
        digests = [hashlib.sha256(c).digest() for c in chunks]
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            digests = list(pool.map(lambda c: hashlib.sha256(c).digest(), chunks))
    for d in digests:
        h.update(d)


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    t = t.detach()
    if t.is_meta or t.layout != torch.strided:
        raise Uncacheable(f"a {t.layout} tensor{' on meta' if t.is_meta else ''}")
    t = t.to("cpu").contiguous()
    if t.numel() == 0:
        return memoryview(b"")
    return t.reshape(-1).view(torch.uint8).numpy().data.cast("B")


def _network_signature(network: Network) -> dict[str, Any]:
    """What TensorRT sees, without names: I/O tensors, layer types and wiring."""
    net = network.net
    ids: dict[Any, int] = {}

    def tensor(t: Any) -> int | None:
        if t is None:
            return None
        return ids.setdefault(t, len(ids))

    def io(t: Any) -> list[Any]:  # I/O shapes come from the inputs, inner ones follow
        return [str(t.name), tensor(t), str(t.dtype.name), [int(d) for d in t.shape]]

    inputs = [io(net.get_input(i)) for i in range(net.num_inputs)]
    layers = []
    for i in range(net.num_layers):
        layer = net.get_layer(i)
        ins = [tensor(layer.get_input(j)) for j in range(layer.num_inputs)]
        outs = [tensor(layer.get_output(j)) for j in range(layer.num_outputs)]
        layers.append([str(layer.type.name), ins, outs])
    outputs = [io(net.get_output(i)) for i in range(net.num_outputs)]
    return {"inputs": inputs, "outputs": outputs, "layers": layers}


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
        conv = registry.lookup(n.target) if n.op == "call_function" else None
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
