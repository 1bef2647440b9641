"""StemProver's names, defined once: stem types, artifact types, producers, devices, and the
``--adapters`` grammar. CLI choices, the manifest schema, the simulators and the detector
derive from these. Standard library only, so the CLI can check arguments before torch loads.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from stemprover.errors import StemProverError

ArtifactName = Literal[
    "bleed", "musical_noise", "phasiness", "hf_loss", "transient_smear", "spectral_holes"
]
ARTIFACTS: tuple[ArtifactName, ...] = (
    "bleed",
    "musical_noise",
    "phasiness",
    "hf_loss",
    "transient_smear",
    "spectral_holes",
)
# The stems a song is rendered and separated into (four-stem separators: Demucs, Open-Unmix).
# What a musician calls each artifact (reports, analyze).
ARTIFACT_WORDS = {
    "bleed": "bleed",
    "musical_noise": "musical noise",
    "phasiness": "phasiness",
    "hf_loss": "lost highs",
    "transient_smear": "smeared attacks",
    "spectral_holes": "spectral holes",
}
# The bands of audio/bands.py in Hz, for people.
BAND_HZ = {
    "sub_bass": "20-60 Hz",
    "bass": "60-250 Hz",
    "low_mid": "250-500 Hz",
    "mid": "500 Hz-2 kHz",
    "high_mid": "2-4 kHz",
    "presence": "4-6 kHz",
    "brilliance": "6 kHz and up",
}
STEM_TYPES = ("vocals", "drums", "bass", "other")
# Two-stem separators (karaoke: Spleeter 2stems, UVR, audio-separator) give vocals and
# everything else; that "everything else" is a stem type of its own.
INSTRUMENTAL = "instrumental"
SEPARATED_STEMS = (*STEM_TYPES, INSTRUMENTAL)
STEM_KEYWORDS = {
    "vocals": ("vocal", "vox", "voice", "sing", "lead"),
    "drums": ("drum", "kick", "snare", "hat", "perc", "cymbal", "tom", "overhead"),
    "bass": ("bass",),
    INSTRUMENTAL: ("instrumental", "accompaniment", "karaoke", "inst"),
}
# Producers of training pairs that run here (data/pairs.py maps each to its function).
PRODUCERS = ("simulate", "mask", "umx")
DEVICES = ("auto", "cpu", "cuda", "mps")
OUTPUT_FORMATS = ("wav", "flac", "ogg", "aiff", "mp3")  # enhance --format
CLIP_MODES = ("clamp", "rescale", "none")  # enhance --clip-mode (audio/clip.py)
SPLITS = ("train", "valid", "test")

# A LoRA scale beyond this is no longer "more of the adapter": at 1e9 the output is
# full-scale noise. 0 switches an adapter off.
MAX_ADAPTER_WEIGHT = 2.0


def parse_adapters(spec: str) -> dict[str, float] | Literal["auto"]:
    """``none`` -> {}; ``auto`` -> "auto"; ``a,b`` -> equal weights 1; ``a=0.7,b=0.3``.

    Raises:
        StemProverError: an empty spec or name, a repeated name, or a weight that is not a
            number in ``[0, MAX_ADAPTER_WEIGHT]`` (NaN, Inf and negatives included).
    """
    spec = spec.strip()
    if not spec:
        raise StemProverError("--adapters is empty: give none, auto, a,b or a=0.7,b=0.3")
    if spec == "none":
        return {}
    if spec == "auto":
        return "auto"
    out: dict[str, float] = {}
    for item in spec.split(","):
        name, _, text = (part.strip() for part in item.partition("="))
        if not name:
            raise StemProverError(f"--adapters: an adapter name is missing in {spec!r}")
        if name in out:
            raise StemProverError(f"--adapters: {name!r} is given twice")
        try:
            weight = float(text) if text else 1.0
        except ValueError:
            raise StemProverError(f"bad adapter weight in {item!r} (use name=0.7)") from None
        if not (math.isfinite(weight) and 0.0 <= weight <= MAX_ADAPTER_WEIGHT):
            raise StemProverError(
                f"adapter weight in {item!r} must be a number from 0 to {MAX_ADAPTER_WEIGHT:g}"
            )
        out[name] = weight
    return out


def named_stem_type(filename: str) -> str | None:
    """The stem type a separator's output name says (``vocals``, ``htdemucs_drums``,
    ``Song (Bass)``, ``song_(Instrumental)``, ``no_vocals`` and ``accompaniment`` ->
    ``instrumental``), or ``None`` when it names none (``take3``).

    A word of the name must begin with a keyword, so ``whatever`` is not a hi-hat; a name
    that says nothing is unknown, not ``other``.
    """
    words = [w for w in re.split(r"[^a-z0-9]+", filename.lower()) if w]
    if len(words) >= 2 and words[-2] == "no" and words[-1].startswith("vocal"):
        return INSTRUMENTAL  # demucs --two-stems: everything but the vocals
    if len(words) >= 2 and words[-2] == "no":  # another two-stem split: all but that stem
        return "other"
    for kind in (INSTRUMENTAL, *STEM_TYPES):
        keys = STEM_KEYWORDS.get(kind, (kind,))
        if any(w.startswith(k) for w in words for k in keys):
            return kind
    return None


def severity_word(score: float) -> str:
    """A detector severity in [0, 1] in words."""
    return "low" if score < 0.33 else "moderate" if score < 0.66 else "high"
