"""The multichannel Wiener filter in torch, as Open-Unmix applies it with ``norbert``.

Each source ``j`` is a local Gaussian model: a power ``v_j(f, n)`` (the mean over channels)
times a spatial covariance ``R_j(f)`` (``C × C``, one per frequency for the whole segment).
Starting from the separator's magnitudes with the mixture's phase, one EM iteration
re-estimates ``v_j`` and ``R_j`` from the estimates and filters the mixture:

    y_j = v_j R_j (Σ_k v_k R_k)⁻¹ x

so a source panned apart from the others is pulled out by where it sits in the stereo field,
not only by its share of the power. With one channel ``R_j`` is a scalar per frequency and the
filter is close to the power-share gain ``|S_j|² / Σ_k |S_k|²``.

Matches ``norbert.wiener(v, x, iterations, use_softmask=False)`` (to float32 precision; see
``tests/audio/test_mwf.py``) batched, without gradients.

Shapes: ``mags`` ``(..., J, C, F, N)`` real, ``mix`` ``(..., C, F, N)`` complex.
"""

from __future__ import annotations

import torch

EPS = torch.finfo(torch.float64).eps  # computed in double precision, as norbert advises


def _invert(m: torch.Tensor) -> torch.Tensor:
    """Inverse of ``(..., C, C)`` matrices; the 1×1 and 2×2 cases in closed form."""
    C = m.shape[-1]
    if C == 1:
        return 1.0 / (m + EPS)
    if C == 2:
        a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
        inv_det = 1.0 / (a * d - b * c)
        return (
            torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
            * inv_det[..., None, None]
        )
    return torch.linalg.pinv(m)


def _local_model(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``y`` ``(..., J, C, F, N)`` -> ``v`` ``(..., J, F, N)``, ``R`` ``(..., J, F, C, C)``."""
    v = (y.abs() ** 2).mean(dim=-3)
    cov = torch.einsum("...cfn,...dfn->...fcd", y, y.conj())  # Σ_n y yᴴ
    weight = v.sum(dim=-1) + EPS  # (..., J, F)
    return v, cov / weight[..., None, None]


@torch.no_grad()
def multichannel_wiener(
    mags: torch.Tensor,
    mix: torch.Tensor,
    iterations: int = 1,
    target: int | None = 0,
    bins_per_chunk: int = 128,
) -> torch.Tensor:
    """Estimates of the sources (``target``: only that one) from their magnitudes and the
    mixture. Shape: -> ``(..., J, C, F, N)``, or ``(..., C, F, N)`` for one ``target``.

    Every frequency is filtered on its own, so the work runs ``bins_per_chunk`` frequencies
    at a time: the same result, with the ``(J, F, N, C, C)`` intermediates a fraction of
    their size.
    """
    out_dtype = mix.dtype
    mix = mix.to(torch.complex128)
    scale = max(1.0, float(mix.abs().max()) / 10.0)  # norbert's scaling, for stability
    F = mix.shape[-2]
    out = [
        _filter(
            mags[..., lo : lo + bins_per_chunk, :],
            mix[..., lo : lo + bins_per_chunk, :],
            iterations,
            target,
            scale,
        )
        for lo in range(0, F, bins_per_chunk)
    ]
    return torch.cat(out, dim=-2).to(out_dtype)


def _filter(
    mags: torch.Tensor, mix: torch.Tensor, iterations: int, target: int | None, scale: float
) -> torch.Tensor:
    """:func:`multichannel_wiener` on a band of frequencies (complex128, ``mix`` unscaled)."""
    phase = torch.polar(torch.ones_like(mix.real), mix.angle())
    y = mags.double() * phase.unsqueeze(-4)  # (..., J, C, F, N)
    if iterations == 0:
        return y if target is None else y[..., target, :, :, :]
    x = mix / scale
    y = y / scale
    C = x.shape[-3]
    eye = torch.eye(C, dtype=x.dtype, device=x.device)
    for it in range(iterations):
        v, R = _local_model(y)
        vr = v[..., None, None] * R.unsqueeze(-3)  # (..., J, F, N, C, C)
        cxx = vr.sum(dim=-5) + EPS**0.5 * eye  # (..., F, N, C, C)
        inv = _invert(cxx)
        xs = x.movedim(-3, -1)[..., None]  # (..., F, N, C, 1)
        last = it == iterations - 1
        if last and target is not None:
            w = vr[..., target, :, :, :, :] @ inv
            return (w @ xs)[..., 0].movedim(-1, -3) * scale
        y = (vr @ inv.unsqueeze(-5) @ xs.unsqueeze(-5))[..., 0].movedim(-1, -3)
    return y * scale
