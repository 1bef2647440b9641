"""The model interface the enhance pipeline drives, the identity model, and model loading."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from stemprover.audio.stft import StftConfig
from stemprover.errors import StemProverError
from stemprover.models.serialization import (
    WEIGHTS_FILE,
    enhancer_class,
    read_meta,
    refuse_pickle,
)
from stemprover.vocabulary import parse_adapters


@runtime_checkable
class SpectralModel(Protocol):
    """What :class:`~stemprover.pipeline.EnhancePipeline` needs from a model.

    Attributes:
        stft: The STFT the model was trained with.
        sample_rate: The rate the model works at; ``None`` works at any rate.
    """

    stft: StftConfig
    sample_rate: int | None

    def enhance(self, spec: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        """Clean a compressed complex spectrogram.

        Models that sample also have ``default_sampling`` and ``sampling_options(**changes)``
        and take ``sampling=`` and ``generator=`` keywords here: sampling settings and the
        noise are arguments of each call, never state on the model.

        Args:
            mix: The mixture's spectrogram, when known; models that do not use it ignore it.

        Shape:
            spec, mix: ``(B, F, N)`` complex, ``F = stft.bins``; returns the same shape.
        """
        ...

    def to(self, device: torch.device) -> SpectralModel: ...


class NullModel:
    """The identity: runs the whole enhance path and must give the input back (the null test)."""

    sample_rate = None

    def __init__(self, stft: StftConfig | None = None) -> None:
        self.stft = stft or StftConfig()

    def enhance(self, spec: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        return spec

    def to(self, device: torch.device) -> NullModel:
        return self


BUILTIN_MODELS = {"null": NullModel}
BUNDLED = Path(__file__).resolve().parent.parent / "weights"


def model_config(folder: Path) -> dict | None:
    """The ``config`` of an enhancement model saved in ``folder``; ``None`` for anything else
    (the bundled detector and separator folders hold config.json files of other kinds)."""
    if not (folder / WEIGHTS_FILE).is_file():
        return None
    try:
        return read_meta(folder)["config"]
    except StemProverError:
        return None


def model_kind(name_or_path: str | Path) -> str | None:
    """The saved ``kind`` of an enhancement model (bundled name or folder); ``None`` for
    built-in models and anything that is not a saved enhancement model."""
    folder = bundled_models().get(str(name_or_path), Path(name_or_path))
    if not folder.is_dir() or model_config(folder) is None:
        return None
    return read_meta(folder)["kind"]


def bundled_models() -> dict[str, Path]:
    """Enhancement models shipped inside the package: ``{name: folder}``."""
    if not BUNDLED.is_dir():
        return {}
    return {p.name: p for p in sorted(BUNDLED.iterdir()) if model_config(p) is not None}


def weights_sha256(name_or_path: str | Path) -> str | None:
    """A hash of a saved model's weights (``model.safetensors`` of a bundled name or a
    folder): what a later training stage records of the model it starts from, so that a run
    is not resumed over other weights. ``None`` when there is no such file."""
    folder = bundled_models().get(str(name_or_path), Path(name_or_path))
    weights = folder / "model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None


def model_adapters(name_or_path: str | Path) -> dict[str, Path]:
    """Adapters stored with a model (a bundled name or a folder):
    ``<model>/adapters/<name>/adapter.json``."""
    folder = bundled_models().get(str(name_or_path), Path(name_or_path))
    root = (folder.parent if folder.is_file() else folder) / "adapters"  # or its .safetensors
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "adapter.json").exists()}


def default_adapters(name_or_path: str | Path) -> str:
    """The CLI's and the demo's ``--adapters`` when none is given: ``auto`` for a model that
    has adapters stored with it (the bundled default does), else ``none``.

    ``auto`` is the default mode because it measures better than the base alone on the
    held-out set (``stemprover bench``)."""
    return "auto" if model_adapters(name_or_path) else "none"


def load_model(name_or_path: str | Path, adapters: str | None = None) -> SpectralModel:
    """A built-in or bundled model by name, or a trained model from its folder.

    Args:
        adapters: ``none``, ``auto`` (weights chosen per file from the analysis), names
            ``a,b`` or weighted ``a=0.7,b=0.3``; names are adapters stored with the model or
            adapter folders. ``None``: the model's default (:func:`default_adapters`), so
            ``load_model("default")`` is what ``stemprover enhance`` runs.

    Raises:
        StemProverError: unknown name, a path that holds no StemProver model, a model of the
            wrong kind or version, or a pickle file.
    """
    name = str(name_or_path)
    if adapters is None:
        adapters = default_adapters(name)
    wanted = parse_adapters(adapters)  # a bad spec fails before anything loads
    if name in BUILTIN_MODELS:
        if wanted:
            raise StemProverError(f"the {name} model has no adapters (use --adapters none)")
        return BUILTIN_MODELS[name]()
    bundled = bundled_models()
    path = bundled.get(name, Path(name))
    if not path.exists():
        known = sorted([*BUILTIN_MODELS, *bundled])
        raise StemProverError(
            f"unknown model {name!r}: not one of {', '.join(known)} and no such path"
        )
    if path.is_file():
        refuse_pickle(path)
        if path.suffix != ".safetensors":
            raise StemProverError("expected a model folder (config.json + model.safetensors)", path)
        path = path.parent
    cls = enhancer_class(read_meta(path)["kind"])  # the registry: a saved kind names its class
    model = cls.load(path)
    _attach_adapters(model, path, wanted)
    return model


def _attach_adapters(model, folder: Path, wanted: dict[str, float] | str) -> None:
    """Inject the wanted adapters and leave their routing state in ``model.adapter_set``,
    which the pipeline that runs the model takes over."""
    from stemprover.models import lora

    stored = model_adapters(folder)
    auto = wanted == "auto"
    if auto:
        if not stored:
            raise StemProverError(
                "--adapters auto: this model has no adapters stored with it", folder
            )
        wanted = dict.fromkeys(stored, 0.0)
    fingerprint = lora.base_fingerprint(model) if wanted else None
    weights, infos = {}, []
    for name, weight in wanted.items():
        source = stored.get(name, Path(name))
        if not (source / "adapter.json").exists():
            known = ", ".join(stored) or "none stored with this model"
            raise StemProverError(f"unknown adapter {name!r} (known: {known})")
        weights[lora.load_adapter(model, source, fingerprint)] = weight
        infos.append(lora.adapter_info(source))
    if weights:
        lora.set_weights(model, weights, merge=True)
    gain = lora.auto_gain(folder) if auto else 1.0
    model.adapter_set = lora.AdapterSet(infos, weights, auto, gain) if weights else None
