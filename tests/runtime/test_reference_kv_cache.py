"""Reference KV_CACHE_UPDATE, from TensorRT's operator page: LINEAR writes per sequence, the
output shares the cache input's memory, out-of-bounds writes are refused."""

from __future__ import annotations

import pytest
import torch

from conftest import TrtNet
from torch_trt.runtime.reference import ReferenceError, read_network


def _kv_net(tn: TrtNet, cache: torch.Tensor, update: torch.Tensor, w: torch.Tensor) -> None:
    layer = tn.net.add_kv_cache_update(
        tn.input(cache), tn.input(update), tn.input(w), tn.trt.KVCacheMode.LINEAR
    )
    tn.out(layer)


def test_kv_cache_update_writes_in_place(tn: TrtNet) -> None:
    """output[b, :, w[b] + s, :] = update[b, :, s, :]; the rest of the cache is kept, and the
    output is the cache input itself (TensorRT binds both to one address)."""
    cache = torch.randn(2, 3, 6, 4)
    update = torch.randn(2, 3, 2, 4)
    w = torch.tensor([1, 4], dtype=torch.int32)
    _kv_net(tn, cache, update, w)
    prog = read_network(tn.net)
    (rec,) = prog.layers
    assert rec.attrs == {
        "cache_mode": "LINEAR",
        "update_form": "PADDED_BHND",
        "cache_is_input": True,
    }
    expected = cache.clone()
    expected[0, :, 1:3] = update[0]
    expected[1, :, 4:6] = update[1]
    (out,) = prog.run(tn.values)
    assert out is tn.values[0]
    assert torch.equal(cache, expected)


def test_kv_cache_update_out_of_bounds(tn: TrtNet) -> None:
    """A write past the cache's end is undefined in TensorRT: the reference refuses it."""
    _kv_net(
        tn, torch.zeros(1, 1, 4, 2), torch.ones(1, 1, 2, 2), torch.tensor([3], dtype=torch.int32)
    )
    with pytest.raises(ReferenceError, match=r"writes positions 3...4 into a cache of 4"):
        read_network(tn.net).run(tn.values)


def test_int64_write_indices_fail_to_build(tn: TrtNet) -> None:
    """TensorRT-RTX 1.7.1 builds int32 write indices but refuses int64 ones (the converter
    casts them): the reason for the cast, kept honest."""
    _kv_net(tn, torch.zeros(1, 1, 4, 2), torch.ones(1, 1, 1, 2), torch.tensor([0]))
    config = tn.builder.create_builder_config()
    assert tn.builder.build_serialized_network(tn.net, config) is None
    assert any("int32" in e for e in tn.errors())
