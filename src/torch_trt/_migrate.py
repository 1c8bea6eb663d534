"""Torch-TensorRT option names in ``torch_trt.compile``: honoured, or refused with the reason.

``docs/migrating.md`` has the table for users; :data:`UNSUPPORTED` is its machine-readable
half (a test checks that the two agree). An option whose Torch-TensorRT value means what
torch-trt does anyway (``sparse_weights=False``) is accepted; any other value raises.
"""

from __future__ import annotations

from typing import Any

import torch

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
    "cache_built_engines": ((False,), "no engine cache yet"),
    "reuse_cached_engines": ((False,), "no engine cache yet"),
    "engine_cache_dir": ((), "no engine cache yet"),
    "engine_cache_size": ((), "no engine cache yet"),
    "custom_engine_cache": ((None,), "no engine cache yet"),
    "use_explicit_typing": ((True,), "networks are always strongly typed"),
    "use_fp32_acc": ((False,), "reduced precision is not supported yet"),
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
    "enable_autocast": ((False,), "reduced precision is not supported yet"),
    "autocast_low_precision_type": ((None,), "reduced precision is not supported yet"),
    "autocast_excluded_nodes": ((), "reduced precision is not supported yet"),
    "autocast_excluded_ops": ((), "reduced precision is not supported yet"),
    "autocast_max_output_threshold": ((), "reduced precision is not supported yet"),
    "autocast_max_depth_of_reduction": ((None,), "reduced precision is not supported yet"),
    "autocast_calibration_dataloader": ((None,), "reduced precision is not supported yet"),
    "enable_resource_partitioning": ((False,), "partitioning does not budget memory"),
    "cpu_memory_budget": ((None,), "partitioning does not budget memory"),
    "dynamically_allocate_resources": ((False,), "not configurable"),
    "decompose_attention": ((False,), "attention is converted whole"),
    "attn_bias_is_causal": ((False,), "attention masks are never assumed causal"),
    "disabled_constant_fold_exclusions": ((None, [], (), set()), "constant folding is fixed"),
    "fallback_data_dependent_ops": ((True,), "data-dependent ops always stay in PyTorch"),
    "use_complex_decomposition": ((False,), "complex dtypes stay in PyTorch"),
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


def _precisions(value: object) -> None:
    items = [value] if isinstance(value, torch.dtype) else value
    if not isinstance(items, set | frozenset | list | tuple) or not all(
        isinstance(d, torch.dtype) for d in items
    ):
        raise TypeError(f"enabled_precisions must be a set of torch dtypes, got {value!r}")
    others = sorted(str(d) for d in set(items) - {torch.float32})
    if others:
        raise NotImplementedError(
            f"enabled_precisions contains {', '.join(others)}: reduced precision is not "
            "supported yet, engines are built in float32; pass enabled_precisions={torch.float32} "
            "or leave it out"
        )


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
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key == "enabled_precisions":
            _precisions(value)
        elif key in ("truncate_double", "truncate_long_and_double"):
            if value is not False:
                raise NotImplementedError(
                    f"{key}={value!r} is not supported: float64 nodes stay in PyTorch (TensorRT "
                    "has no float64); cast the model and inputs with .float() instead"
                )
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
