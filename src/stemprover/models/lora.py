"""peft LoRA adapters on the denoiser (and optionally the control branch), one per artifact.

An adapter folder holds ``adapter.json`` (kind, name, LoRA settings, the fingerprint of the
base model it was trained on) and ``adapter.safetensors`` (only the LoRA weights). Adapters
are combined by activating several at once with per-adapter scales, and can be merged into
the base weights for speed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from stemprover.config import AdapterConfig, from_dict, to_dict
from stemprover.errors import StemProverError
from stemprover.models.serialization import read_json, refuse_pickle

ADAPTER_KIND = "stemprover-adapter"
ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter.json", "adapter.safetensors"


def adapter_name(artifact: str, stems: tuple[str, ...] = ()) -> str:
    """``bleed`` for an adapter of every stem type, ``bleed-drums`` (``bleed-drums+bass``) for
    one trained on some: its folder name and its name inside the model."""
    return "-".join([artifact, "+".join(stems)]) if stems else artifact


@dataclass(frozen=True)
class AdapterInfo:
    """What ``auto`` needs to route an adapter: the artifact it removes and the stem types it
    was trained on (empty: all)."""

    name: str
    artifact: str
    stems: tuple[str, ...] = ()


@dataclass
class AdapterSet:
    """The adapters injected into a model and how inference weights them.

    The LoRA layers live in the model; this routing state belongs to whoever runs it (the
    :class:`~stemprover.pipeline.EnhancePipeline` takes it over from :func:`load_model`).

    Attributes:
        infos: Each adapter's name, artifact and stem types (how ``auto`` routes it).
        weights: The fixed weights, or the last ones ``auto`` chose.
        auto: Weigh per input from the detected severities (``--adapters auto``).
        gain: ``auto``'s weight per unit of severity (at most 1 after the product).
    """

    infos: list[AdapterInfo]
    weights: dict[str, float]
    auto: bool = False
    gain: float = 1.0


def route(
    adapters: list[AdapterInfo], scores: dict[str, float], stem: str | None, gain: float = 1.0
) -> dict:
    """``--adapters auto``'s weights: each artifact's detected severity times ``gain`` (at most
    1) goes to the adapter trained for this stem type when the model has one, else to its
    all-stem adapter; the others get 0. ``stem`` is ``None`` when the stem type is unknown.

    Per stem type is worth it only where it measures better than the all-stem adapter, so a
    model ships per-stem adapters only for those (docs/research-log.md).
    """
    specific = {(a.artifact, s) for a in adapters for s in a.stems}
    weights = {}
    for a in adapters:
        wanted = stem in a.stems if a.stems else (a.artifact, stem) not in specific
        weights[a.name] = round(min(1.0, gain * scores[a.artifact]), 3) if wanted else 0.0
    return weights


AUTO_CONFIG = "auto.json"


def auto_gain(model_folder: Path) -> float:
    """``--adapters auto``'s weight per unit of detected severity, from
    ``<model>/adapters/auto.json`` (``experiments/calibrate_auto``); 1 without one.

    The detector's severities are not the adapters' best weights, so a model may carry a
    calibrated gain; for the bundled one 1 measured best.
    """
    path = Path(model_folder) / "adapters" / AUTO_CONFIG
    if not path.exists():
        return 1.0
    gain = json.loads(path.read_text()).get("gain")
    if not isinstance(gain, int | float) or gain <= 0:
        raise StemProverError(f"{AUTO_CONFIG}: gain must be a positive number, not {gain!r}", path)
    return float(gain)


def _targets(model, cfg: AdapterConfig) -> dict[str, torch.nn.Module]:
    parts = {"denoiser": model.denoiser}
    if cfg.include_control:
        parts["control"] = model.control
    return parts


def base_fingerprint(model) -> str:
    """A hash of the base weights (LoRA weights excluded): ties an adapter to its base."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        if "lora_" in key:
            continue
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def add_adapter(model, name: str, cfg: AdapterConfig) -> list[torch.nn.Parameter]:
    """Inject a fresh LoRA adapter; returns its (trainable) parameters. Base stays frozen."""
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(
        r=cfg.rank, lora_alpha=cfg.alpha, target_modules=list(cfg.target_modules), lora_dropout=0.0
    )
    model.requires_grad_(False)
    for part in _targets(model, cfg).values():
        with warnings.catch_warnings():  # several adapters in one model is the point here
            warnings.simplefilter("ignore", UserWarning)
            inject_adapter_in_model(lora, part, adapter_name=name)
    model.lora_adapters = (*getattr(model, "lora_adapters", ()), name)
    params = [
        p for n, p in model.named_parameters() if f"lora_A.{name}." in n or f"lora_B.{name}." in n
    ]
    for p in params:
        p.requires_grad_(True)
    return params


def attached(model) -> bool:
    """Whether LoRA adapters are injected into ``model`` (by :func:`add_adapter`, for training
    or loading). Constant time: the model's ``reads_mixture`` asks it once per segment."""
    return bool(getattr(model, "lora_adapters", ()))


def _lora_layers(model):
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def set_weights(model, weights: dict[str, float], merge: bool = False) -> None:
    """Activate adapters with per-adapter scales (``alpha / rank × weight``); ``{}`` = base.

    With ``merge`` the weighted adapters are folded into the base weights, so inference runs
    no LoRA branch (with three adapters unmerged, one DDIM step on 60 s of stereo took about
    twice as long). An earlier merge is undone first, so the weights may change per file.
    Inference only: a merged model is not trainable and its base fingerprint differs.
    """
    for layer in _lora_layers(model):
        if layer.merged:
            layer.unmerge()  # at the old scales, before they change
        present = [n for n in weights if n in layer.lora_A]
        for name in layer.lora_A:
            layer.scaling[name] = layer.lora_alpha[name] / layer.r[name] * weights.get(name, 0.0)
        first = next(iter(layer.lora_A))
        layer.set_adapter(present or [first])
        if not present:  # no adapter wanted here: a zero scale makes the layer the base
            layer.scaling[first] = 0.0
        if merge:
            layer.merge(adapter_names=list(layer.active_adapters))


def save_adapter(model, artifact: str, cfg: AdapterConfig, folder: Path, fingerprint: str) -> Path:
    """Save the adapter for ``artifact`` (and ``cfg.stems``; named by :func:`adapter_name`)."""
    from safetensors.torch import save_file

    name = adapter_name(artifact, cfg.stems)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        f"{part}.{k}": v.detach().contiguous().cpu()
        for part, module in _targets(model, cfg).items()
        for k, v in module.state_dict().items()
        if f".{name}." in k and "lora_" in k
    }
    save_file(state, str(folder / ADAPTER_WEIGHTS))
    meta = {"kind": ADAPTER_KIND, "name": name, "artifact": artifact, "config": to_dict(cfg)}
    meta["base"] = fingerprint
    (folder / ADAPTER_CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def _read_meta(folder: Path) -> dict:
    meta = read_json(folder / ADAPTER_CONFIG, "an adapter folder")
    if meta.get("kind") != ADAPTER_KIND:
        raise StemProverError(
            f"not a StemProver adapter (kind {meta.get('kind')!r})", folder / ADAPTER_CONFIG
        )
    for key, kind in (("name", str), ("config", dict), ("base", str)):
        if not isinstance(meta.get(key), kind):
            raise StemProverError(
                f"{ADAPTER_CONFIG} has no {key!r} ({kind.__name__})", folder / ADAPTER_CONFIG
            )
    return meta


def adapter_info(folder: Path) -> AdapterInfo:
    """An adapter folder's name, artifact and stem types, from its ``adapter.json``."""
    meta = _read_meta(folder)
    stems = tuple(meta["config"].get("stems", ()))
    return AdapterInfo(meta["name"], meta.get("artifact", meta["name"]), stems)


def load_adapter(model, folder: Path, fingerprint: str | None = None) -> str:
    """Inject and load a saved adapter; refuses one trained on another base, or one whose name
    the model already has. Returns its name."""
    from safetensors.torch import load_file

    meta = _read_meta(folder)
    if meta["name"] in getattr(model, "lora_adapters", ()):
        raise StemProverError(f"the model already has an adapter named {meta['name']!r}", folder)
    fingerprint = fingerprint or base_fingerprint(model)
    if meta["base"] != fingerprint:
        raise StemProverError(
            f"adapter {meta['name']!r} belongs to base model {meta['base']}, not this one ({fingerprint})",
            folder,
        )
    cfg = from_dict(AdapterConfig, meta["config"])
    add_adapter(model, meta["name"], cfg)
    model.requires_grad_(False)
    refuse_pickle(folder / ADAPTER_WEIGHTS)
    state = load_file(str(folder / ADAPTER_WEIGHTS))
    for part, module in _targets(model, cfg).items():
        prefix = f"{part}."
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        result = module.load_state_dict(sub, strict=False)
        if result.unexpected_keys:
            raise StemProverError(
                f"adapter weights do not fit the model: {result.unexpected_keys[:3]}", folder
            )
    return meta["name"]
