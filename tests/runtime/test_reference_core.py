"""Reference runtime core: reading a network back, ordering, checks, tracing, serialization."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

from torch_trt.runtime.reference import (
    FORMAT_VERSION,
    LayerRecord,
    ReferenceError,
    ReferenceProgram,
    read_network,
    supported_layer_types,
)


def _exp_then_relu(tn: Any) -> Any:
    """x -> exp -> relu, with the relu layer *defined first* and rewired to read exp's output."""
    x = tn.input(torch.tensor([[-1.0, 0.0, 2.0]]), shape=(-1, 3))
    relu = tn.net.add_activation(x, tn.trt.ActivationType.RELU)
    relu.name = "relu"
    exp = tn.net.add_unary(x, tn.trt.UnaryOperation.EXP)
    exp.name = "exp"
    relu.set_input(0, exp.get_output(0))
    tn.out(relu)
    return tn


def test_topological_order_of_out_of_order_definition(tn: Any) -> None:
    """A layer defined before its producer is evaluated after it."""
    prog = read_network(_exp_then_relu(tn).net)
    assert [r.name for r in prog.layers] == ["exp", "relu"]
    (y,) = prog.run(tn.values)
    torch.testing.assert_close(y, torch.tensor([[-1.0, 0.0, 2.0]]).exp().clamp_min(0))


def test_inputs_and_outputs_recorded(tn: Any) -> None:
    """Network inputs keep name, dtype and dynamic dims; outputs keep network order."""
    x = tn.input(torch.zeros(2, 3), shape=(-1, 3))
    i = tn.input(torch.zeros(4, dtype=torch.int32))
    a = tn.net.add_unary(x, tn.trt.UnaryOperation.NEG)
    b = tn.net.add_identity(i)
    tn.out(b)
    tn.out(a)
    prog = read_network(tn.net)
    assert prog.inputs == [("in1", torch.float32, (-1, 3)), ("in2", torch.int32, (4,))]
    assert prog.outputs == [b.get_output(0).name, a.get_output(0).name]
    assert prog.output_names == prog.outputs


def test_trace_gives_every_layer_output(tn: Any) -> None:
    """run(trace=True) returns each layer's outputs by layer name."""
    prog = read_network(_exp_then_relu(tn).net)
    outs, trace = prog.run(tn.values, trace=True)
    assert set(trace) == {"exp", "relu"}
    torch.testing.assert_close(trace["exp"][0], torch.tensor([[-1.0, 0.0, 2.0]]).exp())
    assert trace["relu"][0] is outs[0]


def test_serialization_round_trip(tn: Any) -> None:
    """from_bytes(to_bytes()) loads with weights_only and evaluates identically."""
    x = tn.input(torch.randn(2, 3))
    c = tn.const(torch.arange(3.0).reshape(1, 3))
    s = tn.net.add_elementwise(x, c, tn.trt.ElementWiseOperation.SUM)
    tn.out(tn.net.add_cast(s.get_output(0), tn.trt.int64))
    tn.out(s)
    prog = read_network(tn.net)
    blob = prog.to_bytes()
    torch.load(io.BytesIO(blob), weights_only=True)  # raises if anything is not plain data
    again = ReferenceProgram.from_bytes(blob)
    assert again.inputs == prog.inputs and again.outputs == prog.outputs
    assert [(r.name, r.type, r.inputs, r.output_dtypes) for r in again.layers] == [
        (r.name, r.type, r.inputs, r.output_dtypes) for r in prog.layers
    ]
    for a, b in zip(again.run(tn.values), prog.run(tn.values), strict=True):
        assert torch.equal(a, b)


def test_from_bytes_rejects_other_format_version() -> None:
    """Loading a program of another format version names both versions."""
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION + 1}, buf)
    with pytest.raises(ReferenceError, match=f"version {FORMAT_VERSION + 1} is not the supported"):
        ReferenceProgram.from_bytes(buf.getvalue())


def test_from_bytes_rejects_garbage() -> None:
    """Bytes that are not a saved program give a ReferenceError."""
    with pytest.raises(ReferenceError, match="not a serialized reference program"):
        ReferenceProgram.from_bytes(b"nonsense")


def _neg_program(tn: Any) -> ReferenceProgram:
    x = tn.input(torch.zeros(2, 3), shape=(-1, 3))
    tn.out(tn.net.add_unary(x, tn.trt.UnaryOperation.NEG))
    return read_network(tn.net)


INPUT_ERRORS: dict[str, tuple[list[torch.Tensor], str]] = {
    "count": ([], r"takes 1 inputs \['in1'\], got 0"),
    "dtype": ([torch.zeros(2, 3, dtype=torch.float16)], "'in1' must have dtype torch.float32"),
    "rank": ([torch.zeros(6)], r"'in1' must have shape \(\?, 3\), got \(6,\)"),
    "static_dim": ([torch.zeros(2, 4)], r"'in1' must have shape \(\?, 3\), got \(2, 4\)"),
}


@pytest.mark.parametrize("name", list(INPUT_ERRORS))
def test_wrong_inputs_raise_clear_error(tn: Any, name: str) -> None:
    """Wrong input count, dtype, rank or static dim is a ReferenceError saying what was wanted."""
    args, message = INPUT_ERRORS[name]
    with pytest.raises(ReferenceError, match=message):
        _neg_program(tn).run(args)


def test_dynamic_dim_accepts_any_size(tn: Any) -> None:
    """A -1 input dim accepts any size."""
    (y,) = _neg_program(tn).run([torch.ones(5, 3)])
    assert torch.equal(y, -torch.ones(5, 3))


def test_unsupported_layer_type_is_named(tn: Any) -> None:
    """A layer type without an evaluator raises naming the layer and its type."""
    x = tn.input(torch.zeros(1, 3, 4, 4))
    lrn = tn.net.add_lrn(x, 3, 1e-4, 0.75, 1.0)
    lrn.name = "my_lrn"
    tn.out(lrn)
    assert "LRN" not in supported_layer_types()
    with pytest.raises(ReferenceError, match="layer 'my_lrn' has type LRN"):
        read_network(tn.net)


def _record(type_: str, attrs: dict[str, Any], dtype: torch.dtype, shape: Any) -> LayerRecord:
    return LayerRecord("bad", type_, ["x"], ["y"], [dtype], attrs, [shape])


EVAL_MISMATCH: dict[str, tuple[LayerRecord, str]] = {
    "dtype": (
        _record("CAST", {"to_type": "float16"}, torch.int32, (2,)),
        r"layer 'bad' \(CAST\) output 0 has dtype torch.float16, the network says torch.int32",
    ),
    "shape": (
        _record("IDENTITY", {}, torch.float32, (3,)),
        r"layer 'bad' \(IDENTITY\) output 0 has shape \(2,\), the network says \(3,\)",
    ),
}


@pytest.mark.parametrize("name", list(EVAL_MISMATCH))
def test_evaluator_output_checked_against_network(name: str) -> None:
    """An evaluation disagreeing with the recorded dtype or shape raises naming the layer."""
    rec, message = EVAL_MISMATCH[name]
    prog = ReferenceProgram([("x", torch.float32, (2,))], ["y"], ["y"], [rec])
    with pytest.raises(ReferenceError, match=message):
        prog.run([torch.zeros(2)])


def test_bf16_constant_needs_side_table(tn: Any) -> None:
    """bf16 weights cannot be read back: the error says how to pass them, and the table works."""
    w = torch.arange(6, dtype=torch.bfloat16)
    layer = tn.net.add_constant((2, 3), tn.trt.Weights(tn.trt.bfloat16, w.data_ptr(), 6))
    layer.name = "cb"
    tn.out(layer)
    with pytest.raises(ReferenceError, match=r"pass them as read_network\(net, weights=\{'cb'"):
        read_network(tn.net)
    (y,) = read_network(tn.net, weights={"cb": w}).run([])
    assert torch.equal(y, w.reshape(2, 3))


def test_engine_builds_for_simple_network(tn: Any) -> None:
    """The kind of network the tests read back also builds into an engine."""
    x = tn.input(torch.zeros(2, 3, 4))
    sh = tn.net.add_shuffle(x)
    sh.first_transpose = (2, 0, 1)
    red = tn.net.add_reduce(sh.get_output(0), tn.trt.ReduceOperation.SUM, 0b10, False)
    tn.out(tn.net.add_activation(red.get_output(0), tn.trt.ActivationType.RELU))
    config = tn.builder.create_builder_config()
    assert tn.builder.build_serialized_network(tn.net, config) is not None
    (y,) = read_network(tn.net).run([torch.ones(2, 3, 4)])
    assert torch.equal(y, torch.full((4, 3), 2.0))


def test_cycle_is_reported() -> None:
    """Records that depend on each other raise instead of looping."""
    from torch_trt.runtime.reference.program import _toposort

    a = LayerRecord("a", "IDENTITY", ["tb"], ["ta"], [torch.float32], {})
    b = LayerRecord("b", "IDENTITY", ["ta"], ["tb"], [torch.float32], {})
    with pytest.raises(ReferenceError, match="dependency cycle through layers"):
        _toposort([a, b], set())


def test_bf16_convolution_weights_are_read_by_role(tn: Any) -> None:
    """A bf16 convolution's kernel and bias come from the side table under ``<layer>/kernel``
    and ``<layer>/bias``: a missing role is named, a wrong-sized one refused, and with both
    the layer computes with exactly those weights."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 5, 5, generator=g).bfloat16()
    k, b = torch.randn(3, 2, 3, 3, generator=g).bfloat16(), torch.randn(3, generator=g).bfloat16()
    w = {"conv/kernel": k, "conv/bias": b}
    layer = tn.net.add_convolution_nd(
        tn.input(x),
        3,
        (3, 3),
        tn.trt.Weights(tn.trt.bfloat16, k.data_ptr(), k.numel()),
        tn.trt.Weights(tn.trt.bfloat16, b.data_ptr(), b.numel()),
    )
    layer.name = "conv"
    tn.out(layer)
    with pytest.raises(ReferenceError, match=r"weights=\{'conv/bias'"):
        read_network(tn.net, weights={"conv/kernel": k})
    with pytest.raises(ReferenceError, match=r"'conv/kernel' are torch.bfloat16 x 6, TensorRT"):
        read_network(tn.net, weights={**w, "conv/kernel": k[:1, :1, :2, :3]})
    (y,) = read_network(tn.net, weights=w).run([x])
    want = torch.nn.functional.conv2d(x.float(), k.float(), b.float()).bfloat16()
    assert y.dtype == torch.bfloat16 and torch.equal(y, want)


def test_serialize_network_shares_weights_while_reading_and_round_trips(tn: Any) -> None:
    """Inside serialize_network weights are read as views (no copy before serializing),
    elsewhere as owned copies; the program it writes equals read_network's."""
    import numpy as np

    from torch_trt.runtime.reference import program

    x = tn.input(torch.randn(2, 3))
    arr = np.array(torch.randn(2, 3).numpy(), copy=True)
    layer = tn.net.add_constant((2, 3), tn.trt.Weights(arr))
    tn.out(tn.net.add_elementwise(x, layer.get_output(0), tn.trt.ElementWiseOperation.PROD))
    assert program.weights_tensor(layer.weights).data_ptr() != arr.ctypes.data
    token = program._SHARED.set(True)
    try:
        assert program.weights_tensor(layer.weights).data_ptr() == arr.ctypes.data
    finally:
        program._SHARED.reset(token)
    buf = program.serialize_network(tn.net)
    assert not buf.readonly and not program._SHARED.get()
    (expected,) = read_network(tn.net).run(tn.values)
    (got,) = ReferenceProgram.from_bytes(bytes(buf)).run(tn.values)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
