"""torch_trt.save / load in this process: runtime choice, engine records and every load error."""

from __future__ import annotations

import builtins
import functools
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.runtime.engine import EngineMetadata
from torch_trt.serialize import engine_records
from torch_trt.testing import FP32_RTOL, rel_error

# Saving with_source=True needs the region sources, which a compile keeps only when asked.
_compile = functools.partial(torch_trt.dynamo.compile, keep_source=True)


class Small(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.lin(x)) * 2.0 + 1.0


@pytest.fixture(scope="module")
def small() -> Small:
    torch.manual_seed(0)
    return Small().eval()


@pytest.fixture(scope="module")
def saved(small: Small, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TensorRT-runtime program saved with its source."""
    path = tmp_path_factory.mktemp("saved") / "small.pt2"
    compiled = _compile(small, [torch.randn(2, 4)], min_block_size=1)
    torch_trt.save(compiled, path, with_source=True)
    return path


def _rewrite(src: Path, dst: Path, suffix: str, edit: Any) -> None:
    """Copy the zip ``src`` to ``dst`` with the entry ending in ``suffix`` passed through edit."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, edit(data) if item.filename.endswith(suffix) else data)


class _Evil:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return builtins.open, (str(self.marker), "w")


def test_runtime_context_overrides_compiled_runtime(small: Small) -> None:
    """torch_trt.runtime picks the runtime per call: "tensorrt" over a reference-compiled
    module needs a GPU; outside the block the compiled runtime applies again."""
    compiled = _compile(small, [torch.randn(2, 4)], min_block_size=1, runtime="reference")
    x = torch.randn(2, 4)
    with torch_trt.runtime("tensorrt"), pytest.raises(torch_trt.RuntimeUnavailableError):
        compiled(x)
    assert rel_error(compiled(x), small(x)) < FP32_RTOL
    with pytest.raises(ValueError, match="runtime must be one of"), torch_trt.runtime("cpu"):
        pass
    # The context manager is the runtime package, called: its submodules stay reachable.
    assert torch_trt.runtime.engine.FORMAT_VERSION == 3


def test_reference_runtime_needs_a_program(small: Small) -> None:
    """The reference runtime over an engine compiled without a reference program says how to
    get one."""
    compiled = _compile(small, [torch.randn(2, 4)], min_block_size=1)
    with (
        torch_trt.runtime("reference"),
        pytest.raises(
            torch_trt.EngineFormatError, match="has no reference program.*with_source=True"
        ),
    ):
        compiled(torch.randn(2, 4))


def test_metadata_records_targets_and_reads_format_1() -> None:
    """Records carry compute-capability targets (since format 2); a format-1 record still
    loads, with TensorRT-RTX's targets filled in; a newer format says to upgrade."""
    compiled = _compile(Small(), [torch.randn(2, 4)], min_block_size=1)
    (meta,) = engine_records(compiled)
    assert meta.format_version == 3 and meta.compute_capabilities
    raw = json.loads(meta.to_json())
    raw["format_version"] = 1
    del raw["compute_capabilities"], raw["layers"]
    old = EngineMetadata.from_json(json.dumps(raw))
    assert old.inputs == meta.inputs
    if meta.flavour == "tensorrt_rtx":
        assert old.compute_capabilities == ("8.0", "8.6", "8.9", "12.0+")
    raw["format_version"] = torch_trt.runtime.engine.NEWEST_FORMAT_VERSION + 1
    with pytest.raises(torch_trt.EngineFormatError, match="newer torch-trt: upgrade"):
        EngineMetadata.from_json(json.dumps(raw))


def test_load_with_reference_runtime_builds_program_from_source(saved: Path, small: Small) -> None:
    """A TensorRT-runtime file saved with_source loads with runtime="reference" and matches
    eager; without the option it names the engine and the fixes."""
    model = torch_trt.load(saved, runtime="reference")
    x = torch.randn(3, 4)[:2]
    assert rel_error(model(x), small(x)) < FP32_RTOL
    if not torch.cuda.is_available():
        with pytest.raises(
            torch_trt.RuntimeUnavailableError,
            match=r"engine trt_0 cannot run here: no CUDA.*runtime='reference'.*'rebuild'",
        ):
            torch_trt.load(saved)


def test_pytorch_fallback_warns_once_per_region(saved: Path, small: Small) -> None:
    """on_incompatible="pytorch" runs the region's source, with one warning naming it."""
    if torch.cuda.is_available():
        pytest.skip("the engine runs here; nothing is incompatible")
    with pytest.warns(UserWarning, match="engine trt_0 runs in PyTorch: no CUDA") as caught:
        model = torch_trt.load(saved, on_incompatible="pytorch")
    assert len([w for w in caught if "runs in PyTorch" in str(w.message)]) == 1
    x = torch.randn(2, 4)
    assert rel_error(model(x), small(x)) < FP32_RTOL
    assert engine_records(model) == []
    assert not hasattr(model, "trt_0_engine")  # the engine that cannot run is freed


def test_no_source_means_no_portability(small: Small, tmp_path: Path) -> None:
    """Without with_source, "pytorch" or runtime="reference" say to save with_source=True."""
    compiled = _compile(small, [torch.randn(2, 4)], min_block_size=1)
    path = tmp_path / "bare.pt2"
    torch_trt.save(compiled, path)
    for kwargs in ({"on_incompatible": "pytorch"}, {"runtime": "reference"}):
        if "on_incompatible" in kwargs and torch.cuda.is_available():
            continue
        with pytest.raises(torch_trt.SerializationError, match="with_source=True"):
            torch_trt.load(path, **kwargs)


def test_option_errors(small: Small, saved: Path) -> None:
    """Unknown formats, runtimes, policies and non-compiled modules are refused by name."""
    with pytest.raises(ValueError, match="output_format must be one of"):
        torch_trt.save(small, "x.pt2", output_format="onnx")
    with pytest.raises(TypeError, match="expects a module returned by torch_trt"):
        torch_trt.save(small, "x.pt2")
    with pytest.raises(ValueError, match="on_incompatible must be one of"):
        torch_trt.load(saved, on_incompatible="ignore")
    with pytest.raises(ValueError, match="runtime must be one of"):
        torch_trt.load(saved, runtime="cpu")


def test_torchscript_options_and_missing_source(small: Small, tmp_path: Path) -> None:
    """TorchScript refuses with_source and inputs= (they would be ignored); a module compiled
    with keep_source=False cannot be saved with_source."""
    compiled = _compile(small, [torch.randn(2, 4)], min_block_size=1, keep_source=False)
    with pytest.raises(ValueError, match="with_source=True needs output_format='exported_p"):
        torch_trt.save(compiled, tmp_path / "m.ts", output_format="torchscript", with_source=True)
    with pytest.raises(ValueError, match="inputs= and kwarg_inputs= are for output_format"):
        torch_trt.save(compiled, tmp_path / "m.ts", output_format="torchscript", inputs=[])
    with pytest.raises(ValueError, match="engine trt_0 carries no ATen source.*keep_source=True"):
        torch_trt.save(compiled, tmp_path / "m.pt2", with_source=True)
    torch_trt.save(compiled, tmp_path / "m.ts", output_format="torchscript")
    with pytest.raises(ValueError, match="apply to exported_program files"):
        torch_trt.load(tmp_path / "m.ts", runtime="reference")


def test_loaded_program_saves_again(saved: Path, small: Small, tmp_path: Path) -> None:
    """A loaded program (engines, sources, report) can be saved and loaded again, with the same
    engine records."""
    first = torch_trt.load(saved, runtime="reference")
    again = tmp_path / "again.pt2"
    torch_trt.save(first, again, with_source=True)
    second = torch_trt.load(again, runtime="reference")
    assert engine_records(second) == engine_records(first)
    assert (
        torch_trt.report(second).to_dict()["placements"]
        == torch_trt.report(first).to_dict()["placements"]
    )
    x = torch.randn(2, 4)
    assert rel_error(second(x), small(x)) < FP32_RTOL


def test_newer_engine_format_is_refused(saved: Path, tmp_path: Path) -> None:
    """An engine record of a newer format names the file and says to upgrade torch-trt."""
    bad = tmp_path / "newer.pt2"
    _rewrite(
        saved,
        bad,
        "models/model.json",
        lambda d: d.replace(b'format_version\\": 3', b'format_version\\": 7'),
    )
    with pytest.raises(torch_trt.SerializationError, match=r"newer.pt2.*format 7.*upgrade"):
        torch_trt.load(bad, runtime="reference")


def test_newer_artifact_format_is_refused(saved: Path, tmp_path: Path) -> None:
    """A manifest from a newer torch-trt is refused naming both versions."""
    bad = tmp_path / "newer_artifact.pt2"

    def bump(data: bytes) -> bytes:
        raw = json.loads(data)
        raw["artifact_version"], raw["torch_trt_version"] = 9, "9.0"
        return json.dumps(raw).encode()

    _rewrite(saved, bad, "torch_trt/manifest.json", bump)
    with pytest.raises(torch_trt.SerializationError, match=r"torch-trt 9.0 in artifact format 9"):
        torch_trt.load(bad)


def test_other_tensorrt_version_or_flavour_is_named(saved: Path, tmp_path: Path) -> None:
    """An engine built by another TensorRT version or flavour names both and the fixes."""
    version, flavour = torch_trt._trt.version(), torch_trt._trt.flavour()
    other_flavour = "tensorrt" if flavour == "tensorrt_rtx" else "tensorrt_rtx"
    cases = {
        "version.pt2": (version.encode(), b"0.9.0", f"{flavour} 0.9.0"),
        "flavour.pt2": (
            f'flavour\\": \\"{flavour}'.encode(),
            f'flavour\\": \\"{other_flavour}'.encode(),
            f"{other_flavour} {version}",
        ),
    }
    for name, (old, new, built) in cases.items():
        _rewrite(
            saved, tmp_path / name, "models/model.json", lambda d, o=old, n=new: d.replace(o, n)
        )
        with pytest.raises(
            torch_trt.RuntimeUnavailableError,
            match=rf"engine trt_0 cannot run here: it was built with {built}, but {flavour} "
            rf"{version} is installed.*'rebuild' or 'pytorch'",
        ):
            torch_trt.load(tmp_path / name)


def test_truncated_random_and_empty_files(saved: Path, tmp_path: Path) -> None:
    """Truncated, random and empty files raise SerializationError naming the file."""
    data = saved.read_bytes()
    cases = {
        "truncated.pt2": (data[: len(data) // 2], "it is truncated or corrupt"),
        "random.pt2": (torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes(), ""),
        "empty.pt2": (b"", "the file is empty"),
    }
    for name, (content, why) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(torch_trt.SerializationError, match=f"cannot load .*{name}: .*{why}"):
            torch_trt.load(tmp_path / name)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99, -1])
def test_file_cut_short_anywhere_is_called_truncated(
    saved: Path, tmp_path: Path, keep: float
) -> None:
    """A file cut at any point (down to its last byte, and just past a zip archive it carries
    inside) raises one line: SerializationError naming the file and saying it is truncated."""
    data = saved.read_bytes()
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(data[:-1] if keep == -1 else data[: int(len(data) * keep)])
    with pytest.raises(torch_trt.SerializationError) as info:
        torch_trt.load(cut)
    message = str(info.value)
    assert (
        message.startswith(f"cannot load {cut}: it is truncated or corrupt") and "\n" not in message
    )


def test_file_cut_just_past_an_inner_archive_is_not_read_as_it(saved: Path, tmp_path: Path) -> None:
    """A saved program carries whole zip archives; a file cut just past one of their end
    records must not be read as that inner archive."""
    data = saved.read_bytes()
    inner = data.rfind(b"PK\x05\x06", 0, len(data) - 22)
    assert inner > 0, "the saved program carries no inner archive"
    comment = int.from_bytes(data[inner + 20 : inner + 22], "little")
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(data[: inner + 22 + comment])
    with pytest.raises(torch_trt.SerializationError, match="it is truncated or corrupt"):
        torch_trt.load(cut)


def test_corrupt_entry_is_refused(saved: Path, tmp_path: Path) -> None:
    """A flipped byte inside an entry fails the archive's CRC check, naming the entry."""
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("weights/weight_0"))
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[at] ^= 0xFF
    (tmp_path / "flipped.pt2").write_bytes(bytes(data))
    with pytest.raises(torch_trt.SerializationError, match="corrupt"):
        torch_trt.load(tmp_path / "flipped.pt2")


def test_code_executing_pickles_are_refused(saved: Path, tmp_path: Path) -> None:
    """A raw pickle, a torch.save file, a TorchScript-shaped archive and a .pt2 whose pickled
    payload would run code are refused with SerializationError, and the code never runs."""
    marker = tmp_path / "pwned"
    (tmp_path / "raw.pt2").write_bytes(pickle.dumps(_Evil(marker)))
    torch.save({"x": _Evil(marker)}, tmp_path / "torchsave.pt2")
    buf = io.BytesIO()
    torch.save(_Evil(marker), buf)
    _rewrite(saved, tmp_path / "payload.pt2", "sample_inputs/model.pt", lambda _: buf.getvalue())
    with zipfile.ZipFile(tmp_path / "script.ts", "w") as z:  # TorchScript-shaped
        z.writestr("m/data.pkl", pickle.dumps(_Evil(marker), protocol=2))
        z.writestr("m/code/__torch__.py", "")
        z.writestr("m/constants.pkl", pickle.dumps((), protocol=2))
        z.writestr("m/version", "3\n")
    expected = {
        "script.ts": r"torch.jit.load failed .*Unknown type name",  # its unpickler refused
        "raw.pt2": "raw pickle",
        "torchsave.pt2": "torch.save file",
        "payload.pt2": r"does not load with torch.load\(weights_only=True\)",
    }
    for name, why in expected.items():
        with pytest.raises(torch_trt.SerializationError, match=why):
            torch_trt.load(tmp_path / name)
    assert not marker.exists()


def test_region_source_is_vetted_too(saved: Path, tmp_path: Path) -> None:
    """A region source is an archive of its own: one whose payload pickle would run code is
    refused before torch.export.load reads it."""
    from torch_trt import portable

    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save(_Evil(marker), buf)
    _rewrite(saved, tmp_path / "evil.pt2", "sample_inputs/model.pt", lambda _: buf.getvalue())
    data = (tmp_path / "evil.pt2").read_bytes()
    with pytest.raises(
        torch_trt.SerializationError, match=r"f.pt2 \(source of engine trt_0\).*weights_only"
    ):
        portable.load_source(data, "trt_0", "f.pt2")
    assert not marker.exists()


def test_pickled_constant_is_refused(saved: Path, tmp_path: Path) -> None:
    """A constant stored as a pickled Python object (torch.export's opaque constants) is
    refused before torch.export.load could unpickle it."""

    def opaque(data: bytes) -> bytes:
        raw = json.loads(data)
        raw["config"]["evil"] = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True}
        return json.dumps(raw).encode()

    bad = tmp_path / "opaque.pt2"
    _rewrite(saved, bad, "constants/model_constants_config.json", opaque)
    with pytest.raises(torch_trt.SerializationError, match="'evil' is a pickled Python object"):
        torch_trt.load(bad)


def test_plain_exported_program_loads(tmp_path: Path) -> None:
    """A .pt2 without engines loads fine and its report lists no engines."""
    path = tmp_path / "plain.pt2"
    torch.export.save(torch.export.export(torch.nn.ReLU(), (torch.randn(3),)), path)
    model = torch_trt.load(path)
    rep = torch_trt.report(model)
    assert rep.engines == 0 and rep.fallbacks == []
    x = torch.randn(3)
    assert torch.equal(model(x), torch.relu(x))


def test_missing_and_foreign_files(saved: Path, tmp_path: Path) -> None:
    """No file is FileNotFoundError; a zip of something else, or with a legacy pickled payload,
    is a SerializationError saying what it is."""
    with pytest.raises(FileNotFoundError, match="no saved program at"):
        torch_trt.load(tmp_path / "nothing.pt2")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("docs/readme.txt", "hello")
    with pytest.raises(torch_trt.SerializationError, match="neither an ExportedProgram .pt2 nor"):
        torch_trt.load(tmp_path / "other.zip")
    legacy = tmp_path / "legacy.pt2"
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(legacy, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        prefix = zin.namelist()[0].split("/")[0]
        zout.writestr(f"{prefix}/data/constants/model.pt", b"")
    with pytest.raises(torch_trt.SerializationError, match="legacy pickled payload format"):
        torch_trt.load(legacy)


def test_corrupt_torch_trt_entries(saved: Path, tmp_path: Path) -> None:
    """A corrupt manifest, a missing or corrupt region source and a corrupt program graph each
    raise SerializationError naming the file and the part."""
    with zipfile.ZipFile(saved) as z:
        name = next(n for n in z.namelist() if n.endswith("model_weights_config.json"))
        config = json.loads(z.read(name))["config"]
    source_file = "weights/" + config["torch_trt_source_trt_0"]["path_name"]

    def missing(data: bytes) -> bytes:
        raw = json.loads(data)
        raw["sources"] = ["trt_0", "trt_9"]
        return json.dumps(raw).encode()

    cases: dict[str, tuple[str, Any, str]] = {
        "manifest.pt2": ("torch_trt/manifest.json", lambda _: b"{", "manifest is corrupt"),
        "missing.pt2": ("torch_trt/manifest.json", missing, "source of engine trt_9 is missing"),
        "source.pt2": (
            source_file,
            lambda d: bytes(len(d)),
            r"\(source of engine trt_0\): it is truncated or corrupt",
        ),
        "graph.pt2": ("models/model.json", lambda _: b"{}", r"torch.export.load failed"),
    }
    for name, (entry, edit, why) in cases.items():
        _rewrite(saved, tmp_path / name, entry, edit)
        with pytest.raises(torch_trt.SerializationError, match=f"cannot load .*{name}.*{why}"):
            torch_trt.load(tmp_path / name, runtime="reference")


def test_rebuild_says_when_it_cannot_help(
    saved: Path, small: Small, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilding with the same TensorRT, or for a machine without a GPU, is refused saying
    why and what to use instead."""
    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    with pytest.raises(
        torch_trt.RuntimeUnavailableError, match="same TensorRT cannot help.*'pytorch'"
    ):
        torch_trt.load(saved, on_incompatible="rebuild")
    monkeypatch.setattr(torch_trt._trt, "version", lambda: "99.0-local")
    with pytest.raises(
        torch_trt.RuntimeUnavailableError,
        match="rebuilt with the local TensorRT but cannot run here either: no CUDA",
    ):
        torch_trt.load(saved, on_incompatible="rebuild")


def test_torchscript_engine_that_cannot_run(small: Small, tmp_path: Path) -> None:
    """A TorchScript file of TensorRT engines on a machine without a GPU says so at load."""
    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    compiled = _compile(small, [torch.randn(2, 4)], min_block_size=1)
    torch_trt.save(compiled, tmp_path / "gpu.ts", output_format="torchscript")
    with pytest.raises(
        torch_trt.RuntimeUnavailableError, match=r"gpu.ts: engine trt_0 cannot run here: no CUDA"
    ):
        torch_trt.load(tmp_path / "gpu.ts")


def test_save_input_errors(tmp_path: Path) -> None:
    """A module with a non-tensor input needs inputs=; inputs that do not fit fail export
    with a SerializationError saying to check them."""

    class Scaled(torch.nn.Module):
        def forward(self, x: torch.Tensor, scale: float) -> torch.Tensor:
            return torch.relu(x) * scale + 1.0

    compiled = _compile(Scaled(), [torch.randn(2, 4), 2.0], min_block_size=1, runtime="reference")
    with pytest.raises(ValueError, match="save needs inputs="):
        torch_trt.save(compiled, tmp_path / "s.pt2")
    with pytest.raises(ValueError, match=r"inputs\[0\] lies outside .* rank 3, expected rank 2"):
        torch_trt.save(compiled, tmp_path / "s.pt2", inputs=[torch.randn(2, 4, 5), 2.0])
    wide = torch_trt.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(8, 4))
    with pytest.raises(ValueError, match=r"'x' has shape \(1, 4\): dim 0 is 1, allowed 2"):
        torch_trt.save(compiled, tmp_path / "s.pt2", inputs=[wide, 2.0])
    with pytest.raises(torch_trt.SerializationError, match="check that inputs= matches"):
        torch_trt.save(compiled, tmp_path / "s.pt2", inputs=[torch.randn(2, 4)])


def test_file_saved_by_torch_export_save(small: Small, tmp_path: Path) -> None:
    """A compiled module saved by torch.export.save itself (no manifest) loads; its report
    lists the engine with its size."""
    compiled = _compile(small, [torch.randn(2, 4)], min_block_size=1, runtime="reference")
    path = tmp_path / "by_torch.pt2"
    torch.export.save(torch.export.export(compiled, (torch.randn(2, 4),), strict=False), path)
    model = torch_trt.load(path)
    (info,) = torch_trt.report(model).engine_info
    assert info.name == "trt_0" and info.size_bytes == compiled.trt_0_engine.numel() > 0
    x = torch.randn(2, 4)
    assert rel_error(model(x), small(x)) < FP32_RTOL
