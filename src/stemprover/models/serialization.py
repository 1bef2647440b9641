"""Saving and loading StemProver's networks: ``config.json`` + ``model.safetensors``, never
pickle, and the registry that maps a saved model's ``kind`` to its class.

A folder's ``config.json`` holds ``kind`` (which class reads it), ``format_version``, the
package version that wrote it, the class's ``config`` and any extras. A new model family
plugs in with :func:`register_model`; :func:`load_enhancer` then loads its folders by kind.
Importing this module loads no torch: classes are imported when a folder of theirs loads.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from stemprover.errors import StemProverError
from stemprover.version import __version__

FORMAT_VERSION = 2

# Format 1 configs left out fields that were added later; these were the defaults then.
# Format 2 changed the code's defaults to the shipped architecture, so a format 1 folder
# is migrated by filling what it lacks from here, never by the code's current defaults.
_V1_DEFAULTS = {
    "stemprover-latent-diffusion": {
        "autoencoder": {"kind": "vae", "patch": 2},
        "denoiser": {
            "block_out_channels": [64, 128],
            "output": "residual",
            "log_magnitude": False,
            "mixture": False,
            "mixture_gain": False,
        },
        "diffusion": {
            "steps": 4,
            "strength": 0.4,
            "train_strength": 1.0,
            "condition_start_prob": 0.5,
        },
    },
    # detectors saved before these options read 5 feature maps with group norm
    "stemprover-artifact-detector": {"inputs": 5, "norm": "group"},
}


def _filled(config: dict, defaults: dict) -> dict:
    out = dict(config)
    for key, value in defaults.items():
        if isinstance(value, dict):
            out[key] = _filled(out.get(key) or {}, value)
        else:
            out.setdefault(key, value)
    return out


def migrate(meta: dict) -> dict:
    """A saved ``config.json`` brought to :data:`FORMAT_VERSION`."""
    if meta.get("format_version") == 1:
        defaults = _V1_DEFAULTS.get(meta.get("kind"), {})
        meta = {**meta, "config": _filled(meta["config"], defaults), "format_version": 2}
    return meta


CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"

# Enhancement model kinds -> "module:Class". Each class has ``load(folder) -> model``.
_ENHANCERS: dict[str, str] = {
    "stemprover-latent-diffusion": "stemprover.models.enhancer:StemProverModel",
    "stemprover-refiner": "stemprover.models.refiner:RefinerModel",
}


def register_model(kind: str, target: str | type) -> None:
    """Make folders whose ``config.json`` says ``kind`` load with ``target`` (a class with a
    ``load(folder)`` classmethod, or its ``"module:Class"`` path)."""
    if not isinstance(target, str):
        target = f"{target.__module__}:{target.__qualname__}"
    _ENHANCERS[kind] = target


def enhancer_kinds() -> tuple[str, ...]:
    return tuple(_ENHANCERS)


def enhancer_class(kind: str) -> type:
    module, _, name = _ENHANCERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``.

    Raises:
        StemProverError: missing, unreadable, not JSON, or not an object.
    """
    if not path.exists():
        raise StemProverError(f"not {what} (no {path.name})", path.parent)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StemProverError(f"unreadable {path.name} of {what} ({err})", path) from None
    if not isinstance(data, dict):
        raise StemProverError(
            f"{path.name} of {what} must hold a JSON object, not {type(data).__name__}", path
        )
    return data


def read_meta(folder: Path, kinds: tuple[str, ...] | None = None, what: str = "") -> dict:
    """``config.json`` of a saved network, checked: one of ``kinds`` (default: the registered
    enhancement models) and this package's format version.

    Raises:
        StemProverError: no or unreadable config, another kind or format version.
    """
    kinds = kinds or enhancer_kinds()
    what = what or "a StemProver model folder"
    path = Path(folder) / CONFIG_FILE
    meta = read_json(path, what)
    if meta.get("kind") not in kinds:
        expected = " or ".join(repr(k) for k in kinds)
        raise StemProverError(f"not {what} (kind {meta.get('kind')!r}, expected {expected})", path)
    if meta.get("format_version") not in (1, FORMAT_VERSION):
        raise StemProverError(
            f"model format version {meta.get('format_version')} is not supported "
            f"(this StemProver reads 1 to {FORMAT_VERSION})",
            path,
        )
    if not isinstance(meta.get("config"), dict):
        raise StemProverError(f"{CONFIG_FILE} has no 'config' object", path)
    return migrate(meta)


def save_module(module, folder: str | Path, kind: str, config: dict, **extra) -> Path:
    """Save any of StemProver's networks: ``config.json`` (kind, format version, package
    version, config, ``extra``) and ``model.safetensors``; never pickle."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "stemprover": __version__,
        "config": config,
        **extra,
    }
    (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    return folder


def load_state(path: Path, device: str = "cpu") -> dict:
    """A safetensors state dict; pickles are refused before anything is read."""
    from safetensors.torch import load_file

    refuse_pickle(path)
    try:
        return load_file(str(path), device=str(device))
    except Exception as err:
        raise StemProverError(f"cannot read weights ({err})", path) from None


def load_into(module, state: dict, path: Path) -> None:
    """Load ``state`` into ``module``, strictly; a mismatch is one line, not a traceback."""
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes that differ from the config's
        first = str(err).split("\n\t")[1] if "\n\t" in str(err) else str(err)
        raise StemProverError(f"weights do not match the config ({first.strip()})", path) from None
    if missing or unexpected:
        raise StemProverError(
            f"weights do not match the config (missing {len(missing)}, "
            f"unexpected {len(unexpected)})",
            path,
        )


def load_saved(folder: str | Path, kind: str, what: str) -> tuple[dict, dict]:
    """``(meta, state)`` of a folder written by :func:`save_module` for ``kind``.

    Raises:
        StemProverError: no such folder, another kind or format version, or a pickle.
    """
    folder = Path(folder)
    if not (folder / CONFIG_FILE).exists():
        raise StemProverError(f"no {what} here", folder)
    meta = read_meta(folder, (kind,), f"a {what}")
    return meta, load_state(folder / WEIGHTS_FILE)


def refuse_pickle(path: Path) -> None:
    """Refuse pickle (and zipped torch.save) files: loading them can run arbitrary code."""
    if not path.exists():
        raise StemProverError("weights file missing", path)
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte little-endian header length, then a JSON header. Its first byte
    # can be 0x80 (the pickle protocol marker) when the length ends in 0x80: check this first.
    size = int.from_bytes(head[:8], "little") if len(head) == 9 else 0
    if head[8:9] == b"{" and 0 < size <= path.stat().st_size - 8:
        return
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise StemProverError(
            "this is a pickle/torch.save file; StemProver only loads safetensors (pickles can run code)",
            path,
        )
