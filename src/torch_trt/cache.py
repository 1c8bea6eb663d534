"""On-disk engine cache: recompiling an unchanged region loads its engine instead of building it.

Off by default. ``cache_dir=`` (a compile setting) or ``$TORCH_TRT_CACHE_DIR`` turns it on; an
explicit ``cache_dir`` wins over the variable and ``cache_dir=False`` turns the cache off even
when the variable is set.

The key (SHA-256) is computed after conversion, right before the build, from what decides the
engine and nothing else:

- the region's fx graph in a canonical form: op names, literal arguments, node references as
  positions, recorded dtypes and shapes (no node names, no Python ids);
- the bytes of every tensor the region reads (streamed once through the hash, no pickling);
- the source of the converters that turned it into a network (all of torch-trt's sources, and
  the file of any user converter it used);
- the network TensorRT sees: input/output names, dtypes and shapes, layer types and wiring;
- the builder config read back (workspace, optimization level, compute-capability targets,
  every other builder setting), the optimization profile, every engine-affecting compile
  setting, the TensorRT flavour and version, and the entry format version.

Hashing after conversion costs nothing extra: the network is needed on a hit as well (binding
names, layer map, reference program), and conversion is cheap next to a build.

Entries are ``<dir>/engines/<key>.engine``: a magic line, a JSON header (key, flavour, version,
length and CRC-32 of the engine, build seconds) and the engine. Writes go to a temporary file
that is renamed into place; a per-key lock makes a second process that compiles the same region
wait for the first and then load its engine. An entry that fails its checks is dropped with a
warning and rebuilt. After each store, least recently used entries (by modification time,
refreshed on every hit) are evicted until the cache fits ``cache_max_bytes``.

Example:
    >>> compiled = torch_trt.dynamo.compile(model, [x], cache_dir="/tmp/trt-cache")
    >>> [e.cache for e in torch_trt.report(compiled).engine_info]
    ['miss']
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import logging
import marshal
import os
import pathlib
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import fx

from torch_trt import _trt
from torch_trt.build import Profile, build_configured, configure
from torch_trt.convert import registry
from torch_trt.convert.interpreter import Network
from torch_trt.settings import CompileSettings, op_name

log = logging.getLogger("torch_trt")

ENV_VAR = "TORCH_TRT_CACHE_DIR"
FORMAT_VERSION = 1
_MAGIC = b"torch-trt engine cache v1\n"
# How long a process waits for another one building the same engine before building it too.
LOCK_TIMEOUT_SECONDS = 3600.0

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


@dataclasses.dataclass(frozen=True)
class CacheOutcome:
    """What the cache did for one engine (copied into the report's ``EngineInfo``).

    ``status`` is ``"hit"``, ``"miss"``, ``"off"`` or ``"uncacheable"`` (the region holds
    something the key cannot describe; it was built and not stored).
    """

    status: str = "off"
    key: str = ""
    key_seconds: float = 0.0
    saved_seconds: float = 0.0

    def info(self) -> dict[str, Any]:
        """The fields of the report's ``EngineInfo`` this outcome fills."""
        return {
            "cache": self.status,
            "key_seconds": self.key_seconds,
            "saved_seconds": self.saved_seconds,
            "cache_key": self.key,
        }


class Uncacheable(Exception):
    """The region holds something the key cannot describe deterministically."""


def resolve_dir(settings: CompileSettings) -> pathlib.Path | None:
    """The cache directory for ``settings``: ``cache_dir``, else ``$TORCH_TRT_CACHE_DIR``."""
    if settings.cache_dir is False:
        return None
    raw = settings.cache_dir if settings.cache_dir is not None else os.environ.get(ENV_VAR)
    return pathlib.Path(raw).expanduser() if raw else None


# --------------------------------------------------------------------------------------------
# The key


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


# --------------------------------------------------------------------------------------------
# The store


@dataclasses.dataclass(frozen=True)
class Entry:
    """A verified cache entry."""

    engine: bytes
    build_seconds: float


class EngineCache:
    """A directory of engines keyed by :func:`region_key`, shared by processes.

    Args:
        root: the cache directory (created when missing).
        max_bytes: size limit of the stored engines; least recently used go first.

    Raises:
        OSError: ``root`` cannot be created or is not a directory.

    Example:
        >>> cache = EngineCache(pathlib.Path("/tmp/trt-cache"), max_bytes=1 << 30)
        >>> cache.get("0" * 64) is None
        True
    """

    def __init__(self, root: pathlib.Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.engines = root / "engines"
        self.locks = root / "locks"
        try:
            self.engines.mkdir(parents=True, exist_ok=True)
            self.locks.mkdir(exist_ok=True)
        except OSError as e:
            raise OSError(
                f"torch-trt engine cache: cannot use cache_dir {str(root)!r} ({e}); pass a "
                f"writable directory, or cache_dir=False to compile without the cache"
            ) from e

    def path(self, key: str) -> pathlib.Path:
        """Where the entry of ``key`` lives."""
        return self.engines / f"{key}.engine"

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the lock of ``key`` (one of 256 lock files, picked by the key's first byte)."""
        with _file_lock(self.locks / f"{key[:2]}.lock", LOCK_TIMEOUT_SECONDS):
            yield

    def get(self, key: str) -> Entry | None:
        """The verified entry of ``key``; a damaged one is dropped with a warning."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            entry = _decode(data, key)
        except ValueError as e:
            log.warning(
                "torch-trt: engine cache entry %s is damaged (%s); dropped, rebuilding", path, e
            )
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return entry

    def put(self, key: str, engine: bytes, build_seconds: float) -> None:
        """Store an engine atomically, then evict least recently used entries past the limit."""
        data = _encode(key, engine, build_seconds)
        if len(data) > self.max_bytes:
            log.warning(
                "torch-trt: engine of %.1f MB exceeds cache_max_bytes=%d; not cached",
                len(data) / 1e6,
                self.max_bytes,
            )
            return
        try:
            _write_atomic(self.path(key), data)
        except OSError as e:  # a full disk must not fail a compile whose engine is built
            log.warning("torch-trt: could not store engine cache entry %s: %s", key, e)
            return
        self.evict(keep=key)

    def evict(self, keep: str = "") -> list[str]:
        """Remove least recently used entries until the cache fits; return the removed keys."""
        removed: list[str] = []
        with _file_lock(self.locks / "evict.lock", LOCK_TIMEOUT_SECONDS):
            entries = []
            for p in self.engines.glob("*.engine"):
                with contextlib.suppress(FileNotFoundError):
                    st = p.stat()
                    entries.append((st.st_mtime_ns, st.st_size, p))
            total = sum(size for _, size, _ in entries)
            for _, size, p in sorted(entries, key=lambda e: (e[0], e[2].name)):
                if total <= self.max_bytes:
                    break
                if p.stem == keep:
                    continue
                with contextlib.suppress(OSError):  # gone already, or open on Windows
                    p.unlink()
                    total -= size
                    removed.append(p.stem)
        return removed

    def size_bytes(self) -> int:
        """Bytes used by the stored entries."""
        return sum(p.stat().st_size for p in self.engines.glob("*.engine"))


def _encode(key: str, engine: bytes, build_seconds: float) -> bytes:
    header = {
        "key": key,
        "flavour": _trt.flavour(),
        "trt_version": _trt.version(),
        "engine_bytes": len(engine),
        "crc32": zlib.crc32(engine),
        "build_seconds": build_seconds,
        "created": time.time(),
    }
    raw = json.dumps(header).encode()
    return _MAGIC + len(raw).to_bytes(8, "little") + raw + engine


def _decode(data: bytes, key: str) -> Entry:
    """Check magic, header, key, length and CRC-32 (CRC is 2x faster than SHA-256 here and
    catches accidental damage; the key itself is a SHA-256)."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a torch-trt cache entry")
    at = len(_MAGIC) + 8
    n = int.from_bytes(data[len(_MAGIC) : at], "little")
    try:
        header = json.loads(data[at : at + n])
    except ValueError as e:
        raise ValueError(f"unreadable header: {e}") from e
    if not isinstance(header, dict) or header.get("key") != key:
        raise ValueError("header does not name this key")
    engine = data[at + n :]
    if len(engine) != header.get("engine_bytes"):
        raise ValueError(f"truncated: {len(engine)} of {header.get('engine_bytes')} engine bytes")
    if zlib.crc32(engine) != header.get("crc32"):
        raise ValueError("checksum mismatch")
    return Entry(engine, float(header.get("build_seconds", 0.0)))


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write to a temporary file in the same directory and rename it over ``path``.

    No fsync: a file damaged by a crash fails its length or CRC check and is rebuilt.
    """
    tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex}.part"
    # os.open with 0o666 honours the umask, so a cache shared by a group stays readable.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def _file_lock(path: pathlib.Path, timeout: float) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes (flock, or msvcrt on Windows).

    The OS drops it when its holder dies. Past ``timeout`` we go on without it (with a
    warning): the store stays correct, since entries are renamed into place whole.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        locked = _try_lock(fd)
        while not locked and time.monotonic() < deadline:
            time.sleep(0.05)
            locked = _try_lock(fd)
        if not locked:
            log.warning("torch-trt: gave up waiting for cache lock %s after %.0f s", path, timeout)
        try:
            yield
        finally:
            if locked:
                _unlock(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# The build stage with the cache


def cached_build(
    network: Network,
    sub: fx.GraphModule,
    s: CompileSettings,
    name: str,
    shapes: Profile | None = None,
) -> tuple[bytes, Profile, CacheOutcome]:
    """Build region ``sub`` (converted to ``network``) or load its engine from the cache.

    Args:
        network: the converted network.
        sub: the region's ``fx.GraphModule`` (its graph and tensors are keyed).
        s: compile settings.
        name: engine name for messages.
        shapes: ``{input name: (min, opt, max)}`` for every network input.

    Returns:
        The serialized engine, its optimization profile and what the cache did.

    Raises:
        EngineBuildError: TensorRT refused the build (never cached).
    """
    config, profile = configure(network, s, shapes)
    root = resolve_dir(s)
    if root is None:
        return build_configured(network, config, s, name), profile, CacheOutcome()
    cache = EngineCache(root, s.cache_max_bytes)
    start = time.perf_counter()
    try:
        key = region_key(sub, network, config, profile, s)
    except Uncacheable as e:
        log.warning(
            "torch-trt: %s is built without the engine cache: the key cannot hold %s", name, e
        )
        return build_configured(network, config, s, name), profile, CacheOutcome("uncacheable")
    key_seconds = time.perf_counter() - start
    with cache.lock(key):
        entry = cache.get(key)
        if entry is not None:
            spent = time.perf_counter() - start
            saved = max(entry.build_seconds - spent, 0.0)
            return entry.engine, profile, CacheOutcome("hit", key, key_seconds, saved)
        with _timing_cache(cache, config):
            built = time.perf_counter()
            engine = build_configured(network, config, s, name)
            build_seconds = time.perf_counter() - built
        cache.put(key, engine, build_seconds)
    return engine, profile, CacheOutcome("miss", key, key_seconds)


@contextlib.contextmanager
def _timing_cache(cache: EngineCache, config: Any) -> Iterator[None]:
    """Full TensorRT: load the shared timing cache into ``config``, merge it back after.

    TensorRT-RTX documents timing-cache operations as no-ops, so nothing is persisted there.
    """
    if not _trt.has_timing_cache():
        yield
        return
    path = cache.root / f"timing-{_trt.flavour()}-{_trt.version()}.cache"
    data = path.read_bytes() if path.exists() else b""
    timing = config.create_timing_cache(data)
    if not config.set_timing_cache(timing, False):  # stale or another GPU's: start afresh
        timing = config.create_timing_cache(b"")
        config.set_timing_cache(timing, False)
    yield
    with _file_lock(cache.locks / "timing.lock", LOCK_TIMEOUT_SECONDS):
        if path.exists():  # another process may have added timings meanwhile
            timing.combine(config.create_timing_cache(path.read_bytes()), False)
        with contextlib.suppress(OSError):
            _write_atomic(path, bytes(memoryview(timing.serialize())))
