"""Shared test fixtures: an op that never has a converter; loading TorchScript elsewhere."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import torch_trt

SRC = str(Path(torch_trt.__file__).resolve().parents[1])


@torch.library.custom_op("torch_trt_test::opaque", mutates_args=())
def opaque(x: torch.Tensor) -> torch.Tensor:
    """sin(x) as an op torch-trt has no converter for: it always runs in PyTorch."""
    return torch.sin(x)


@opaque.register_fake
def _opaque_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


OPAQUE = "torch_trt_test.opaque.default"


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state, so random inputs are reproducible."""
    torch.manual_seed(0)


def _engine_hashes(module: torch.nn.Module) -> dict[str, str]:
    """sha256 of every engine buffer of a compiled module, by buffer name."""
    return {
        name: hashlib.sha256(buf.numpy().tobytes()).hexdigest()
        for name, buf in module.named_buffers()
        if name.endswith("_engine")
    }


_LOAD = """
import hashlib, json, sys, torch, torch_trt
m = torch.jit.load(sys.argv[1])
with torch.no_grad():
    torch.save(m(*torch.load(sys.argv[2])), sys.argv[3])
print(json.dumps({n: hashlib.sha256(b.numpy().tobytes()).hexdigest()
                  for n, b in m.named_buffers() if n.endswith("_engine")}))
"""


@pytest.fixture
def jit_load_elsewhere(tmp_path: Path) -> Callable[..., Any]:
    """``run(compiled, args)``: torch.jit.save ``compiled``, torch.jit.load it in a new
    interpreter (after ``import torch_trt``, PYTHONPATH at these sources), check that its
    engines are byte-identical to ``compiled``'s, and return its outputs on ``args``."""

    def run(compiled: torch.jit.ScriptModule, args: tuple[Any, ...]) -> Any:
        path = tmp_path / "model.ts"
        torch.jit.save(compiled, str(path))
        torch.save(args, tmp_path / "args.pt")
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _LOAD,
                str(path),
                str(tmp_path / "args.pt"),
                str(tmp_path / "out.pt"),
            ],
            env={**os.environ, "PYTHONPATH": SRC},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        hashes = json.loads(done.stdout.strip().splitlines()[-1])
        assert hashes == _engine_hashes(compiled) and hashes
        return torch.load(tmp_path / "out.pt")

    return run
