"""StemProver: remove source-separation artifacts from music stems."""

from __future__ import annotations

__version__ = "0.1.0"

from stemprover.models.base import load_model
from stemprover.pipeline import EnhancePipeline, enhance_paths

__all__ = ["EnhancePipeline", "__version__", "enhance_paths", "load_model"]
