"""Command line: ``python -m torch_trt.cli demo`` compiles a built-in example model.

Example:
    $ python -m torch_trt.cli demo --model resnet18
    $ python -m torch_trt.cli demo --model mobilenet_v3_small --json report.json
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

import torch

_MODELS = ("resnet18", "mobilenet_v3_small")


def _torchvision_model(name: str) -> Callable[[], torch.nn.Module]:
    try:
        import torchvision.models as tvm
    except ImportError as e:
        raise SystemExit(
            f"the demo models come from torchvision ({e}); `pip install torchvision`"
        ) from e
    factory: Callable[[], torch.nn.Module] = getattr(tvm, name)
    return factory


def demo(model_name: str, batch: int, json_path: str | None) -> int:
    """Compile a torchvision model (random weights) with the reference runtime; print the report."""
    import torch_trt
    from torch_trt.testing import randomize_norm_stats, rel_error

    torch.manual_seed(0)
    # Fresh batch norms fold to an exact identity; trained-like statistics make the check real.
    model = randomize_norm_stats(_torchvision_model(model_name)().eval())
    x = torch.randn(batch, 3, 224, 224)
    print(f"compiling {model_name} (random weights) for input {tuple(x.shape)} ...", flush=True)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
    rep = torch_trt.report(compiled)
    print(rep)
    with torch.no_grad():
        err = rel_error(compiled(x), model(x))
    print(f"\nreference runtime vs eager PyTorch: relative error {err:.2e}")
    if json_path:
        with open(json_path, "w") as f:
            f.write(rep.to_json())
        print(f"report written to {json_path}")
    return 0 if err < 1e-4 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torch-trt`` command."""
    parser = argparse.ArgumentParser(prog="torch-trt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="compile a built-in example model and print its report")
    d.add_argument("--model", choices=_MODELS, default="resnet18")
    d.add_argument("--batch", type=int, default=1)
    d.add_argument("--json", dest="json_path", help="also write the report as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.command == "demo":
        return demo(args.model, args.batch, args.json_path)
    return 2  # unreachable: argparse requires a known command


if __name__ == "__main__":
    sys.exit(main())
