"""Reference runtime, grid sample: IGridSampleLayer networks read back and evaluated.

Expectations come from TensorRT's GridSample operator page (its worked example), from values
computed by hand, and from torch's ``F.grid_sample`` where the documented semantics coincide with
torch's (an independent implementation of the same definition).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch_trt import _trt

trt: Any = _trt.load()

from torch_trt.runtime.reference import ReferenceError, read_network  # noqa: E402
from torch_trt.runtime.reference.heavy_sample import evaluate_grid_sample  # noqa: E402
from torch_trt.runtime.reference.program import LayerRecord  # noqa: E402


def _run(
    x: torch.Tensor, grid: torch.Tensor, mode: str, sample: str, align: bool, build: bool = False
) -> torch.Tensor:
    logger = _trt.RecordingLogger()
    builder = trt.Builder(logger.trt_logger)
    net = builder.create_network(0)
    xi = net.add_input("x", trt.float32, tuple(x.shape))
    gi = net.add_input("grid", trt.float32, tuple(grid.shape))
    layer = net.add_grid_sample(xi, gi)
    layer.interpolation_mode = getattr(trt.InterpolationMode, mode)
    layer.sample_mode = getattr(trt.SampleMode, sample)
    layer.align_corners = align
    net.mark_output(layer.get_output(0))
    assert not logger.errors, logger.errors
    (y,) = read_network(net).run([x, grid])
    assert tuple(y.shape) == tuple(net.get_output(0).shape)  # TensorRT's shape inference
    if build:
        assert builder.build_serialized_network(net, builder.create_builder_config()) is not None
    return y


def test_operator_page_example() -> None:
    """The worked example of TensorRT's GridSample page (LINEAR, FILL, align_corners off):
    samples outside the pixel range still mix in their in-range taps."""
    x = torch.arange(9, dtype=torch.float32).reshape(1, 1, 3, 3)
    grid = torch.tensor(
        [
            [[-2.0, -1.83], [-1.67, -1.5], [-1.33, -1.17]],
            [[-1.0, -0.83], [-0.67, -0.5], [-0.33, -0.17]],
            [[0.0, 0.17], [0.33, 0.5], [0.67, 0.83]],
            [[1.0, 1.17], [1.33, 1.5], [1.67, 1.83]],
        ]
    ).reshape(1, 4, 3, 2)
    want = torch.tensor(
        [[0.0, 0.0, 0.0], [0.0, 0.746, 2.74], [4.764, 6.744, 6.009], [0.979, 0.0, 0.0]]
    ).reshape(1, 1, 4, 3)
    got = _run(x, grid, "LINEAR", "FILL", False, build=True)
    assert torch.allclose(got, want, atol=1e-3)  # the page prints 3 decimals


# Two equal rows [10, 20, 30, 40]; each case samples one point along x. Keys' weights at t = 0.5
# with A = -0.75 are (-0.09375, 0.59375, 0.59375, -0.09375).
_ROW = torch.tensor([10.0, 20.0, 30.0, 40.0]).expand(2, 4).reshape(1, 1, 2, 4)
_KEYS_HALF = -0.09375 * 10 + 0.59375 * 20 + 0.59375 * 30 - 0.09375 * 40

HAND = [
    # (mode, sample, align, normalized x, expected value)
    ("LINEAR", "FILL", True, 1 / 3, 30.0),  # x = 2
    ("LINEAR", "FILL", True, 0.0, 25.0),  # x = 1.5
    ("LINEAR", "FILL", True, 1.2, 28.0),  # x = 3.3: 0.7 * 40 + 0.3 * 0 (tap 4 is outside)
    ("LINEAR", "CLAMP", True, 1.5, 40.0),  # x = 3.75 clamps to 3
    ("LINEAR", "CLAMP", False, -1.0, 10.0),  # x = -0.5: taps -1 (border: 0) and 0
    ("LINEAR", "REFLECT", True, 1.5, 32.5),  # x = 3.75 reflects by 3 to 2.25
    ("LINEAR", "REFLECT", True, -1.5, 17.5),  # x = -0.75 reflects by 0 to 0.75
    ("LINEAR", "REFLECT", False, 1.5, 35.0),  # x = 4.5 reflects by 3.5 to 2.5
    ("NEAREST", "FILL", True, 0.0, 30.0),  # x = 1.5 rounds half to even: 2
    ("NEAREST", "FILL", False, -0.5, 10.0),  # x = 0.5 rounds half to even: 0
    ("NEAREST", "FILL", False, 0.5, 30.0),  # x = 2.5 rounds half to even: 2
    ("NEAREST", "FILL", False, 1.2, 0.0),  # x = 3.9 rounds to 4: outside
    ("NEAREST", "CLAMP", False, 1.2, 40.0),  # x = 3.9 -> 4 -> clamps to 3
    ("NEAREST", "REFLECT", True, 1.6, 30.0),  # x = 3.9 -> 4 -> reflects by 3 to 2
    ("CUBIC", "FILL", True, 1 / 3, 30.0),  # on a pixel: Keys' weights are (0, 1, 0, 0)
    ("CUBIC", "FILL", True, 0.0, _KEYS_HALF),  # x = 1.5: taps 0..3
]


@pytest.mark.parametrize(("mode", "sample", "align", "gx", "want"), HAND)
def test_hand_computed(mode: str, sample: str, align: bool, gx: float, want: float) -> None:
    """One sample on a [10, 20, 30, 40] row equals the value worked out by hand."""
    gy = -1.0 if align else -0.5  # row 0 (both rows are equal anyway)
    grid = torch.tensor([gx, gy], dtype=torch.float32).reshape(1, 1, 1, 2)
    got = _run(_ROW, grid, mode, sample, align)
    assert abs(float(got) - want) < 1e-4, float(got)


TORCH_MODES = [
    ("LINEAR", "bilinear", sample, padding, align)
    for sample, padding in (("FILL", "zeros"), ("CLAMP", "border"), ("REFLECT", "reflection"))
    for align in (False, True)
] + [
    ("NEAREST", "nearest", "FILL", "zeros", False),
    ("NEAREST", "nearest", "CLAMP", "border", True),
    ("CUBIC", "bicubic", "FILL", "zeros", False),
    ("CUBIC", "bicubic", "FILL", "zeros", True),
]


@pytest.mark.parametrize(("mode", "torch_mode", "sample", "padding", "align"), TORCH_MODES)
def test_matches_torch_where_defined_alike(
    mode: str, torch_mode: str, sample: str, padding: str, align: bool
) -> None:
    """Random grids reaching outside [-1, 1]: the evaluator matches torch's grid_sample for the
    modes whose definitions coincide."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, generator=g)
    grid = torch.rand(2, 4, 7, 2, generator=g) * 3 - 1.5
    want = F.grid_sample(x, grid, torch_mode, padding, align_corners=align)
    got = _run(x, grid, mode, sample, align)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()


def test_volumetric_linear_matches_torch() -> None:
    """A rank-5 input samples trilinearly, the grid's entries in (x, y, z) order."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 3, 4, 5, generator=g)
    grid = torch.rand(1, 2, 3, 4, 3, generator=g) * 2.4 - 1.2
    want = F.grid_sample(x, grid, "bilinear", "zeros", align_corners=False)
    got = _run(x, grid, "LINEAR", "FILL", False)
    assert torch.allclose(got, want, atol=1e-5)


def test_bad_grid_message() -> None:
    """A grid whose last dim does not match the spatial rank is refused, naming the shapes."""
    rec = LayerRecord(
        name="L", type="GRID_SAMPLE", inputs=["x", "g"], outputs=["o"],
        output_dtypes=[torch.float32], output_shapes=[None],
        attrs={"interpolation_mode": "LINEAR", "align_corners": False, "sample_mode": "FILL"},
    )  # fmt: skip
    with pytest.raises(ReferenceError, match=r"grid of shape \(1, 2, 2, 3\)"):
        evaluate_grid_sample(rec, [torch.ones(1, 1, 3, 3), torch.ones(1, 2, 2, 3)])


def test_reflect_example_from_the_definition() -> None:
    """x = -3.5 reflects by -1 to 1.5, then by 1 to 0.5 (the ONNX definition's example)."""
    from torch_trt.runtime.reference.heavy_sample import reflect

    got = reflect(torch.tensor([-3.5]), -1.0, 1.0)
    assert np.isclose(float(got), 0.5)
