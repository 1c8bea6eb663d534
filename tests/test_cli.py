"""The torch-trt command in subprocesses: compile, report, inspect, check, errors, progress."""

from __future__ import annotations

import json
import os
import pathlib
import pty
import re
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
import torch
import torchvision

import torch_trt
from torch_trt.report import SCHEMA_VERSION, EngineInfo

TESTS = pathlib.Path(__file__).resolve().parent
SCHEMA = json.loads((pathlib.Path(torch_trt.__file__).parent / "report.schema.json").read_text())


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}


def torch_trt_cli(
    *argv: object, cwd: pathlib.Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m torch_trt ARGV`` with pipes (no terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "torch_trt", *map(str, argv)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=900,
    )


def _small(path: pathlib.Path) -> pathlib.Path:
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    torch.export.save(torch.export.export(model.eval(), (torch.randn(2, 8),)), path)
    return path


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """ResNet-18 saved as an ExportedProgram, then compiled by the CLI with its sources."""
    root = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 224, 224),)), root / "r18.pt2")
    done = torch_trt_cli(
        "compile",
        root / "r18.pt2",
        "-o",
        root / "r18_trt.pt2",
        "--with-source",
        "--json",
        root / "report.json",
    )
    return {"root": root, "compile": done}


def test_compile_resnet18_then_inspect_and_check(resnet18: dict[str, Any]) -> None:
    """compile writes a program and prints the report; inspect shows its engine; check passes."""
    root, done = resnet18["root"], resnet18["compile"]
    assert done.returncode == 0, done.stderr
    assert (root / "r18_trt.pt2").is_file() and "wrote" in done.stdout
    assert "regions" in done.stdout and "trt_0" in done.stdout
    shown = torch_trt_cli("inspect", root / "r18_trt.pt2")
    assert shown.returncode == 0, shown.stderr
    for expected in ("trt_0", "tensorrt_rtx", "float32", "(1, 3, 224, 224)", "(1, 1000)"):
        assert expected in shown.stdout, expected
    # the engine's layer census: every layer of an fp32 ResNet-18 runs in fp32, no casts
    assert re.search(r"total (\d+): fp32 \1;", shown.stdout) and "0 casts" in shown.stdout
    checked = torch_trt_cli("check", root / "r18_trt.pt2")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "ok" in checked.stdout and "within tolerance" in checked.stdout


def test_json_report_validates_against_the_schema(resnet18: dict[str, Any]) -> None:
    """compile --json writes a report the packaged JSON Schema accepts, with its version."""
    assert resnet18["compile"].returncode == 0, resnet18["compile"].stderr
    data = json.loads((resnet18["root"] / "report.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["schema_version"] == SCHEMA_VERSION and len(data["engines"]) == 1


def test_schema_refuses_fields_it_does_not_describe() -> None:
    """An unknown field anywhere fails validation: a new report field needs a schema update."""
    rep = torch_trt.report(
        torch_trt.dynamo.compile(torch.nn.ReLU(), [torch.randn(2)], min_block_size=1)
    )
    data = rep.to_dict()
    jsonschema.validate(data, SCHEMA)
    for where in (data, data["engines"][0], data["placements"][0]):
        where["new_field"] = 1
        with pytest.raises(jsonschema.ValidationError, match="new_field"):
            jsonschema.validate(data, SCHEMA)
        del where["new_field"]
    fields = {f for f in EngineInfo.__dataclass_fields__}
    assert fields == set(SCHEMA["$defs"]["engine"]["properties"])


def test_report_lists_unsupported_ops_with_reasons(tmp_path: pathlib.Path) -> None:
    """report names the op without a converter and its reason, builds nothing, writes JSON."""
    import cli_custom_ops

    model = cli_custom_ops.UsesIt().eval()
    torch.export.save(torch.export.export(model, (torch.randn(2, 8),)), tmp_path / "m.pt2")
    out = torch_trt_cli(
        "report",
        tmp_path / "m.pt2",
        "--import",
        "cli_custom_ops",
        "--min-block-size",
        "1",
        "--json",
        tmp_path / "r.json",
    )
    assert out.returncode == 0, out.stderr
    assert "no converter" in out.stdout and "torch_trt_cli_test.unconvertible" in out.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["engines"] == [] and "build" not in data["stage_seconds"]
    (fallback,) = [p for p in data["placements"] if p["engine"] is None]
    assert fallback["reason"] == "no converter"
    without = torch_trt_cli("report", tmp_path / "m.pt2")
    assert without.returncode == 1 and "--import" in without.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compile", "m.pt2"], "the following arguments are required: -o/--output"),
        (["compile", "m.pt2", "-o", "o.pt2", "--input", "input:1xb"], "is not a shape"),
        (["compile", "m.pt2", "-o", "o.pt2", "--input", "y:2x8"], "has no input 'y'"),
        (["compile", "m.pt2", "-o", "o.pt2", "--min-block-size", "0"], "min_block_size"),
        (["compile", "m.pt2", "-o", "o.pt2", "--precision", "fp8"], "invalid choice"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["check"], "required: OUT.pt2"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: pathlib.Path, argv: list[str], message: str
) -> None:
    """A usage error exits 2 with one line on stderr naming the problem."""
    _small(tmp_path / "m.pt2")
    out = torch_trt_cli(*argv, cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no saved program at"),
        (b"", "the file is empty"),
        (b"hello, not a model", "it is not a zip archive"),
        ("truncated", "it is truncated or corrupt: its zip directory"),
        ("flipped", "is corrupt (CRC mismatch)"),
    ],
)
def test_missing_or_corrupt_file_exits_1(
    tmp_path: pathlib.Path, content: bytes | str | None, message: str
) -> None:
    """compile, report, inspect and check refuse a missing or corrupt file: exit 1, one line."""
    path = tmp_path / "m.pt2"
    if content in ("truncated", "flipped"):
        data = bytearray(_small(path).read_bytes())
        if content == "flipped":
            data[len(data) // 2 : len(data) // 2 + 8] = bytes(8)  # inside a tensor entry
        path.write_bytes(data[: len(data) // 2] if content == "truncated" else data)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    commands: list[list[object]] = [["report", path], ["inspect", path]]
    if content is None:  # every command, once
        commands += [["compile", path, "-o", tmp_path / "o.pt2"], ["check", path]]
    for argv in commands:
        out = torch_trt_cli(*argv)
        assert out.returncode == 1, (argv, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr
    verbose = torch_trt_cli("inspect", path, "--verbose")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_check_refuses_a_file_without_sources(tmp_path: pathlib.Path) -> None:
    """check needs each engine's PyTorch source and says how to save it, exit 1."""
    _small(tmp_path / "m.pt2")
    done = torch_trt_cli(
        "compile", tmp_path / "m.pt2", "-o", tmp_path / "o.pt2", "--min-block-size", "1"
    )
    assert done.returncode == 0, done.stderr
    out = torch_trt_cli("check", tmp_path / "o.pt2")
    assert out.returncode == 1
    assert "neither reference programs nor the PyTorch source" in out.stderr
    assert "--with-source" in out.stderr
    done = torch_trt_cli(
        "compile",
        tmp_path / "m.pt2",
        "-o",
        tmp_path / "r.pt2",
        "--min-block-size",
        "1",
        "--runtime",
        "reference",
    )
    assert done.returncode == 0, done.stderr
    out = torch_trt_cli("check", tmp_path / "r.pt2")
    assert out.returncode == 1 and "reference programs but no PyTorch source" in out.stderr


def test_check_rows_flag_errors_beyond_tolerance() -> None:
    """An output off by more than the dtype's tolerance, or of another shape, is not ok."""
    from torch_trt.cli.check import _row

    want = torch.randn(4, 4)
    assert _row("e", "opt", 0, want * (1 + 1e-6), want, None)["result"] == "ok"
    assert _row("e", "opt", 0, want * (1 + 1e-3), want, None)["result"] == "too large"
    assert _row("e", "opt", 0, want.half() * 1.001, want.half(), None)["result"] == "ok"
    assert _row("e", "opt", 0, want, want, 0.0)["result"] == "too large"
    assert "want torch.float32 (4, 4)" in _row("e", "opt", 0, want[:2], want, None)["result"]
    ints = torch.arange(4)
    assert _row("e", "opt", 0, ints + 1, ints, None)["result"] == "values differ"


def _in_terminal(argv: list[str]) -> str:
    """Run ``python -m torch_trt ARGV`` with stdout and stderr on a pseudo-terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, in the pty
        os.execve(sys.executable, [sys.executable, "-m", "torch_trt", *argv], _env())
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_and_none_without(tmp_path: pathlib.Path) -> None:
    """compile draws stage and engine-build bars on a terminal; piped output has none."""
    _small(tmp_path / "m.pt2")
    compile_it = ["compile", str(tmp_path / "m.pt2"), "--min-block-size", "1", "-o"]
    shown = _in_terminal([*compile_it, str(tmp_path / "a.pt2")])
    assert "━" in shown and "capture" in shown and "build trt_0" in shown
    piped = torch_trt_cli(*compile_it, tmp_path / "b.pt2")
    assert piped.returncode == 0, piped.stderr
    text = piped.stdout + piped.stderr
    assert "━" not in text and "\x1b[" not in text and "build trt_0" not in text
    quiet = _in_terminal([*compile_it, str(tmp_path / "c.pt2"), "-q"])
    assert "━" not in quiet


def test_progress_true_from_python(capsys: pytest.CaptureFixture[str]) -> None:
    """progress=True draws the stages and the engine build on stderr."""
    torch_trt.dynamo.compile(torch.nn.ReLU(), [torch.randn(2)], min_block_size=1, progress=True)
    err = capsys.readouterr().err
    assert "capture" in err and "partition" in err and "build trt_0" in err


def test_console_script_and_module_entry_points(tmp_path: pathlib.Path) -> None:
    """`torch-trt` (installed script) and `python -m torch_trt.cli` both answer --help."""
    script = pathlib.Path(sys.executable).parent / "torch-trt"
    assert script.is_file(), "the package is not installed (pip install -e .)"
    for cmd in ([str(script), "inspect", "--help"], [sys.executable, "-m", "torch_trt.cli", "-h"]):
        out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
        assert out.returncode == 0 and "usage: torch-trt" in out.stdout, out.stderr


def test_inspect_reads_per_precision_layer_counts_when_recorded() -> None:
    """An engine record's optional 'layers' entry is shown; without it, n/a."""
    from torch_trt.cli.artifact import layers_text

    record = {"layers": {"total": 12, "by_precision": {"float16": 9, "float32": 3}, "casts": 2}}
    assert layers_text(record) == "total 12: float16 9, float32 3; 2 casts"
    assert layers_text({}) == "n/a" and layers_text({"layers": None}) == "n/a"


def test_torch_compile_report_validates_against_the_schema() -> None:
    """The torch.compile backend's report (with its per-graph entries) fits the schema too."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()).eval()
    options = {"min_block_size": 1, "runtime": "reference"}
    compiled = torch.compile(model, backend="torch_trt", options=options)
    compiled(torch.randn(2, 8))
    data = torch_trt.report(compiled).to_dict()
    jsonschema.validate(data, SCHEMA)
    assert len(data["graphs"]) == 1
