"""On-disk engine cache: recompiling an unchanged region loads its engine instead of building it.

Off by default. ``cache_dir=`` (a compile setting) or ``$TORCH_TRT_CACHE_DIR`` turns it on; an
explicit ``cache_dir`` wins over the variable and ``cache_dir=False`` turns the cache off even
when the variable is set.

The key (``cache_key.py``) is a SHA-256 of what decides the engine and nothing else. It is
computed after conversion: the network is needed on a hit as well (binding names, layer map,
reference program), so keying before conversion would not save it, and the key can then also
cover what TensorRT is actually handed (the network's boundary, the builder config read back).

Entries are ``<dir>/engines/<key>.engine``: a magic line, a JSON header (key, flavour, version,
engine length, a CRC-32 per 4 MiB of engine, build seconds) and the engine. Writes go to a
temporary file that is renamed into place; a per-key lock makes a second process that compiles
the same region wait for the first and then load its engine. An entry that fails its checks is
dropped with a warning and rebuilt. After each store, least recently used entries (by
modification time, refreshed on every hit) are evicted until the cache fits ``cache_max_bytes``.

Example:
    >>> compiled = torch_trt.dynamo.compile(model, [x], cache_dir="/tmp/trt-cache")
    >>> [e.cache for e in torch_trt.report(compiled).engine_info]
    ['miss']
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import mmap
import os
import pathlib
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

from torch import fx

from torch_trt import _trt
from torch_trt._files import CACHE_DIR_ENV, file_lock, write_atomic
from torch_trt.build import Profile, build_configured, configure
from torch_trt.cache_key import (
    TensorDigests,
    Uncacheable,
    chunks_of,
    parallel_map,
    region_key,
    region_tensors,
)
from torch_trt.convert.interpreter import Network
from torch_trt.settings import CompileSettings

log = logging.getLogger("torch_trt")

ENV_VAR = CACHE_DIR_ENV
_MAGIC = b"torch-trt engine cache v2\n"
# How long a process waits for another one building the same engine before building it too.
LOCK_TIMEOUT_SECONDS = 3600.0


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


def resolve_dir(settings: CompileSettings) -> pathlib.Path | None:
    """The cache directory for ``settings``: ``cache_dir``, else ``$TORCH_TRT_CACHE_DIR``."""
    if settings.cache_dir is False:
        return None
    raw = settings.cache_dir if settings.cache_dir is not None else os.environ.get(ENV_VAR)
    return pathlib.Path(raw).expanduser() if raw else None


# --------------------------------------------------------------------------------------------
# The store


@dataclasses.dataclass(frozen=True)
class Entry:
    """A verified cache entry.

    ``engine`` is a read-only view of the entry mapped into memory: its pages come from the
    page cache without a copy (a fresh 100 MB buffer costs as much as checking it). Entries
    are never changed in place (writers rename whole files into place, eviction unlinks), so
    the view stays valid and unchanged until whoever holds it has copied it.
    """

    engine: memoryview
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
        with file_lock(self.locks / f"{key[:2]}.lock", LOCK_TIMEOUT_SECONDS):
            yield

    def get(self, key: str) -> Entry | None:
        """The verified entry of ``key``; a damaged one is dropped with a warning."""
        path = self.path(key)
        problem = ""
        try:
            entry = _read_entry(path, key)
        except FileNotFoundError:
            return None
        except ValueError as e:
            problem = str(e)
        if problem:  # outside the handler: the damaged entry's mapping is gone before unlink
            log.warning(
                "torch-trt: engine cache entry %s is damaged (%s); dropped, rebuilding",
                path,
                problem,
            )
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used
        return entry

    def put(self, key: str, engine: bytes | bytearray, build_seconds: float) -> None:
        """Store an engine atomically, then evict least recently used entries past the limit."""
        parts = _encode(key, engine, build_seconds)
        if sum(len(p) for p in parts) > self.max_bytes:
            log.warning(
                "torch-trt: engine of %.1f MB exceeds cache_max_bytes=%d; not cached",
                len(engine) / 1e6,
                self.max_bytes,
            )
            return
        try:
            write_atomic(self.path(key), parts)
        except OSError as e:  # a full disk must not fail a compile whose engine is built
            log.warning("torch-trt: could not store engine cache entry %s: %s", key, e)
            return
        self.evict(keep=key)

    def evict(self, keep: str = "") -> list[str]:
        """Remove least recently used entries until the cache fits; return the removed keys."""
        removed: list[str] = []
        with file_lock(self.locks / "evict.lock", LOCK_TIMEOUT_SECONDS):
            entries = []
            for p in self.engines.glob("*.engine"):
                with contextlib.suppress(FileNotFoundError):
                    st = p.stat()
                    entries.append((st.st_mtime_ns, st.st_size, p))
            _remove_stale_temporaries(self.engines)
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


def _crcs(engine: bytes | bytearray | memoryview) -> list[int]:
    """CRC-32 per fixed-size chunk, computed in parallel (zlib drops the GIL)."""
    return parallel_map(zlib.crc32, chunks_of(memoryview(engine)))


def _remove_stale_temporaries(folder: pathlib.Path, age_seconds: float = 86400.0) -> None:
    """Temporary files a crashed writer left behind (a live writer renames within seconds)."""
    now = time.time()
    for p in folder.glob(".tmp-*.part"):
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > age_seconds:
                p.unlink()


def _encode(key: str, engine: bytes | bytearray, build_seconds: float) -> list[bytes | bytearray]:
    header = {
        "key": key,
        "flavour": _trt.flavour(),
        "trt_version": _trt.version(),
        "engine_bytes": len(engine),
        "crc32": _crcs(engine),
        "build_seconds": build_seconds,
        "created": time.time(),
    }
    raw = json.dumps(header).encode()
    return [_MAGIC + len(raw).to_bytes(8, "little") + raw, engine]


def _read_entry(path: pathlib.Path, key: str) -> Entry:
    """Map and check an entry: magic, header, key, length and CRC-32s of the engine.

    One pass over the engine (CRC-32 per chunk, on all cores), on the mapped file: CRC-32 runs
    faster than SHA-256 here and catches accidental damage; the key itself is a SHA-256.
    """
    data = memoryview(_map(path))
    m = len(_MAGIC)
    if data[:m] != _MAGIC[: len(data)]:
        raise ValueError("not a torch-trt cache entry")
    if len(data) < m + 8:
        raise ValueError("truncated header")
    n = int.from_bytes(data[m : m + 8], "little")
    if n > 1 << 20 or m + 8 + n > len(data):
        raise ValueError("unreadable header")
    try:
        header = json.loads(bytes(data[m + 8 : m + 8 + n]))
    except ValueError as e:
        raise ValueError(f"unreadable header: {e}") from e
    if not isinstance(header, dict) or header.get("key") != key:
        raise ValueError("header does not name this key")
    size = header.get("engine_bytes")
    engine = data[m + 8 + n :]
    if not isinstance(size, int) or len(engine) < size:
        raise ValueError(f"truncated: {len(engine)} of {size} engine bytes")
    if len(engine) > size:
        raise ValueError(f"trailing bytes: {len(engine) - size} past the engine")
    if _crcs(engine) != header.get("crc32"):
        raise ValueError("checksum mismatch")
    return Entry(engine, float(header.get("build_seconds", 0.0)))


def _map(path: pathlib.Path) -> mmap.mmap:
    """``path`` mapped read-only, its pages populated up front (one call, no page faults)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ValueError("truncated: empty file")
        if sys.platform == "win32":
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        return mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)


# --------------------------------------------------------------------------------------------
# The build stage with the cache


class CacheSession:
    """The engine cache's work for one compile, kept off the compile's critical path.

    The regions' weights are hashed in background threads while the regions convert
    (:class:`~torch_trt.cache_key.TensorDigests`), and a built engine is stored by a writer
    thread while the next region builds and its engine is spliced in; the entry's lock is held
    until it is written. :meth:`wait` (timed as the ``cache_store`` stage) and :meth:`close`
    wait for the stores, so every entry exists when the compile returns.

    Example:
        >>> with open_session(settings) as session:   # None when the cache is off
        ...     engine, profile, outcome = cached_build(network, sub, settings, "trt_0",
        ...                                             shapes, session)
    """

    def __init__(self, root: pathlib.Path, max_bytes: int) -> None:
        self.cache = EngineCache(root, max_bytes)
        self.digests = TensorDigests()
        self._writer = concurrent.futures.ThreadPoolExecutor(1)
        self._stores: list[concurrent.futures.Future[None]] = []

    def prefetch(self, gm: fx.GraphModule, regions: list[str]) -> None:
        """Start hashing the tensors of the submodules ``regions`` of ``gm``."""
        self.digests.start([t for r in regions for t in region_tensors(getattr(gm, r))])

    def store(
        self, key: str, engine: bytes | bytearray, build_seconds: float, lock: ExitStack
    ) -> None:
        """Store ``engine`` in the writer thread, then release ``lock`` (the key's)."""

        def write() -> None:
            with lock:
                self.cache.put(key, engine, build_seconds)

        self._stores.append(self._writer.submit(write))

    def wait(self) -> None:
        """Wait until every engine is stored (raising what a store raised)."""
        while self._stores:
            self._stores.pop(0).result()

    def close(self) -> None:
        """Wait for the stores and stop the threads."""
        try:
            self.wait()
        finally:
            self._writer.shutdown(wait=True)
            self.digests.close()


@contextlib.contextmanager
def open_session(s: CompileSettings) -> Iterator[CacheSession | None]:
    """A :class:`CacheSession` for one compile with ``s``, or ``None`` when the cache is off.

    Raises:
        OSError: the cache directory cannot be used.
    """
    root = resolve_dir(s)
    if root is None:
        yield None
        return
    session = CacheSession(root, s.cache_max_bytes)
    try:
        yield session
    finally:
        session.close()


def cached_build(
    network: Network,
    sub: fx.GraphModule,
    s: CompileSettings,
    name: str,
    shapes: Profile | None = None,
    session: CacheSession | None = None,
) -> tuple[bytes | bytearray | memoryview, Profile, CacheOutcome]:
    """Build region ``sub`` (converted to ``network``) or load its engine from the cache.

    Args:
        network: the converted network.
        sub: the region's ``fx.GraphModule`` (its graph and tensors are keyed).
        s: compile settings.
        name: engine name for messages.
        shapes: ``{input name: (min, opt, max)}`` for every network input.
        session: the compile's :class:`CacheSession`; ``None`` opens one for this build
            when the cache is on.

    Returns:
        The serialized engine (on a hit, a read-only view of the verified entry), its
        optimization profile and what the cache did.

    Raises:
        EngineBuildError: TensorRT refused the build (never cached).
    """
    if session is None and resolve_dir(s) is not None:
        with open_session(s) as own:
            return cached_build(network, sub, s, name, shapes, own)
    config, profile = configure(network, s, shapes)
    if session is None:
        return build_configured(network, config, s, name), profile, CacheOutcome()
    start = time.perf_counter()
    try:
        key = region_key(sub, network, config, profile, s, session.digests)
    except Uncacheable as e:
        log.warning(
            "torch-trt: %s is built without the engine cache: the key cannot hold %s", name, e
        )
        return build_configured(network, config, s, name), profile, CacheOutcome("uncacheable")
    key_seconds = time.perf_counter() - start
    with ExitStack() as held:
        held.enter_context(session.cache.lock(key))
        entry = session.cache.get(key)
        if entry is not None:
            spent = time.perf_counter() - start
            saved = max(entry.build_seconds - spent, 0.0)
            log.debug("torch-trt: %s: engine cache hit %s (%.1f s saved)", name, key[:12], saved)
            return entry.engine, profile, CacheOutcome("hit", key, key_seconds, saved)
        with _timing_cache(session.cache, config):
            built = time.perf_counter()
            engine = build_configured(network, config, s, name)
            secs = time.perf_counter() - built
        log.debug("torch-trt: %s: engine cache miss %s, built in %.1f s", name, key[:12], secs)
        session.store(key, engine, secs, held.pop_all())  # the writer unlocks
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
    try:
        timing = config.create_timing_cache(path.read_bytes() if path.exists() else b"")
        ok = bool(config.set_timing_cache(timing, False))
    except Exception as e:  # unreadable or damaged: TensorRT raises on its own header check
        log.warning("torch-trt: timing cache %s unusable (%s); starting a new one", path, e)
        ok = False
    if not ok:  # damaged, or recorded on another GPU: start afresh
        timing = config.create_timing_cache(b"")
        config.set_timing_cache(timing, False)
    yield
    with file_lock(cache.locks / "timing.lock", LOCK_TIMEOUT_SECONDS):
        if path.exists():  # another process may have added timings meanwhile
            timing.combine(config.create_timing_cache(path.read_bytes()), False)
        with contextlib.suppress(OSError):
            write_atomic(path, [bytes(memoryview(timing.serialize()))])
