"""The song trust layer: after the song filter, each stem's sub-bands become a blend of its
three candidates — the input stem ``S``, the classical prior ``P`` (the multichannel Wiener
filter of the mixture over the song's stems) and the song filter's output ``Y`` — chosen by a
small network from reference-free band energies and a learned estimate of how good the stem is.

Why (``experiments/song_trust``): per stem and band the best blend of ``S``, ``P`` and ``Y`` is
+0.5 / +1.1 dB above ``Y`` on validation / calibration songs, but without knowing how good a
stem is a network cannot tell a good stem (where ``P`` costs 15-20 dB) from a bad one. The
quality estimate (:class:`QualityNet`, a convolutional regressor of the stem's SI-SDR over
log-band maps of the stem, the prior, their difference and the siblings against the mixture)
is within ~3 dB below 15 dB but reads good stems ~9 dB low, so stems it estimates at
:attr:`TrustConfig.below` dB or more get a blend network of their own (``good``, trained on
them alone; a layer without one keeps ``Y`` there). Song mode estimates each stem once per
song (:func:`pooled_quality` over a first pass through the song's segments): a segment's
estimate alone is too noisy (a 32 dB stem read at 2-14 dB segment by segment). The blend is
then brought to ``Y``'s level (:func:`match_level`). Measured in time through song mode
there: +0.14 / +0.51 dB over ``Y`` (validation / calibration), level within 0.7 dB.

With ``trust.cancel`` (the shipped layer's, since session 31) a fourth candidate
``C = S − β·R``, the classical bleed canceller's estimate
(:func:`~stemprover.audio.canceller.bleed_canceller`), no louder than the stem in any bin
(``trust.cancel_clip``), joins them, and the layer reads its band energies and coherence too:
the refiner cannot decide per bin whether a stem's in-phase bleed is bleed, the layer decides
it per stem and band with its quality estimate (``experiments/bleed_canceller``).

Saved inside the refiner's folder (``trust/``: ``config.json`` + ``model.safetensors``) and
loaded with it; ``stemprover trust train`` makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stemprover.audio.bands import split_bands
from stemprover.audio.canceller import bleed_canceller
from stemprover.audio.mwf import multichannel_wiener
from stemprover.audio.stft import magnitude, power
from stemprover.config import from_dict, to_dict
from stemprover.models.serialization import (
    WEIGHTS_FILE,
    load_into,
    load_state,
    read_meta,
    save_module,
)

KIND = "stemprover-trust"
STEM_TYPES = ("vocals", "drums", "bass", "other")
# What the layer reads of each stem and band (band_energies), in this order.
ENERGIES = ("S", "P", "Y", "X", "others", "rest", "S-P", "S-Y", "P-Y", "gate")
# and with the canceller's candidate (trust.cancel): its energy, what it takes out, coherence
CANCEL_ENERGIES = ("C", "S-C", "rho")
QUALITY_MAPS = 6  # quality_maps' channels
EPS = 1e-10


def stem_type(name: str | None) -> int:
    """The index in :data:`STEM_TYPES` of a stem named ``name`` (a file stem such as
    ``vocals``); anything else (``piano``, ``guitar``, unnamed) counts as ``other``."""
    name = (name or "").lower()
    return STEM_TYPES.index(name) if name in STEM_TYPES else STEM_TYPES.index("other")


@dataclass(frozen=True)
class TrustConfig:
    """The trust layer's settings.

    Attributes:
        n_fft, hop, sample_rate: The refiner's STFT (the band tables follow from them).
        below: Stems whose quality estimate is this SI-SDR (dB) or more keep the song
            filter's output.
        hidden: Width of the blend network's two hidden layers.
        quality_bands: Log-spaced bands (30 Hz to Nyquist) of the quality maps.
        quality_channels: Width of the quality network's first convolutions.
        level: ``stem``: each blended stem is brought to its song filter output's energy
            (:func:`match_level`); ``none``: not. Chosen in the exact proxy
            (``experiments/song_trust/level_good.py``): validation +2.83 dB either way,
            median level -0.46 -> -0.22 dB; per band instead costs 0.09 dB.
        level_max: The bound (dB, either way) of that gain.
        good_blend: Stems estimated at ``below`` dB or more get a blend network of their own
            (``SongTrust.good``, trained after the first with it fixed); ``False`` (a layer
            saved before it existed): they keep ``Y``. Chosen in the exact proxy
            (``experiments/song_trust/level_good.py``): validation / calibration +2.83 /
            +2.82 -> +2.87 / +2.94 dB, >= 15 dB stems -0.27 / -0.55 -> +0.16 / +0.37.
        cancel: A fourth candidate, the bleed canceller's ``S − β·R`` (module docstring).
        cancel_clip: That candidate no louder than the stem in any bin (:func:`cancelled`);
            a layer saved before this setting existed loads with ``False``.
        quiet_cap: In song mode, the output's quiet bins (the level step's, ``QUIET_DB``
            under the stem's loudest, not empty) no more than this many dB over the stem
            (:func:`~stemprover.models.refiner.cap_quiet`); ``None``: not capped (a layer
            saved before this setting existed). Chosen on 160 calibration stems, whole
            songs (``experiments/song_trust/post_level.py``): of caps 0 / 6 / 12 dB, the
            empty bins capped too or not, and caps in silent frames, 0 dB with empty bins
            left alone keeps SI-SDR (+3.28 -> +3.29) and level (-0.61 -> -0.63) and puts
            bleedless and fullness furthest above the input's together (43.86 / 46.40 ->
            44.98 / 44.24, input 44.14 / 43.32); every cap moves along one line with a
            gain on the output (-0.5 dB: 45.80 / 42.25, level -1.11).
        gain_db: A gain (dB) on the blended stems before that cap (so the cap takes it back
            in the stem's quiet bins): a masking estimate's steady shrinkage leaves the
            output under the reference's level (SI-SDR does not see a gain). 0: none (layers
            saved before session 39).
    """

    n_fft: int = 2048
    hop: int = 512
    sample_rate: int = 44100
    below: float = 8.0
    hidden: int = 16
    quality_bands: int = 64
    quality_channels: int = 32
    level: str = "stem"
    level_max: float = 6.0
    good_blend: bool = True
    cancel: bool = False
    cancel_clip: bool = True
    quiet_cap: float | None = 0.0
    gain_db: float = 0.0

    @property
    def candidates(self) -> int:
        """How many candidates each band blends: ``S, P, Y`` (and ``C``)."""
        return 4 if self.cancel else 3


def log_band_matrix(n_fft: int, sample_rate: int, bands: int) -> torch.Tensor:
    """``(bands, F)`` averaging matrix over log-spaced bands from 30 Hz to Nyquist (a band
    narrower than a bin takes its nearest bin)."""
    f = torch.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = torch.logspace(np.log10(30), np.log10(sample_rate / 2), bands + 1)
    edges[0] = 0
    m = ((f[None] >= edges[:-1, None]) & (f[None] < edges[1:, None])).float()
    m[-1, -1] = 1
    for b in (m.sum(1) == 0).nonzero()[:, 0]:
        m[b, int(torch.argmin((f - edges[b]).abs()))] = 1
    return m / m.sum(1, keepdim=True)


def song_prior(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Each stem's classical prior: the multichannel Wiener filter of the mixture over all the
    stems' magnitudes (the refiner's ``mwf`` prior in song mode).

    Shape: s ``(J, C, F, N)``, x ``(C, F, N)`` complex -> ``(J, C, F, N)``."""
    return multichannel_wiener(magnitude(s), x, target=None).to(s.dtype)


def quality_maps(s: torch.Tensor, x: torch.Tensor, p: torch.Tensor, bm: torch.Tensor):
    """What the quality estimate reads of each stem: over the bands of ``bm``
    (:func:`log_band_matrix`) and frames, the power of the stem, of its prior, of their
    difference and of the other stems, each in dB against the mixture's; the mixture's level
    against its loudest; the stem's phase agreement with the mixture.

    Shape: s, p ``(J, C, F, N)``, x ``(C, F, N)`` complex -> ``(J, 6, bands, N)`` float32.
    """
    s, x, p = s.to(torch.complex64), x.to(torch.complex64), p.to(torch.complex64)
    band = lambda z: torch.einsum("bf,...fn->...bn", bm, z.mean(-3))  # noqa: E731
    px = band(power(x)[None]) + EPS
    ps = power(s)
    others = ps.sum(0, keepdim=True) - ps
    db = lambda z: (10 * torch.log10(z / px + EPS)).clamp(-60, 20) / 20  # noqa: E731
    coh = band((s * x.conj()).real / (magnitude(s) * magnitude(x) + EPS))
    level = (10 * torch.log10(px / px.amax() + EPS)).clamp(-80, 0) / 40
    return torch.stack(
        [
            db(band(ps) + EPS),
            db(band(power(p)) + EPS),
            db(band(power(s - p)) + EPS),
            db(band(others) + EPS),
            level.expand(len(s), -1, -1),
            coh,
        ],
        1,
    )


class QualityNet(nn.Module):
    """A stem's SI-SDR (dB) from its :func:`quality_maps` and its type: four conv-pool
    layers, mean and max over bands and frames (any length), a two-layer head."""

    def __init__(self, ch: int = 32) -> None:
        super().__init__()

        def conv(i: int, o: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.GELU(), nn.MaxPool2d(2))

        self.body = nn.Sequential(
            conv(QUALITY_MAPS, ch), conv(ch, ch), conv(ch, 2 * ch), conv(2 * ch, 2 * ch)
        )
        self.head = nn.Sequential(
            nn.Linear(4 * ch + len(STEM_TYPES), 64), nn.GELU(), nn.Linear(64, 1)
        )

    def forward(self, maps: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """Shape: maps ``(B, 6, bands, N)`` (N ≥ 16), kinds ``(B,)`` long -> ``(B,)`` dB."""
        h = self.body(maps)
        h = torch.cat(
            [h.mean((-2, -1)), h.amax((-2, -1)), nn.functional.one_hot(kinds, len(STEM_TYPES))],
            -1,
        )
        return self.head(h)[:, 0] * 20 + 10


def pooled_quality(estimates, weights) -> torch.Tensor:
    """A song's quality estimate per stem from its segments': their mean weighted by each
    stem's energy in the segment (a silent stretch says nothing about the stem; a whole
    song's SI-SDR is its loud parts'). ``estimates``, ``weights``: one ``(J,)`` per segment ->
    ``(J,)`` dB."""
    q, w = torch.stack(list(estimates)).double(), torch.stack(list(weights)).double() + 1e-20
    return ((q * w).sum(0) / w.sum(0)).float()


def band_sum(z: torch.Tensor, ranges) -> torch.Tensor:
    """``(..., C, F, N)`` real -> ``(..., bands)``, summed over channels, bins and frames."""
    z = z.sum(dim=(-3, -1))
    return torch.stack([z[..., lo:hi].sum(-1) for lo, hi in ranges], -1)


def cancelled(
    s: torch.Tensor, x: torch.Tensor, clip: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The bleed canceller's estimate ``C = S − β·(X − S)`` of each stem and its coherence
    ``ρ`` (:func:`~stemprover.audio.canceller.bleed_canceller`). ``clip``: no louder than
    the stem in any bin (``|C| ≤ |S|``; bleed only adds to a stem, and ``β``, a mean over
    ~0.7 s, otherwise puts the rest of the mixture into the stem's quiet bins: on 56
    calibration stems ``C`` alone SI-SDR 3.05 / bleedless 33.7, clipped 3.71 / 51.5, the
    stems 6.83 / 42.7).

    Shape: s ``(J, C, F, N)``, x ``(C, F, N)`` complex -> ``(J, C, F, N)`` complex and real."""
    beta, rho = bleed_canceller(s, x)
    c = s - beta * (x - s)
    if clip:
        c = c * (magnitude(s) / magnitude(c).clamp_min(EPS)).clamp(max=1.0)
    return c, rho


def band_energies(s, x, p, y, gate, ranges, c=None, rho=None) -> torch.Tensor:
    """The reference-free energies (:data:`ENERGIES`) of a segment's J stems: ``(J, B, 10)``
    float64 (``gate``: its mean, negative values as 0); with the canceller's estimate ``c``
    and its coherence ``rho`` (:func:`cancelled`), :data:`CANCEL_ENERGIES` after them
    (``(J, B, 13)``; ``rho``: its mean)."""
    pw = lambda z: band_sum(power(z).double(), ranges)  # noqa: E731
    ps = power(s)
    others = band_sum((ps.sum(0, keepdim=True) - ps).double(), ranges)
    rest = pw((x - s.sum(0))[None].expand_as(s))

    def mean(z: torch.Tensor) -> torch.Tensor:
        return band_sum(z.double(), ranges) / band_sum(torch.ones_like(z).double(), ranges)

    xs = pw(x[None].expand_as(s))
    en = [pw(s), pw(p), pw(y), xs, others, rest, pw(s - p), pw(s - y), pw(p - y)]
    en.append(mean(gate.clamp_min(0)))
    if c is not None:
        en += [pw(c), pw(s - c), mean(rho)]
    return torch.stack(en, -1)


def band_features(en: torch.Tensor, kinds: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """A segment's J stems' :func:`band_energies` ``(J, B, 10 or 13)``, their types ``(J,)``
    and quality estimates ``(J,)`` (dB) -> the blend network's input ``(J, B, D)``: each
    stem's energies in dB against the mixture's band, the mixture's band against its loudest
    and the gate (and the canceller's two energies and coherence); the other stems' mean and
    max of those; the stem type; the band; the quality estimate (/20)."""
    x = en[..., 3:4]
    db = lambda z: 10 * torch.log10((z + EPS) / (x + EPS)).clamp(-60, 20) / 20  # noqa: E731
    rel = db(en[..., [0, 1, 2, 4, 5, 6, 7, 8]])
    xdb = 10 * torch.log10((x + EPS) / (x.amax(1, keepdim=True) + EPS)).clamp(-80, 0) / 40
    own = [rel, xdb, en[..., 9:10]]
    if en.shape[-1] > len(ENERGIES):
        own += [db(en[..., 10:12]), en[..., 12:13]]
    own = torch.cat(own, -1)
    J, B = own.shape[:2]
    sib_mean, sib_max = torch.zeros_like(own), torch.zeros_like(own)
    for j in range(J):
        o = torch.cat([own[:j], own[j + 1 :]])
        if len(o):
            sib_mean[j], sib_max[j] = o.mean(0), o.amax(0)
    stem = nn.functional.one_hot(kinds, len(STEM_TYPES)).to(own.dtype)[:, None].expand(J, B, -1)
    band = torch.eye(B, dtype=own.dtype).expand(J, B, B)
    q = (quality.to(own.dtype) / 20)[:, None, None].expand(J, B, 1)
    return torch.cat([own, sib_mean, sib_max, stem, band, q], -1).float()


def feature_dim(bands: int, cancel: bool = False) -> int:
    """The width of :func:`band_features` for ``bands`` sub-bands (``cancel``: with the
    canceller's energies)."""
    own = len(ENERGIES) + (len(CANCEL_ENERGIES) if cancel else 0)
    return 3 * own + len(STEM_TYPES) + bands + 1


class BlendNet(nn.Module):
    """Per stem and band, softmax weights over the ``k`` candidates ``(S, P, Y[, C])`` from
    two hidden layers of ``hidden`` (0: linear); starts at ``Y`` (weight ~1)."""

    def __init__(self, dim: int, hidden: int, k: int = 3) -> None:
        super().__init__()
        self.net = (
            nn.Sequential(nn.Linear(dim, k))
            if hidden == 0
            else nn.Sequential(
                nn.Linear(dim, hidden),
                nn.GELU(),
                nn.Linear(hidden, hidden),
                nn.GELU(),
                nn.Linear(hidden, k),
            )
        )
        nn.init.zeros_(self.net[-1].weight)
        with torch.no_grad():
            self.net[-1].bias.zero_()
            self.net[-1].bias[2] = 8.0

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f).softmax(-1)


def keep_good(
    w: torch.Tensor, quality: torch.Tensor, below: float, good: torch.Tensor | None = None
) -> torch.Tensor:
    """Blend weights ``(rows, B, K)`` with the rows whose ``quality`` (``(rows,)`` dB) is
    ``below`` or more set to ``good``'s (same shape; ``None``: ``Y`` alone)."""
    if good is None:
        good = torch.zeros_like(w)
        good[..., 2] = 1
    return torch.where((quality >= below)[:, None, None], good, w)


def exact_terms(cands: torch.Tensor, r: torch.Tensor, ranges):
    """What any blend's SI-SDR against the reference ``r`` follows from, per stem and band:
    the Gram matrix ``G_kl = Re Σ c_k·conj(c_l)`` of candidates ``(J, K, C, F, N)``,
    ``b_k = Re Σ c_k·conj(r)`` and ``Σ|r|²`` (float64)."""
    c, r = cands.to(torch.complex128), r.to(torch.complex128)
    inner = lambda a, b: band_sum((a * b.conj()).real, ranges)  # noqa: E731
    K = c.shape[1]
    gram = torch.stack(
        [torch.stack([inner(c[:, k], c[:, m]) for m in range(K)], -1) for k in range(K)], -2
    )
    cross = torch.stack([inner(c[:, k], r) for k in range(K)], -1)
    return gram, cross, band_sum(power(r), ranges)


def blend_si_sdr(w, gram, cross, ref, key, n: int) -> torch.Tensor:
    """The SI-SDR (dB) per stem of blend weights ``w`` ``(rows, B, K)``, from rows'
    :func:`exact_terms`, row ``i`` a segment of stem ``key[i]`` of ``n``: over the stem's
    STFT segments, ``10·log10(<E,R>² / (|E|²·|R|² − <E,R>²))``."""
    w = w.double()
    add = lambda v: torch.zeros(n, dtype=v.dtype).index_add(0, key, v.sum(-1))  # noqa: E731
    dot = add((w * cross).sum(-1))
    est = add(torch.einsum("rbk,rbkl,rbl->rb", w, gram, w))
    ref = add(ref)
    return 10 * torch.log10((dot**2 + EPS) / ((est * ref - dot**2).clamp_min(0) + EPS))


def blend(w: torch.Tensor, cands: torch.Tensor, ranges) -> torch.Tensor:
    """Weights ``(J, B, K)`` over candidates ``(J, K, C, F, N)`` per band -> ``(J, C, F, N)``."""
    out = torch.empty_like(cands[:, 0])
    for b, (lo, hi) in enumerate(ranges):
        out[..., lo:hi, :] = (
            w[:, b, :, None, None, None].to(cands.dtype) * cands[..., lo:hi, :]
        ).sum(1)
    return out


LEVELS = ("stem", "none")


def match_level(out: torch.Tensor, y: torch.Tensor, level: str, max_db: float) -> torch.Tensor:
    """The blend ``out`` at the song filter output ``y``'s energy, per stem over the segment
    (``level="stem"``; the gain bounded to ``±max_db`` dB), or as it is (``"none"``). Where
    a stem keeps ``Y`` the gain is 1. Shape: out, y ``(J, C, F, N)``."""
    if level not in LEVELS:
        raise ValueError(f"unknown trust level {level!r} ({', '.join(LEVELS)})")
    if level == "none":
        return out
    energy = lambda z: power(z).sum(dim=(1, 2, 3)).double()  # noqa: E731
    bound = 10 ** (max_db / 20)
    gain = torch.sqrt((energy(y) + EPS) / (energy(out) + EPS)).clamp(1 / bound, bound)
    return out * gain.to(out.real.dtype)[:, None, None, None]


class SongTrust(nn.Module):
    """The trust layer (see the module docstring): ``quality`` estimates each stem's SI-SDR,
    ``blend`` chooses the per-band weights of stems estimated below ``config.below`` dB,
    ``good`` those of the rest (``None``: they keep ``Y``)."""

    def __init__(self, cfg: TrustConfig) -> None:
        super().__init__()
        self.config = cfg
        self.ranges = split_bands(cfg.n_fft, cfg.sample_rate)
        self.register_buffer(
            "band_matrix",
            log_band_matrix(cfg.n_fft, cfg.sample_rate, cfg.quality_bands),
            persistent=False,
        )
        self.quality = QualityNet(cfg.quality_channels)
        dim, k = feature_dim(len(self.ranges), cfg.cancel), cfg.candidates
        self.blend = BlendNet(dim, cfg.hidden, k)
        self.good = BlendNet(dim, cfg.hidden, k) if cfg.good_blend else None

    def estimate(self, s, x, p, kinds) -> torch.Tensor:
        """Each stem's SI-SDR estimate (dB) from this segment, ``(J,)``."""
        return self.quality(quality_maps(s, x, p, self.band_matrix), kinds)

    def segment_estimate(self, s, x, kinds, p=None) -> tuple[torch.Tensor, torch.Tensor]:
        """This segment's estimates and their weights for :func:`pooled_quality`: ``(J,)``
        dB and ``(J,)`` energies (shape: s ``(J, C, F, N)``, x ``(C, F, N)`` complex; ``p``:
        the stems' priors when the caller has them, else :func:`song_prior`)."""
        s, x = s.to(torch.complex64), x.to(torch.complex64)
        q = self.estimate(s, x, song_prior(s, x) if p is None else p, kinds)
        return q, power(s).sum((1, 2, 3))

    def candidates(self, s, x, p, y, cancel=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The candidates ``(J, K, C, F, N)``: ``S, P, Y`` and with ``config.cancel``
        :func:`cancelled`'s ``C``; and ``C``'s coherence (``None`` without). ``cancel``:
        :meth:`cancel_estimate` of ``(s, x)`` when the caller already has it."""
        if not self.config.cancel:
            return torch.stack([s, p, y], 1), None
        c, rho = self.cancel_estimate(s, x) if cancel is None else cancel
        return torch.stack([s, p, y, c], 1), rho

    def cancel_estimate(self, s, x) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:func:`cancelled`'s ``(C, ρ)`` of the input stems (``None`` without
        ``config.cancel``): it reads only them and the mixture, so song mode's passes make it
        once."""
        return cancelled(s, x, self.config.cancel_clip) if self.config.cancel else None

    def energies(self, cands, x, gate, rho) -> torch.Tensor:
        """:func:`band_energies` of :meth:`candidates`' output."""
        s, p, y = cands[:, 0], cands[:, 1], cands[:, 2]
        c = cands[:, 3] if rho is not None else None
        return band_energies(s, x, p, y, gate, self.ranges, c, rho)

    def weights(self, s, x, p, y, gate, kinds, quality=None) -> torch.Tensor:
        """Blend weights ``(J, B, K)`` over :meth:`candidates` (:meth:`band_weights`)."""
        return self._weights(*self.candidates(s, x, p, y), x, gate, kinds, quality)

    def _weights(self, cands, rho, x, gate, kinds, quality) -> torch.Tensor:
        if quality is None:
            quality = self.estimate(cands[:, 0], x, cands[:, 1], kinds)
        f = band_features(self.energies(cands, x, gate, rho), kinds, quality)
        return self.band_weights(f, quality)

    def band_weights(self, f: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """Features ``(rows, B, D)`` and quality estimates ``(rows,)`` -> blend weights
        ``(rows, B, K)``: ``blend``'s, and for rows estimated ``config.below`` dB or more
        ``good``'s (``Y`` alone without it)."""
        good = None if self.good is None else self.good(f)
        return keep_good(self.blend(f), quality, self.config.below, good)

    def forward(self, s, x, p, y, gate, kinds, quality=None, cancel=None) -> torch.Tensor:
        """The blended stems; ``quality``: the song's estimates (:func:`pooled_quality`;
        ``None``: this segment's); ``cancel``: :meth:`cancel_estimate` (``None``: made here).

        Shape: s, p, y, gate ``(J, C, F, N)``, x ``(C, F, N)`` complex (gate real), kinds,
        quality ``(J,)`` -> ``(J, C, F, N)``."""
        cands, rho = self.candidates(s, x, p, y, cancel)
        w = self._weights(cands, rho, x, gate, kinds, quality)
        out = blend(w, cands, self.ranges)
        return match_level(out, y, self.config.level, self.config.level_max)

    def save(self, folder: str | Path) -> Path:
        return save_module(self, folder, KIND, to_dict(self.config))

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> SongTrust:
        folder = Path(folder)
        meta = read_meta(folder, (KIND,), "a trust layer")
        # a layer saved before the good-stem blend existed keeps Y for its good stems; one
        # saved before cancel_clip, an unclipped C; one saved before quiet_cap, no cap
        old = {"good_blend": False, "cancel_clip": False, "quiet_cap": None}
        layer = cls(from_dict(TrustConfig, {**old, **meta["config"]}))
        load_into(layer, load_state(folder / WEIGHTS_FILE, str(device)), folder / WEIGHTS_FILE)
        return layer.eval()
