"""Torch-TensorRT option names in ``torch_trt.compile``: honoured, or refused with the reason.

``docs/migrating.md`` has the table for users; :data:`UNSUPPORTED` is its machine-readable
half (a test checks that the two agree). An option whose Torch-TensorRT value means what
torch-trt does anyway (``sparse_weights=False``) is accepted; any other value raises.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch

from torch_trt._files import CACHE_DIR_ENV

_AOT_BUILD = (
    "ahead-of-time compiles raise EngineBuildError on a failed build unless "
    "fallback_on_build_failure=True keeps the region in PyTorch"
)

# name -> (values that mean what torch-trt does anyway, why the option has no counterpart)
UNSUPPORTED: dict[str, tuple[tuple[object, ...], str]] = {
    "device": ((None,), "engines run on the device of their inputs; move the model and inputs"),
    "disable_tf32": ((False,), "TF32 is not configurable yet (TensorRT's default applies)"),
    "assume_dynamic_shape_support": (
        (False,),
        "each converter declares its own dynamic-shape support",
    ),
    "sparse_weights": ((False,), "structured sparsity is not supported"),
    "engine_capability": ((), "only the standard engine capability exists here"),
    "capability": ((), "only the standard engine capability exists here"),
    "num_avg_timing_iters": ((1,), "not configurable (the builder's default applies)"),
    "dla_sram_size": ((), "DLA is not supported"),
    "dla_local_dram_size": ((), "DLA is not supported"),
    "dla_global_dram_size": ((), "DLA is not supported"),
    "torch_executed_modules": ((None, [], (), set()), "name ops in torch_executed_ops instead"),
    "max_aux_streams": ((None,), "auxiliary streams are not configurable"),
    "version_compatible": ((False,), "version-compatible engines are not supported"),
    "hardware_compatible": ((False,), "hardware-compatible engines are not supported"),
    "use_python_runtime": ((False, None), "there is one runtime op; nothing to choose"),
    "use_fast_partitioner": ((), "there is one partitioner (regions of supported nodes)"),
    "enable_experimental_decompositions": ((False,), "the decomposition table is fixed"),
    "dryrun": ((False,), "no dry-run mode; torch_trt.report shows placements after a compile"),
    "timing_cache_path": ((), "no timing cache yet"),
    "lazy_engine_init": (
        (False, True),
        "engines are deserialized at their first call, never during compile",
    ),
    "custom_engine_cache": (
        (None,),
        "the engine cache is the on-disk one of docs/cache.md (engine_cache_dir picks its "
        "directory)",
    ),
    "use_explicit_typing": ((True,), "networks are always strongly typed"),
    "use_fp32_acc": (
        (False,),
        "the accumulation precision of reduced-precision matrix multiplies is TensorRT's; "
        "keep an op in float32 with precision_exclude (docs/precision.md)",
    ),
    "make_refittable": ((False,), "refitting is not supported"),
    "refit_identical_engine_weights": ((False,), "refitting is not supported"),
    "strip_engine_weights": ((False,), "weight-stripped engines are not supported"),
    "immutable_weights": ((True,), "refitting is not supported (weights are immutable)"),
    "enable_weight_streaming": ((False,), "weight streaming is not supported"),
    "tiling_optimization_level": (("none",), "tiling optimization is not configurable"),
    "l2_limit_for_tiling": ((-1,), "tiling optimization is not configurable"),
    "offload_module_to_cpu": ((False,), "not configurable"),
    "use_distributed_mode_trace": ((False,), "distributed tensors are not supported"),
    "enable_cross_compile_for_windows": ((False,), "cross-compilation is not supported"),
    "autocast_max_output_threshold": (
        (),
        "the autocast policy is a fixed rule per op class, not calibrated on data "
        "(docs/precision.md)",
    ),
    "autocast_max_depth_of_reduction": (
        (None,),
        "reductions always accumulate in float32 (docs/precision.md)",
    ),
    "autocast_calibration_dataloader": (
        (None,),
        "the autocast policy is a fixed rule per op class, not calibrated on data "
        "(docs/precision.md)",
    ),
    "enable_resource_partitioning": ((False,), "partitioning does not budget memory"),
    "cpu_memory_budget": ((None,), "partitioning does not budget memory"),
    "dynamically_allocate_resources": ((False,), "not configurable"),
    "decompose_attention": ((False,), "attention is converted whole"),
    "attn_bias_is_causal": ((False,), "attention masks are never assumed causal"),
    "disabled_constant_fold_exclusions": ((None, [], (), set()), "constant folding is fixed"),
    "fallback_data_dependent_ops": (
        (False,),
        "data-dependent ops (nonzero, masked_select, unique) are converted inside engines; "
        "name them in torch_executed_ops to keep them in PyTorch",
    ),
    "use_complex_decomposition": (
        (False, True),
        "complex tensors are always lowered to real (re, im) pairs by torch-trt's converters",
    ),
    "calibrator": ((None,), "INT8 calibration is not supported"),
    "refit": ((False,), "refitting is not supported"),
    "allow_shape_tensors": ((False,), "shape tensors are used where converters need them"),
}


def _same(value: object, accepted: tuple[object, ...]) -> bool:
    return any(type(value) is type(a) and value == a for a in accepted)


def _unsupported(key: str, value: object) -> None:
    accepted, reason = UNSUPPORTED[key]
    if _same(value, accepted):
        return
    allowed = f" (accepted: {', '.join(map(repr, accepted))})" if accepted else ""
    raise TypeError(
        f"Torch-TensorRT option {key}={value!r} is not supported by torch-trt: {reason}"
        f"{allowed}; see docs/migrating.md"
    )


_PRECISION_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
# Torch-TensorRT names that this module maps onto precision settings.
_PRECISION_KEYS = (
    "enabled_precisions",
    "enable_autocast",
    "autocast_low_precision_type",
    "autocast_excluded_ops",
    "autocast_excluded_nodes",
    "truncate_double",
    "truncate_long_and_double",
)
# Torch-TensorRT names that this module maps onto the engine cache settings.
_CACHE_KEYS = (
    "cache_built_engines",
    "reuse_cached_engines",
    "engine_cache_dir",
    "engine_cache_size",
)


def _precisions(value: object) -> str:
    """``enabled_precisions`` as a ``precision`` value."""
    items = {value} if isinstance(value, torch.dtype) else value
    if not isinstance(items, set | frozenset | list | tuple) or not all(
        isinstance(d, torch.dtype) for d in items
    ):
        raise TypeError(f"enabled_precisions must be a set of torch dtypes, got {value!r}")
    dtypes = set(items)
    others = sorted(str(d) for d in dtypes - set(_PRECISION_NAMES))
    if others:
        raise ValueError(
            f"enabled_precisions contains {', '.join(others)}: torch-trt builds float32, "
            "float16 and bfloat16 engines only (no int8/fp8 quantization); "
            "see docs/precision.md"
        )
    low = sorted(_PRECISION_NAMES[d] for d in dtypes if d != torch.float32)
    if len(low) > 1:
        raise ValueError(
            "enabled_precisions names both torch.float16 and torch.bfloat16; matrix work runs "
            "in one reduced type: give one of them (or precision='fp16' / 'bf16')"
        )
    if not low and torch.float32 not in dtypes:
        raise ValueError("enabled_precisions is empty; give {torch.float32} or leave it out")
    return low[0] if low else "fp32"


def _autocast(options: dict[str, Any]) -> str | None:
    """``enable_autocast`` + ``autocast_low_precision_type`` as a ``precision`` value."""
    enabled = options.get("enable_autocast", False)
    low = options.get("autocast_low_precision_type")
    if not isinstance(enabled, bool):
        raise TypeError(f"enable_autocast must be a bool, got {enabled!r}")
    if not enabled:
        if low is not None:
            raise ValueError(
                f"autocast_low_precision_type={low} takes effect with enable_autocast=True only; "
                "pass both, or precision='fp16' / 'bf16'"
            )
        return None
    if low not in (torch.float16, torch.bfloat16):
        raise ValueError(
            "enable_autocast=True needs autocast_low_precision_type=torch.float16 or "
            f"torch.bfloat16, got {low!r}"
        )
    return _PRECISION_NAMES[low]


def _precision_options(options: dict[str, Any]) -> dict[str, Any]:
    """The precision settings the Torch-TensorRT names and ``precision`` ask for; two that
    disagree are an error."""
    asked: list[tuple[str, str]] = []
    if "enabled_precisions" in options:
        value = options["enabled_precisions"]
        asked.append((f"enabled_precisions={value}", _precisions(value)))
    autocast = _autocast(options)
    if autocast is not None:
        low = options["autocast_low_precision_type"]
        asked.append((f"enable_autocast=True, autocast_low_precision_type={low}", autocast))
    if "precision" in options:
        value = options["precision"]
        named = _PRECISION_NAMES.get(value, value) if isinstance(value, torch.dtype) else value
        asked.append((f"precision={value!r}", str(named)))
    out: dict[str, Any] = {}
    if len({p for _, p in asked}) > 1:
        said = "; ".join(f"{text} asks for {p}" for text, p in asked)
        raise ValueError(f"precision options disagree: {said}; give one")
    if asked:
        out["precision"] = asked[0][1] if "precision" not in options else options["precision"]
    exclude = _excludes(options)
    if exclude:
        out["precision_exclude"] = exclude
    truncate = _truncate(options)
    if truncate is not None:
        out["truncate_double"] = truncate
    return out


def _excludes(options: dict[str, Any]) -> list[Any]:
    """``precision_exclude`` with Torch-TensorRT's autocast exclusions added."""
    out: list[Any] = []
    for key in ("precision_exclude", "autocast_excluded_ops", "autocast_excluded_nodes"):
        value = options.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            raise TypeError(f"{key} must be a collection of ops or patterns, not a string")
        out.extend(value)
    return out


def _truncate(options: dict[str, Any]) -> bool | None:
    """``truncate_double`` (and its old name ``truncate_long_and_double``)."""
    given = {k: options[k] for k in ("truncate_double", "truncate_long_and_double") if k in options}
    for key, value in given.items():
        if not isinstance(value, bool):
            raise TypeError(f"{key} must be a bool, got {value!r}")
    if len(set(given.values())) > 1:
        raise ValueError(
            "truncate_double and truncate_long_and_double (its old name) disagree; give one"
        )
    return next(iter(given.values())) if given else None


def _cache_options(options: dict[str, Any]) -> dict[str, Any]:
    """``cache_built_engines`` / ``reuse_cached_engines`` / ``engine_cache_dir`` /
    ``engine_cache_size`` as ``cache_dir`` / ``cache_max_bytes``. The cache of ``docs/cache.md``
    stores and reuses together, so the two switches must agree; a directory or size without the
    switches on would do nothing in Torch-TensorRT either, so it is refused."""
    given = {k: options[k] for k in _CACHE_KEYS if k in options}
    if not given:
        return {}
    for key in ("cache_built_engines", "reuse_cached_engines"):
        if key in given and not isinstance(given[key], bool):
            raise TypeError(f"{key} must be a bool, got {given[key]!r}")
    store = given.get("cache_built_engines", False)
    reuse = given.get("reuse_cached_engines", False)
    if store != reuse:
        raise ValueError(
            f"cache_built_engines={store} with reuse_cached_engines={reuse}: torch-trt's engine "
            "cache stores and reuses together; set both True (cache on) or both False "
            "(see docs/cache.md)"
        )
    sized = {k: given[k] for k in ("engine_cache_dir", "engine_cache_size") if k in given}
    if not store and sized:
        names = ", ".join(sized)
        raise ValueError(
            f"{names} takes effect with cache_built_engines=True and reuse_cached_engines=True "
            "only; pass those too, or cache_dir= (see docs/cache.md)"
        )
    directory: object = False
    if store:
        directory = given.get("engine_cache_dir") or os.environ.get(CACHE_DIR_ENV)
        directory = directory or os.path.join(tempfile.gettempdir(), "torch_trt_engine_cache")
    out: dict[str, Any] = {"cache_dir": directory}
    if "engine_cache_size" in given:
        out["cache_max_bytes"] = given["engine_cache_size"]
    for ours, value in out.items():
        if ours in options and options[ours] != value:
            theirs = ", ".join(f"{k}={v!r}" for k, v in given.items())
            raise ValueError(f"{ours}={options[ours]!r} disagrees with {theirs}; give one")
    return out


def translate(options: dict[str, Any], ir: str | None) -> dict[str, Any]:
    """``options`` as :class:`CompileSettings` keywords; Torch-TensorRT names that mean what
    torch-trt does are dropped after their check, others raise.

    Args:
        options: the keyword options given to ``torch_trt.compile``.
        ir: the resolved path (``"dynamo"``, ``"torch_compile"``, ``"ts"`` or ``"fx"``), or
            ``None`` where the caller may be the torch.compile backend (``dynamo.compile``):
            ``pass_through_build_failures`` then stays a setting, as in Torch-TensorRT, where
            only torch.compile workflows read it.

    Returns:
        The options for :class:`CompileSettings`.
    """
    out: dict[str, Any] = _precision_options(options) | _cache_options(options)
    for key, value in options.items():
        if key in _PRECISION_KEYS or key in ("precision", "precision_exclude"):
            continue  # handled by _precision_options
        elif key in _CACHE_KEYS or (key in out and key in ("cache_dir", "cache_max_bytes")):
            continue  # handled by _cache_options
        elif key == "optimization_level" and value is None:
            continue  # Torch-TensorRT's "builder default", which is our default (3)
        elif key == "workspace_size" and value == 0 and type(value) is int:
            raise ValueError(
                "workspace_size=0 means 'TensorRT's default' in Torch-TensorRT but a zero-byte "
                "limit here; leave it out for the default (1 GiB) or give a size in bytes"
            )
        elif key == "pass_through_build_failures":
            _pass_through(value, ir, options)
            if ir in ("torch_compile", None):
                out[key] = value
        elif key in UNSUPPORTED:
            _unsupported(key, value)
        else:
            out[key] = value
    return out


def _pass_through(value: object, ir: str | None, options: dict[str, Any]) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"pass_through_build_failures must be a bool, got {value!r}")
    if ir in ("torch_compile", None):
        return
    if not value:
        raise ValueError(
            f"pass_through_build_failures=False applies to ir='torch_compile' only: {_AOT_BUILD}"
        )
    if options.get("fallback_on_build_failure"):
        raise ValueError(
            "pass_through_build_failures=True and fallback_on_build_failure=True contradict "
            "each other; give one"
        )
