"""The refiner's predictive stage: a band-split mask network that reads the stem, the mixture
and (in song mode) the song's other stems.

Per STFT bin it outputs a bounded complex mask ``M`` on the mixture ``X`` and a confidence
``g`` that moves the output from the stem ``S`` towards ``M·X``::

    Y = (1 − g)·S + g·M·X  [− k·β·(X − S)],    g = tanh(a) ∈ (−1, 1),    |M| ≤ 1

(the bracket with ``model.canceller``: ``β`` is the bleed canceller's coefficient,
:func:`bleed_canceller`, and ``k = tanh(b)`` the share of it the network takes out).

``M`` is a correction of a classical estimate ``P`` of the stem (``M = P/X + c``, then bounded):
the multichannel Wiener filter across the stereo channels, over the stem and the song's other
stems, or the stem and the rest of the mixture (:func:`classical_estimate`). The network reads
``P`` and the stem's disagreement with it, so its first lesson is where to trust ``P``.

Both heads start at zero, so the untrained network returns its input stem exactly; ``g`` is
the model's learned confidence in its own correction (0: "leave this bin alone"), which the
research log reports per input-quality bin. Without a mixture ``X`` is the stem itself (a
mask on the stem alone); without siblings their input channels are zero and a flag says so.

Frequency is split into sub-bands of the project's perceptual band table, finer where the
ear is (:func:`~stemprover.audio.bands.split_bands`); each sub-band has its own input
projection and output head (band-split RNN, Luo & Yu 2023). Between them, blocks of: a
dilated convolution along time (shared by all sub-bands), attention across the sub-bands of
each frame, and a song-segment context (the time-mean of each sub-band's features, fed back),
which is where a judgement of the whole input's quality can form.

Shape conventions: the network sees one channel per item, complex spectrograms ``(B, F, N)``,
``F = n_fft // 2 + 1``; sibling power ``(B, F, N)`` real (the sum of the other stems'
``|STFT|²``). :class:`RefinerModel` takes the channels together, ``(B, C, F, N)``, for the
classical estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import torch
from torch import nn

from stemprover.audio.bands import split_bands
from stemprover.audio.bandwidth import extend_highs
from stemprover.audio.canceller import bleed_canceller
from stemprover.audio.mwf import multichannel_wiener
from stemprover.audio.stft import magnitude, power
from stemprover.config import RefinerConfig, from_dict, to_dict
from stemprover.errors import StemProverError
from stemprover.models.serialization import (
    WEIGHTS_FILE,
    load_into,
    load_state,
    read_meta,
    save_module,
)
from stemprover.models.trust import SongTrust, song_prior, stem_type

FEATURES = 11  # per bin; see RefinerNet.features (+ CANCEL_FEATURES with model.canceller)
CANCEL_FEATURES = 3
EPS = 1e-8
# The gate's dead zone at inference (shrink_gate; 0: the gate as trained). Chosen on 104
# validation and 160 calibration pairs (experiments/stem_confidence).
GATE_DEADZONE = 0.2


def shrink_gate(gate: torch.Tensor, tau: float) -> torch.Tensor:
    """The gate with a dead zone: ``g' = g·min(1, |g|/τ)²``, so a bin the network barely
    trusts itself on (``|g| ≪ τ``) stays the input stem, a confident one (``|g| ≥ τ``) is
    untouched, and the output moves continuously in between.

    Why: on a nearly clean stem the network's gate is small but not zero (mean 0.00–0.05),
    and a 1% move towards ``M·X`` is a change 40 dB below the stem, harm on a 50 dB stem.
    τ = 0.2, chosen on 104 validation pairs (``experiments/stem_confidence``): SI-SDR +2.65 →
    +2.78 dB, inputs ≥ 15 dB −2.04 → −0.36, below 5 dB −0.01, bleedless 34.9 → 35.8,
    fullness 44.5 → 44.3 (input 43.6); on 160 calibration pairs +2.43 → +2.48 (≥ 15 dB
    −1.40 → −0.09). The soft threshold ``sign(g)·max(|g| − τ, 0)/(1 − τ)`` costs the
    confident bins more (τ 0.05: +2.47 on calibration, below 5 dB −0.14).

    Shape: any -> the same.
    """
    if tau <= 0:
        return gate
    return gate * (gate.abs() / tau).clamp(max=1.0).square()


class _Block(nn.Module):
    """Dilated depthwise-separable convolution along time, attention across sub-bands, and a
    segment-mean context, each residual. Shape: ``(B, K, N, D)`` -> same."""

    def __init__(self, width: int, kernel: int, dilation: int, heads: int) -> None:
        super().__init__()
        self.norm_t = nn.LayerNorm(width)
        self.depth = nn.Conv1d(
            width,
            width,
            kernel,
            padding=dilation * (kernel - 1) // 2,
            dilation=dilation,
            groups=width,
        )
        self.point = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )
        self.norm_f = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm_g = nn.LayerNorm(width)
        self.context = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """The convolution as shifted products and the attention as plain matrix products
        (``self.depth`` and ``self.attn`` keep the parameters): the same arithmetic as the
        modules' own (to float32 rounding), ~1.5x faster in training on CPU, where the
        fused attention kernel is slow on 32-band sequences (session 34)."""
        h = h + self.point(self._conv(self.norm_t(h)))
        h = h + self._attend(self.norm_f(h))
        g = self.norm_g(h).mean(dim=2, keepdim=True)  # (B, K, 1, D): the segment's context
        return h + self.context(g)

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        """``self.depth`` along time (axis 2), zero-padded to the same length."""
        w, d, N = self.depth.weight[:, 0], self.depth.dilation[0], x.shape[2]
        pad = d * (w.shape[-1] - 1) // 2
        xp = nn.functional.pad(x, (0, 0, pad, pad))
        y = xp[:, :, :N] * w[:, 0] + self.depth.bias
        for i in range(1, w.shape[-1]):
            y = y + xp[:, :, i * d : i * d + N] * w[:, i]
        return y

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        """``self.attn`` across the sub-bands (axis 1) of every frame."""
        B, K, N, D = x.shape
        H = self.attn.num_heads
        qkv = nn.functional.linear(
            x.transpose(1, 2), self.attn.in_proj_weight, self.attn.in_proj_bias
        )
        q, k, v = qkv.view(B, N, K, 3, H, D // H).permute(3, 0, 1, 4, 2, 5)  # (B, N, H, K, d)
        a = torch.softmax((q * (D // H) ** -0.5) @ k.transpose(-1, -2), dim=-1)
        o = (a @ v).transpose(2, 3).reshape(B, N, K, D)
        return nn.functional.linear(
            o, self.attn.out_proj.weight, self.attn.out_proj.bias
        ).transpose(1, 2)


class RefinerNet(nn.Module):
    """The predictive stage (see the module docstring)."""

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ranges = split_bands(cfg.stft.n_fft, cfg.sample_rate) if cfg.band_split else None
        if ranges is None:  # ablation: one uniform split into equal-width bands
            bins, k = cfg.stft.bins, 32
            edges = [round(i * bins / k) for i in range(k + 1)]
            ranges = list(pairwise(edges))
        self.ranges = ranges
        self.n_features = FEATURES + CANCEL_FEATURES * cfg.canceller
        self.n_out = 3 + cfg.canceller  # gate, mask (re, im)[, the canceller's share]
        self.proj = nn.ModuleList(
            nn.Sequential(
                nn.Linear((hi - lo) * self.n_features, cfg.width), nn.LayerNorm(cfg.width)
            )
            for lo, hi in ranges
        )
        self.blocks = nn.ModuleList(
            _Block(cfg.width, cfg.kernel, 2**i, cfg.heads) for i in range(cfg.blocks)
        )
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(cfg.width, cfg.width),
                nn.GELU(),
                nn.Linear(cfg.width, (hi - lo) * self.n_out),
            )
            for lo, hi in ranges
        )
        for head in self.heads:  # untrained: g = 0 (and k = 0), so Y = S exactly
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)
        # The gate's dead zone at inference (shrink_gate); training sees the gate as it is.
        self.gate_deadzone = GATE_DEADZONE

    @staticmethod
    def features(
        s: torch.Tensor,
        x: torch.Tensor | None,
        others: torch.Tensor | None,
        prior: torch.Tensor | None = None,
        cancel: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Level-invariant per-bin inputs. Shape: ``(B, F, N)`` -> ``(B, F, N, FEATURES)``
        (``+ CANCEL_FEATURES`` with ``cancel``).

        Log powers of the stem, the mixture, the rest of the mixture (``X − S``), the
        siblings, the classical estimate ``P`` and the stem's disagreement with it
        (``S − P``), relative to the mixture's mean log power; ``P``'s share of the mixture
        power; the phase of ``S`` and of ``P`` relative to ``X``; two flags (mixture
        given, siblings given); and with ``cancel`` (:func:`bleed_canceller`'s ``β, ρ``)
        ``Re β``, ``Im β`` and ``ρ``.
        """
        B = s.shape[0]
        has_mix = x is not None
        x = s if x is None else x
        p = s if prior is None else prior
        ps, px, pr = power(s), power(x), power(x - s)
        pp, pd = power(p), power(s - p)
        ref = torch.log(px + EPS).mean(dim=(1, 2), keepdim=True)
        ls, lx, lr, lp, ld = (torch.log(q + EPS) - ref for q in (ps, px, pr, pp, pd))
        zeros = torch.zeros_like(ls)
        lo, has_sib = (zeros, 0.0) if others is None else (torch.log(others + EPS) - ref, 1.0)
        share = pp / (pp + power(x - p) + EPS)

        def cos(a: torch.Tensor) -> torch.Tensor:
            rel = a * x.conj()
            return torch.real(rel) / (rel.abs() + EPS)

        flags = torch.ones_like(ls)
        extra = [] if cancel is None else [cancel[0].real, cancel[0].imag, cancel[1]]
        return torch.stack(
            [
                ls / 10,
                lx / 10,
                lr / 10,
                lo / 10,
                lp / 10,
                ld / 10,
                share,
                cos(s),
                cos(p),
                flags * float(has_mix),
                flags * has_sib,
                *extra,
            ],
            dim=-1,
        ).reshape(B, *ls.shape[1:], FEATURES + len(extra))

    def forward(
        self,
        s: torch.Tensor,
        x: torch.Tensor | None = None,
        others: torch.Tensor | None = None,
        prior: torch.Tensor | None = None,
        return_gate: bool = False,
    ):
        """Shape: s, x, prior ``(B, F, N)`` complex, others ``(B, F, N)`` real ->
        ``(B, F, N)``.

        Args:
            others: The sum of the other stems' power (song mode).
            prior: The classical estimate of the stem (:func:`classical_estimate`, which
                needs the channels together, so the caller computes it); ``None``: the stem.
        """
        if not self.cfg.mixture:
            x, others, prior = None, None, None
        if not self.cfg.siblings or x is None:
            others = None
        cancel = None
        if self.cfg.canceller:  # without the mixture R = 0: β = 0, ρ = 0
            cancel = bleed_canceller(s, s if x is None else x)
        feats = self.features(s, x, others, prior, cancel)  # (B, F, N, n_features)
        B, _, N, _ = feats.shape
        h = torch.stack(
            [
                proj(feats[:, lo:hi].permute(0, 2, 1, 3).reshape(B, N, -1))
                for proj, (lo, hi) in zip(self.proj, self.ranges, strict=True)
            ],
            dim=1,
        )  # (B, K, N, D)
        for block in self.blocks:
            h = block(h)
        out = (
            torch.cat(
                [
                    head(h[:, k]).reshape(B, N, hi - lo, self.n_out)
                    for k, (head, (lo, hi)) in enumerate(zip(self.heads, self.ranges, strict=True))
                ],
                dim=2,
            )
            .permute(0, 2, 1, 3)
            .float()
        )  # (B, F, N, n_out); float32 under autocast too
        gate = torch.tanh(out[..., 0])
        if not self.training:
            gate = shrink_gate(gate, self.gate_deadzone)
        m = torch.complex(out[..., 1], out[..., 2])
        base = s if x is None else x
        if self.cfg.mask_prior:
            if prior is not None and x is not None:  # the estimate as a mask on the mixture
                m = m + prior * base.conj() / (power(base) + EPS)
            elif x is None:
                m = m + 1.0
            mask = m / torch.clamp(m.abs(), min=1.0)  # |M| <= 1
        else:
            mag = m.abs()
            mask = m * (torch.tanh(mag) / (mag + EPS))
        y = (1 - gate) * s + gate * mask * base
        if cancel is not None and x is not None:  # take the share k of the cancelled bleed out
            k = torch.tanh(out[..., 3])
            if not self.training:
                k = shrink_gate(k, self.gate_deadzone)
            y = y - k * cancel[0] * (x - s)
        return (y, gate) if return_gate else y


def classical_estimate(
    s: torch.Tensor,
    x: torch.Tensor,
    siblings: torch.Tensor | None,
    kind: str = "mwf",
) -> torch.Tensor:
    """The classical estimate of the stem that the refiner's mask starts from.

    ``"mwf"``: the multichannel Wiener filter (:func:`~stemprover.audio.mwf.multichannel_wiener`,
    one EM iteration) over the stem and each sibling, or, without siblings, over the stem and
    the rest of the mixture ``X − S``; across the channels, so a stem panned apart from the
    rest is found by where it sits. ``"power-share"``: ``|S|²/(|S|² + Σ|S_k|²)`` (or
    ``min(|S|/|X|, 1)`` without siblings) channel by channel, on the mixture.

    ``"mwf-rest"``: as ``mwf``, with what the stems leave out of the mixture
    (``X − S − Σ_k S_k``) as one more source when the siblings are given, so the energy a
    stem with holes lacks is not handed to the other stems' estimates (the same as ``mwf``
    without siblings). At inference only, on weights trained with ``mwf``: +0.06 dB on
    validation (``experiments/song_energy``); it needs a model trained with it.

    Measured as the output on whole files (``experiments/refiner_prior``): on the held-out
    producer's pairs ``mwf`` is +1.11 dB with the siblings and +0.71 without them; the power
    share is +0.08.

    Shape: s, x ``(B, C, F, N)`` complex, siblings ``(B, K, C, F, N)`` complex ->
    ``(B, C, F, N)``.
    """
    if kind == "power-share":
        if siblings is None:
            return torch.clamp(s.abs() / (x.abs() + EPS), max=1.0) * x
        ps = power(s)
        return ps / (ps + power(siblings).sum(1) + EPS) * x
    if kind not in ("mwf", "mwf-rest"):
        raise ValueError(f"unknown refiner prior {kind!r} (mwf, mwf-rest, power-share)")
    rest = (x - s).abs().unsqueeze(1) if siblings is None else siblings.abs()
    if kind == "mwf-rest" and siblings is not None:
        left = (x - s - siblings.sum(1)).abs().unsqueeze(1)
        rest = torch.cat([rest, left], dim=1)
    mags = torch.cat([s.abs().unsqueeze(1), rest], dim=1)  # (B, J, C, F, N)
    return multichannel_wiener(mags, x).to(s.dtype)


def song_wiener(y: torch.Tensor, gate: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The song Wiener filter: each refined stem moved towards a multichannel Wiener filter
    of the mixture over all the refined stems' magnitudes, by the refiner's own gate::

        Y_j + max(g_j, 0) · (W_j − Y_j),    W = MWF(|Y_1|, …, |Y_J|; X)

    Where the refiner trusted the stem (``g ≈ 0``) it is left alone; where it corrected, the
    stems are also made to share the mixture between them; a negative gate (``tanh`` reaches
    −1) counts as 0, so no stem is pushed away from ``W``. Measured on whole files
    (``experiments/song_consistency``): +0.49 dB over the refiner alone on 168 validation
    pairs (+0.47 with negative gates kept), where the plain power-share projection
    (``--consistent``) loses on good stems.

    Shape: y, gate ``(J, C, F, N)``; x ``(C, F, N)`` -> ``(J, C, F, N)``.
    """
    w = multichannel_wiener(magnitude(y), x, target=None).to(y.dtype)
    return y + gate.clamp_min(0) * (w - y)


# Without the mixture, a band-limited stem's empty highs are filled by band replication
# (stemprover.audio.bandwidth.extend_highs) this many dB under the octave below's extrapolated
# level; RefinerModel.extend_highs_db = None turns it off. Why: without the mixture the
# refiner is a mask on the stem and cannot put back what a band-limited separator removed.
# Chosen on stems alone (experiments/bandwidth): at -15 dB lost-highs stems gain fullness
# +2.39 / +3.73 on 128 validation / 160 calibration stems for -0.009 / -0.012 dB SI-SDR
# (worst stem -0.16 / -0.21; at -10 dB -0.50 / -0.64); no cliff is found on 93 calibration
# stems without lost highs.
EXTEND_HIGHS_DB = -15.0


# The song filter's level step (song_level): see its docstring for how these were chosen.
QUIET_DB = 42.5
# cap_quiet's empty bins: this far below the stem's loudest (the bleedless measure's floor);
# see TrustConfig.quiet_cap for how the cap was chosen.
EMPTY_DB = 80.0
LEVEL_GAIN_MAX = 2.0
# Song filters, as --song-filter names them: the level step and then the model's trust layer
# (stemprover.models.trust; "level" when the model has none); the song Wiener filter and then
# the level step; the song Wiener filter alone; none (each stem on its own).
SONG_FILTERS = ("trust", "level", "wiener", "none")
TRUST_DIR = "trust"  # a refiner folder's trust layer (stemprover trust train)


def song_filter_name(value: bool | str) -> str:
    """``True`` / ``False`` (the API's older spelling) as ``trust`` / ``none``; a name is
    checked against :data:`SONG_FILTERS`."""
    if value is True or value is False:
        return "trust" if value else "none"
    if value not in SONG_FILTERS:
        raise ValueError(f"unknown song filter {value!r} ({', '.join(SONG_FILTERS)})")
    return value


def song_level(
    y: torch.Tensor,
    gate: torch.Tensor,
    x: torch.Tensor,
    s: torch.Tensor,
    quiet_db: float = QUIET_DB,
    floor: torch.Tensor | None = None,
) -> torch.Tensor:
    """The song filter's level step, after :func:`song_wiener`: give the stems back the level
    and the quiet detail a masking estimate takes from them.

    - **Power complement, by the gate.** After the song Wiener filter the stems share the
      mixture (``Σ_j Y_j ≈ X``), but where two stems share a bin their powers add up to less
      than the mixture's (a Wiener estimate is shrunk where it is unsure). Each bin is
      multiplied by ``1 + max(g_j, 0)·(γ − 1)``, ``γ = sqrt(|X|² / Σ_j |Y_j|²)`` bounded to
      ``[1, LEVEL_GAIN_MAX]``: only where the refiner corrected the stem.
    - **Quiet bins kept.** A bin whose input is more than ``quiet_db`` dB below the input's
      loudest bin (per stem and channel, in the segment) is not attenuated below its input
      (``|Y| ≥ |S|``, in Y's phase): such bins weigh nothing in SI-SDR, but a mask that empties
      them is what a listener (and the fullness measure) hears as thin.

    Chosen on 104 validation pairs (``experiments/song_energy``): SI-SDR change +2.83 → +2.65
    dB, level −1.26 → −0.64 dB (input −0.86), fullness 30.9 → 44.5 (input 43.6), bleedless
    44.0 → 34.9 (input 34.4); ``quiet_db`` 30 and 50 each fall below the input on one of the
    two, and a plain floor (``|Y| ≥ β|S|`` everywhere) costs more SI-SDR for less fullness.
    40 → 42.5 dB (session 27; song mode with the trust layer retrained on the new level
    step, validation / calibration): bleedless over the input +1.05 / +0.08 → +1.77 / +0.73,
    fullness +1.84 / +3.82 → +0.79 / +2.85, SI-SDR +3.14 / +3.26 → +3.19 / +3.22; at 45 dB
    validation's fullness falls below the input's (``experiments/song_energy/quiet_db.py``).

    ``floor`` (a magnitude, same shape; ``None``: ``|S|``) is what quiet bins are kept at:
    ``experiments/song_energy/quiet_floor.py`` measures others.

    Shape: y, gate, s ``(J, C, F, N)``; x ``(C, F, N)`` -> ``(J, C, F, N)``.
    """
    total = power(y).sum(0)
    gamma = torch.sqrt(power(x) / (total + EPS)).clamp(1.0, LEVEL_GAIN_MAX)
    y = y * (1 + gate.clamp_min(0) * (gamma - 1))
    return keep_quiet(y, s, quiet_db, floor)


def quiet_bins(s: torch.Tensor, below_db: float) -> torch.Tensor:
    """The bins of ``s`` more than ``below_db`` dB under its loudest, per stem and channel
    (over the last two axes, ``(F, N)``): a boolean mask of ``s``'s shape."""
    ps = power(s)
    return ps < ps.amax(dim=(-2, -1), keepdim=True) * 10 ** (-below_db / 10)


def keep_quiet(
    y: torch.Tensor, s: torch.Tensor, quiet_db: float = QUIET_DB, floor: torch.Tensor | None = None
) -> torch.Tensor:
    """The level step's quiet bins: a bin whose input ``s`` is more than ``quiet_db`` dB below
    the input's loudest (per stem and channel) is not attenuated below ``floor`` (``None``:
    ``|s|``), in ``y``'s phase. Shape-preserving ``(..., F, N)``."""
    mag = y.abs()
    ms = s.abs() if floor is None else floor
    quiet = quiet_bins(s, quiet_db)
    lifted = torch.where(mag > 0, y * (ms / mag.clamp_min(EPS)), ms * torch.sgn(s))  # Y's phase
    return torch.where(quiet & (mag < ms), lifted, y)


def cap_quiet(
    y: torch.Tensor,
    s: torch.Tensor,
    cap_db: float = 0.0,
    quiet_db: float = QUIET_DB,
    empty_db: float = EMPTY_DB,
) -> torch.Tensor:
    """The trust layer's quiet bins capped: a bin whose input ``s`` is more than ``quiet_db``
    dB below the input's loudest (per stem and channel) is no louder than ``cap_db`` dB over
    the input, in ``y``'s phase, unless the input is empty there (``empty_db`` below its
    loudest: a lost high, a hole, which the mixture may fill). Quiet bins weigh nothing in
    SI-SDR; a mask on the mixture leaks the other instruments into them, which a listener
    (and the bleedless measure) hears as bleed. With :func:`keep_quiet` (a floor at the
    input) and ``cap_db = 0`` such bins keep the input's magnitude.
    Shape-preserving ``(..., F, N)``."""
    mag = magnitude(y)
    quiet = quiet_bins(s, quiet_db) & ~quiet_bins(s, empty_db)
    cap = magnitude(s) * 10 ** (cap_db / 20)
    return torch.where(quiet & (mag > cap), y * (cap / mag.clamp_min(EPS)), y)


KIND = "stemprover-refiner"  # config.json "kind" of this model family
# The bundled latent diffusion model that --steps N > 0 and --adapters run after the refiner.
DIFFUSION_STAGE = "latent"


class RefinerModel(nn.Module):
    """The refiner as the enhance pipeline drives it (a
    :class:`~stemprover.models.base.SpectralModel`): ``enhance(spec, mix, siblings=...)``.

    Saved as ``config.json`` + ``model.safetensors``; never pickle.
    """

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        if cfg.passes < 1:
            raise ValueError(f"model.passes must be at least 1, got {cfg.passes}")
        self.config = cfg
        self.stft = cfg.stft
        self.sample_rate = cfg.sample_rate
        self.net = RefinerNet(cfg)
        # Without the mixture: band replication above a band limit (extend_highs; None: off).
        self.extend_highs_db: float | None = EXTEND_HIGHS_DB
        self.attach_trust(None)

    def attach_trust(self, layer: SongTrust | None) -> None:
        """Give the model a song trust layer (``None``: none). Kept out of the model's own
        state dict: the layer is saved in its own folder (:data:`TRUST_DIR`)."""
        object.__setattr__(self, "trust", layer)

    @property
    def reads_mixture(self) -> bool:
        return self.config.mixture

    @property
    def reads_siblings(self) -> bool:
        """Whether the pipeline should stream the song's other stems (with the mixture)."""
        return self.config.mixture and self.config.siblings

    def run(
        self,
        s: torch.Tensor,
        x: torch.Tensor | None = None,
        siblings: torch.Tensor | None = None,
        return_gate: bool = False,
        prior: torch.Tensor | None = None,
    ):
        """The network on stereo (or any-channel) spectrograms: the classical estimate across
        the channels (``prior``, when the caller already has it), then each channel through
        the network.

        Shape: s, x, prior ``(B, C, F, N)`` complex; siblings ``(B, K, C, F, N)`` complex ->
        ``(B, C, F, N)`` (and the gate, same shape).
        """
        cfg = self.config
        if not cfg.mixture:
            x = None
        if not cfg.siblings or x is None:
            siblings = None
        others = None
        if siblings is not None:
            others = power(siblings).sum(1).flatten(0, 1)
        if x is not None and cfg.mask_prior:
            if prior is None:
                prior = classical_estimate(s, x, siblings, cfg.prior)
            prior = prior.flatten(0, 1)
        else:
            prior = None
        B, C = s.shape[:2]
        y, gate = self.net(
            s.flatten(0, 1),
            None if x is None else x.flatten(0, 1),
            others,
            prior,
            return_gate=True,
        )
        y, gate = y.unflatten(0, (B, C)), gate.unflatten(0, (B, C))
        return (y, gate) if return_gate else y

    @torch.no_grad()
    def enhance(
        self,
        spec: torch.Tensor,
        mix: torch.Tensor | None = None,
        siblings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Shape: spec, mix ``(C, F, N)`` complex; siblings ``(K, C, F, N)`` complex ->
        ``(C, F, N)``.

        Args:
            mix: The mixture's spectrogram (``None``: the stem alone, then band
                replication above a band limit, ``extend_highs_db`` dB under its level).
            siblings: The song's other separated stems' spectrograms (song mode).
        """
        dtype = spec.dtype
        y = self.run(
            spec.to(torch.complex64)[None],
            None if mix is None else mix.to(torch.complex64)[None],
            None if siblings is None else siblings.to(torch.complex64)[None],
        )[0]
        if (mix is None or not self.reads_mixture) and self.extend_highs_db is not None:
            y = extend_highs(y, self.sample_rate, self.extend_highs_db)
        return y.to(dtype)

    @torch.no_grad()
    def enhance_song(
        self,
        specs: torch.Tensor,
        mix: torch.Tensor,
        song_filter: bool | str = "trust",
        stems: Sequence[str | None] | None = None,
        quality: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """All of a song's stems at once (song mode): :meth:`refine_song` without gradients.

        Shape: specs ``(J, C, F, N)``, mix ``(C, F, N)`` complex -> ``(J, C, F, N)``.
        """
        s, x = specs.to(torch.complex64), mix.to(torch.complex64)
        return self.refine_song(s, x, song_filter, stems, quality).to(specs.dtype)

    def refine_song(
        self,
        s: torch.Tensor,
        x: torch.Tensor,
        song_filter: bool | str = "trust",
        stems: Sequence[str | None] | None = None,
        quality: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Each stem refined with the mixture and the others as its siblings; then the song
        filter: ``wiener``, the song Wiener filter (:func:`song_wiener`); ``level``, that and
        the level step (:func:`song_level`); ``trust`` (``True``), that and the model's song
        trust layer (:mod:`stemprover.models.trust`; ``level`` when it has none) for the stem
        types ``stems`` (names such as ``vocals``; ``None``: each counts as ``other``) and
        the song's quality estimates ``quality`` (``None``: this segment's);
        ``none`` (``False``), none of them. Differentiable (training through the song filter,
        ``train.song_filter``), but for the Wiener estimates and the trust layer.

        Shape: s ``(J, C, F, N)``, x ``(C, F, N)`` complex64 -> ``(J, C, F, N)``.
        """
        song_filter = song_filter_name(song_filter)
        cancel = None  # the trust layer's canceller estimate: the input's, made once
        if song_filter == "trust" and self.trust is not None:
            cancel = self.trust.cancel_estimate(s, x)
        y, gate, priors = self.song_parts(s, x, song_filter, stems, quality, cancel)
        if song_filter == "trust":
            y = self.song_trust(s, x, y, gate, priors, stems, quality, cancel=cancel)
        return y

    def song_trust(
        self, s, x, y, gate, priors, stems=None, quality=None, gain: bool = True, cancel=None
    ) -> torch.Tensor:
        """The trust layer's step of :meth:`refine_song` on :meth:`song_parts`' output
        ``(y, gate, priors)`` (``y`` as it is without a layer, siblings or a second stem);
        ``gain``: with the layer's ``gain_db`` (not between passes); ``cancel``: the layer's
        :meth:`~stemprover.models.trust.SongTrust.cancel_estimate` of ``(s, x)``, if made."""
        if self.trust is None or not self.reads_siblings or len(s) < 2:
            return y
        names = stems if stems is not None else [None] * len(s)
        kinds = torch.tensor([stem_type(n) for n in names])
        p = song_prior(s, x) if priors is None else priors
        # the blend can take a quiet bin back to the prior's: kept as the level step
        # keeps them (validation fullness 38.6 without, input 43.6); and capped
        out = keep_quiet(self.trust(s, x, p, y, gate, kinds, quality, cancel), s)
        if gain and self.trust.config.gain_db:
            out = out * 10 ** (self.trust.config.gain_db / 20)
        cap = self.trust.config.quiet_cap
        return out if cap is None else cap_quiet(out, s, cap)

    def song_parts(
        self,
        s: torch.Tensor,
        x: torch.Tensor,
        song_filter: bool | str = "level",
        stems: Sequence[str | None] | None = None,
        quality: torch.Tensor | None = None,
        cancel: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The stems through the song filter up to its level step (``trust`` counts as
        ``level``), with what the trust layer reads: ``(y, gate, priors)`` as
        :meth:`refine_stems` gives them. In song mode ``model.passes`` times, each pass on
        the previous one's output (with ``trust``, the trust layer's blend of it with the
        input stems; ``stems``, ``quality``, ``cancel`` as :meth:`song_trust` takes them);
        the last pass's gates and priors."""
        song_filter = song_filter_name(song_filter)
        song = song_filter != "none" and self.reads_siblings and len(s) > 1

        def one_pass(t):
            y, gate, priors = self.refine_stems(t, x)
            if song:
                y = song_wiener(y, gate, x)
                if song_filter in ("level", "trust"):
                    y = song_level(y, gate, x, t)
            return y, gate, priors

        y, gate, priors = one_pass(s)
        for _ in range(self.config.passes - 1 if song else 0):
            if song_filter == "trust":
                y = self.song_trust(s, x, y, gate, priors, stems, quality, False, cancel)
            y, gate, priors = one_pass(y)
        return y, gate, priors

    def refine_stems(
        self, s: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Each stem refined with the mixture and the others as its siblings, before the song
        filter: ``(y, gate, priors)``, the refined stems, their gates and their classical
        estimates (``None`` when the model has no multichannel Wiener prior).

        Shape: s ``(J, C, F, N)``, x ``(C, F, N)`` complex64 -> each ``(J, C, F, N)``.
        """
        cfg = self.config
        x = x[None]
        # Each stem's classical estimate with the others as its siblings is one and the same
        # multichannel Wiener filter over all the stems: computed once for the song.
        priors = None
        if self.reads_siblings and cfg.mask_prior and cfg.prior.startswith("mwf") and len(s) > 1:
            sources = magnitude(s)
            if cfg.prior == "mwf-rest":  # what the stems leave out: one more source
                sources = torch.cat([sources, magnitude(x[0] - s.sum(0))[None]])
            priors = multichannel_wiener(sources, x[0], target=None)[: len(s)].to(s.dtype)
        refined, gates = [], []
        for j in range(len(s)):
            others = torch.cat([s[:j], s[j + 1 :]])[None]
            prior = None if priors is None else priors[j][None]
            y, gate = self.run(s[j][None], x, others if len(others[0]) else None, True, prior)
            refined.append(y[0])
            gates.append(gate[0])
        return torch.stack(refined), torch.stack(gates), priors

    def save(self, folder: str | Path) -> Path:
        return save_module(self, folder, KIND, to_dict(self.config))

    @torch.no_grad()
    def start_from(self, src: RefinerModel, where: Path) -> None:
        """Copy ``src``'s weights (``refiner train --init where``). A model with the canceller takes
        one without it: each sub-band's input projection gets the canceller's features as new
        inputs and each head the share ``k`` as a new output, all at zero, so the result
        computes what ``src`` does.

        Raises:
            StemProverError: another architecture (width, blocks, sub-bands, ...).
        """
        mine, theirs = self.net, src.net
        state = src.state_dict()
        if mine.n_features != theirs.n_features or mine.n_out != theirs.n_out:
            if not (self.config.canceller and not src.config.canceller):
                raise StemProverError(
                    "this model has the bleed canceller and the config does not "
                    "(set model.canceller=true)",
                    where,
                )
            for k, (lo, hi) in enumerate(mine.ranges):
                n = hi - lo
                for name, ours, per, cut in (
                    (f"net.proj.{k}.0.weight", mine.proj[k][0].weight, theirs.n_features, 1),
                    (f"net.heads.{k}.2.weight", mine.heads[k][2].weight, theirs.n_out, 0),
                    (f"net.heads.{k}.2.bias", mine.heads[k][2].bias, theirs.n_out, 0),
                ):
                    old = state[name]
                    if old.shape[cut] != n * per:
                        break  # another band layout: load_into below says so
                    new = torch.zeros_like(ours).unflatten(cut, (n, -1))
                    new.narrow(cut + 1, 0, per).copy_(old.unflatten(cut, (n, per)))
                    state[name] = new.flatten(cut, cut + 1)
        load_into(self, state, where)

    @classmethod
    def load(cls, folder, device: str | torch.device = "cpu") -> RefinerModel:
        folder = Path(folder)
        meta = read_meta(folder, (KIND,))
        model = cls(from_dict(RefinerConfig, meta["config"]))
        load_into(model, load_state(folder / WEIGHTS_FILE, str(device)), folder / WEIGHTS_FILE)
        if (folder / TRUST_DIR).is_dir():
            model.attach_trust(SongTrust.load(folder / TRUST_DIR, device))
        return model.eval()
