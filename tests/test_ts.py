"""ir='ts': TorchScript in, TorchScript out, saved and loaded with torch.jit."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch

import torch_trt
from torch_trt import Input
from torch_trt.testing import FP32_RTOL, rel_error


class TwoOut(torch.nn.Module):
    """Two inputs, a dict of a tensor and a tuple out."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.relu(self.lin(x)) * y + 1.0
        return {"h": h, "s": torch.softmax(h, dim=-1) - y}


@pytest.fixture(scope="module")
def two_out() -> tuple[torch.nn.Module, torch.jit.ScriptModule, tuple[torch.Tensor, ...]]:
    """TwoOut, scripted and compiled once."""
    torch.manual_seed(0)
    model = TwoOut().eval()
    args = (torch.randn(2, 8), torch.randn(2, 8))
    compiled = torch_trt.compile(
        torch.jit.script(model), inputs=list(args), min_block_size=1, runtime="reference"
    )
    return model, compiled, args


def test_scripted_dict_output(
    two_out: tuple[torch.nn.Module, torch.jit.ScriptModule, tuple[torch.Tensor, ...]],
) -> None:
    """A scripted module's dict output comes back as a dict, one engine, eager-equal."""
    model, compiled, args = two_out
    assert isinstance(compiled, torch.jit.ScriptModule)
    assert torch_trt.report(compiled).engines == 1
    assert "torch_trt.execute_engine" in compiled.code
    got, want = compiled(*args), model(*args)
    assert sorted(got) == ["h", "s"]
    for key in want:
        assert rel_error(got[key], want[key]) < FP32_RTOL


def test_keyword_call_by_argument_name(
    two_out: tuple[torch.nn.Module, torch.jit.ScriptModule, tuple[torch.Tensor, ...]],
) -> None:
    """The result keeps forward()'s argument names, so keyword calls work."""
    model, compiled, args = two_out
    got = compiled(args[0], y=args[1])
    assert rel_error(got["h"], model(*args)["h"]) < FP32_RTOL


def test_save_and_load_in_fresh_process(
    two_out: tuple[torch.nn.Module, torch.jit.ScriptModule, tuple[torch.Tensor, ...]],
    jit_load_elsewhere: Callable[..., Any],
) -> None:
    """torch.jit.save, then torch.jit.load in a new process after import torch_trt: the
    engines are byte-identical and the outputs still match eager."""
    model, compiled, args = two_out
    got = jit_load_elsewhere(compiled, args)
    assert rel_error(got["s"], model(*args)["s"]) < FP32_RTOL


def test_input_outside_shapes_raises(
    two_out: tuple[torch.nn.Module, torch.jit.ScriptModule, tuple[torch.Tensor, ...]],
) -> None:
    """A wrong shape or dtype fails in the input check with InputShapeError's message
    (TorchScript raises it as a RuntimeError)."""
    _, compiled, args = two_out
    with pytest.raises(RuntimeError) as info:
        compiled(torch.randn(3, 8), args[1])
    assert (
        "InputShapeError: input 'x' has shape (3, 8): dim 0 is 3, allowed 2 "
        "(min shape (2, 8), max shape (2, 8))"
    ) in str(info.value)
    with pytest.raises(RuntimeError, match=re.escape("input 'y' must be torch.float32, got")):
        compiled(args[0], args[1].double())


def test_traced_module_and_ranges() -> None:
    """ts_method='trace' traces an nn.Module; Input ranges give one engine over the range."""
    model = TwoOut().eval()
    spec = Input(min_shape=(1, 8), opt_shape=(4, 8), max_shape=(8, 8))
    compiled = torch_trt.compile(
        model,
        ir="torchscript",
        ts_method="trace",
        inputs=[spec],
        kwarg_inputs={"y": spec},
        min_block_size=1,
        runtime="reference",
    )
    assert isinstance(compiled, torch.jit.ScriptModule)
    assert torch_trt.report(compiled).engines == 1
    for batch in (1, 8):
        x, y = torch.randn(batch, 8), torch.randn(batch, 8)
        assert rel_error(compiled(x, y)["s"], model(x, y)["s"]) < FP32_RTOL
    with pytest.raises(RuntimeError, match=r"dim 0 is 9, allowed in \[1, 8\]"):
        compiled(torch.randn(9, 8), torch.randn(9, 8))


def test_script_failure_suggests_trace() -> None:
    """An nn.Module torch.jit.script cannot compile raises CaptureError suggesting trace."""

    class Unscriptable(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * len({id(x)})

    with pytest.raises(torch_trt.CaptureError, match=r"torch.jit.script failed on Unscriptable"):
        torch_trt.compile(Unscriptable(), ir="ts", inputs=[torch.randn(2)])
    with pytest.raises(torch_trt.CaptureError, match=r"try ts_method='trace'"):
        torch_trt.compile(Unscriptable(), ir="ts", inputs=[torch.randn(2)])


def test_ts_method_refused_for_script_module() -> None:
    """ts_method for a module that is already TorchScript raises."""
    with pytest.raises(ValueError, match="this module is already a ScriptModule"):
        torch_trt.compile(
            torch.jit.script(TwoOut()), inputs=[torch.randn(2, 8)] * 2, ts_method="trace"
        )


def test_missing_middle_argument() -> None:
    """kwarg_inputs must not leave a gap in forward()'s arguments."""

    class Three(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return a + b + c

    with pytest.raises(TypeError, match=r"up to the last one given; missing \['b'\]"):
        torch_trt.compile(
            torch.jit.script(Three()), inputs=[torch.randn(2)], kwarg_inputs={"c": torch.randn(2)}
        )


@pytest.mark.parametrize(
    ("inputs", "kwarg_inputs", "message"),
    [
        ([torch.randn(2)] * 4, {}, r"forward\(\) takes 3 inputs \(\['a', 'b', 'c'\]\), got 4"),
        (
            [torch.randn(2)],
            {"d": torch.randn(2)},
            r"forward\(\) has no argument 'd'; its arguments",
        ),
        ([torch.randn(2)], {"a": torch.randn(2)}, "input 'a' given both positionally and in"),
    ],
)
def test_input_binding_errors(
    inputs: list[torch.Tensor], kwarg_inputs: dict[str, torch.Tensor], message: str
) -> None:
    """Inputs that do not bind to forward()'s arguments raise TypeError naming them."""

    class Three(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return a + b + c

    with pytest.raises(TypeError, match=message):
        torch_trt.compile(torch.jit.script(Three()), inputs=inputs, kwarg_inputs=kwarg_inputs)


def test_trace_failure_suggests_script() -> None:
    """A module torch.jit.trace cannot record raises CaptureError suggesting scripting."""

    class ReturnsObject(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> object:
            return object()

    with pytest.raises(torch_trt.CaptureError) as info:
        torch_trt.compile(ReturnsObject(), ir="ts", ts_method="trace", inputs=[torch.randn(2)])
    assert str(info.value).startswith("torch.jit.trace failed on ReturnsObject: RuntimeError")
    assert "hint: try ts_method='script', or ir='dynamo' for an nn.Module" in str(info.value)


def test_converter_failure_is_a_capture_error() -> None:
    """TorchScript that TS2EPConverter cannot convert raises CaptureError naming the module."""

    class Stringy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * len(str(x.shape))

    with pytest.raises(torch_trt.CaptureError) as info:
        torch_trt.compile(torch.jit.script(Stringy()), inputs=[torch.randn(2)])
    assert str(info.value).startswith("TS2EPConverter could not convert Stringy: RuntimeError")
    assert "hint: pass the nn.Module itself with ir='dynamo'" in str(info.value)


class Pair(NamedTuple):
    """A NamedTuple output."""

    a: torch.Tensor
    b: torch.Tensor


def test_tuple_outputs_stay_tuples() -> None:
    """A tuple holding a list comes back as that tuple and list (TS2EPConverter alone would
    return a list), with the same TorchScript return type."""

    class TupleOut(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            return x.relu() * 2.0 + 1.0, [x.sigmoid() - 1.0, x * 3.0]

    model, x = TupleOut().eval(), torch.randn(2, 4)
    compiled = torch_trt.compile(
        torch.jit.script(model), inputs=[x], min_block_size=1, runtime="reference"
    )
    got, want = compiled(x), model(x)
    assert type(got) is tuple and type(got[1]) is list and len(got[1]) == 2
    assert rel_error(got[1][0], want[1][0]) < FP32_RTOL


def test_named_tuple_output_is_refused() -> None:
    """A NamedTuple return type cannot be kept, so compile refuses instead of changing it."""

    class NamedOut(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> Pair:
            return Pair(x.relu() * 2.0 + 1.0, x.sigmoid() - 1.0)

    with pytest.raises(torch_trt.CaptureError) as info:
        torch_trt.compile(
            torch.jit.script(NamedOut().eval()), inputs=[torch.randn(2)], min_block_size=1
        )
    message = str(info.value)
    assert message.startswith("ir='ts' would change forward()'s return type from __torch__.")
    assert message.endswith(
        "Pair to Tuple[Tensor, Tensor]; return tensors, tuples, lists or dicts of them, "
        "or use ir='dynamo'"
    )
