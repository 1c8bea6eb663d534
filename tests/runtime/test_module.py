"""The compiled module is a drop-in: modes, call conventions, pickling, grads, dtype moves."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

import torch_trt
from torch_trt.runtime.module import CompiledModule, InferenceOnlyError


class Defaults(torch.nn.Module):
    """forward with an optional tensor and a float default."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, scale: float = 2.0
    ) -> torch.Tensor:
        out = self.lin(x).relu() * scale
        return out if mask is None else out + mask


@pytest.fixture(scope="module")
def compiled() -> tuple[torch.nn.Module, CompiledModule]:
    torch.manual_seed(0)
    model = Defaults().eval()
    out = torch_trt.dynamo.compile(
        model, [torch.randn(2, 4)], runtime="reference", min_block_size=1
    )
    assert torch_trt.report(out).engines == 1
    return model, out


def test_is_an_fx_graph_module(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """The result is a CompiledModule, which is an fx.GraphModule and an nn.Module."""
    _, c = compiled
    assert isinstance(c, CompiledModule) and isinstance(c, torch.fx.GraphModule)


def test_eval_and_train_false(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """eval() and train(False) work and return the module; training reflects eval mode."""
    _, c = compiled
    assert c.eval() is c and c.train(False) is c
    assert c.training is False


def test_train_true_is_refused(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """train() on an eval-compiled module raises: engines are inference only."""
    _, c = compiled
    with pytest.raises(InferenceOnlyError, match="inference only; compile the model after"):
        c.train()


def test_training_compiled_module_refuses_eval() -> None:
    """A module compiled in training mode reports it and refuses eval()."""
    c = torch_trt.dynamo.compile(Defaults(), [torch.randn(2, 4)], runtime="reference")
    assert c.training is True
    with pytest.raises(InferenceOnlyError, match="compiled in training mode"):
        c.eval()


def test_keyword_and_default_calls(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """Positional, keyword and explicit-default calls all match eager."""
    model, c = compiled
    x = torch.randn(2, 4)
    want = model(x)
    for got in (c(x), c(x=x), c(x, None), c(x, scale=2.0), c(x, mask=None, scale=2)):
        torch.testing.assert_close(got, want)


def test_changed_constant_names_the_argument(
    compiled: tuple[torch.nn.Module, CompiledModule],
) -> None:
    """A non-tensor argument different from its compiled-in value raises, naming it."""
    _, c = compiled
    with pytest.raises(ValueError, match=r"argument 'scale' is 3\.0, but it was not given"):
        c(torch.randn(2, 4), scale=3.0)
    with pytest.raises(ValueError, match=r"argument 'mask' is a tensor \(2, 4\)"):
        c(torch.randn(2, 4), mask=torch.randn(2, 4))


def test_bad_call_is_a_type_error(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """An argument forward() does not take raises TypeError naming the model."""
    _, c = compiled
    with pytest.raises(TypeError, match="compiled Defaults: got an unexpected keyword"):
        c(torch.randn(2, 4), y=1)


def test_compiled_constant_kwarg_is_checked() -> None:
    """A constant given at compile time must be given the same at call time."""
    model = Defaults().eval()
    x = torch.randn(2, 4)
    c = torch_trt.dynamo.compile(
        model, [x], kwarg_inputs={"scale": 0.5}, runtime="reference", min_block_size=1
    )
    torch.testing.assert_close(c(x, scale=0.5), model(x, scale=0.5))
    with pytest.raises(ValueError, match=r"argument 'scale' is 1\.5, but the model was compiled"):
        c(x, scale=1.5)


class Images(torch.nn.Module):
    """Takes a list of images and a dict, as detection models do."""

    def forward(self, images: list[torch.Tensor], extra: dict[str, torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack([(i * 2).relu() + 1 for i in images])
        return stacked * extra["scale"] + extra["shift"]


def test_pytree_inputs() -> None:
    """Lists and dicts of tensors work at compile and call time; another structure is refused."""
    model = Images()
    images = [torch.randn(3, 4), torch.randn(3, 4)]
    extra = {"scale": torch.randn(3, 4), "shift": torch.randn(3, 4)}
    c = torch_trt.dynamo.compile(model.eval(), [images, extra], runtime="reference")
    assert torch_trt.report(c).engines == 1
    new = [torch.randn(3, 4), torch.randn(3, 4)]
    torch.testing.assert_close(c(new, extra), model(new, extra))
    torch.testing.assert_close(c(images=new, extra=extra), model(new, extra))
    with pytest.raises(ValueError, match="argument 'images' has structure"):
        c([*new, torch.randn(3, 4)], extra)


def test_bare_tensor_is_one_input() -> None:
    """inputs=tensor is one input, not a sequence of rows."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()).eval()
    x = torch.randn(3, 4)
    c = torch_trt.dynamo.compile(model, x, runtime="reference", min_block_size=1)
    torch.testing.assert_close(c(x), model(x))


def test_inputs_as_dict_is_refused() -> None:
    """A dict as inputs says to use kwarg_inputs."""
    with pytest.raises(TypeError, match="pass keyword arguments as kwarg_inputs"):
        torch_trt.dynamo.compile(Defaults(), {"x": torch.randn(2, 4)})


def test_pickle_names_torch_trt_save(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """pickle and torch.save raise a clear error naming torch_trt.save."""
    _, c = compiled
    with pytest.raises(TypeError, match=r"use torch_trt.save|save it with torch_trt.save"):
        pickle.dumps(c)
    with pytest.raises(TypeError, match="torch_trt.save"):
        torch.save(c, io.BytesIO())


def test_outputs_do_not_require_grad(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """Outputs need no grad, and the module has no trainable parameters."""
    _, c = compiled
    assert not c(torch.randn(2, 4)).requires_grad
    assert list(c.parameters()) == []


def test_backward_is_inference_only(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """backward() through an engine raises torch-trt's inference-only error."""
    _, c = compiled
    y = c(torch.randn(2, 4, requires_grad=True))
    with pytest.raises(InferenceOnlyError, match="torch-trt engines are inference only"):
        y.sum().backward()


def test_dtype_conversions_refused(compiled: tuple[torch.nn.Module, CompiledModule]) -> None:
    """.half()/.to(dtype) raise; .to(device) and .float() on an fp32 module work."""
    model, c = compiled
    with pytest.raises(TypeError, match="cannot be converted to torch.float16"):
        c.half()
    with pytest.raises(TypeError, match="cannot be converted to torch.float64"):
        c.to(torch.float64)
    assert c.to("cpu") is c and c.float() is c
    x = torch.randn(2, 4)
    torch.testing.assert_close(c(x), model(x))


def test_script_module_points_to_ts_frontend() -> None:
    """A ScriptModule handed to dynamo.compile names the TorchScript frontend."""
    scripted = torch.jit.script(torch.nn.ReLU())
    with pytest.raises(TypeError, match=r"use the TorchScript frontend: torch_trt.compile"):
        torch_trt.dynamo.compile(scripted, [torch.randn(2)])


def test_report_on_plain_module_names_real_functions() -> None:
    """report() of a module torch-trt did not compile names functions that exist."""
    with pytest.raises(ValueError, match="torch_trt.compile or torch_trt.dynamo.compile") as e:
        torch_trt.report(torch.nn.ReLU())
    assert hasattr(torch_trt, "compile") and "torch_trt.dynamo.compile" in str(e.value)
