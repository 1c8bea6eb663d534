"""Torch-TensorRT's converter set, as data: the peer our operator coverage is measured against.

``PEER_OVERLOADS`` lists every ATen overload that Torch-TensorRT 2.x registers a converter for
with ``@dynamo_tensorrt_converter``: the union of its ``aten_ops_converters.py`` at two points of
the 2.x line (the 2024 file, which still registered ``layer_norm``, ``group_norm`` and the
``upsample_*.default`` forms, and the 2026 one, which added ``hardtanh``, ``linalg_cross``,
``index_copy``, ``nonzero`` and the fused attention forms) plus ``ops_evaluators.py``
(``detach``, ``arange.start_step``). Names only were read; op packets (``torch.ops.aten.matmul``),
prims, Python operators and Torch-TensorRT's own custom ops are left out.

Each overload either has a converter here (the registry says so) or an entry in
``LEFT_TO_DECOMPOSITION`` saying why none is needed. Reasons take one of three forms, which
``tests/convert/test_peer.py`` checks by exporting and lowering a module that uses the op:

* ``"decomposes to `op`, ..."``: torch.export's core-ATen decomposition replaces the overload by
  the named overloads, which convert (the test asserts the overload is gone, the named ones are
  there, and the module becomes one engine that matches eager);
* ``"never reaches partition: ..."``: the overload does not survive capture and lowering at all;
* ``"pending: <helper> (...)"``: another work area owns the converter; the entry goes when it
  lands.

Example:
    >>> from torch_trt.convert.peer_ops import LEFT_TO_DECOMPOSITION, PEER_OVERLOADS
    >>> "aten.add.Tensor" in PEER_OVERLOADS and "aten.matmul.default" in LEFT_TO_DECOMPOSITION
    True
"""

from __future__ import annotations

PEER_OVERLOADS: tuple[str, ...] = (
    "aten._adaptive_avg_pool2d.default",
    "aten._adaptive_avg_pool3d.default",
    "aten._cdist_forward.default",
    "aten._embedding_bag.default",
    "aten._native_batch_norm_legit.no_stats",
    "aten._native_batch_norm_legit_no_training.default",
    "aten._pad_circular.default",
    "aten._pdist_forward.default",
    "aten._prelu_kernel.default",
    "aten._reshape_copy.default",
    "aten._scaled_dot_product_cudnn_attention.default",
    "aten._scaled_dot_product_efficient_attention.default",
    "aten._scaled_dot_product_flash_attention.default",
    "aten._softmax.default",
    "aten._to_copy.default",
    "aten.abs.default",
    "aten.acos.default",
    "aten.acosh.default",
    "aten.adaptive_avg_pool1d.default",
    "aten.adaptive_avg_pool2d.default",
    "aten.adaptive_avg_pool3d.default",
    "aten.add.Scalar",
    "aten.add.Tensor",
    "aten.addmm.default",
    "aten.amax.default",
    "aten.amin.default",
    "aten.any.default",
    "aten.any.dim",
    "aten.any.dims",
    "aten.arange.start_step",
    "aten.argmax.default",
    "aten.argmin.default",
    "aten.as_strided.default",
    "aten.asin.default",
    "aten.asinh.default",
    "aten.atan.default",
    "aten.atan2.default",
    "aten.atan2.out",
    "aten.atanh.default",
    "aten.avg_pool1d.default",
    "aten.avg_pool2d.default",
    "aten.avg_pool3d.default",
    "aten.batch_norm.default",
    "aten.bitwise_and.Scalar",
    "aten.bitwise_and.Scalar_Tensor",
    "aten.bitwise_and.Tensor",
    "aten.bitwise_not.default",
    "aten.bitwise_or.Scalar",
    "aten.bitwise_or.Scalar_Tensor",
    "aten.bitwise_or.Tensor",
    "aten.bitwise_xor.Scalar",
    "aten.bitwise_xor.Scalar_Tensor",
    "aten.bitwise_xor.Tensor",
    "aten.bmm.default",
    "aten.cat.default",
    "aten.ceil.default",
    "aten.clamp.Tensor",
    "aten.clamp.default",
    "aten.clip.Tensor",
    "aten.clip.default",
    "aten.clone.default",
    "aten.constant_pad_nd.default",
    "aten.convolution.default",
    "aten.copy.default",
    "aten.cos.default",
    "aten.cosh.default",
    "aten.cumsum.default",
    "aten.detach.default",
    "aten.diagonal.default",
    "aten.div.Scalar",
    "aten.div.Scalar_mode",
    "aten.div.Tensor",
    "aten.div.Tensor_mode",
    "aten.dot.default",
    "aten.elu.default",
    "aten.embedding.default",
    "aten.embedding_bag.default",
    "aten.eq.Scalar",
    "aten.eq.Tensor",
    "aten.erf.default",
    "aten.exp.default",
    "aten.expand.default",
    "aten.expm1.default",
    "aten.flip.default",
    "aten.floor.default",
    "aten.floor_divide.Scalar",
    "aten.floor_divide.default",
    "aten.fmod.Scalar",
    "aten.fmod.Tensor",
    "aten.full.default",
    "aten.gather.default",
    "aten.ge.Scalar",
    "aten.ge.Tensor",
    "aten.gelu.default",
    "aten.grid_sampler.default",
    "aten.grid_sampler_2d.default",
    "aten.group_norm.default",
    "aten.gt.Scalar",
    "aten.gt.Tensor",
    "aten.hardsigmoid.default",
    "aten.hardtanh.default",
    "aten.index.Tensor",
    "aten.index_copy.default",
    "aten.index_put.default",
    "aten.index_select.default",
    "aten.isinf.default",
    "aten.isnan.default",
    "aten.layer_norm.default",
    "aten.le.Scalar",
    "aten.le.Tensor",
    "aten.leaky_relu.default",
    "aten.linalg_cross.default",
    "aten.linear.default",
    "aten.log.default",
    "aten.log10.default",
    "aten.log1p.default",
    "aten.log2.default",
    "aten.logical_and.default",
    "aten.logical_not.default",
    "aten.logical_or.default",
    "aten.logical_xor.default",
    "aten.lt.Scalar",
    "aten.lt.Tensor",
    "aten.matmul.default",
    "aten.max.default",
    "aten.max.dim",
    "aten.max_pool1d.default",
    "aten.max_pool2d.default",
    "aten.max_pool3d.default",
    "aten.maximum.default",
    "aten.mean.default",
    "aten.mean.dim",
    "aten.min.default",
    "aten.min.dim",
    "aten.minimum.default",
    "aten.mm.default",
    "aten.mul.Scalar",
    "aten.mul.Tensor",
    "aten.mv.default",
    "aten.native_batch_norm.default",
    "aten.native_dropout.default",
    "aten.native_group_norm.default",
    "aten.native_layer_norm.default",
    "aten.ne.Scalar",
    "aten.ne.Tensor",
    "aten.neg.default",
    "aten.nonzero.default",
    "aten.pad.default",
    "aten.permute.default",
    "aten.pixel_shuffle.default",
    "aten.pixel_unshuffle.default",
    "aten.pow.Scalar",
    "aten.pow.Tensor_Scalar",
    "aten.pow.Tensor_Tensor",
    "aten.prod.default",
    "aten.prod.dim_int",
    "aten.reciprocal.default",
    "aten.reflection_pad1d.default",
    "aten.reflection_pad2d.default",
    "aten.reflection_pad3d.default",
    "aten.relu.default",
    "aten.remainder.Scalar",
    "aten.remainder.Tensor",
    "aten.replication_pad1d.default",
    "aten.replication_pad2d.default",
    "aten.replication_pad3d.default",
    "aten.reshape.default",
    "aten.resize_.default",
    "aten.roll.default",
    "aten.round.default",
    "aten.rsqrt.default",
    "aten.scalar_tensor.default",
    "aten.scaled_dot_product_attention.default",
    "aten.scatter.src",
    "aten.scatter.value",
    "aten.select.int",
    "aten.sigmoid.default",
    "aten.sign.default",
    "aten.sin.default",
    "aten.sinh.default",
    "aten.slice.Tensor",
    "aten.slice_scatter.default",
    "aten.softplus.default",
    "aten.sort.default",
    "aten.split.Tensor",
    "aten.split.sizes",
    "aten.split_with_sizes.default",
    "aten.sqrt.default",
    "aten.squeeze.dim",
    "aten.squeeze.dims",
    "aten.sub.Scalar",
    "aten.sub.Tensor",
    "aten.sum.default",
    "aten.sum.dim_IntList",
    "aten.sym_numel.default",
    "aten.sym_size.int",
    "aten.tan.default",
    "aten.tanh.default",
    "aten.tile.default",
    "aten.topk.default",
    "aten.trunc.default",
    "aten.unsqueeze.default",
    "aten.upsample_bicubic2d.default",
    "aten.upsample_bicubic2d.vec",
    "aten.upsample_bilinear2d.default",
    "aten.upsample_bilinear2d.vec",
    "aten.upsample_linear1d.default",
    "aten.upsample_linear1d.vec",
    "aten.upsample_nearest1d.default",
    "aten.upsample_nearest1d.vec",
    "aten.upsample_nearest2d.default",
    "aten.upsample_nearest2d.vec",
    "aten.upsample_nearest3d.default",
    "aten.upsample_nearest3d.vec",
    "aten.upsample_trilinear3d.default",
    "aten.upsample_trilinear3d.vec",
    "aten.view.default",
    "aten.where.self",
)

LEFT_TO_DECOMPOSITION: dict[str, str] = {
    # -- decompositions ---------------------------------------------------------------------
    "aten.group_norm.default": "decomposes to `aten.native_group_norm.default`",
    "aten.matmul.default": (
        "decomposes to `aten.mm.default` or `aten.bmm.default` with `aten.view.default` / "
        "`aten.expand.default` around it (by operand ranks)"
    ),
    "aten.dot.default": "decomposes to `aten.mul.Tensor`, `aten.sum.dim_IntList`",
    "aten.mv.default": "decomposes to `aten.mul.Tensor`, `aten.sum.dim_IntList`",
    "aten.linalg_cross.default": (
        "decomposes to `aten.index_select.default`, `aten.mul.Tensor`, `aten.sub.Tensor`"
    ),
    "aten.split.sizes": "decomposes to `aten.split_with_sizes.default`",
    "aten.clip.default": "decomposes to `aten.clamp.default`",
    "aten.clip.Tensor": "decomposes to `aten.clamp.Tensor`",
    "aten.index_copy.default": "decomposes to `aten.index_put.default`",
    "aten.tile.default": "decomposes to `aten.repeat.default` (one WRAP-mode slice)",
    "aten.floor_divide.default": "decomposes to `aten.div.Tensor_mode` (rounding_mode='floor')",
    "aten.floor_divide.Scalar": "decomposes to `aten.div.Tensor_mode` (rounding_mode='floor')",
    "aten.softplus.default": (
        "decomposes to `aten.mul.Tensor`, `aten.exp.default`, `aten.log1p.default`, "
        "`aten.div.Tensor`, `aten.gt.Scalar`, `aten.where.self`: torch's threshold and an "
        "accurate log1p, which TensorRT's SOFTPLUS activation (log(exp(x) + 1), no threshold) "
        "lacks; the pointwise chain fuses"
    ),
    "aten.hardsigmoid.default": (
        "decomposes to `aten.add.Tensor`, `aten.clamp.default`, `aten.div.Tensor` (pointwise, "
        "fused by TensorRT)"
    ),
    "aten._prelu_kernel.default": (
        "decomposes to `aten.gt.Scalar`, `aten.mul.Tensor`, `aten.where.self`"
    ),
    "aten.roll.default": (
        "decomposes to `aten.index_select.default` with a constant (static) or "
        "`aten.arange.start_step` / `aten.fmod.Scalar` (dynamic) index"
    ),
    "aten.pad.default": (
        "decomposes to `aten.constant_pad_nd.default` (mode 'constant'), or the reflection, "
        "replication and circular padding ops, which convert"
    ),
    # -- never reaches partition ------------------------------------------------------------
    "aten.detach.default": "never reaches partition: lowering's remove_noops bypasses detach",
    "aten.native_dropout.default": (
        "never reaches partition: an eval-mode export has no dropout node (dropout is the "
        "identity); in training mode it is random and stays in PyTorch"
    ),
    "aten.atan2.out": (
        "never reaches partition: torch.export functionalizes out= calls into `aten.atan2.default`"
    ),
    "aten.sym_numel.default": (
        "never reaches partition: torch.export computes numel() as a product of "
        "`aten.sym_size.int` sizes"
    ),
    # -- decompositions met when the vision and data-dependent converters landed -------------
    "aten.embedding_bag.default": (
        "decomposes to `aten._embedding_bag_forward_only.default` (inference), which converts"
    ),
    "aten.grid_sampler.default": "decomposes to `aten.grid_sampler_2d.default`",
    "aten.avg_pool1d.default": (
        "decomposes to `aten.avg_pool2d.default` between `aten.unsqueeze.default` and "
        "`aten.squeeze.dims`"
    ),
    "aten.max_pool1d.default": (
        "decomposes to `aten.max_pool2d_with_indices.default` between `aten.unsqueeze.default` "
        "and `aten.squeeze.dims`"
    ),
    "aten.max_pool3d.default": "decomposes to `aten.max_pool3d_with_indices.default`",
    "aten.adaptive_avg_pool1d.default": (
        "decomposes to `aten._adaptive_avg_pool2d.default` between `aten.unsqueeze.default` and "
        "`aten.squeeze.dims`"
    ),
    "aten.pixel_shuffle.default": (
        "decomposes to `aten.view.default`, `aten.permute.default`, `aten.clone.default`"
    ),
    "aten.pixel_unshuffle.default": (
        "decomposes to `aten.view.default`, `aten.permute.default`, `aten.clone.default`"
    ),
    "aten.resize_.default": (
        "decomposes to `aten.as_strided.default` (torch.export functionalizes the in-place resize)"
    ),
}
