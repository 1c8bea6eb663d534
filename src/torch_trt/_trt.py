"""The only import site of ``tensorrt`` / ``tensorrt_rtx``.

Two flavours share one Python API. TensorRT-RTX (``tensorrt_rtx``) is preferred when both are
installed because it is the one that builds engines on CPU-only machines. Set
``TORCH_TRT_FLAVOUR=tensorrt`` or ``=tensorrt_rtx`` to force one.

Example:
    >>> from torch_trt import _trt
    >>> trt = _trt.load()          # raises TensorRTUnavailableError naming the pip command
    >>> _trt.flavour(), _trt.version()
    ('tensorrt_rtx', '1.7.1.116')
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from types import ModuleType
from typing import Any

from torch_trt.errors import TensorRTUnavailableError

_FLAVOURS = ("tensorrt_rtx", "tensorrt")
PIP_HINT = (
    "install TensorRT-RTX with `pip install tensorrt-rtx-cu13` (or `pip install torch-trt[rtx]`), "
    "or full TensorRT with `pip install tensorrt-cu13` (`torch-trt[trt]`)"
)


@functools.cache
def load() -> ModuleType:
    """Import and return the TensorRT module in use; raise one actionable error if none is."""
    forced = os.environ.get("TORCH_TRT_FLAVOUR")
    if forced is not None and forced not in _FLAVOURS:
        raise TensorRTUnavailableError(
            f"TORCH_TRT_FLAVOUR={forced!r} is not a TensorRT flavour; use one of {_FLAVOURS}"
        )
    errors: list[str] = []
    for name in (forced,) if forced else _FLAVOURS:
        try:
            return importlib.import_module(name)
        except ImportError as e:  # a broken install is reported below, not hidden
            errors.append(f"{name}: {e}")
    raise TensorRTUnavailableError(
        "TensorRT is not installed (" + "; ".join(errors) + "). To build engines, " + PIP_HINT
    )


def available() -> bool:
    """True when a TensorRT flavour imports."""
    try:
        load()
    except TensorRTUnavailableError:
        return False
    return True


def flavour() -> str:
    """``"tensorrt_rtx"`` or ``"tensorrt"``: the flavour in use."""
    return str(load().__name__)


def version() -> str:
    """The version string of the flavour in use."""
    return str(load().__version__)


def is_rtx() -> bool:
    """True when TensorRT-RTX is the flavour in use."""
    return flavour() == "tensorrt_rtx"


# Messages TensorRT logs on every CPU-only build that mean nothing for us.
_NOISE = ("catchCudaError", "cudaError 35", "CUDA initialization failure")


class RecordingLogger:
    """An ``ILogger`` that keeps ERRORs so callers can fail on them.

    TensorRT setters never raise: they log an ERROR and keep the old value. Converters therefore
    check ``errors`` after each node (see TENSORRT_SEMANTICS.md, section 0).
    """

    def __init__(self) -> None:
        trt = load()
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class _Logger(trt.ILogger):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: Any, msg: str) -> None:
                outer._log(severity, msg)

        self.trt_logger = _Logger()

    def _log(self, severity: Any, msg: str) -> None:
        if any(n in msg for n in _NOISE):
            return
        sev = load().ILogger.Severity
        with self._lock:
            if severity in (sev.ERROR, sev.INTERNAL_ERROR):
                self.errors.append(msg)
            elif severity == sev.WARNING:
                self.warnings.append(msg)

    def take_errors(self) -> list[str]:
        """Return and clear the errors recorded so far."""
        with self._lock:
            errs, self.errors = self.errors, []
        return errs


# Builder-config properties that do not change the engine (or are not plain values).
_CONFIG_SKIP = frozenset(
    {"progress_monitor", "profile_stream", "int8_calibrator", "algorithm_selector"}
)


def config_fingerprint(config: Any) -> dict[str, Any]:
    """Every plain setting of an ``IBuilderConfig`` as JSON-able data, for engine-cache keys.

    Read generically (every readable property, memory pool limit, preview feature and compute
    capability target) so that a setting added to ``build.py`` later is keyed without anyone
    remembering to. Enums are stored as their names.
    """
    trt = load()
    out: dict[str, Any] = {}
    for name in sorted(dir(config)):
        if name.startswith("_") or name in _CONFIG_SKIP:
            continue
        try:
            value = getattr(config, name)
        except Exception:  # write-only or unsupported on this flavour
            continue
        if callable(value):
            continue
        plain = _plain(value)
        if plain is not None:
            out[name] = plain
    out["memory_pools"] = {
        pool: int(config.get_memory_pool_limit(member))
        for pool, member in trt.MemoryPoolType.__members__.items()
    }
    out["preview_features"] = {
        feat: bool(config.get_preview_feature(member))
        for feat, member in trt.PreviewFeature.__members__.items()
    }
    out["targets"] = build_targets(config)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        items = [_plain(v) for v in value]
        return items if all(i is not None for i in items) else None
    name = getattr(value, "name", None)
    return f"{type(value).__name__}.{name}" if isinstance(name, str) else None


def build_targets(config: Any) -> list[str]:
    """The GPUs an engine built with ``config`` is for.

    TensorRT-RTX builds for the compute capabilities set on the config (none set means its
    portable default). Full TensorRT builds for the GPU it runs on, so that GPU's compute
    capability and name are the target.
    """
    if is_rtx():
        n = int(getattr(config, "num_compute_capabilities", 0))
        ccs = [str(config.get_compute_capability(i).name) for i in range(n)]
        return ccs or ["default"]
    import torch

    if not torch.cuda.is_available():
        return ["no-cuda"]
    major, minor = torch.cuda.get_device_capability()
    return [f"sm{major}{minor}", torch.cuda.get_device_name()]


def has_timing_cache() -> bool:
    """True when the builder's timing cache does something worth persisting.

    TensorRT-RTX keeps the API but documents timing-cache operations as no-ops (it tunes
    kernels at run time instead, in its runtime cache), so only full TensorRT persists one.
    """
    return not is_rtx()
