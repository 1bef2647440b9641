"""Per-stem gain, EQ, stereo placement and production effects, and the mixture as the exact sum
of the stems."""

from __future__ import annotations

import numpy as np

# Typical relative levels (dB) of a pop mix and how far a song may stray from them.
LEVELS_DB = {"vocals": (0.0, 3.0), "drums": (-2.0, 3.0), "bass": (-4.0, 3.0), "other": (-5.0, 3.0)}
MAX_PAN = {"vocals": 0.15, "drums": 0.1, "bass": 0.1, "other": 0.7}


def shelf_eq(x: np.ndarray, rate: int, low_db: float, high_db: float) -> np.ndarray:
    """Low and high shelves (corner 200 Hz and 4 kHz) applied as a smooth FFT gain curve.

    Shape:
        x: ``(..., T)``, returned the same.
    """
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / rate)
    with np.errstate(divide="ignore"):
        low = low_db / (1 + (freqs / 200.0) ** 2)
        high = high_db * (freqs / 4000.0) ** 2 / (1 + (freqs / 4000.0) ** 2)
    gain = 10 ** ((low + high) / 20)
    return np.fft.irfft(np.fft.rfft(x, axis=-1) * gain, n=x.shape[-1], axis=-1)


def place(x: np.ndarray, rate: int, pan: float, width_ms: float) -> np.ndarray:
    """Mono to stereo: constant-power pan, plus a delayed copy blended into one side for width.

    Shape:
        x: ``(T,)`` -> ``(2, T)``.
    """
    theta = (pan + 1) * np.pi / 4
    left, right = np.cos(theta) * x, np.sin(theta) * x
    delay = round(width_ms * rate / 1000)
    if delay:
        delayed = np.concatenate([np.zeros(delay), x[:-delay]]) * np.sin(theta)
        right = 0.7 * right + 0.3 * delayed
    return np.stack([left, right]) * np.sqrt(2)


def production_chain(stem: str, rng: np.random.Generator):
    """A random ``pedalboard`` chain as a mix engineer might put on one stem: a compressor, and
    often a stereo reverb (rarely on the bass) or, on the ``other`` stem, a chorus."""
    import pedalboard as pb

    chain = [
        pb.Compressor(
            threshold_db=rng.uniform(-30, -10),
            ratio=rng.uniform(1.5, 6.0),
            attack_ms=rng.uniform(1, 30),
            release_ms=rng.uniform(50, 300),
        )
    ]
    if stem == "other" and rng.random() < 0.3:
        chain.append(pb.Chorus(rate_hz=rng.uniform(0.3, 2.0), depth=rng.uniform(0.1, 0.4), mix=0.4))
    if rng.random() < (0.15 if stem == "bass" else 0.7):
        wet = rng.uniform(0.05, 0.35)
        chain.append(
            pb.Reverb(
                room_size=rng.uniform(0.1, 0.9),
                damping=rng.uniform(0.2, 0.8),
                wet_level=wet,
                dry_level=1.0 - wet,
                width=rng.uniform(0.3, 1.0),
            )
        )
    return pb.Pedalboard(chain)


def mix_song(
    stems: dict[str, np.ndarray],
    rate: int,
    rng: np.random.Generator,
    channels: int = 2,
    effects: float = 0.0,
    fx_rng: np.random.Generator | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Level, EQ and place mono stems; scale so the mixture peaks at -1 dBFS.

    Args:
        effects: Share of stems that get a production chain (:func:`production_chain`),
            drawn from ``fx_rng`` so that the rest of the mix is the same with or without.

    Returns:
        ``({stem: (C, T)}, mixture (C, T))`` with ``mixture == sum(stems)`` exactly in float64.
    """
    out = {}
    for name, mono in stems.items():
        mean, spread = LEVELS_DB.get(name, (-4.0, 3.0))
        gain = 10 ** ((mean + rng.uniform(-spread, spread)) / 20)
        eq = shelf_eq(mono, rate, rng.uniform(-4, 4), rng.uniform(-4, 4))
        rms = np.sqrt(np.mean(eq**2)) + 1e-9
        placed = place(
            eq * gain * 0.1 / rms,
            rate,
            rng.uniform(-1, 1) * MAX_PAN.get(name, 0.3),
            rng.uniform(0, 12) if name == "other" else 0.0,
        )
        if effects > 0 and fx_rng is not None and fx_rng.random() < effects:
            wet = production_chain(name, fx_rng)(placed.astype(np.float32), rate)
            placed = wet.astype(np.float64) * np.sqrt(
                np.mean(placed**2) / (np.mean(wet**2) + 1e-18)
            )
        out[name] = placed if channels == 2 else placed.mean(axis=0, keepdims=True)
    scale = 10 ** (-1 / 20) / max(np.abs(sum(out.values())).max(), 1e-9)
    out = {k: v * scale for k, v in out.items()}
    # float64 stems summed once: the mixture file is exactly their sum.
    mixture = sum(out.values())
    return out, mixture
