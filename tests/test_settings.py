"""CompileSettings and Input: validation and messages."""

from __future__ import annotations

import pytest
import torch

import torch_trt
from torch_trt import CompileSettings, Input


def test_unknown_option_names_closest() -> None:
    """An unknown option is a TypeError naming it and the closest valid option."""
    with pytest.raises(
        TypeError, match=r"unknown compile option 'min_blok_size'.*'min_block_size'"
    ):
        CompileSettings.from_kwargs(min_blok_size=3)


def test_unknown_option_through_compile() -> None:
    """dynamo.compile refuses unknown options before doing any work."""
    with pytest.raises(TypeError, match=r"'runtme'.*'runtime'"):
        torch_trt.dynamo.compile(torch.nn.ReLU(), [torch.randn(2)], runtme="reference")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"min_block_size": 0}, ValueError, "min_block_size must be >= 1, got 0"),
        ({"min_block_size": "3"}, TypeError, "min_block_size must be an int"),
        ({"optimization_level": 9}, ValueError, r"optimization_level must be in \[0, 5\]"),
        ({"runtime": "gpu"}, ValueError, "runtime must be one of"),
        ({"progress": 3}, TypeError, "progress must be True, False, None or a callable"),
        ({"debug": 1}, TypeError, "debug must be a bool"),
        ({"torch_executed_ops": "aten.relu"}, TypeError, "not a single string"),
        ({"torch_executed_ops": [3]}, TypeError, "must be ATen ops or names"),
        ({"precision": "fp8"}, ValueError, r"precision must be one of \('fp32', 'fp16', 'bf16'\)"),
        ({"precision": torch.int8}, ValueError, "precision must be one of"),
        (
            {"precision": "fp16", "precision_exclude": "aten.mm"},
            TypeError,
            "precision_exclude must be a collection of ops or patterns, not a string",
        ),
        (
            {"precision": "fp16", "precision_exclude": ["aten.mmm"]},
            ValueError,
            "precision_exclude entry 'aten.mmm' names no registered op",
        ),
        (
            {"precision": "fp16", "precision_exclude": ["linear_(1"]},
            ValueError,
            r"precision_exclude pattern 'linear_\(1' is not a valid regular expression",
        ),
        (
            {"precision": "fp16", "precision_exclude": [3]},
            TypeError,
            "precision_exclude entries must be ATen ops, op names or node-name patterns",
        ),
        (
            {"precision_exclude": ["aten.mm"]},
            ValueError,
            "precision_exclude keeps ops in float32 under reduced precision, but precision='fp32'",
        ),
        ({"truncate_double": "yes"}, TypeError, "truncate_double must be a bool"),
    ],
)
def test_invalid_values(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    """Each invalid setting value raises with a message saying what is allowed."""
    with pytest.raises(error, match=message):
        CompileSettings.from_kwargs(**kwargs)


def test_precision_values() -> None:
    """precision takes names or torch dtypes; excludes keep ops and patterns apart."""
    s = CompileSettings.from_kwargs(
        precision=torch.bfloat16,
        precision_exclude=[torch.ops.aten.mm.default, "torch.ops.aten.softmax", "^linear_3$"],
    )
    assert s.precision == "bf16" and s.low_precision == torch.bfloat16
    assert s.precision_exclude == {"aten.mm.default", "aten.softmax", "^linear_3$"}
    assert s.precision_excluded("mm_4", torch.ops.aten.mm.default) == "aten.mm.default"
    assert s.precision_excluded("softmax", torch.ops.aten.softmax.int) == "aten.softmax"
    assert s.precision_excluded("linear_3", torch.ops.aten.linear.default) == "^linear_3$"
    assert s.precision_excluded("linear_31", torch.ops.aten.linear.default) is None
    assert CompileSettings().low_precision is None


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after validation."""
    s = CompileSettings()
    with pytest.raises(AttributeError):
        s.min_block_size = 2  # type: ignore[misc]


def test_torch_executed_ops_accepts_ops_and_names() -> None:
    """Overloads, packets and names all exclude the op; other ops are not excluded."""
    aten = torch.ops.aten
    s = CompileSettings(
        torch_executed_ops=frozenset({aten.relu.default, aten.add, "aten.mul.Tensor"})
    )
    assert s.excludes(aten.relu.default)
    assert s.excludes(aten.add.Tensor) and s.excludes(aten.add.Scalar)
    assert s.excludes(aten.mul.Tensor) and not s.excludes(aten.mul.Scalar)
    assert not s.excludes(aten.sub.Tensor)


def test_input_static_shape() -> None:
    """A static Input keeps shape and dtype and makes a matching example tensor."""
    spec = Input((2, 3), torch.int64, name="ids")
    assert spec.shape == (2, 3) and spec.dtype == torch.int64 and spec.name == "ids"
    ex = spec.example()
    assert ex.shape == (2, 3) and ex.dtype == torch.int64
    assert Input.from_tensor(torch.zeros(4, 1)) == Input((4, 1))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"shape": (2, -1)}, ValueError, "non-negative ints"),
        ({"shape": (2,), "dtype": "float32"}, TypeError, "must be a torch.dtype, got 'float32'"),
        ({}, TypeError, "Input needs a shape"),
        ({"min_shape": (1,), "max_shape": (3,)}, TypeError, "all of min_shape, opt_shape"),
        ({"shape": (2,), "min_shape": (1,)}, TypeError, "either shape or min_shape"),
        (
            {"min_shape": (1, 3), "opt_shape": (9, 3), "max_shape": (8, 3)},
            ValueError,
            r"dim 0: need min <= opt <= max, got 1, 9, 8",
        ),
        ({"min_shape": (1,), "opt_shape": (2, 1), "max_shape": (3,)}, ValueError, "one rank"),
        (
            {"min_shape": (1,), "opt_shape": (2,), "max_shape": (3,), "dim_names": ("a", "b")},
            ValueError,
            "dim_names has 2 entries for a rank-1 Input",
        ),
        (
            {"min_shape": (1,), "opt_shape": (2,), "max_shape": (3,), "dim_names": ("2x",)},
            ValueError,
            "identifiers or None",
        ),
    ],
)
def test_input_errors(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    """Bad Input specs raise with a message that says what to do."""
    with pytest.raises(error, match=message):
        Input(**kwargs)  # type: ignore[arg-type]


def test_input_ranges() -> None:
    """A ranged Input reports its dynamic dims and traces at opt, avoiding sizes 0 and 1."""
    spec = Input(min_shape=(1, 3), opt_shape=(1, 3), max_shape=(8, 3), dim_names=("batch", None))
    assert spec.is_dynamic and spec.dynamic_dims() == [0]
    assert spec.example_shape() == (2, 3)  # 1 would make torch.export specialize the dim
    assert "min_shape=(1, 3)" in repr(spec) and "dim_names=('batch', None)" in repr(spec)
    with pytest.raises(ValueError, match="is dynamic"):
        _ = spec.shape
    assert Input(min_shape=(4,), opt_shape=(4,), max_shape=(4,)).shape == (4,)


def test_compile_with_input_specs() -> None:
    """Input specs stand in for example tensors."""
    compiled = torch_trt.dynamo.compile(
        torch.nn.ReLU(), [Input((2, 3))], runtime="reference", min_block_size=1
    )
    x = torch.randn(2, 3)
    assert torch.equal(compiled(x), torch.relu(x))
