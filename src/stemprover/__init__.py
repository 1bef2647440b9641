"""StemProver: remove source-separation artifacts from music stems.

The public API. Names load on first use (PEP 562), so ``import stemprover`` and the CLI's
argument parsing do not import torch::

    import soundfile as sf, stemprover
    stem, sr = sf.read("vocals.wav"); mix, _ = sf.read("song.wav")
    clean = stemprover.enhance(stem, sr, mix=mix, stem_type="vocals")
    cleaned = stemprover.enhance_song({"vocals": v, "drums": d, "bass": b, "other": o}, sr, mix)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from stemprover.version import __version__

if TYPE_CHECKING:
    from stemprover.api import (
        EnhanceOptions,
        enhance,
        enhance_files,
        enhance_song,
        load_pipeline,
    )
    from stemprover.batch import enhance_paths
    from stemprover.models.base import load_model
    from stemprover.pipeline import EnhancePipeline

_LAZY = {
    "EnhanceOptions": "stemprover.api",
    "enhance": "stemprover.api",
    "enhance_files": "stemprover.api",
    "enhance_song": "stemprover.api",
    "load_pipeline": "stemprover.api",
    "EnhancePipeline": "stemprover.pipeline",
    "enhance_paths": "stemprover.batch",
    "load_model": "stemprover.models.base",
}
__all__ = [
    "EnhanceOptions",
    "EnhancePipeline",
    "__version__",
    "enhance",
    "enhance_files",
    "enhance_paths",
    "enhance_song",
    "load_model",
    "load_pipeline",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stemprover' has no attribute {name!r}")
