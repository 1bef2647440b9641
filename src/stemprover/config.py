"""Frozen dataclass configs per component; YAML presets plus dotted overrides.

An experiment is a small YAML diff over a preset (``base: tiny``) and ``--set a.b=value``
overrides; an unknown key anywhere is an error that names it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stemprover.audio.chunking import SegmentConfig
from stemprover.audio.stft import StftConfig
from stemprover.errors import StemProverError

PRESETS = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class AutoencoderConfig:
    """A diffusers AutoencoderKL over (real, imag) of the compressed STFT.

    The image is first folded ``patch``×``patch`` into channels; each entry of
    ``block_out_channels`` after the first then halves frequency and time again.
    """

    # "vae": a learned AutoencoderKL; "patch": the lossless space-to-depth transform alone
    # (latent channels 2·patch², reconstruction exact), for when a VAE cannot be trained well
    # enough in the budget at hand.
    kind: str = "patch"
    block_out_channels: tuple[int, ...] = (32, 64)
    latent_channels: int = 16
    patch: int = 4  # space-to-depth factor (before the VAE, when there is one)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    kl_weight: float = 1e-6


@dataclass(frozen=True)
class DenoiserConfig:
    """The latent UNet (diffusers blocks) and its control branch."""

    block_out_channels: tuple[int, ...] = (48, 96)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    band_embedding: bool = True
    band_attention: bool = True
    attention_heads: int = 4
    # "gain": the clean residual is a bounded gain on the condition plus a correction,
    # r0 = tanh(a/2)·z_cond + b (a mask-like bias); "residual": r0 is predicted directly.
    output: str = "log_gain"
    # "log_gain": like "gain", but the gain is exp(tanh(a/2)·ln max_gain), in
    # (1/max_gain, max_gain): a spectral hole 30 dB deep needs a gain of ~5.6 on the
    # 0.5-compressed spectrum, which "gain" (at most 2) cannot give.
    max_gain: float = 8.0
    # Also give the condition's latent to the denoiser's first layer, beside the noised
    # residual (as SR3 and ResShift do). Through the zero-initialised control branch alone the
    # main UNet learns to use the condition only once those convolutions have grown.
    concat_condition: bool = False
    # Also give the control branch the log magnitude of each (real, imaginary) pair of the
    # condition's latent, relative to its loudest element. From signed real/imaginary parts
    # alone a convolution has to square to see level; masks depend on level in dB.
    log_magnitude: bool = True
    # Also give the control branch the mixture the stem was separated from (its latent, and its
    # log magnitude when log_magnitude is on): what leaked in or was lost is in the mixture,
    # not in the stem. The extra input channels start at zero, so a model with them computes
    # what the same model without them does until they are trained; an absent mixture is
    # all zeros there (train.mixture_dropout teaches the model to work without one).
    mixture: bool = True
    # With mixture and a gain head: the clean latent may also take a share of the mixture's,
    # r0 += tanh(c/2)·z_mix, from a third output head that starts at zero. A mask on the
    # mixture is the form in which bleed is subtracted (z_stem − α·z_mix) and a phase is taken
    # from the mixture (where the stem dominates it); through the control branch alone the
    # UNet has to rebuild the mixture's values in its correction head.
    mixture_gain: bool = True


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule and sampling defaults (schedulers come from diffusers)."""

    train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    scheduler: str = "ddim"
    # One DDIM step from strength 0.2: more steps or a higher strength changed nothing or
    # harmed nearly clean stems (docs/research-log.md).
    steps: int = 1
    strength: float = 0.2
    # Share of training samples noised from a zero residual instead of the true one. Sampling
    # always starts from zero, so by default training does too.
    condition_start_prob: float = 1.0
    # Training timesteps are drawn below train_strength·T: sampling starts at strength·T, so
    # capacity spent on noisier timesteps is never used.
    train_strength: float = 0.5


@dataclass(frozen=True)
class LossConfig:
    diffusion: float = 1.0
    mrstft: float = 0.1
    phase: float = 0.05
    # Negative SI-SDR (dB) of the decoded estimate: the benchmark's headline metric.
    si_sdr: float = 0.0
    # Soft cap on each crop's SI-SDR in that loss (None: uncapped), see losses.si_sdr_loss.
    si_sdr_max_db: float | None = None
    # Negative SNR (dB) of the decoded estimate: as si_sdr, but the output level counts too.
    snr: float = 0.0
    mrstft_ffts: tuple[int, ...] = (256, 512, 1024)


@dataclass(frozen=True)
class TrainConfig:
    stage: str = "both"  # autoencoder, denoiser or both
    ae_steps: int = 2000
    steps: int = 4000
    batch_size: int = 8
    lr: float = 3e-4
    segment_seconds: float = 1.5
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    validate_every: int = 500
    valid_pairs: int = 4
    # Share of training crops whose input is the clean crop (identity pairs): on nearly clean
    # stems the model must change nothing.
    identity_pairs: float = 0.0
    # With denoiser.mixture: share of crops trained without their mixture (all zeros, as
    # `enhance` without --mix gives), so that the model also works on a stem alone.
    mixture_dropout: float = 0.2
    seed: int = 0
    num_workers: int = 0
    # Wall-clock budget per stage and invocation, in minutes (0: none). A stage that runs out
    # validates, checkpoints and ends as if finished; running the command again resumes it.
    max_minutes: float = 0.0


@dataclass(frozen=True)
class AdapterConfig:
    """A LoRA adapter: where it goes, its size, and its mild-to-severe curriculum."""

    # Rank 4 keeps an adapter under 5% of the base's size. On a model that reads the mixture,
    # LoRA on conv_in of both branches and the denoiser's conv_out is what opens the mixture's
    # zero-initialised channels and gain head, which is where adapters gain
    # (docs/research-log.md).
    rank: int = 4
    alpha: float = 4.0
    target_modules: tuple[str, ...] = ("conv1", "conv2", "conv_in", "conv_out")
    include_control: bool = True
    # Progressive targeting: training starts on pairs up to this severity and widens to all.
    curriculum_start: float = 0.4
    # Identity pairs for adapters (train.identity_pairs is the base's): off, because they
    # stop an adapter from learning its artifact at all.
    identity_pairs: float = 0.0
    # Stem types to train on (empty: all): a per-stem adapter, named `bleed-drums`. `auto`
    # gives it its artifact's weight on stems of those types (from --stem or the file name),
    # in place of the all-stem adapter. Worth it only where measured to win.
    stems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """Everything a trained model needs to rebuild itself; saved beside its weights."""

    sample_rate: int = 44100
    stft: StftConfig = field(default_factory=lambda: StftConfig(n_fft=1024, hop=256, compress=0.5))
    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    segment: SegmentConfig = field(
        default_factory=lambda: SegmentConfig(seconds=4.0, overlap=0.25, context=0.25)
    )


@dataclass(frozen=True)
class RefinerConfig:
    """Architecture of the predictive stage.

    Attributes:
        width: Feature width per sub-band.
        blocks: Time-convolution + band-attention blocks.
        kernel: Time-convolution kernel (frames); dilations double per block.
        heads: Attention heads across sub-bands.
        band_split: Sub-bands of the band table (:func:`~stemprover.audio.bands.split_bands`);
            off: 32 equal-width sub-bands (the ablation).
        mixture: Reads the mixture (else the stem alone).
        siblings: Reads the other stems' power (song mode).
        mask_prior: The mask on the mixture is a correction of a classical estimate
            (:func:`~stemprover.models.refiner.classical_estimate`), so the gate's first
            lesson is when to trust that estimate; else it starts at zero.
        prior: The classical estimate: ``"mwf"``, the multichannel Wiener filter across the
            stereo channels (over the stem and the other stems in song mode, over the stem
            and the rest of the mixture with the mixture alone); ``"mwf-rest"``, the same
            with what the stems leave out of the mixture as one more source in song mode;
            ``"power-share"``, the
            channel-by-channel power share (the 0.2.0 prior, for the ablation).
        canceller: Also reads the bleed canceller's coefficient and coherence
            (:func:`~stemprover.audio.canceller.bleed_canceller`) and has a fourth output, the
            share of the cancelled bleed to take out of the stem (off in weights trained before it).
        passes: Song mode's passes: the refiner and the song filter up to its level step run
            this many times, each on the previous pass's stems (so that every stem is refined
            beside cleaner siblings); the trust layer then blends the input stems with the
            last pass. 1: one pass (weights configured before session 39).
    """

    sample_rate: int = 44100
    stft: StftConfig = field(default_factory=lambda: StftConfig(n_fft=2048, hop=512, compress=1.0))
    width: int = 48
    blocks: int = 4
    kernel: int = 3
    heads: int = 4
    band_split: bool = True
    mixture: bool = True
    siblings: bool = True
    mask_prior: bool = True
    prior: str = "mwf"
    canceller: bool = False
    passes: int = 1


@dataclass(frozen=True)
class RefinerTrainConfig:
    """How ``stemprover refiner train`` trains the predictive stage.

    Attributes:
        identity: Share of crops whose input is the clean stem (nearly clean stems exist;
            on them the model must change nothing).
        mixture_dropout: Share of crops without the mixture (the stem-alone mode).
        sibling_dropout: Share of the crops with a mixture that go without the siblings.
        song_filter: Share of the song-mode batches trained through the song filter: all
            stems of one crop of a song (``batch_size // 4`` songs), each refined with the
            others, then the song Wiener filter and the level step, the loss on every stem
            after them, so the gate learns what the filter does with it (the filter's own
            Wiener estimate carries no gradient). 0: off (the shipped weights).
        harm_weight: Weight of the crop's loss in SNR below its input's (no-harm term).
        warmup: Share of the steps trained without the no-harm term and identity crops: the
            model first learns to correct, then where not to. With both from the start it
            settled on changing nothing (M·X = S: +0.00 dB on validation after 500 steps).
        snr_max_db: Soft cap of each crop's SNR (Wisdom et al. 2020's thresholded SNR).
        mrstft, phase: Weights of the multi-resolution STFT and phase-coherence terms.
        mel: Weight of the floored log-mel distance (``training.losses.mel_db_loss``: the
            bleed and the missing energy the bleedless and fullness measures count, every
            audible mel cell alike, quiet ones included). 0: off (the shipped weights).
        level: Weight of the crop's output level error (``|10·log10(Σy² / Σs²)|`` in tens of
            dB, floored 30 dB; ``training.losses.level_db_loss``): SNR's optimum is a shrunk
            estimate, below the reference's level wherever the stem is uncertain; this term
            asks for the reference's level instead (SI-SDR does not see it). 0: off (the
            shipped weights); at 1 and 3 it bought level for bleedless at a gain's rate
            (``experiments/level_loss``).
        batch_size: Stereo crops per batch (each channel is one item for the network; the
            classical estimate reads both).
        max_minutes: Wall-clock budget of one invocation (0: none); run again to resume.
        stop_at: End this invocation at this step (0: none), e.g. for equal-budget ablations
            on the full run's schedule; run again to resume.
        bf16: Run the network's matrix products in bfloat16 while training (autocast; the
            weights, the loss and validation stay float32): the step ~20% faster on a CPU
            with bfloat16 instructions (session 34).
    """

    steps: int = 3000
    batch_size: int = 4
    seconds: float = 2.0
    lr: float = 1e-3
    identity: float = 0.15
    mixture_dropout: float = 0.2
    sibling_dropout: float = 0.4
    song_filter: float = 0.0
    harm_weight: float = 3.0
    warmup: float = 0.4
    snr_max_db: float = 30.0
    mrstft: float = 0.3
    phase: float = 1.0
    mel: float = 0.0
    level: float = 0.0
    ema_decay: float = 0.995
    validate_every: int = 250
    checkpoint_every: int = 100
    valid_crops: int = 48
    seed: int = 0
    max_minutes: float = 0.0
    stop_at: int = 0
    bf16: bool = False


# -- the networks beside the enhancer (their own folders and training commands) --------


@dataclass(frozen=True)
class UmxConfig:
    """Architecture and training settings of the separator.

    Attributes:
        sample_rate: Rate the separator runs at (inputs are resampled to it and back).
        n_fft, hop: Its STFT.
        bandwidth_hz: Bins above this are not modelled (masks are zero there, as in Open-Unmix).
        hidden: Width of the LSTM stack.
        layers: BLSTM layers.
        core: The sequence model between the per-frame layers: ``"blstm"`` (Open-Unmix's) or
            ``"tcn"`` (dilated 1-D convolutions along time, as in Conv-TasNet's separator):
            a second architecture, so that the refiner can meet (or be held out from) more
            than one separator's fingerprint; ``"bandsplit"`` (per-band projections of the
            spectrum, GRUs along time and across bands, after BSRNN): a third.
        steps, batch_size, seconds, lr, seed: Training.
    """

    sample_rate: int = 44100
    n_fft: int = 1024
    hop: int = 256
    bandwidth_hz: float = 16000.0
    hidden: int = 128
    layers: int = 1
    core: str = "blstm"
    steps: int = 600
    batch_size: int = 16
    seconds: float = 2.0
    lr: float = 1e-3
    seed: int = 0

    @property
    def stft(self) -> StftConfig:
        return StftConfig(n_fft=self.n_fft, hop=self.hop, compress=1.0)

    @property
    def max_bin(self) -> int:
        return min(self.n_fft // 2 + 1, int(self.bandwidth_hz * self.n_fft / self.sample_rate) + 1)


@dataclass(frozen=True)
class DetectorConfig:
    """Network size and training settings."""

    # The bundled detector's recipe (bench/train_detector.sh, 128 songs). The earlier 16
    # channels, 1500 steps and 48 songs scored smear and holes 0.84 on the same held-out pairs.
    channels: int = 24
    steps: int = 3000
    batch_size: int = 16
    seconds: float = 1.5
    lr: float = 2e-3
    seed: int = 0
    inputs: int = 9  # feature maps read: the first ``inputs`` of features()
    # "batch": statistics over the training set. "group" (older detectors) normalises each
    # file by its own statistics, which erases file-wide cues such as a smear's lower
    # roughness everywhere (smear AUROC 0.57 with group norm).
    norm: str = "batch"


def from_dict(cls: type, data: dict, where: str = ""):
    """Build a (nested) frozen dataclass from a dict; unknown keys are errors."""
    if not isinstance(data, dict):
        raise StemProverError(f"config {where or 'root'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise StemProverError(f"unknown config keys {sorted(f'{where}{k}' for k in unknown)}")
    kwargs = {}
    for key, value in data.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            value = from_dict(kind, value, f"{where}{key}.")
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        elif kind in (int, float, bool, str):
            value = _coerce(value, kind, f"{where}{key}")
        elif value is not None and type(None) in typing.get_args(kind):  # optional scalar
            (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
            value = _coerce(value, inner, f"{where}{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise StemProverError(f"config {where or 'root'}: {err}") from None


def _coerce(value, kind: type, key: str):
    """Check a scalar against its annotation; numeric strings such as YAML's ``1e-3`` count."""
    if kind is float and isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise StemProverError(f"config {key}: expected {kind.__name__}, got {value!r}")


def to_dict(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _merge(base: dict, diff: dict) -> dict:
    out = dict(base)
    for k, v in diff.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _preset(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESETS / f"{name_or_path}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PRESETS.glob("*.yaml"))
        raise StemProverError(f"config {name_or_path!r} not found (presets: {', '.join(known)})")
    data = yaml.safe_load(path.read_text()) or {}
    parent = data.pop("base", None)
    return _merge(_preset(parent), data) if parent else data


def _parse_value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def load_config(name_or_path: str = "base", overrides: typing.Sequence[str] = ()) -> RunConfig:
    """A preset or YAML file (with ``base:`` inheritance) plus ``key.sub=value`` overrides."""
    data = _merge(to_dict(RunConfig()), _preset(name_or_path))
    return from_dict(RunConfig, _override(data, overrides))


def apply_overrides(configs: dict[str, typing.Any], overrides: typing.Sequence[str]) -> dict:
    """``{name: config}`` with ``name.key=value`` overrides applied; unknown keys are errors."""
    data = _override({k: to_dict(v) for k, v in configs.items()}, overrides)
    return {k: from_dict(type(v), data[k], f"{k}.") for k, v in configs.items()}


def _override(data: dict, overrides: typing.Sequence[str]) -> dict:
    for item in overrides:
        key, eq, value = item.partition("=")
        if not eq:
            raise StemProverError(f"override {item!r} must look like key.sub=value")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise StemProverError(f"unknown config key {key!r}")
            node = node[p]
        if leaf not in node:
            raise StemProverError(f"unknown config key {key!r}")
        node[leaf] = _parse_value(value)
    return data
