"""TensorRT-RTX's runtime cache, persisted next to the engine cache.

TensorRT-RTX compiles GPU kernels when an engine first runs on a device; its runtime cache
(``IRuntimeCache``, attached to the execution context through an ``IRuntimeConfig``) keeps them,
and serialized to a file it spares the next process that compilation. Full TensorRT has no
runtime cache: there, contexts are created as before.

The cache is on when ``$TORCH_TRT_CACHE_DIR`` is set in the process that *runs* the engines (the
compile setting ``cache_dir=`` stays a compile setting: a saved program runs on other machines,
where a path from the build machine means nothing). Each device gets one cache, shared by every
engine run on it, in ``<dir>/runtime/<flavour>-<version>-sm<cc>-<gpu name>.cache``, so another
GPU or TensorRT-RTX version never reads it (TensorRT-RTX checks the blob against the device as
well and refuses a mismatch). A file that TensorRT-RTX refuses or cannot read is reported with a
warning and the cache starts empty; the next save replaces the file. The cache is saved after
the first run of each engine and at process exit, written atomically under a file lock (the
last process to save wins: a runtime cache cannot be merged).

Example:
    >>> os.environ["TORCH_TRT_CACHE_DIR"] = "/var/cache/trt"
    >>> y = compiled(x)     # kernels compiled now are in /var/cache/trt/runtime/... afterwards
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import pathlib
import re
import threading
from typing import Any

import torch

from torch_trt import _trt
from torch_trt._files import CACHE_DIR_ENV, file_lock, write_atomic

log = logging.getLogger("torch_trt")

LOCK_TIMEOUT_SECONDS = 60.0


def cache_dir() -> pathlib.Path | None:
    """The directory the runtime cache lives under (``$TORCH_TRT_CACHE_DIR``), or ``None``."""
    raw = os.environ.get(CACHE_DIR_ENV)
    return pathlib.Path(raw).expanduser() / "runtime" if raw else None


def file_name(capability: tuple[int, int], gpu: str) -> str:
    """The cache file of this TensorRT flavour and version on a GPU of ``capability``/``gpu``.

    Example:
        >>> file_name((8, 6), "NVIDIA GeForce RTX 3090")
        'tensorrt_rtx-1.7.1.116-sm86-NVIDIA_GeForce_RTX_3090.cache'
    """
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", gpu).strip("_") or "gpu"
    major, minor = capability
    return f"{_trt.flavour()}-{_trt.version()}-sm{major}{minor}-{slug}.cache"


class DeviceCache:
    """The runtime cache of one device, shared by every engine that runs there."""

    def __init__(self, path: pathlib.Path, cache: Any) -> None:
        self.path = path
        self.cache = cache
        self.lock = threading.Lock()
        self.ran: set[str] = set()  # engines whose first run was saved
        self.dirty = False  # runs since the last save (kernels may have been compiled)
        self.warned = False

    def load(self) -> None:
        """Fill the cache from its file; a file TensorRT-RTX refuses leaves it empty."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as e:
            problem = str(e)
        else:
            try:
                ok = bool(self.cache.deserialize(blob))
                problem = "" if ok else "corrupt, or recorded with another GPU, driver or version"
            except Exception as e:  # the bindings raise on a blob they cannot parse
                problem = str(e)
        if problem:
            log.warning(
                "torch-trt: TensorRT-RTX runtime cache %s is unusable (%s); starting empty, "
                "the file is replaced on the next save",
                self.path,
                problem,
            )

    def after_run(self, engine_id: str) -> None:
        """Called after each launch: save after an engine's first run, else mark unsaved."""
        with self.lock:
            self.dirty = True
            if engine_id in self.ran:
                return
            self.ran.add(engine_id)
        self.save()

    def save(self) -> None:
        """Write the cache to its file (atomically, under the file's lock)."""
        with self.lock:
            self.dirty = False
            try:
                blob = bytes(memoryview(self.cache.serialize()))
                with file_lock(self.path.with_suffix(".lock"), LOCK_TIMEOUT_SECONDS):
                    write_atomic(self.path, [blob])
            except Exception as e:  # a full disk or a refused serialize must not fail a run
                if not self.warned:
                    self.warned = True
                    log.warning("torch-trt: could not save runtime cache %s: %s", self.path, e)


_DEVICES: dict[tuple[pathlib.Path, int], DeviceCache] = {}
_DEVICES_LOCK = threading.Lock()


@dataclasses.dataclass
class Context:
    """An execution context with what must outlive it: its runtime config and the device's
    cache (``None`` for both when the runtime cache is off)."""

    context: Any
    config: Any = None
    cache: DeviceCache | None = None


def create_context(
    engine: Any, device: torch.device, capability: tuple[int, int], gpu: str
) -> Context:
    """``engine``'s execution context; on TensorRT-RTX with a cache directory, created with a
    runtime config holding the device's runtime cache (loaded from its file on first use)."""
    root = cache_dir()
    if root is None or not _trt.is_rtx() or not hasattr(engine, "create_runtime_config"):
        return Context(engine.create_execution_context())
    shared = _device_cache(engine, root, device, file_name(capability, gpu))
    if shared is None:
        return Context(engine.create_execution_context())
    config = engine.create_runtime_config()
    if not config.set_runtime_cache(shared.cache):
        log.warning("torch-trt: TensorRT-RTX refused runtime cache %s; not used", shared.path)
        return Context(engine.create_execution_context())
    return Context(engine.create_execution_context(config), config, shared)


def _device_cache(
    engine: Any, root: pathlib.Path, device: torch.device, name: str
) -> DeviceCache | None:
    """The shared cache of ``device`` under ``root``, created and loaded on first use."""
    key = (root, int(device.index or 0))
    with _DEVICES_LOCK:
        if key not in _DEVICES:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                log.warning("torch-trt: no runtime cache: cannot create %s (%s)", root, e)
                return None
            # Any runtime config makes a cache that every engine's config may then hold.
            shared = DeviceCache(root / name, engine.create_runtime_config().create_runtime_cache())
            shared.load()
            _DEVICES[key] = shared
        return _DEVICES[key]


@atexit.register
def save_all() -> None:
    """Save every device's cache that ran engines since its last save (at process exit)."""
    with _DEVICES_LOCK:
        caches = list(_DEVICES.values())
    for c in caches:
        if c.dirty:
            c.save()
