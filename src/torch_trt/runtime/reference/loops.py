"""Reference evaluation of TensorRT loops (``ILoop``: trip limit, iterator, recurrence, output).

Written from TensorRT's "Working with Loops" guide [LOOPS] (its "Formal Semantics" section) and
the ``ILoop`` / ``IIteratorLayer`` / ``ILoopOutputLayer`` API pages [PY]:

* a loop is the set of boundary layers that share one ``ILoop``; interior layers carry no loop
  tag, and TensorRT infers membership from dataflow. Here the body is every layer that depends on
  one of the loop's iterator or recurrence outputs; a layer that depends on neither is
  loop-invariant, and evaluating it once outside is the same thing (its per-iteration sequence is
  the tensor replicated [LOOPS]);
* ``IIteratorLayer(X)`` yields ``X[0], X[1], ...`` along its axis (reverse: ``X[M-1-i]`` with M
  the COUNT trip count); ``IRecurrenceLayer(X, Y)`` yields ``X, Y_0, Y_1, ...``;
* with n iterations (the COUNT value, or the first n whose WHILE condition is false), a
  ``LAST_VALUE`` output is ``X_n`` of its input, which must be a recurrence output: the value
  set by the last iteration (the initial value when n = 0); ``CONCATENATE`` stacks ``X_0..X_{n-1}``
  along a new axis and pads to the length given by input 1 ("arbitrary values": NaN here, so any
  use shows); a length below n is a run-time error; ``REVERSE`` stacks them in reverse order;
* dataflow leaves a loop only through its ``ILoopOutputLayer``s; the only back edge is a
  recurrence's input 1. Nested loops (a loop using a value defined inside another) are refused.

Since a loop has cycles (the back edges), :func:`group_loops` replaces each loop's layers by one
composite ``LOOP`` record before the program is sorted; its ``layers`` attribute holds the member
records as plain data and its evaluator runs the body once per iteration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    _evaluate,
    _toposort,
    enum_name,
    evaluator,
    layer_kind,
    record_from_dict,
    record_to_dict,
)

Args = list[torch.Tensor | None]
BOUNDARY = frozenset({"TRIP_LIMIT", "ITERATOR", "RECURRENCE", "LOOP_OUTPUT"})
# A WHILE loop whose condition never turns false would hang the reference: stop it.
MAX_ITERATIONS = 1 << 20


def _loop_key(layer: Any) -> str:
    # Loops are told apart by name: TensorRT names unnamed loops uniquely ("(Unnamed Loop* 0)"),
    # and our converters name theirs after the fx node. (The ILoop wrapper cannot be kept: a
    # new one is made per access once the last is collected, so its id is no key.)
    return str(layer.loop.name)


@layer_kind("TRIP_LIMIT", "ITripLimitLayer")
def read_trip_limit(layer: Any) -> dict[str, Any]:
    return {"loop": _loop_key(layer), "kind": enum_name(layer.kind)}


@layer_kind("ITERATOR", "IIteratorLayer")
def read_iterator(layer: Any) -> dict[str, Any]:
    return {"loop": _loop_key(layer), "axis": int(layer.axis), "reverse": bool(layer.reverse)}


@layer_kind("RECURRENCE", "IRecurrenceLayer")
def read_recurrence(layer: Any) -> dict[str, Any]:
    return {"loop": _loop_key(layer)}


@layer_kind("LOOP_OUTPUT", "ILoopOutputLayer")
def read_loop_output(layer: Any) -> dict[str, Any]:
    return {"loop": _loop_key(layer), "kind": enum_name(layer.kind), "axis": int(layer.axis)}


def _outside_a_loop(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    raise ReferenceError(
        f"layer {rec.name!r} ({rec.type}) is a loop boundary; it is evaluated with its loop"
    )


for _type in sorted(BOUNDARY):
    evaluator(_type)(_outside_a_loop)


# --------------------------------------------------------------------------------------------
# Grouping a loop's layers into one record


def _consumers(layers: Sequence[LayerRecord]) -> dict[str, list[int]]:
    users: dict[str, list[int]] = {}
    for i, rec in enumerate(layers):
        for tid in rec.inputs:
            if tid is not None:
                users.setdefault(tid, []).append(i)
    return users


def _body(
    layers: Sequence[LayerRecord], key: str, users: dict[str, list[int]]
) -> tuple[list[int], set[str]]:
    """Indices of the interior layers of loop ``key`` and the tensors defined inside it."""
    seeds = [
        t
        for rec in layers
        if rec.type in ("ITERATOR", "RECURRENCE") and rec.attrs["loop"] == key
        for t in rec.outputs
    ]
    inside, body, todo = set(seeds), [], list(seeds)
    while todo:
        for i in users.get(todo.pop(), ()):
            rec = layers[i]
            if rec.type in BOUNDARY:
                if rec.attrs["loop"] != key:
                    raise ReferenceError(
                        f"loop layer {rec.name!r} uses a value defined inside another loop: "
                        f"nested loops are not supported by the reference runtime"
                    )
                continue
            if i not in body:
                body.append(i)
                inside.update(rec.outputs)
                todo.extend(rec.outputs)
    return sorted(body), inside


def _check_boundary(layers: Sequence[LayerRecord], members: set[int], inside: set[str]) -> None:
    """The only back edge is recurrence input 1; iterator inputs, initial values, trip counts
    and output lengths come from outside the loop [LOOPS][PY]. (Every other reader of a value
    made inside is part of the body by construction.)"""
    allowed = {"LOOP_OUTPUT": {0}, "RECURRENCE": {1}, "WHILE": {0}}
    for i in sorted(members):
        rec = layers[i]
        kind = str(rec.attrs.get("kind")) if rec.type == "TRIP_LIMIT" else rec.type
        for j, tid in enumerate(rec.inputs):
            if tid in inside and rec.type in BOUNDARY and j not in allowed.get(kind, set()):
                raise ReferenceError(
                    f"loop layer {rec.name!r} ({rec.type}) takes input {j} from inside its loop"
                )


def group_loops(layers: list[LayerRecord], outputs: Sequence[str]) -> list[LayerRecord]:
    """Replace the layers of each loop by one ``LOOP`` record (others are returned unchanged).

    Raises:
        ReferenceError: a nested loop, a loop whose values leave it other than through its
            loop outputs, or a boundary layer fed from inside its own loop where it may not be.
    """
    keys = sorted({rec.attrs["loop"] for rec in layers if rec.type in BOUNDARY})
    if not keys:
        return layers
    users = _consumers(layers)
    claimed: dict[int, str] = {}
    grouped: dict[str, LayerRecord] = {}
    for key in keys:
        body, inside = _body(layers, key, users)
        bounds = [i for i, r in enumerate(layers) if r.type in BOUNDARY and r.attrs["loop"] == key]
        members = set(body) | set(bounds)
        for i in body:
            if claimed.setdefault(i, key) != key:
                raise ReferenceError(
                    f"layer {layers[i].name!r} is inside two loops: nested loops are not "
                    f"supported by the reference runtime"
                )
        _check_boundary(layers, members, inside)
        if inside & set(outputs):
            raise ReferenceError(
                f"a network output is made inside loop {key!r}; dataflow leaves a loop only "
                f"through its loop outputs"
            )
        grouped[key] = _loop_record(key, [layers[i] for i in sorted(members)], inside)
    rest = [r for i, r in enumerate(layers) if i not in claimed and r.type not in BOUNDARY]
    return rest + [grouped[k] for k in keys]


def _loop_record(key: str, members: list[LayerRecord], inside: set[str]) -> LayerRecord:
    made = {t for rec in members for t in rec.outputs}
    external: list[str] = []
    for rec in members:
        for tid in rec.inputs:
            if tid is not None and tid not in made and tid not in external:
                external.append(tid)
    outs = [rec for rec in members if rec.type == "LOOP_OUTPUT"]
    return LayerRecord(
        name=key,
        type="LOOP",
        inputs=list(external),
        outputs=[rec.outputs[0] for rec in outs],
        output_dtypes=[rec.output_dtypes[0] for rec in outs],
        attrs={"layers": [record_to_dict(rec) for rec in members]},
        output_shapes=[rec.output_shapes[0] if rec.output_shapes else None for rec in outs],
    )


# --------------------------------------------------------------------------------------------
# Evaluating a loop


@dataclasses.dataclass
class _Loop:
    count: str | None  # tensor id of the COUNT limit
    condition: str | None  # tensor id of the WHILE limit
    iterators: list[LayerRecord]
    recurrences: list[LayerRecord]
    outputs: list[LayerRecord]
    guard: list[LayerRecord]  # body layers the WHILE condition needs (evaluated first)
    body: list[LayerRecord]  # the other interior layers, in dependency order


def _structure(rec: LayerRecord) -> _Loop:
    members = [record_from_dict(d) for d in rec.attrs["layers"]]
    limits: dict[str, str] = {}
    for m in members:
        if m.type == "TRIP_LIMIT":
            if m.attrs["kind"] in limits or m.inputs[0] is None:
                kind = m.attrs["kind"]
                raise ReferenceError(f"loop {rec.name!r}: a second or empty {kind} limit")
            limits[m.attrs["kind"]] = m.inputs[0]
    if not limits:
        raise ReferenceError(f"loop {rec.name!r} has no trip limit")
    of = {t: [m for m in members if m.type == t] for t in BOUNDARY}
    seeds = {t for m in of["ITERATOR"] + of["RECURRENCE"] for t in m.outputs}
    outside = {t for t in rec.inputs if t is not None}
    interior = _toposort([m for m in members if m.type not in BOUNDARY], outside | seeds)
    needed = {limits["WHILE"]} if "WHILE" in limits else set()
    guard = []
    for m in reversed(interior):
        if needed & set(m.outputs):
            guard.append(m)
            needed.update(t for t in m.inputs if t is not None)
    guard.reverse()
    body = [m for m in interior if m not in guard]
    return _Loop(
        limits.get("COUNT"),
        limits.get("WHILE"),
        of["ITERATOR"],
        of["RECURRENCE"],
        of["LOOP_OUTPUT"],
        guard,
        body,
    )


def _run(layers: Sequence[LayerRecord], env: dict[str, torch.Tensor]) -> None:
    for m in layers:
        outs = _evaluate(m, [None if t is None else env[t] for t in m.inputs])
        env.update(zip(m.outputs, outs, strict=True))


def _scalar(t: torch.Tensor, what: str, rec: LayerRecord) -> int:
    if t.numel() != 1:
        raise ReferenceError(f"loop {rec.name!r}: the {what} has shape {tuple(t.shape)}, not 0-D")
    return int(t.reshape(()).item())


@evaluator("LOOP")
def eval_loop(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    loop = _structure(rec)
    env = {str(t): a for t, a in zip(rec.inputs, args, strict=True) if a is not None}
    count = None if loop.count is None else _scalar(env[loop.count], "trip count", rec)
    state = {r.outputs[0]: env[str(r.inputs[0])] for r in loop.recurrences}
    steps: dict[str, list[torch.Tensor]] = {o.outputs[0]: [] for o in loop.outputs}
    n = 0
    while count is None or n < count:
        if n >= MAX_ITERATIONS:
            raise ReferenceError(f"loop {rec.name!r} ran {n} iterations without stopping")
        local: dict[str, torch.Tensor] = {**env, **state}
        _run(loop.guard, local)
        if loop.condition is not None and not bool(local[loop.condition].reshape(()).item()):
            break
        for it in loop.iterators:
            local[it.outputs[0]] = _iterate(rec, it, env[str(it.inputs[0])], n, count)
        _run(loop.body, local)
        for o in loop.outputs:
            if o.attrs["kind"] != "LAST_VALUE":
                steps[o.outputs[0]].append(local[str(o.inputs[0])])
        state = {r.outputs[0]: local[str(r.inputs[1])] for r in loop.recurrences}
        n += 1
    return [_output(rec, o, state, steps[o.outputs[0]], env, n) for o in loop.outputs]


def _iterate(
    rec: LayerRecord, it: LayerRecord, x: torch.Tensor, i: int, count: int | None
) -> torch.Tensor:
    axis = it.attrs["axis"]
    if it.attrs["reverse"]:
        if count is None:
            raise ReferenceError(f"loop {rec.name!r}: a reverse iterator needs a COUNT trip limit")
        i = count - 1 - i
    if not 0 <= axis < x.dim() or not 0 <= i < x.shape[axis]:
        raise ReferenceError(
            f"iterator {it.name!r}: iteration {i} is outside axis {axis} of a tensor of shape "
            f"{tuple(x.shape)}"
        )
    return x.select(axis, i)


def _output(
    rec: LayerRecord,
    o: LayerRecord,
    state: dict[str, torch.Tensor],
    values: list[torch.Tensor],
    env: dict[str, torch.Tensor],
    n: int,
) -> torch.Tensor:
    kind, src = o.attrs["kind"], str(o.inputs[0])
    if kind == "LAST_VALUE":
        if src not in state:
            raise ReferenceError(
                f"loop output {o.name!r}: a LAST_VALUE input must be a recurrence output"
            )
        return state[src].clone()  # a fresh tensor: the state may be an input or a constant
    if len(o.inputs) < 2 or o.inputs[1] is None:
        raise ReferenceError(f"loop output {o.name!r}: {kind} needs its length (input 1)")
    length = _scalar(env[o.inputs[1]], "output length", rec)
    if length < n or not values:
        raise ReferenceError(
            f"loop output {o.name!r}: length {length} for {n} iterations (needs at least one "
            f"iteration and a length no smaller than the iteration count)"
        )
    if kind == "REVERSE":
        if length != n:  # where TensorRT puts the padding of a reversed output is not documented
            raise ReferenceError(f"loop output {o.name!r}: REVERSE with length {length} != {n}")
        values = values[::-1]
    out = torch.stack(values, dim=o.attrs["axis"])
    if length > n:  # TensorRT leaves the padding arbitrary: NaN makes any use visible
        if not out.is_floating_point():
            raise ReferenceError(f"loop output {o.name!r}: padding a non-float output")
        pad = list(out.shape)
        pad[o.attrs["axis"]] = length - n
        out = torch.cat([out, out.new_full(pad, float("nan"))], dim=o.attrs["axis"])
    return out
