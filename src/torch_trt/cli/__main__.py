"""``python -m torch_trt.cli``: the ``torch-trt`` command."""

from __future__ import annotations

import sys

from torch_trt.cli import main

sys.exit(main())
