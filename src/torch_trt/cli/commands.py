"""``torch-trt compile``, ``report`` and ``demo``."""

from __future__ import annotations

import argparse
import json
import pathlib
import time
from collections.abc import Callable
from typing import Any

import torch

from torch_trt import progress
from torch_trt.cli import render
from torch_trt.cli.common import (
    UsageError,
    load_exported_program,
    program_inputs,
    show_progress,
    stdout_console,
)

_PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _add_partition_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.pt2", help="an ExportedProgram (torch.export.save)")
    p.add_argument("--min-block-size", type=int, metavar="N", help="smallest engine (nodes)")
    p.add_argument(
        "--torch-executed-op",
        action="append",
        default=[],
        metavar="OP",
        help="an op that stays in PyTorch (aten.relu or aten.relu.default); repeatable",
    )
    p.add_argument("--json", dest="json_path", metavar="REPORT.json", help="write the report")


def add_compile(p: argparse.ArgumentParser) -> None:
    """Arguments of ``torch-trt compile``."""
    _add_partition_options(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT.pt2", help="file to write")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME:SHAPE",
        help="an input's shape, 1x3x224x224, or range MIN-OPT-MAX, "
        "1x3x224x224-8x3x224x224-32x3x224x224; repeatable; default: as exported",
    )
    p.add_argument("--precision", choices=list(_PRECISIONS), default="fp32")
    p.add_argument(
        "--output-format",
        choices=["exported_program", "torchscript"],
        default="exported_program",
    )
    p.add_argument(
        "--with-source",
        action="store_true",
        help="also store each engine's PyTorch source (portable file; `check` needs it)",
    )
    p.add_argument(
        "--runtime",
        choices=["tensorrt", "reference"],
        default="tensorrt",
        help="engines' default runtime; reference also stores reference programs",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="engine cache directory (docs/cache.md)")
    p.set_defaults(run=run_compile)


def add_report(p: argparse.ArgumentParser) -> None:
    """Arguments of ``torch-trt report``."""
    _add_partition_options(p)
    p.set_defaults(run=run_report)


def add_demo(p: argparse.ArgumentParser) -> None:
    """Arguments of ``torch-trt demo``."""
    p.add_argument("--model", choices=("resnet18", "mobilenet_v3_small"), default="resnet18")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--json", dest="json_path", metavar="REPORT.json", help="write the report")
    p.set_defaults(run=run_demo)


def _settings(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The compile options the arguments ask for, validated (a bad one is a usage error)."""
    from torch_trt._migrate import translate
    from torch_trt.settings import CompileSettings

    opts: dict[str, Any] = dict(extra)
    if args.min_block_size is not None:
        opts["min_block_size"] = args.min_block_size
    if args.torch_executed_op:
        opts["torch_executed_ops"] = list(args.torch_executed_op)
    try:
        CompileSettings.from_kwargs(**translate(dict(opts), None))
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from e
    return opts


def run_compile(args: argparse.Namespace) -> int:
    """Compile, save, print the report (and write it as JSON)."""
    import torch_trt

    if pathlib.Path(args.output).resolve() == pathlib.Path(args.model).resolve():
        raise UsageError("-o must name another file than MODEL.pt2")
    if args.with_source and args.output_format == "torchscript":
        raise UsageError("--with-source needs --output-format exported_program")
    extra: dict[str, Any] = {"runtime": args.runtime, "keep_source": args.with_source}
    if args.precision != "fp32":
        extra["enabled_precisions"] = {_PRECISIONS[args.precision]}
    if args.cache_dir:
        extra["cache_dir"] = args.cache_dir
    opts = _settings(args, **extra)
    ep = load_exported_program(args.model)
    inputs = program_inputs(ep, args.input)
    compiled = torch_trt.dynamo.compile(
        ep, inputs, progress=True if show_progress(args.quiet) else None, **opts
    )
    torch_trt.save(
        compiled, args.output, output_format=args.output_format, with_source=args.with_source
    )
    rep = torch_trt.report(compiled)
    _emit(rep, args)
    stdout_console().print(f"wrote {args.output}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Partition only: placements with reasons, no conversion, no engine build."""
    from torch_trt._migrate import translate
    from torch_trt.dynamo.lower import lower
    from torch_trt.dynamo.partition import partition
    from torch_trt.report import Report
    from torch_trt.settings import CompileSettings

    settings = CompileSettings.from_kwargs(**translate(_settings(args), None))
    rep = Report()
    with progress.active(True if show_progress(args.quiet) else None):
        with rep.stage("load"):
            ep = load_exported_program(args.model)
        with rep.stage("lower"):
            gm = lower(ep)
        with rep.stage("partition"):
            part = partition(gm, settings)
    rep.placements = list(part.placements.values())
    _emit(rep, args, note="report only: regions are not converted and no engine is built")
    return 0


def _emit(rep: Any, args: argparse.Namespace, note: str = "") -> None:
    render.report(rep, stdout_console(), note=note)
    if args.json_path:
        pathlib.Path(args.json_path).write_text(rep.to_json() + "\n")
        stdout_console().print(f"report written to {args.json_path}")


def _torchvision_model(name: str) -> Callable[[], torch.nn.Module]:
    try:
        import torchvision.models as tvm
    except ImportError as e:
        raise RuntimeError(
            f"the demo models come from torchvision ({e}); `pip install torchvision`"
        ) from e
    factory: Callable[[], torch.nn.Module] = getattr(tvm, name)
    return factory


def run_demo(args: argparse.Namespace) -> int:
    """Compile a torchvision model (random weights) with the reference runtime; check it."""
    import torch_trt
    from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error

    torch.manual_seed(0)
    # Fresh batch norms fold to an exact identity; trained-like statistics make the check real.
    model = randomize_norm_stats(_torchvision_model(args.model)().eval())
    x = torch.randn(args.batch, 3, 224, 224)
    console = stdout_console()
    console.print(f"compiling {args.model} (random weights) for input {tuple(x.shape)} ...")
    start = time.perf_counter()
    compiled = torch_trt.dynamo.compile(
        model, [x], runtime="reference", progress=True if show_progress(args.quiet) else None
    )
    rep = torch_trt.report(compiled)
    render.report(rep, console)
    with torch.no_grad():
        err = rel_error(compiled(x), model(x))
    ok = err < FP32_RTOL
    console.print(
        f"\nreference runtime vs eager PyTorch: relative error {err:.2e} "
        f"({'ok' if ok else 'FAILED'}: tolerance {FP32_RTOL:g}); "
        f"{time.perf_counter() - start:.1f} s in all"
    )
    if args.json_path:
        pathlib.Path(args.json_path).write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
        console.print(f"report written to {args.json_path}")
    return 0 if ok else 1
