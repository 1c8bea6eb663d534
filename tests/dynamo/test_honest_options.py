"""Options are honoured or refused, messages say what to do, one bad node stays alone."""

from __future__ import annotations

import logging

import pytest
import torch

import torch_trt
from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import Reason, converter


@torch.library.custom_op("torch_trt_test::convert_fails", mutates_args=())
def convert_fails(x: torch.Tensor) -> torch.Tensor:
    """x * 3, with a converter that always fails (and leaks a tensor repr in its message)."""
    return x * 3


@convert_fails.register_fake
def _convert_fails_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@converter(torch.ops.torch_trt_test.convert_fails.default)
def _convert_convert_fails(ctx: ConversionContext, x: object) -> object:
    raise TypeError(f"add_shuffle(): incompatible arguments. Invoked with: {torch.arange(300.0)}")


class OneBadNode(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x.relu() + 1) * 2
        z = torch.ops.torch_trt_test.convert_fails(y)
        return (z - 1).sigmoid() * 4


def test_conversion_failure_keeps_only_that_node(caplog: pytest.LogCaptureFixture) -> None:
    """A node whose converter fails runs in PyTorch alone; the rest is re-partitioned into
    engines, and neither the warning nor the report shows tensor contents."""
    x = torch.randn(3, 5)
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        c = torch_trt.dynamo.compile(OneBadNode(), [x], runtime="reference", min_block_size=1)
    rep = torch_trt.report(c)
    assert rep.engines == 2
    (bad,) = rep.fallbacks
    assert bad.op == "torch_trt_test.convert_fails.default"
    assert bad.reason is Reason.CONVERSION_FAILED
    assert "tensor contents omitted" in bad.detail and "tensor(" not in bad.detail
    assert "tensor(" not in caplog.text and "convert_fails" in caplog.text
    torch.testing.assert_close(c(x), OneBadNode()(x))


def test_conversion_failure_with_full_compilation_raises() -> None:
    """require_full_compilation turns the same failure into a ConversionError naming the node."""
    with pytest.raises(torch_trt.ConversionError, match=r"convert_fails .*omitted") as e:
        torch_trt.dynamo.compile(
            OneBadNode(), [torch.randn(3, 5)], min_block_size=1, require_full_compilation=True
        )
    assert e.value.node == "convert_fails"


@pytest.mark.parametrize(
    ("entry", "suggestion"),
    [
        ("aten.reluu.default", "aten.relu.default"),
        ("relu", "aten.relu"),
        ("aten.add.Tensorr", "aten.add.Tensor"),
    ],
)
def test_unknown_executed_op_raises_with_closest(entry: str, suggestion: str) -> None:
    """A torch_executed_ops entry naming no op raises with the closest valid name."""
    with pytest.raises(ValueError, match=rf"names no registered op.*did you mean '{suggestion}'"):
        torch_trt.dynamo.compile(torch.nn.ReLU(), [torch.randn(2)], torch_executed_ops=[entry])


def test_executed_op_absent_from_graph_warns(caplog: pytest.LogCaptureFixture) -> None:
    """A valid entry that matches no node warns that it has no effect."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()).eval()
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        torch_trt.dynamo.compile(
            model, [torch.randn(2, 4)], runtime="reference", torch_executed_ops=["aten.tanh"]
        )
    assert "'aten.tanh' matches no node" in caplog.text


class Flagged(torch.nn.Module):
    def forward(self, x: torch.Tensor, flag: bool = False) -> torch.Tensor:
        y = (x * 2).relu() + 1
        return -y if flag else y


def test_no_false_range_warning_for_constant_kwargs(caplog: pytest.LogCaptureFixture) -> None:
    """Ranges plus a non-tensor kwarg compile without a 'narrow the ranges' warning."""
    spec = torch_trt.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(8, 4))
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        c = torch_trt.dynamo.compile(
            Flagged(), [spec], kwarg_inputs={"flag": True}, runtime="reference", min_block_size=1
        )
    assert "narrow the ranges" not in caplog.text
    x = torch.randn(5, 4)
    torch.testing.assert_close(c(x, flag=True), Flagged()(x, flag=True))
    with pytest.raises(ValueError, match=r"argument 'flag' is False, but the model was compiled"):
        c(x, flag=False)


class Branchy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x - 1


def test_data_dependent_branch_names_remedy(capfd: pytest.CaptureFixture[str]) -> None:
    """A data-dependent Python branch names torch.cond and ir='torch_compile' first, and
    torch's partial graph dump stays out of stderr."""
    with pytest.raises(torch_trt.CaptureError) as e:
        torch_trt.dynamo.compile(Branchy().eval(), [torch.randn(3)])
    first = str(e.value).splitlines()[0]
    assert "torch.cond" in first and "ir='torch_compile'" in first
    assert "def forward" not in capfd.readouterr().err


def test_hugging_face_cache_output_names_use_cache() -> None:
    """A model returning a transformers cache object says to pass use_cache=False."""
    import transformers

    cfg = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 64, (1, 5))
    with pytest.raises(torch_trt.CaptureError, match=r"^.*use_cache=False"):
        torch_trt.dynamo.compile(model, [ids], kwarg_inputs={"use_cache": True})


def test_unsupported_input_type_is_named() -> None:
    """An input of an unsupported type is named by its path in the CaptureError."""
    with pytest.raises(
        torch_trt.CaptureError, match=r"unsupported input type: kwarg_inputs\['m'\]"
    ):
        torch_trt.dynamo.compile(Flagged(), [torch.randn(2)], kwarg_inputs={"m": object()})
