"""The command line's tables (``rich``): the compile report, ``inspect`` and ``check``.

Text from the program (node names, ops, messages) is printed without markup, so a ``[`` in a
name is shown as is.
"""

from __future__ import annotations

import collections
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from torch_trt.report import Report


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE, pad_edge=False)
    for c in columns:
        numeric = c.endswith(("(s)", "(MB)", "nodes", "layers", "error", "seconds"))
        table.add_column(c, justify="right" if numeric else "left", overflow="fold")
    return table


def _row(table: Table, *cells: object) -> None:
    table.add_row(*(Text(str(c)) for c in cells))


def report(rep: Report, console: Any, note: str = "") -> None:
    """Regions, fallbacks grouped by reason with their ops, seconds per stage; ``note`` set
    (the ``report`` command) means nothing was built: the regions are proposals."""
    if note:
        regions = {p.engine for p in rep.placements if p.engine is not None}
        in_trt = sum(1 for p in rep.placements if p.engine is not None)
        console.print(
            Text(
                f"torch-trt report: {len(regions)} region(s) would convert {in_trt}/"
                f"{len(rep.placements)} nodes, {len(rep.fallbacks)} stay in PyTorch"
            )
        )
        console.print(Text(note, style="dim"))
    else:
        console.print(Text(rep.summary()))
    console.print(_regions(rep))
    fallbacks = _fallbacks(rep)
    if fallbacks is not None:
        console.print(fallbacks)
    stages = _table("seconds per stage", "stage", "seconds")
    for name, seconds in rep.stage_seconds.items():
        _row(stages, name, f"{seconds:.3f}")
    console.print(stages)


def _regions(rep: Report) -> Table:
    """One row per TensorRT region (built or, for ``report``, proposed) and one for PyTorch."""
    table = _table(
        "regions", "region", "nodes", "layers", "size (MB)", "build (s)", "cache", "saved (s)"
    )
    built = {e.name for e in rep.engine_info}
    for e in rep.engine_info:
        _row(
            table,
            e.name,
            e.nodes,
            e.layers,
            f"{e.size_bytes / 1e6:.2f}",
            f"{e.build_seconds:.3f}",
            e.cache,
            f"{e.saved_seconds:.3f}" if e.cache == "hit" else "",
        )
    proposed = collections.Counter(
        p.engine for p in rep.placements if p.engine is not None and p.engine not in built
    )
    for name, nodes in sorted(proposed.items(), key=lambda kv: _natural(kv[0])):
        _row(table, name, nodes, "-", "-", "-", "-", "")
    _row(table, "pytorch", len(rep.fallbacks), "", "", "", "", "")
    return table


def _natural(name: str) -> tuple[str, int]:
    """``trt_10`` after ``trt_9``."""
    stem, _, num = name.rpartition("_")
    return (stem, int(num)) if num.isdigit() else (name, -1)


def _fallbacks(rep: Report) -> Table | None:
    """The nodes left in PyTorch, grouped by reason: how many, which ops, an example detail."""
    groups: dict[str, list[Any]] = collections.defaultdict(list)
    for p in rep.fallbacks:
        groups[p.reason.value if p.reason else "?"].append(p)
    if not groups:
        return None
    table = _table("left in PyTorch, by reason", "reason", "nodes", "ops", "detail")
    for reason, nodes in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        ops = collections.Counter(p.op for p in nodes)
        shown = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in ops.most_common())
        details = list(dict.fromkeys(p.detail for p in nodes if p.detail))
        detail = details[0] + (f" (+{len(details) - 1} more)" if len(details) > 1 else "")
        _row(table, reason, len(nodes), shown, detail[:200] if details else "")
    return table


def inspect(
    path: str, kind: str, engines: list[dict[str, Any]], summary: str, console: Any
) -> None:
    """One block per engine: record fields, bindings with profiles, sizes, layer counts."""
    console.print(Text(f"{path}: {kind}, {len(engines)} engine(s)"))
    if summary:
        console.print(Text(f"compiled: {summary}", style="dim"))
    overview = _table(
        "engines",
        "engine",
        "flavour",
        "version",
        "targets",
        "runtime",
        "size (MB)",
        "layers",
        "reference",
        "source",
    )
    for e in engines:
        _row(
            overview,
            e["name"],
            e["flavour"],
            e["trt_version"],
            " ".join(e["compute_capabilities"]) or "-",
            e["runtime"],
            f"{e['size_bytes'] / 1e6:.2f}",
            e["layers"],
            "yes" if e["reference"] else "no",
            "yes" if e["source"] else "no",
        )
    console.print(overview)
    for e in engines:
        io = _table(f"{e['name']}: inputs and outputs", "", "name", "dtype", "shape", "profile")
        for direction, bindings in (("in", e["inputs"]), ("out", e["outputs"])):
            for b in bindings:
                _row(io, direction, b["name"], b["dtype"], _dims(b["shape"]), _profile(b))
        console.print(io)


def _dims(shape: list[Any]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _profile(binding: dict[str, Any]) -> str:
    prof = binding.get("profile")
    if not prof:
        return "static"
    return " / ".join(_dims(p) for p in prof) + "  (min / opt / max)"


def check(rows: list[dict[str, Any]], console: Any) -> None:
    """One row per engine, shape point and output: the error against the PyTorch source."""
    table = _table(
        "reference runtime vs PyTorch source",
        "engine",
        "shapes",
        "output",
        "dtype",
        "rel. error",
        "tolerance",
        "result",
    )
    for r in rows:
        _row(
            table,
            r["engine"],
            r["point"],
            r["output"],
            r["dtype"],
            "-" if r["error"] is None else f"{r['error']:.2e}",
            "-" if r["tolerance"] is None else f"{r['tolerance']:g}",
            r["result"],
        )
    console.print(table)
