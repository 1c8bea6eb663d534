"""``python -m torch_trt``: the ``torch-trt`` command (see ``torch_trt.cli``)."""

from __future__ import annotations

import sys

from torch_trt.cli import main

sys.exit(main())
