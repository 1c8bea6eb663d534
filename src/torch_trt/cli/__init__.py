"""The ``torch-trt`` command (also ``python -m torch_trt``): compile, report, inspect, check, demo.

Exit codes: 0 success, 2 usage error (bad arguments or options), 1 any other failure (missing or
corrupt file, unsupported model, failed build, check outside tolerance). Errors print one line,
``torch-trt <command>: error: ...``; ``--verbose`` adds the traceback and debug logging.
See docs/cli.md.

Example:
    $ torch-trt compile model.pt2 -o model_trt.pt2 --with-source --json report.json
    $ torch-trt inspect model_trt.pt2
    $ torch-trt check model_trt.pt2
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from torch_trt.cli.common import UsageError

log = logging.getLogger("torch_trt")

_DESCRIPTIONS = {
    "compile": "compile an ExportedProgram (torch.export.save) into a program with TensorRT "
    "engines, save it and print the report",
    "report": "what would convert and what would fall back, with reasons, without building engines",
    "inspect": "the engines of a compiled file: TensorRT flavour and version, inputs and "
    "outputs, profiles, sizes, layer counts",
    "check": "evaluate each engine with the reference runtime on random inputs within its "
    "profile and print its error against the region's PyTorch source",
    "demo": "compile a torchvision model (random weights) with the reference runtime and "
    "check it against eager PyTorch",
}


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _common() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging and full tracebacks"
    )
    common.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars, only warnings and errors"
    )
    common.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (e.g. one that registers the model's custom ops); repeatable",
    )
    return common


def parser() -> argparse.ArgumentParser:
    """The ``torch-trt`` argument parser (every command has ``--help``)."""
    from torch_trt.cli import artifact, commands

    top = _Parser(
        prog="torch-trt",
        description="Compile PyTorch programs (ExportedProgram .pt2) to TensorRT engines; report, "
        "inspect and check the results. Exit codes: 0 success, 2 usage error, 1 failure.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    common = _common()
    for name, add in (
        ("compile", commands.add_compile),
        ("report", commands.add_report),
        ("inspect", artifact.add_inspect),
        ("check", artifact.add_check),
        ("demo", commands.add_demo),
    ):
        p = sub.add_parser(
            name, parents=[common], help=_DESCRIPTIONS[name], description=_DESCRIPTIONS[name]
        )
        add(p)
    return top


def _configure_logging(verbose: bool, quiet: bool) -> None:
    """Messages of the ``torch_trt`` logger on stderr: WARNING and up by default, everything
    with ``--verbose``, errors only with ``--quiet``."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("torch_trt")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (a progress display redirects it while it runs)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torch-trt`` command; returns the exit code."""
    args = parser().parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    prog = f"torch-trt {args.command}"
    try:
        for module in args.imports:
            _import(module)
        code: int = args.run(args)
        return code
    except UsageError as e:
        sys.stderr.write(f"{prog}: error: {_one_line(e)} (see {prog} --help)\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return 130
    except Exception as e:
        if args.verbose:
            traceback.print_exc()
        hint = "" if args.verbose else " (--verbose shows the traceback)"
        sys.stderr.write(f"{prog}: error: {_one_line(e)}{hint}\n")
        return 1


def _import(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise UsageError(f"--import {module}: {e}") from e


def _one_line(e: BaseException) -> str:
    """The exception as one line: its type when the message does not say it, first line only."""
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    if isinstance(e, FileNotFoundError) and e.filename:
        first = f"no such file: {e.filename}"
    return first


if __name__ == "__main__":
    sys.exit(main())
