"""``torch.ops.torch_trt.execute_engine``: the one custom op a compiled module calls.

It takes the engine's inputs, the serialized engine (a uint8 tensor), an optional serialized
reference program (a uint8 tensor) and the JSON metadata. The fake implementation gives outputs
from the metadata alone, so compiled programs can be exported, saved and traced again.
"""

from __future__ import annotations

import functools

import torch

from torch_trt.errors import EngineFormatError
from torch_trt.runtime import engine as _engine
from torch_trt.runtime.engine import EngineMetadata


@functools.lru_cache(maxsize=256)
def parse_metadata(text: str) -> EngineMetadata:
    """Parsed, validated metadata (cached: the same string arrives on every call)."""
    return EngineMetadata.from_json(text)


_PROGRAMS: dict[str, object] = {}


def _reference_run(
    meta: EngineMetadata, reference: torch.Tensor, inputs: list[torch.Tensor]
) -> list[torch.Tensor]:
    from torch_trt.runtime.reference import ReferenceProgram

    prog = _PROGRAMS.get(meta.engine_id)
    if prog is None:
        prog = _PROGRAMS[meta.engine_id] = ReferenceProgram.from_bytes(
            reference.cpu().numpy().tobytes()
        )
    assert isinstance(prog, ReferenceProgram)
    _engine.check_inputs(meta, inputs)
    return list(prog.run(inputs))


@torch.library.custom_op("torch_trt::execute_engine", mutates_args=())
def execute_engine(
    inputs: list[torch.Tensor],
    engine: torch.Tensor,
    reference: torch.Tensor | None,
    metadata: str,
) -> list[torch.Tensor]:
    """Run a TensorRT engine (or, with ``runtime="reference"``, its reference program)."""
    meta = parse_metadata(metadata)
    if meta.runtime == "reference":
        if reference is None:
            raise EngineFormatError(
                f"engine {meta.name} asks for the reference runtime but carries no program"
            )
        outs = _reference_run(meta, reference, inputs)
    else:
        outs = _engine.execute(meta, engine, inputs)
    # Outputs must not alias inputs (custom op contract).
    ids = {t.untyped_storage().data_ptr() for t in inputs}
    return [o.clone() if o.untyped_storage().data_ptr() in ids else o for o in outs]


@execute_engine.register_fake
def _execute_engine_fake(
    inputs: list[torch.Tensor],
    engine: torch.Tensor,
    reference: torch.Tensor | None,
    metadata: str,
) -> list[torch.Tensor]:
    meta = parse_metadata(metadata)
    if inputs:
        device = inputs[0].device
    else:
        device = torch.device("cpu" if meta.runtime == "reference" else "cuda")
    return [torch.empty(b.shape, dtype=b.torch_dtype, device=device) for b in meta.outputs]
