"""``torch-trt inspect`` and ``torch-trt check``: what a compiled file holds, and how right it is.

Both read the file without resolving its engines for this machine (nothing is deserialized or
rebuilt): the engine records, engine sizes, reference programs and region sources are read from
the saved program as they are.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import torch

from torch_trt.cli import render
from torch_trt.cli.common import stdout_console


@dataclasses.dataclass
class EngineView:
    """One engine of a saved program, as stored."""

    record: dict[str, Any]  # the raw JSON engine record (fields a newer torch-trt adds too)
    size_bytes: int
    reference: bytes | None  # the reference program, when the file has one
    source: bytes | None  # the region's ATen source (with_source=True)

    @property
    def name(self) -> str:
        return str(self.record.get("name", "?"))


@dataclasses.dataclass
class SavedProgram:
    """A compiled file: its kind, compile summary and engines."""

    path: str
    kind: str
    summary: str
    engines: list[EngineView]


def read(path: str) -> SavedProgram:
    """Read the engines of the compiled program at ``path`` (vetted first).

    Raises:
        FileNotFoundError: no such file.
        SerializationError: corrupt, foreign, unsafe or newer-format file.
    """
    from torch_trt import archive, serialize

    art = archive.inspect(path)
    manifest = serialize._read_manifest(art)
    rep = manifest.get("report")
    summary = str(rep.get("summary", "")) if isinstance(rep, dict) else ""
    torchscript = art.kind == "torchscript"
    engines = _torchscript_engines(path) if torchscript else _exported_engines(path)
    return SavedProgram(path, art.kind, summary, engines)


def _bytes(t: Any) -> bytes | None:
    return t.numpy().tobytes() if isinstance(t, torch.Tensor) and t.numel() else None


def _exported_engines(path: str) -> list[EngineView]:
    from torch_trt import portable
    from torch_trt.cli.common import load_exported_program

    gm = load_exported_program(path).module()
    out = []
    for node in portable.engine_nodes(gm):
        record = _record(str(node.args[3]), path)
        blob, ref = (_constant(gm, a) for a in node.args[1:3])
        source = getattr(gm, portable.SOURCE_PREFIX + str(record.get("name")), None)
        size = int(blob.numel()) if isinstance(blob, torch.Tensor) else 0
        out.append(EngineView(record, size, _bytes(ref), _bytes(source)))
    return out


def _constant(gm: torch.fx.GraphModule, arg: object) -> Any:
    """The tensor a ``get_attr`` argument names; ``None`` for anything else."""
    if isinstance(arg, torch.fx.Node) and arg.op == "get_attr":
        return getattr(gm, str(arg.target), None)
    return None


def _torchscript_engines(path: str) -> list[EngineView]:
    from torch_trt.serialize_load import _jit_load

    module = _jit_load(path)
    buffers = dict(module.named_buffers())
    out = []
    for node in module.inlined_graph.nodes():
        if node.kind() != "torch_trt::execute_engine":
            continue
        record = _record(str(node.inputsAt(3).toIValue()), path)
        name = str(record.get("name"))
        blob = buffers.get(f"{name}_engine")
        size = int(blob.numel()) if isinstance(blob, torch.Tensor) else 0
        out.append(EngineView(record, size, _bytes(buffers.get(f"{name}_reference")), None))
    return out


def _record(text: str, path: str) -> dict[str, Any]:
    """The raw engine record, validated by the runtime's own parser."""
    from torch_trt.errors import EngineFormatError, SerializationError
    from torch_trt.runtime.op import parse_metadata

    try:
        parse_metadata(text)
    except EngineFormatError as e:
        raise SerializationError(f"cannot read {path}: {e}") from None
    raw: dict[str, Any] = json.loads(text)
    return raw


# --------------------------------------------------------------------------------------------
# inspect


def add_inspect(p: argparse.ArgumentParser) -> None:
    """Arguments of ``torch-trt inspect``."""
    p.add_argument("program", metavar="OUT.pt2", help="a file written by torch-trt compile")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="also write it as JSON")
    p.set_defaults(run=run_inspect)


def layers_text(record: dict[str, Any]) -> str:
    """``"total 120: float32 100, float16 20; 3 casts"`` from the record's optional ``layers``
    entry (``{"total": n, "by_precision": {...}, "casts": k}``), else ``"n/a"``."""
    layers = record.get("layers")
    if not isinstance(layers, dict) or "total" not in layers:
        return "n/a"
    by = layers.get("by_precision") or {}
    parts = ", ".join(f"{k} {v}" for k, v in sorted(by.items(), key=lambda kv: -int(kv[1])))
    text = f"total {layers['total']}" + (f": {parts}" if parts else "")
    if "casts" in layers:
        text += f"; {layers['casts']} casts"
    return text


def run_inspect(args: argparse.Namespace) -> int:
    """Print the engines of a compiled file."""
    program = read(args.program)
    engines = [
        {
            "name": e.name,
            "flavour": e.record.get("flavour", "?"),
            "trt_version": e.record.get("trt_version", "?"),
            "compute_capabilities": list(e.record.get("compute_capabilities", [])),
            "runtime": e.record.get("runtime", "?"),
            "size_bytes": e.size_bytes,
            "layers": layers_text(e.record),
            "reference": e.reference is not None,
            "source": e.source is not None,
            "inputs": e.record.get("inputs", []),
            "outputs": e.record.get("outputs", []),
        }
        for e in program.engines
    ]
    render.inspect(program.path, program.kind, engines, program.summary, stdout_console())
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"path": program.path, "kind": program.kind, "engines": engines}, f, indent=2)
    return 0


# --------------------------------------------------------------------------------------------
# check


def add_check(p: argparse.ArgumentParser) -> None:
    """Arguments of ``torch-trt check``."""
    p.add_argument("program", metavar="OUT.pt2", help="a file written by torch-trt compile")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument(
        "--rtol",
        type=float,
        help="relative-error tolerance for every float output (default: 1e-4 for float32, "
        "1e-2 for float16, 5e-2 for bfloat16)",
    )
    p.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Every engine: reference runtime vs the region's PyTorch source, at min/opt/max shapes."""
    from torch_trt.cli.check import check_engine
    from torch_trt.errors import SerializationError

    program = read(args.program)
    if program.kind != "exported_program":
        raise SerializationError(
            f"cannot check {program.path}: it is a TorchScript file, which holds no PyTorch "
            "source of its engines; compile with --output-format exported_program --with-source"
        )
    if not program.engines:
        stdout_console().print(f"{program.path} has no TensorRT engine: nothing to check")
        return 0
    missing = [e.name for e in program.engines if e.source is None]
    if missing:
        has_ref = [e.name for e in program.engines if e.reference is not None]
        what = (
            "it has reference programs but no PyTorch source to compare them with"
            if has_ref
            else "it has neither reference programs nor the PyTorch source of its engines"
        )
        raise SerializationError(
            f"cannot check {program.path}: {what} (engines {', '.join(missing)}); save it with "
            "the sources: torch-trt compile --with-source, or torch_trt.save(..., "
            "with_source=True)"
        )
    torch.manual_seed(args.seed)
    rows = [r for e in program.engines for r in check_engine(e, program.path, args.rtol)]
    render.check(rows, stdout_console())
    failed = [r for r in rows if r["result"] != "ok"]
    console = stdout_console()
    if failed:
        console.print(f"{len(failed)} of {len(rows)} outputs outside tolerance")
        return 1
    console.print(f"all {len(rows)} outputs within tolerance")
    return 0
