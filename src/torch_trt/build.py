"""Build stage: network + settings -> serialized engine.

The builder config gets the workspace limit, the optimization level, one optimization profile
when some input is dynamic and, when asked, a progress monitor. A refused build raises
:class:`EngineBuildError` carrying TensorRT's own messages.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from typing import Any

from torch_trt import _trt
from torch_trt.convert.interpreter import Network
from torch_trt.errors import EngineBuildError
from torch_trt.progress import build_monitor_callback
from torch_trt.settings import CompileSettings


def _progress_monitor(report: Callable[[str, str | None, int, int], None]) -> Any:
    """A TensorRT ``IProgressMonitor`` calling ``report(phase, parent, step, total)``."""
    trt = _trt.load()

    class _Monitor(trt.IProgressMonitor):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.totals: dict[str, int] = {}
            self.parents: dict[str, str | None] = {}

        def phase_start(self, name: str, parent: str | None, num_steps: int) -> None:
            self.totals[name] = num_steps
            self.parents[name] = parent
            report(name, parent, 0, num_steps)

        def step_complete(self, name: str, step: int) -> bool:
            report(name, self.parents.get(name), step + 1, self.totals.get(name, 0))
            return True  # False would cancel the build

        def phase_finish(self, name: str) -> None:
            total = self.totals.get(name, 0)
            report(name, self.parents.get(name), total, total)

    return _Monitor()


Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


def _add_profile(network: Network, config: Any, shapes: Profile) -> Profile:
    """One optimization profile with exactly ``shapes``; returns what TensorRT recorded."""
    dynamic = {k: v for k, v in shapes.items() if v[0] != v[2]}
    if not dynamic:
        return {}
    profile = network.builder.create_optimization_profile()
    for name, (lo, opt, hi) in dynamic.items():
        profile.set_shape(name, lo, opt, hi)
    if config.add_optimization_profile(profile) < 0 or not profile:
        detail = " | ".join(network.logger.take_errors()) or "invalid profile"
        raise EngineBuildError(f"TensorRT refused the optimization profile {dynamic}: {detail}")
    # IBuilderConfig cannot be read back: keep what the profile object itself reports.
    return {
        name: tuple(tuple(int(d) for d in dims) for dims in profile.get_shape(name))  # type: ignore[misc]
        for name in dynamic
    }


def configure(
    network: Network, settings: CompileSettings, shapes: Profile | None = None
) -> tuple[Any, Profile]:
    """The builder config for ``network``: workspace, optimization level, profile.

    Returns:
        ``(config, profile)``: the ``IBuilderConfig`` and the optimization profile it holds.
    """
    trt = _trt.load()
    config = network.builder.create_builder_config()
    profile = _add_profile(network, config, shapes or {})
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_size)
    config.builder_optimization_level = settings.optimization_level
    return config, profile


def build_configured(
    network: Network, config: Any, settings: CompileSettings, name: str
) -> bytearray:
    """Build ``network`` with a config from :func:`configure`; return the serialized engine
    (one copy out of TensorRT's buffer, writable, so the module's buffer can share it).

    Raises:
        EngineBuildError: TensorRT returned no engine; the message holds its logged errors.
    """
    monitor = None  # kept referenced until the build returns: TensorRT calls into it
    report = build_monitor_callback(settings.progress, name)
    if report is not None:
        monitor = _progress_monitor(report)
        config.progress_monitor = monitor
    blob = network.builder.build_serialized_network(network.net, config)
    errors = network.logger.take_errors()
    if blob is None:
        detail = " | ".join(errors) or "TensorRT gave no reason"
        raise EngineBuildError(f"TensorRT could not build engine {name}: {detail}")
    return bytearray(memoryview(blob))


def build_engine(
    network: Network, settings: CompileSettings, name: str, shapes: Profile | None = None
) -> tuple[bytearray, Profile]:
    """Build ``network``; return the serialized engine and the optimization profile it has.

    Args:
        network: the converted network.
        settings: compile settings (workspace, optimization level, progress).
        name: engine name for messages.
        shapes: ``{input name: (min, opt, max)}`` for every network input.

    Raises:
        EngineBuildError: TensorRT returned no engine; the message holds its logged errors.
    """
    config, profile = configure(network, settings, shapes)
    return build_configured(network, config, settings, name), profile


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, ...)
        return None
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim


def return_free_memory() -> bool:
    """Hand freed heap memory back to the operating system (glibc's ``malloc_trim``).

    Conversion frees float64 temporaries and a build frees the builder's working memory in many
    pieces that glibc otherwise keeps mapped; they would count in the resident memory of the
    next build and of the compiled module (ResNet-18: 24 MB of 80 MB). Called before each build
    and after each network is released; a no-op off glibc.

    Returns:
        True when memory was handed back.
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
