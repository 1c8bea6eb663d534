"""Memory handed back to the operating system between builds (glibc ``malloc_trim``)."""

from __future__ import annotations

import ctypes
import pathlib
import sys

import pytest
import torch

import torch_trt
from torch_trt import build

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or build._malloc_trim() is None,
    reason="malloc_trim exists only in glibc; elsewhere return_free_memory is a documented no-op",
)


def _rss_mb() -> float:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@glibc
def test_freed_heap_memory_goes_back_to_the_os() -> None:
    """Freed small blocks below a live one stay resident until return_free_memory()."""
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size, count = 64 << 10, 800  # below the mmap threshold: heap blocks, 50 MB in all
    blocks = [libc.malloc(size) for _ in range(count)]
    for b in blocks:
        ctypes.memset(b, 1, size)
    keep = libc.malloc(size)  # above the freed blocks: free() cannot shrink the heap by itself
    ctypes.memset(keep, 1, size)
    for b in blocks:
        libc.free(b)
    held = _rss_mb()
    assert build.return_free_memory() is True
    assert held - _rss_mb() > 25  # most of the 50 MB handed back
    libc.free(keep)


def test_compile_still_matches_eager_after_trimming() -> None:
    """Trimming between builds leaves the engines intact (two engines, one PyTorch node)."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    x = torch.randn(2, 8)
    compiled = torch_trt.dynamo.compile(
        model.eval(), [x], runtime="reference", torch_executed_ops=["aten.relu"], min_block_size=1
    )
    assert torch_trt.report(compiled).engines == 2
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-6)


def test_engine_blobs_share_writable_buffers() -> None:
    """A built engine (a bytearray) becomes the module's buffer without a copy; read-only bytes
    are copied once."""
    from torch_trt.portable import as_tensor

    data = bytearray(b"engine bytes")
    shared = as_tensor(data)
    shared[0] = ord("E")
    assert data[:1] == b"E"
    frozen = b"engine bytes"
    copied = as_tensor(frozen)
    copied[0] = ord("E")
    assert frozen[:1] == b"e" and bytes(copied.numpy())[:1] == b"E"
