"""StemProver: remove source-separation artifacts from music stems.

The public API. Names load on first use (PEP 562), so ``import stemprover`` and the CLI's
argument parsing do not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from stemprover.version import __version__

if TYPE_CHECKING:
    from stemprover.models.base import load_model
    from stemprover.pipeline import EnhancePipeline, enhance_paths

_LAZY = {
    "EnhancePipeline": "stemprover.pipeline",
    "enhance_paths": "stemprover.pipeline",
    "load_model": "stemprover.models.base",
}
__all__ = ["EnhancePipeline", "__version__", "enhance_paths", "load_model"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stemprover' has no attribute {name!r}")
