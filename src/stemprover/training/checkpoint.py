"""Training state as safetensors + JSON (never pickle): weights, EMA, optimizer, step, RNG."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from stemprover.errors import StemProverError


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = opt.state_dict()
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, entries in state["state"].items():
        meta["state"][str(idx)] = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"opt.{idx}.{key}"] = value.contiguous()
                meta["state"][str(idx)][key] = "tensor"
            else:
                meta["state"][str(idx)][key] = value
    return tensors, meta


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state = {}
    for idx, entries in meta["state"].items():
        state[int(idx)] = {
            k: tensors[f"opt.{idx}.{k}"] if v == "tensor" else v for k, v in entries.items()
        }
    return {"state": state, "param_groups": meta["param_groups"]}


def save_state(
    folder: Path, modules: dict[str, torch.nn.Module], opt: torch.optim.Optimizer, info: dict
) -> None:
    """Write ``state.safetensors`` and ``state.json`` atomically (temp names, then rename)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"{name}.{k}": v.detach().contiguous().cpu()
        for name, m in modules.items()
        for k, v in m.state_dict().items()
    }
    opt_tensors, opt_meta = _flatten_optimizer(opt)
    tensors.update({k: v.cpu() for k, v in opt_tensors.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(folder / "state.safetensors.tmp"))
    (folder / "state.json.tmp").write_text(json.dumps({**info, "optimizer": opt_meta}, indent=1))
    os.replace(folder / "state.safetensors.tmp", folder / "state.safetensors")
    os.replace(folder / "state.json.tmp", folder / "state.json")


def load_state(
    folder: Path, modules: dict[str, torch.nn.Module], opt: torch.optim.Optimizer
) -> dict:
    """Restore what :func:`save_state` wrote; returns its ``info``."""
    from safetensors.torch import load_file

    path = folder / "state.safetensors"
    if not path.exists():
        raise StemProverError("no training state to resume from", folder)
    tensors = load_file(str(path))
    info = json.loads((folder / "state.json").read_text())
    for name, m in modules.items():
        prefix = f"{name}."
        m.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    opt.load_state_dict(_unflatten_optimizer(tensors, info.pop("optimizer")))
    torch.set_rng_state(tensors["rng.torch"])
    return info
