"""Quality metrics of an estimate against its clean reference.

All metrics take ``(C, T)`` float arrays at one rate, are computed per channel and averaged
over channels, and are "higher is better" except the log-spectral distance and the
instantaneous-frequency deviation.

Silent references: a reference whose RMS is below ``SILENT_DB`` dBFS has no meaningful ratio
metric; it scores NaN and is left out of every mean, and ``aggregate`` counts what it left
out. The framewise median SDR follows museval instead: only digitally silent 1 s frames are
NaN and left out of the median.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemprover.audio.bands import BAND_NAMES, BANDS, band_masks
from stemprover.audio.mel import measure_filterbank
from stemprover.audio.stft import ANALYSIS_STFT, StftConfig, stft_np

# A pair (or crop, or stem) that loses more than this many dB SI-SDR counts as harmed: the
# issue's no-harm rule, and every training loop's and table's "losing" share.
HARM_DB = 0.5

SILENT_DB = -60.0
EPS = 1e-12


# The metrics that reports and summaries show, in this order.
MAIN_METRICS = (
    "si_sdr",
    "sdr",
    "sdr_median",
    "mel_snr",
    "level_db",
    "bleedless",
    "fullness",
    "phase_coherence",
    "lsd",
    "pesq",
    "estoi",
)


def _silent(x: np.ndarray) -> bool:
    return 20 * np.log10(np.sqrt(np.mean(x**2)) + EPS) < SILENT_DB


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR (Le Roux et al. 2019, "SDR - half-baked or well done?", eq. 2-3)."""
    if _silent(ref):
        return float("nan")
    vals = []
    for r, e in zip(ref, est, strict=True):
        alpha = np.dot(e, r) / (np.dot(r, r) + EPS)
        target = alpha * r
        vals.append(10 * np.log10((np.sum(target**2) + EPS) / (np.sum((e - target) ** 2) + EPS)))
    return float(np.mean(vals))


def level_db(ref: np.ndarray, est: np.ndarray) -> float:
    """Output level relative to the reference, dB (0 is right). SI-SDR and SDR ignore it."""
    if _silent(ref):
        return float("nan")
    return float(10 * np.log10((np.sum(est**2) + EPS) / (np.sum(ref**2) + EPS)))


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Global BSS Eval v4 SDR with a 512-tap distortion filter (fast_bss_eval)."""
    import fast_bss_eval

    if _silent(ref):
        return float("nan")
    if _silent(est):  # BSS Eval's projection is 0/0 here; score it as sdr_frames does
        return float(10 * np.log10(np.sum(ref**2) / np.sum((est - ref) ** 2)))
    vals = [
        float(fast_bss_eval.sdr(r[None], e[None], load_diag=1e-10)[0])
        for r, e in zip(ref, est, strict=True)
    ]
    return float(np.mean(vals))


def sdr_frames(ref: np.ndarray, est: np.ndarray, rate: int, window: float = 1.0) -> np.ndarray:
    """BSS Eval v4 image SDR over consecutive ``window``-second frames, as ``museval.evaluate``.

    With one source, museval's image decomposition gives ``e_spat + e_interf + e_artif =
    est − ref`` exactly, so each frame's SDR is ``10·log10(Σ ref² / Σ (est − ref)²)`` over all
    channels together (checked against museval 0.4.1: ``experiments/museval_parity/museval_parity.py``). Only full
    frames are scored and, as in museval, frames whose reference is digital silence are NaN
    (a merely quiet frame is scored).
    """
    n = round(window * rate)
    out = []
    for start in range(0, ref.shape[-1] - n + 1, n):
        r, e = ref[:, start : start + n], est[:, start : start + n]
        if not np.any(r):
            out.append(float("nan"))
            continue
        out.append(float(10 * np.log10((np.sum(r**2) + EPS) / (np.sum((e - r) ** 2) + EPS))))
    return np.array(out)


def sdr_median(ref: np.ndarray, est: np.ndarray, rate: int) -> float:
    """Median of 1 s framewise SDR, silent frames excluded (the SiSEC/museval convention)."""
    frames = sdr_frames(ref, est, rate)
    frames = frames[np.isfinite(frames)]
    return float(np.median(frames)) if len(frames) else float("nan")


class Views:
    """A signal's STFT and mel spectra, each computed once and shared by every metric.

    Build one per reference in an evaluation and it serves every system scored against it.
    """

    def __init__(self, x: np.ndarray, rate: int) -> None:
        self.x, self.rate = x, rate
        self._stft: np.ndarray | None = None
        self._mel: dict[int, np.ndarray] = {}

    @property
    def stft(self) -> np.ndarray:
        """The analysis STFT, ``(C, F, N)`` complex."""
        if self._stft is None:
            self._stft = stft_np(self.x, ANALYSIS_STFT)
        return self._stft

    def mel(self, n_fft: int) -> np.ndarray:
        """Mel magnitudes at FFT size ``n_fft`` (hop n_fft/4), ``(C, 80, N)``."""
        if n_fft not in self._mel:
            if n_fft == ANALYSIS_STFT.n_fft and ANALYSIS_STFT.hop == n_fft // 4:
                mag = np.abs(self.stft)
            else:
                mag = np.abs(stft_np(self.x, StftConfig(n_fft=n_fft, hop=n_fft // 4, compress=1.0)))
            self._mel[n_fft] = np.einsum("mf,cfn->cmn", measure_filterbank(self.rate, n_fft), mag)
        return self._mel[n_fft]


def views(x: np.ndarray | Views, rate: int) -> Views:
    return x if isinstance(x, Views) else Views(x, rate)


def mel_snr(ref: np.ndarray, est: np.ndarray, rate: int) -> float:
    """Multi-resolution mel SNR: mel-magnitude SNR at FFT sizes 512, 1024, 2048, averaged."""
    ref, est = views(ref, rate), views(est, rate)
    if _silent(ref.x):
        return float("nan")
    vals = []
    for n_fft in (512, 1024, 2048):
        r, e = ref.mel(n_fft), est.mel(n_fft)
        vals.append(10 * np.log10((np.sum(r**2) + EPS) / (np.sum((r - e) ** 2) + EPS)))
    return float(np.mean(vals))


def bleed_and_fullness(ref: np.ndarray, est: np.ndarray, rate: int) -> tuple[float, float]:
    """``(bleedless, fullness)``, each ``100 / (1 + mean dB excess)``, in (0, 100].

    On 80 mel bands (FFT 2048) in dB, floored at 80 dB below the reference's peak:
    positive ``est - ref`` differences are energy that should not be there (bleed), negative
    ones energy that is missing. Higher is better for both; 100 is a perfect estimate.
    """
    ref, est = views(ref, rate), views(est, rate)
    if _silent(ref.x):
        return float("nan"), float("nan")
    r, e = ref.mel(2048), est.mel(2048)
    floor = 20 * np.log10(r.max() + EPS) - 80
    r_db = np.maximum(20 * np.log10(r + EPS), floor)
    e_db = np.maximum(20 * np.log10(e + EPS), floor)
    diff = e_db - r_db
    bleed = np.mean(np.maximum(diff, 0))
    missing = np.mean(np.maximum(-diff, 0))
    return float(100 / (1 + bleed)), float(100 / (1 + missing))


def band_metrics(ref: np.ndarray, est: np.ndarray, rate: int) -> dict[str, dict[str, float]]:
    """Per band: log-spectral distance (dB), phase coherence, instantaneous-frequency deviation.

    Phase coherence is the magnitude-weighted mean of cos(φ_ref − φ_est); IF deviation is the
    magnitude-weighted mean |wrap(Δt φ_ref − Δt φ_est)| in radians per hop.
    """
    r, e = views(ref, rate).stft, views(est, rate).stft  # (C, F, N)
    weight = np.abs(r) * np.abs(e)
    lsd_frame = (10 * np.log10(np.abs(r) ** 2 + 1e-10) - 10 * np.log10(np.abs(e) ** 2 + 1e-10)) ** 2
    coherence = np.cos(np.angle(r) - np.angle(e))
    if_dev = np.abs(
        np.angle(np.exp(1j * (np.diff(np.angle(r), axis=-1) - np.diff(np.angle(e), axis=-1))))
    )
    out = {}
    for name, mask in zip(BAND_NAMES, band_masks(ANALYSIS_STFT.n_fft, rate), strict=True):
        if not mask.any():
            continue
        w = weight[:, mask]
        out[name] = {
            "lsd": float(np.mean(np.sqrt(np.mean(lsd_frame[:, mask], axis=1)))),
            "phase_coherence": float(np.sum(w * coherence[:, mask]) / (np.sum(w) + EPS)),
            "if_deviation": float(
                np.sum(w[..., 1:] * if_dev[:, mask]) / (np.sum(w[..., 1:]) + EPS)
            ),
        }
    return out


def pesq_estoi(ref: np.ndarray, est: np.ndarray, rate: int) -> tuple[float, float]:
    """Wide-band PESQ (16 kHz) and ESTOI of the channel mean; for vocal stems."""
    import soxr
    from pesq import pesq
    from pystoi import stoi

    if _silent(ref):
        return float("nan"), float("nan")
    r16 = soxr.resample(ref.mean(axis=0), rate, 16000)
    e16 = soxr.resample(est.mean(axis=0), rate, 16000)
    try:
        p = float(pesq(16000, r16, e16, "wb"))
    except Exception:  # pesq raises on no detected speech activity: a NaN, counted as missing
        p = float("nan")
    return p, float(stoi(r16, e16, 16000, extended=True))


@dataclass(frozen=True)
class Scores:
    """Every metric of one estimate."""

    si_sdr: float
    sdr: float
    sdr_median: float
    mel_snr: float
    level_db: float
    bleedless: float
    fullness: float
    phase_coherence: float
    lsd: float
    pesq: float | None
    estoi: float | None
    bands: dict

    def flat(self) -> dict[str, float]:
        out = {k: v for k, v in self.__dict__.items() if k != "bands" and v is not None}
        for band, vals in self.bands.items():
            out.update({f"{k}_{band}": v for k, v in vals.items()})
        return out


def score(ref: np.ndarray | Views, est: np.ndarray, rate: int, vocals: bool = False) -> Scores:
    """All metrics; PESQ and ESTOI only when ``vocals``.

    Args:
        ref: The reference, or its :class:`Views` to reuse across several estimates.

    Shape:
        ref, est: ``(C, T)`` at ``rate``.
    """
    ref_views, est_views = views(ref, rate), Views(est, rate)
    ref = ref_views.x
    assert ref.shape == est.shape, f"reference {ref.shape} and estimate {est.shape} differ"
    bleedless, fullness = bleed_and_fullness(ref_views, est_views, rate)
    bands = band_metrics(ref_views, est_views, rate)
    weights = {b.name: b.weight for b in BANDS if b.name in bands}
    total = sum(weights.values())
    pq, es = pesq_estoi(ref, est, rate) if vocals else (None, None)
    return Scores(
        si_sdr=si_sdr(ref, est),
        sdr=sdr(ref, est),
        sdr_median=sdr_median(ref, est, rate),
        mel_snr=mel_snr(ref_views, est_views, rate),
        level_db=level_db(ref, est),
        bleedless=bleedless,
        fullness=fullness,
        phase_coherence=sum(bands[b]["phase_coherence"] * w for b, w in weights.items()) / total,
        lsd=sum(bands[b]["lsd"] * w for b, w in weights.items()) / total,
        pesq=pq,
        estoi=es,
        bands=bands,
    )
