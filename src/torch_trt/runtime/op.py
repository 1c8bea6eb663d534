"""``torch.ops.torch_trt.execute_engine``: the one custom op a compiled module calls.

It takes the engine's inputs, the serialized engine (a uint8 tensor), an optional serialized
reference program (a uint8 tensor) and the JSON metadata. The fake implementation gives outputs
from the metadata alone, so compiled programs can be exported, saved and traced again.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch

from torch_trt.errors import EngineFormatError
from torch_trt.runtime import engine as _engine
from torch_trt.runtime.engine import EngineMetadata
from torch_trt.runtime.select import selected


@functools.lru_cache(maxsize=256)
def parse_metadata(text: str) -> EngineMetadata:
    """Parsed, validated metadata (cached: the same string arrives on every call)."""
    return EngineMetadata.from_json(text)


_PROGRAMS: dict[str, object] = {}


def _reference_run(
    meta: EngineMetadata, reference: torch.Tensor, inputs: list[torch.Tensor], in_place: bool
) -> list[torch.Tensor]:
    from torch_trt.runtime.reference import ReferenceProgram

    prog = _PROGRAMS.get(meta.engine_id)
    if prog is None:
        prog = _PROGRAMS[meta.engine_id] = ReferenceProgram.from_bytes(
            reference.cpu().numpy().tobytes()
        )
    assert isinstance(prog, ReferenceProgram)
    _engine.check_inputs(meta, inputs)
    # As on the GPU: an input the engine writes in place is the caller's tensor only in place.
    bound = _engine.bound_inputs(meta, inputs, in_place)
    outs = list(prog.run(bound))
    for j, i in meta.aliased_inputs().items():
        if outs[j] is not bound[i]:  # the layer's result must live in the input's memory
            raise EngineFormatError(
                f"engine {meta.name}: output {meta.outputs[j].name!r} must be written into "
                f"input {meta.inputs[i].name!r}, but the reference program made a new tensor"
            )
        if in_place and bound[i] is not inputs[i]:  # a non-contiguous input: write it back
            inputs[i].copy_(bound[i])
            _engine.copies.add(bound[i])
    # An output may be a program constant (or a view of one): never hand out the program's own
    # memory, or a caller's in-place edit would change every later call.
    constants = [
        r.attrs["weights"]
        for r in prog.layers
        if r.type == "CONSTANT" and isinstance(r.attrs.get("weights"), torch.Tensor)
    ]
    return independent(outs, constants)


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    return (str(t.device), t.untyped_storage().data_ptr())


def independent(outs: list[torch.Tensor], taken: list[torch.Tensor]) -> list[torch.Tensor]:
    """``outs`` with every output that shares memory with a tensor of ``taken`` or with an
    earlier output replaced by a copy (the custom-op contract: outputs alias nothing)."""
    seen = {_storage_key(t) for t in taken}
    result = []
    for o in outs:
        key = _storage_key(o)
        if key in seen or key[1] == 0:  # data_ptr 0: an empty storage, cheap to copy
            o = o.clone()
            _engine.copies.add(o)
            key = _storage_key(o)
        seen.add(key)
        result.append(o)
    return result


def _run(
    meta: EngineMetadata,
    engine: torch.Tensor,
    reference: torch.Tensor | None,
    inputs: list[torch.Tensor],
    in_place: bool,
) -> list[torch.Tensor]:
    """Every engine output, by the selected runtime (aliased outputs are their input tensor)."""
    if selected(meta.runtime) == "reference":
        if reference is None:
            raise EngineFormatError(
                f"engine {meta.name} has no reference program, so the reference runtime cannot "
                "evaluate it; compile with runtime='reference', or save with with_source=True "
                "and load with runtime='reference'"
            )
        return _reference_run(meta, reference, inputs, in_place)
    return _engine.execute(meta, engine, inputs, in_place)


@torch.library.custom_op("torch_trt::execute_engine", mutates_args=())
def execute_engine(
    inputs: list[torch.Tensor],
    engine: torch.Tensor,
    reference: torch.Tensor | None,
    metadata: str,
) -> list[torch.Tensor]:
    """Run a TensorRT engine (or, with the reference runtime, its reference program).

    The runtime is the innermost ``torch_trt.runtime(...)`` block's, else the metadata's. An
    engine that updates an input in place (``metadata.aliases``) works on a copy of it here:
    this op changes none of its arguments (see :func:`execute_engine_inplace`)."""
    meta = parse_metadata(metadata)
    outs = _run(meta, engine, reference, list(inputs), in_place=False)
    # Outputs must alias neither the inputs nor each other (custom-op contract).
    return independent(outs, [*inputs, engine, *([] if reference is None else [reference])])


def bindings_in_order(
    meta: EngineMetadata, inputs: Sequence[Any], state: Sequence[Any]
) -> list[Any]:
    """The engine's inputs in binding order from the ``execute_engine_inplace`` arguments:
    ``state`` holds the alias targets in ``meta.aliases`` order, ``inputs`` the rest."""
    names = [b.name for b in meta.inputs]
    targets = [names.index(i) for _, i in meta.aliases]
    if len(state) != len(targets) or len(inputs) + len(state) != len(names):
        raise EngineFormatError(
            f"engine {meta.name} takes {len(names)} inputs, {len(targets)} of them updated in "
            f"place; got {len(inputs)} inputs and {len(state)} in-place ones"
        )
    rest = iter(inputs)
    by_index = dict(zip(targets, state, strict=True))
    return [by_index[i] if i in by_index else next(rest) for i in range(len(names))]


@torch.library.custom_op("torch_trt::execute_engine_inplace", mutates_args=("state",))
def execute_engine_inplace(
    inputs: list[torch.Tensor],
    state: list[torch.Tensor],
    engine: torch.Tensor,
    reference: torch.Tensor | None,
    metadata: str,
) -> list[torch.Tensor]:
    """Run an engine whose aliased outputs (``metadata.aliases``, e.g. KV-cache updates) are
    written into the tensors of ``state`` in place, with no copy; returns the other outputs.

    ``state[k]`` is the input named by the k-th alias; ``inputs`` are the remaining inputs in
    binding order. This is how a compiled graph calls an engine whose in-place outputs it would
    otherwise write back with ``copy_`` (``torch_trt.dynamo.inplace``)."""
    meta = parse_metadata(metadata)
    bound = bindings_in_order(meta, list(inputs), list(state))
    outs = _run(meta, engine, reference, bound, in_place=True)
    aliased = meta.aliased_inputs()
    kept = [o for j, o in enumerate(outs) if j not in aliased]
    taken = [*inputs, *state, engine, *([] if reference is None else [reference])]
    return independent(kept, taken)


def _setup_backward(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    ctx.engine_name = parse_metadata(inputs[3]).name


def _backward(ctx: Any, grads: Any) -> Any:
    from torch_trt.runtime.module import InferenceOnlyError

    raise InferenceOnlyError(
        f"torch-trt engines are inference only: gradients cannot flow back through engine "
        f"{ctx.engine_name}. Call the compiled module under torch.no_grad() (or on inputs that do "
        "not require grad), and train the original model instead"
    )


execute_engine.register_autograd(_backward, setup_context=_setup_backward)
# execute_engine_inplace mutates its state, so torch takes no autograd formula for it; its
# outputs carry no grad_fn and a backward through them fails in torch itself.


@functools.lru_cache(maxsize=1024)
def _parse_dim(text: str) -> sympy.Expr:
    from torch.utils._sympy import functions as sym_functions

    names = {k: getattr(sym_functions, k) for k in dir(sym_functions) if k[0].isupper()}
    return sympy.sympify(text, locals=names)


def _eval_dim(expr: sympy.Expr, env: dict[str, Any]) -> Any:
    """Evaluate a size expression on ints or SymInts (``None`` when it cannot)."""
    if expr.is_Integer:
        return int(expr)
    if expr.is_Symbol:
        return env.get(str(expr))
    args = [_eval_dim(a, env) for a in expr.args]
    if any(a is None for a in args):
        return None
    name = type(expr).__name__
    if name == "Add":
        return functools.reduce(operator.add, args)
    if name == "Mul":
        return functools.reduce(operator.mul, args)
    if name == "FloorDiv":
        return args[0] // args[1]
    if name in ("Mod", "PythonMod"):
        return args[0] % args[1]
    if name == "Pow" and isinstance(args[1], int) and args[1] >= 0:
        return args[0] ** args[1]
    if name == "Max":
        return functools.reduce(torch.sym_max, args)
    if name == "Min":
        return functools.reduce(torch.sym_min, args)
    return None


def output_shapes(
    meta: EngineMetadata, inputs: list[torch.Tensor], fresh: Callable[[], Any] | None = None
) -> list[list[Any]]:
    """Output sizes from the metadata's size expressions and the inputs' (Sym)Int sizes.

    A symbol no input defines is a data-dependent size (``"u0"``): with ``fresh``, each such
    symbol gets one new size from it, shared by every output dim that names it (``"u0"`` and
    ``"3*u0"`` stay related); without, such a dim is ``None``.
    """
    env: dict[str, Any] = {}
    for t, b in zip(inputs, meta.inputs, strict=False):
        for size, dim in zip(t.shape, b.shape, strict=False):
            if isinstance(dim, str) and dim.isidentifier():
                env.setdefault(dim, size)

    def dim_size(d: int | str) -> Any:
        if isinstance(d, int):
            return d
        expr = _parse_dim(d)
        if fresh is not None:
            for sym in sorted(expr.free_symbols, key=str):
                if str(sym) not in env:
                    env[str(sym)] = fresh()
        return _eval_dim(expr, env)

    return [[dim_size(d) for d in b.shape] for b in meta.outputs]


@execute_engine.register_fake
def _execute_engine_fake(
    inputs: list[torch.Tensor],
    engine: torch.Tensor,
    reference: torch.Tensor | None,
    metadata: str,
) -> list[torch.Tensor]:
    return _fake_outputs(parse_metadata(metadata), inputs, set())


@execute_engine_inplace.register_fake
def _execute_engine_inplace_fake(
    inputs: list[torch.Tensor],
    state: list[torch.Tensor],
    engine: torch.Tensor,
    reference: torch.Tensor | None,
    metadata: str,
) -> list[torch.Tensor]:
    meta = parse_metadata(metadata)
    bound = bindings_in_order(meta, inputs, state)
    return _fake_outputs(meta, bound, set(meta.aliased_inputs()))


def _fake_outputs(
    meta: EngineMetadata, inputs: list[torch.Tensor], skip: set[int]
) -> list[torch.Tensor]:
    """Empty outputs of the metadata's dtypes and sizes (but those in ``skip``)."""
    if inputs:
        device = inputs[0].device
    else:
        device = torch.device("cpu" if selected(meta.runtime) == "reference" else "cuda")
    # A data-dependent size is only known once the engine ran: an unbacked size for torch.
    fresh = torch.library.get_ctx().new_dynamic_size
    outs = []
    shapes = output_shapes(meta, inputs, fresh)
    for j, (shape, b) in enumerate(zip(shapes, meta.outputs, strict=True)):
        if j in skip:
            continue
        sizes = [fresh() if d is None else d for d in shape]
        outs.append(torch.empty(sizes, dtype=b.torch_dtype, device=device))
    return outs
