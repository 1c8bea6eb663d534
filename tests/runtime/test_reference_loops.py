"""Reference runtime, loops: hand-built ILoop networks against TensorRT's loop semantics.

Expected values come from the "Formal Semantics" of TensorRT's loop guide, written with plain
torch: an iterator yields X[0], X[1], ... (reverse: X[M-1-i]); a recurrence yields
init, Y_0, Y_1, ...; LAST_VALUE is the recurrence after n iterations; CONCATENATE stacks the
n per-iteration values (padded to the requested length); REVERSE stacks them reversed.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

from torch_trt.runtime.reference import ReferenceError, ReferenceProgram, read_network


def _count(tn: Any, n: int) -> Any:
    return tn.const(torch.tensor(n, dtype=torch.int32))


def _accumulate(tn: Any, a: Any, b: Any, n: int, name: str = "acc") -> tuple[Any, Any]:
    """The operator guide's example: rec starts at a and adds b per iteration, n times."""
    loop = tn.net.add_loop()
    loop.name = name
    loop.add_trip_limit(_count(tn, n), tn.trt.TripLimit.COUNT)
    rec = loop.add_recurrence(a)
    step = tn.net.add_elementwise(b, rec.get_output(0), tn.trt.ElementWiseOperation.SUM)
    rec.set_input(1, step.get_output(0))
    return loop, rec


def test_last_value_is_the_state_after_the_last_iteration(tn: Any) -> None:
    """Accumulating b onto a three times gives a + 3b (the guide's example)."""
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    loop, rec = _accumulate(tn, tn.input(a), tn.input(b), 3)
    tn.out(loop.add_loop_output(rec.get_output(0), tn.trt.LoopOutput.LAST_VALUE))
    (y,) = read_network(tn.net).run(tn.values)
    torch.testing.assert_close(y, a + 3 * b)


def test_zero_trip_count_keeps_the_initial_value(tn: Any) -> None:
    """With a trip count of 0, LAST_VALUE is the recurrence's initial value."""
    a = torch.randn(4)
    loop, rec = _accumulate(tn, tn.input(a), tn.const(torch.ones(4)), 0)
    tn.out(loop.add_loop_output(rec.get_output(0), tn.trt.LoopOutput.LAST_VALUE))
    (y,) = read_network(tn.net).run(tn.values)
    assert torch.equal(y, a) and y.data_ptr() != tn.values[0].data_ptr()


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("reverse_iterator", [False, True])
@pytest.mark.parametrize("kind", ["CONCATENATE", "REVERSE"])
def test_iterator_and_stacked_outputs(
    tn: Any, axis: int, reverse_iterator: bool, kind: str
) -> None:
    """A running sum over the slices of x along ``axis`` (forward or reverse iteration), stacked
    along ``axis`` in iteration order (CONCATENATE) or reversed (REVERSE)."""
    x = torch.randn(5, 4, 3)
    n = x.shape[axis]
    xt = tn.input(x)
    loop = tn.net.add_loop()
    loop.add_trip_limit(_count(tn, n), tn.trt.TripLimit.COUNT)
    it = loop.add_iterator(xt, axis, reverse_iterator)
    zero = torch.zeros(x.select(axis, 0).shape)
    rec = loop.add_recurrence(tn.const(zero))
    step = tn.net.add_elementwise(
        rec.get_output(0), it.get_output(0), tn.trt.ElementWiseOperation.SUM
    )
    rec.set_input(1, step.get_output(0))
    out = loop.add_loop_output(step.get_output(0), getattr(tn.trt.LoopOutput, kind), axis)
    out.set_input(1, _count(tn, n))
    tn.out(out)
    order = list(range(n))[::-1] if reverse_iterator else list(range(n))
    sums, acc = [], zero
    for i in order:
        acc = acc + x.select(axis, i)
        sums.append(acc)
    if kind == "REVERSE":
        sums = sums[::-1]
    (y,) = read_network(tn.net).run(tn.values)
    torch.testing.assert_close(y, torch.stack(sums, axis))


def _while_counter(tn: Any, limit: int, count: int | None) -> tuple[Any, Any, Any]:
    """i = 0, 1, 2, ... while i < limit (and at most ``count`` iterations when given)."""
    i32 = torch.int32
    loop = tn.net.add_loop()
    rec = loop.add_recurrence(tn.const(torch.tensor(0, dtype=i32)))
    i = rec.get_output(0)
    less = tn.net.add_elementwise(
        i, tn.const(torch.tensor(limit, dtype=i32)), tn.trt.ElementWiseOperation.LESS
    )
    loop.add_trip_limit(less.get_output(0), tn.trt.TripLimit.WHILE)
    if count is not None:
        loop.add_trip_limit(_count(tn, count), tn.trt.TripLimit.COUNT)
    nxt = tn.net.add_elementwise(
        i, tn.const(torch.tensor(1, dtype=i32)), tn.trt.ElementWiseOperation.SUM
    )
    rec.set_input(1, nxt.get_output(0))
    return loop, rec, i


@pytest.mark.parametrize(("limit", "count", "n"), [(3, None, 3), (3, 5, 3), (6, 2, 2), (0, 4, 0)])
def test_while_and_count_limits(tn: Any, limit: int, count: int | None, n: int) -> None:
    """The loop stops at the first iteration whose WHILE condition is false, or at the COUNT
    limit, whichever comes first."""
    loop, rec, _ = _while_counter(tn, limit, count)
    tn.out(loop.add_loop_output(rec.get_output(0), tn.trt.LoopOutput.LAST_VALUE))
    (y,) = read_network(tn.net).run(tn.values)
    assert y.dtype == torch.int32 and int(y) == n


def test_concatenate_pads_past_the_iteration_count(tn: Any) -> None:
    """A CONCATENATE length above the iteration count pads with arbitrary values (NaN here)."""
    loop, _, i = _while_counter(tn, 2, None)
    as_float = tn.net.add_cast(i, tn.trt.float32).get_output(0)
    out = loop.add_loop_output(as_float, tn.trt.LoopOutput.CONCATENATE, 0)
    out.set_input(1, _count(tn, 4))
    tn.out(out)
    (y,) = read_network(tn.net).run(tn.values)
    assert y[:2].tolist() == [0.0, 1.0] and y[2:].isnan().all()


def test_concatenate_shorter_than_the_iteration_count_is_an_error(tn: Any) -> None:
    """A CONCATENATE length below the iteration count is a run-time error."""
    loop, rec = _accumulate(tn, tn.input(torch.zeros(2)), tn.const(torch.ones(2)), 3)
    out = loop.add_loop_output(rec.get_output(0), tn.trt.LoopOutput.CONCATENATE, 0)
    out.set_input(1, _count(tn, 2))
    tn.out(out)
    with pytest.raises(ReferenceError, match="length 2 for 3 iterations"):
        read_network(tn.net).run(tn.values)


def test_last_value_of_a_non_recurrence_is_refused(tn: Any) -> None:
    """LAST_VALUE takes a recurrence output; anything else is refused, not guessed."""
    loop, rec = _accumulate(tn, tn.input(torch.zeros(2)), tn.const(torch.ones(2)), 3)
    step = rec.get_input(1)
    tn.out(loop.add_loop_output(step, tn.trt.LoopOutput.LAST_VALUE))
    with pytest.raises(ReferenceError, match="must be a recurrence output"):
        read_network(tn.net).run(tn.values)


def test_value_leaving_a_loop_without_a_loop_output_is_refused(tn: Any) -> None:
    """Dataflow leaves a loop only through loop outputs."""
    _, rec = _accumulate(tn, tn.input(torch.zeros(2)), tn.const(torch.ones(2)), 3)
    tn.out(tn.net.add_unary(rec.get_input(1), tn.trt.UnaryOperation.EXP))
    with pytest.raises(ReferenceError, match="only through its loop outputs"):
        read_network(tn.net)


def test_nested_loops_are_refused(tn: Any) -> None:
    """A loop that uses a value defined inside another loop (nesting) is refused by name."""
    outer, rec = _accumulate(tn, tn.input(torch.zeros(2)), tn.const(torch.ones(2)), 3, "outer")
    inner, inner_rec = _accumulate(tn, rec.get_output(0), tn.const(torch.ones(2)), 2, "inner")
    tn.out(inner.add_loop_output(inner_rec.get_output(0), tn.trt.LoopOutput.LAST_VALUE))
    tn.out(outer.add_loop_output(rec.get_output(0), tn.trt.LoopOutput.LAST_VALUE))
    with pytest.raises(ReferenceError, match="nested loops are not supported"):
        read_network(tn.net)


def test_chained_loops_serialize_and_trace_by_loop_name(tn: Any) -> None:
    """Two loops, the second reading the first's output: the program round-trips through
    to_bytes, and a trace names each loop's outputs by the loop's name."""
    a, b = torch.randn(3), torch.randn(3)
    first, rec1 = _accumulate(tn, tn.input(a), tn.input(b), 2, "first")
    mid = first.add_loop_output(rec1.get_output(0), tn.trt.LoopOutput.LAST_VALUE).get_output(0)
    second, rec2 = _accumulate(tn, mid, tn.const(torch.full((3,), 0.5)), 4, "second")
    tn.out(second.add_loop_output(rec2.get_output(0), tn.trt.LoopOutput.LAST_VALUE))
    blob = read_network(tn.net).to_bytes()
    torch.load(io.BytesIO(blob), weights_only=True)  # plain data only
    prog = ReferenceProgram.from_bytes(blob)
    (y,), trace = prog.run(tn.values, trace=True)
    torch.testing.assert_close(y, a + 2 * b + 2.0)
    assert {"first", "second"} <= set(trace)
    torch.testing.assert_close(trace["first"][0], a + 2 * b)


def test_loop_network_builds_and_matches(tn: Any) -> None:
    """The iterator/recurrence/concatenate network above is one TensorRT accepts (it builds)."""
    x = torch.randn(4, 3)
    loop = tn.net.add_loop()
    loop.add_trip_limit(_count(tn, 4), tn.trt.TripLimit.COUNT)
    it = loop.add_iterator(tn.input(x), 0, True)
    rec = loop.add_recurrence(tn.const(torch.zeros(3)))
    step = tn.net.add_elementwise(
        rec.get_output(0), it.get_output(0), tn.trt.ElementWiseOperation.MAX
    )
    rec.set_input(1, step.get_output(0))
    out = loop.add_loop_output(step.get_output(0), tn.trt.LoopOutput.REVERSE, 0)
    out.set_input(1, _count(tn, 4))
    tn.out(out)
    config = tn.builder.create_builder_config()
    assert tn.builder.build_serialized_network(tn.net, config) is not None, tn.errors()
    (y,) = read_network(tn.net).run(tn.values)
    # reverse iteration: running max from the end, then reversed back into time order
    want = torch.flip(torch.cummax(torch.flip(x, [0]).clamp_min(0), 0).values, [0])
    torch.testing.assert_close(y, want)


def test_iterator_fed_from_inside_its_loop_is_refused(tn: Any) -> None:
    """An iterator's input must come from outside its loop."""
    loop, rec = _accumulate(tn, tn.input(torch.zeros(2, 2)), tn.const(torch.ones(2, 2)), 2)
    it = loop.add_iterator(rec.get_output(0), 0, False)
    out = loop.add_loop_output(it.get_output(0), tn.trt.LoopOutput.CONCATENATE, 0)
    out.set_input(1, _count(tn, 2))
    tn.out(out)
    with pytest.raises(ReferenceError, match=r"\(ITERATOR\) takes input 0 from inside its loop"):
        read_network(tn.net)
