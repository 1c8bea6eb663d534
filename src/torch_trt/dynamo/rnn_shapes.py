"""Shape-only rules for the recurrent ATen ops while torch.export traces them.

torch works out the output shapes of ``lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu`` (composite
ops) by running their Python decomposition on fake tensors, and that decomposition iterates over
the time steps (``for x in input``), which fixes the sequence length to the example's: a dynamic
sequence dim fails to export. Inside :func:`rnn_shape_rules`, torch uses a rule that only builds
the outputs' shapes instead (the same shapes: outputs ``(seq, batch, dirs * hidden)``, or
batch-first as a transposed view as torch returns it, and final states shaped like the initial
ones), so the sequence dim stays symbolic.

The exported graph still records one ATen node per call (torch.export keeps composite ops whole
while tracing, and lowering keeps these whole: ``KEEP_WHOLE`` in ``dynamo/lower.py``), so the
rule never stands in for a computation; calls on real tensors, and shapes the rule does not
cover (unbatched input), still go to torch's decomposition.

Example:
    >>> with rnn_shape_rules():
    ...     ep = torch.export.export(lstm, (x,), dynamic_shapes=({0: Dim("T")},), strict=False)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch._C import DispatchKey
from torch._subclasses.fake_tensor import is_fake

from torch_trt.convert.registry import bind_args

aten = torch.ops.aten
RNN_OPS: tuple[torch._ops.OpOverload, ...] = (
    aten.lstm.input,
    aten.gru.input,
    aten.rnn_tanh.input,
    aten.rnn_relu.input,
)
_KEYS = (DispatchKey.CompositeImplicitAutograd, DispatchKey.Autograd)

_lock = threading.Lock()
_depth = 0
_saved: list[Callable[[], None]] = []


def _shape_rule(op: torch._ops.OpOverload, original: Callable[..., Any]) -> Callable[..., Any]:
    def rule(*args: Any, **kwargs: Any) -> Any:
        a = bind_args(op, args, kwargs)
        x, hx = a["input"], a["hx"]
        states = list(hx) if isinstance(hx, list | tuple) else [hx]
        tensors = [x, *states, *a["params"]]
        if x.dim() != 3 or not all(is_fake(t) for t in tensors):
            return original(*args, **kwargs)
        seq, batch = (x.shape[1], x.shape[0]) if a["batch_first"] else (x.shape[0], x.shape[1])
        dirs = 2 if a["bidirectional"] else 1
        out = x.new_empty((seq, batch, dirs * states[0].shape[-1]))
        if a["batch_first"]:
            out = out.transpose(0, 1)
        return (out, *(h.new_empty(h.shape) for h in states))

    return rule


def _install() -> None:
    from torch._decomp import decomposition_table

    for op in RNN_OPS:
        kernels = dict(op.py_kernels)
        original = kernels.get(DispatchKey.CompositeImplicitAutograd)
        if not callable(original):  # not this torch's layout: leave the op alone
            continue
        rule = _shape_rule(op, original)
        for key in _KEYS:
            if key in op.py_kernels:
                op.py_kernels[key] = rule
        old_decomp = decomposition_table.get(op)
        if old_decomp is not None:
            decomposition_table[op] = rule

        def restore(
            op: torch._ops.OpOverload = op,
            kernels: dict[Any, Any] = kernels,
            old_decomp: Callable[..., Any] | None = old_decomp,
        ) -> None:
            op.py_kernels.clear()
            op.py_kernels.update(kernels)
            if old_decomp is not None:
                decomposition_table[op] = old_decomp
            op._dispatch_cache.clear()

        _saved.append(restore)
        op._dispatch_cache.clear()


@contextlib.contextmanager
def rnn_shape_rules() -> Iterator[None]:
    """Keep recurrent ops' sequence dims symbolic while torch traces them (re-entrant)."""
    global _depth
    with _lock:
        if _depth == 0:
            _install()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                while _saved:
                    _saved.pop()()
