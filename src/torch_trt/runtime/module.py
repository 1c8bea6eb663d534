"""The module a compile returns: an ``fx.GraphModule`` that behaves like the model.

``CompiledModule`` is called the way the original ``forward`` is (positional or keyword, defaults
omitted, any pytree of tensors), refuses what it cannot honour with a clear error (training mode,
dtype conversions, pickling, changed constant arguments) and holds only the state it needs: the
engines, the weights of regions that run in PyTorch and the buffers the program mutates.

Example:
    >>> compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
    >>> compiled.eval() is compiled
    True
    >>> y = compiled(x=x)            # keyword call, as model(x=x)
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, NoReturn

import torch
import torch.utils._pytree as pytree
from torch import fx

from torch_trt.errors import TorchTRTError

CALL_KEY = "torch_trt_call"
_TENSOR = "<tensor>"


class _Tensor:
    """Marks a tensor leaf in a recorded argument (only its place matters)."""

    def __repr__(self) -> str:
        return _TENSOR


@dataclasses.dataclass
class Argument:
    """One argument as given at compile time: how it was passed and its tree of leaves."""

    name: str
    kind: str  # "positional", "var_positional", "keyword", "var_keyword"
    spec: pytree.TreeSpec
    leaves: list[Any]  # _Tensor marks a tensor, anything else is a compiled-in constant


@dataclasses.dataclass
class CallSignature:
    """How the model was called at compile time, to map later calls onto the compiled graph.

    ``signature`` is ``None`` for an ``ExportedProgram``: calls then pass through unchanged.
    """

    model: str
    signature: inspect.Signature | None
    arguments: list[Argument]

    @classmethod
    def record(
        cls, model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> CallSignature:
        """The call ``model(*args, **kwargs)`` used for tracing (tensors or Input specs)."""
        from torch_trt.inputs import Input

        sig = inspect.signature(model.forward)
        bound = sig.bind(*args, **kwargs)
        recorded = []
        for name, value in bound.arguments.items():
            param = sig.parameters[name]
            leaves, spec = pytree.tree_flatten(value)
            marks = [_Tensor() if isinstance(x, torch.Tensor | Input) else x for x in leaves]
            kind = _kind(param, name in kwargs)
            recorded.append(Argument(name, kind, spec, marks))
        return cls(type(model).__name__, sig, recorded)

    def normalize(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` laid out as at compile time; raises for calls that do not fit."""
        if self.signature is None:
            return args, kwargs
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"compiled {self.model}: {e}") from None
        recorded = {a.name: a for a in self.arguments}
        for name, param in self.signature.parameters.items():
            if name not in recorded and name in bound.arguments:
                _check_default(self.model, name, bound.arguments[name], param)
        out_args: list[Any] = []
        out_kwargs: dict[str, Any] = {}
        for arg in self.arguments:
            if arg.name in bound.arguments:
                value = bound.arguments[arg.name]
            else:
                value = self.signature.parameters[arg.name].default
            value = _fit(self.model, arg, value)
            if arg.kind == "positional":
                out_args.append(value)
            elif arg.kind == "var_positional":
                out_args.extend(value)
            elif arg.kind == "keyword":
                out_kwargs[arg.name] = value
            else:
                out_kwargs.update(value)
        return tuple(out_args), out_kwargs


def _kind(param: inspect.Parameter, by_keyword: bool) -> str:
    if param.kind is param.VAR_POSITIONAL:
        return "var_positional"
    if param.kind is param.VAR_KEYWORD:
        return "var_keyword"
    return "keyword" if by_keyword or param.kind is param.KEYWORD_ONLY else "positional"


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor {tuple(value.shape)} {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _check_default(model: str, name: str, value: Any, param: inspect.Parameter) -> None:
    """An argument not given at compile time had its default compiled in: only that value fits."""
    if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        if value:
            raise ValueError(
                f"compiled {model}: argument {name!r} got values, but none were given when the "
                "model was compiled; pass them at compile time"
            )
        return
    if isinstance(value, torch.Tensor) or not _same(value, param.default):
        raise ValueError(
            f"compiled {model}: argument {name!r} is {_show(value)}, but it was not given when "
            f"the model was compiled, so its default {_show(param.default)} was compiled in; "
            f"recompile with {name!r} among the inputs"
        )


def _fit(model: str, arg: Argument, value: Any) -> Any:
    """Check ``value`` against the compile-time tree of ``arg``; constants must be unchanged."""
    leaves, spec = pytree.tree_flatten(value)
    if spec != arg.spec:
        raise ValueError(
            f"compiled {model}: argument {arg.name!r} has structure {_structure(spec)}, but the "
            f"model was compiled for {_structure(arg.spec)}; recompile for the new structure"
        )
    for i, (got, want) in enumerate(zip(leaves, arg.leaves, strict=True)):
        where = arg.name if spec.num_leaves == 1 else f"{arg.name} (leaf {i})"
        if isinstance(want, _Tensor):
            if not isinstance(got, torch.Tensor):
                raise TypeError(
                    f"compiled {model}: argument {where!r} must be a tensor, got {_show(got)}"
                )
        elif isinstance(got, torch.Tensor) or not _same(got, want):
            raise ValueError(
                f"compiled {model}: argument {where!r} is {_show(got)}, but the model was "
                f"compiled with {_show(want)}; non-tensor arguments are compiled in as "
                "constants: recompile with the new value"
            )
    return value


def _structure(spec: pytree.TreeSpec) -> str:
    if spec.is_leaf():
        return "a single value"
    leaves = pytree.tree_unflatten([_Tensor()] * spec.num_leaves, spec)
    text = repr(leaves)
    return text if len(text) <= 120 else text[:117] + "..."


class InferenceOnlyError(TorchTRTError, RuntimeError):
    """Gradients were requested through a TensorRT engine, or training mode was asked for."""


class CompiledModule(fx.GraphModule):
    """A compiled model: call it like the model; see the module docstring."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = self.meta.get(CALL_KEY)
        if isinstance(call, CallSignature):
            args, kwargs = call.normalize(args, kwargs)
        return super().__call__(*args, **kwargs)

    @property
    def compiled_training(self) -> bool:
        """The mode the model was compiled in (``model.training`` at compile)."""
        return bool(self.meta.get("torch_trt_training", False))

    def train(self, mode: bool = True) -> CompiledModule:
        """Only the compiled mode is available: engines cannot switch dropout or batch norm."""
        if mode != self.compiled_training:
            want = "training" if mode else "eval"
            raise InferenceOnlyError(
                f"this module was compiled in {'training' if self.compiled_training else 'eval'} "
                f"mode and cannot switch to {want} mode: torch-trt engines are inference only; "
                f"compile the model after model.{'train()' if mode else 'eval()'} instead"
            )
        super().train(mode)
        return self

    def to(self, *args: Any, **kwargs: Any) -> CompiledModule:
        """Move to a device; dtype conversions are refused (engines have fixed dtypes)."""
        _, dtype, _, _ = torch._C._nn._parse_to(*args, **kwargs)
        if dtype is not None:
            self._refuse_dtype(str(dtype))
        super().to(*args, **kwargs)
        return self

    def half(self) -> NoReturn:
        self._refuse_dtype("torch.float16")

    def bfloat16(self) -> NoReturn:
        self._refuse_dtype("torch.bfloat16")

    def double(self) -> NoReturn:
        self._refuse_dtype("torch.float64")

    def float(self) -> CompiledModule:
        """A no-op when every floating-point tensor already is float32, else refused."""
        if any(t.is_floating_point() and t.dtype != torch.float32 for t in self.buffers()):
            self._refuse_dtype("torch.float32")
        return self

    def _refuse_dtype(self, dtype: str) -> NoReturn:
        raise TypeError(
            f"a compiled module cannot be converted to {dtype}: its engines were built for "
            "fixed dtypes; convert the model first and compile it again"
        )

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            "a torch-trt compiled module cannot be pickled (torch.save(module) pickles code); "
            "save it with torch_trt.save(module, path) and load it with torch_trt.load(path)"
        )

    def __reduce__(self) -> NoReturn:
        self.__reduce_ex__(2)


def make_compiled_module(
    gm: fx.GraphModule,
    call: CallSignature | None,
    training: bool,
    state: set[str],
    meta: dict[str, Any],
) -> CompiledModule:
    """A :class:`CompiledModule` over ``gm``'s graph holding only what the graph uses.

    Parameters become plain tensors without grad (the module is inference only); the mutated
    attributes in ``state`` are copied, so the compiled module owns its state and calling it
    never changes the source model.
    """
    out = CompiledModule(gm, gm.graph, class_name=type(gm).__name__)
    for name, param in list(out.named_parameters()):
        owner, _, leaf = name.rpartition(".")
        module = out.get_submodule(owner)
        delattr(module, leaf)
        module.register_buffer(leaf, param.detach())
    for target in state:
        owner, _, leaf = target.rpartition(".")
        module = out.get_submodule(owner)
        module.register_buffer(leaf, getattr(module, leaf).detach().clone())
    out.meta.update(meta)
    out.meta[CALL_KEY] = call
    out.meta["torch_trt_training"] = training
    out.training = training
    for sub in out.modules():
        sub.training = training
    return out
