"""StemProverModel: autoencoder + control branch + latent denoiser + diffusers sampling.

Implements :class:`~stemprover.models.base.SpectralModel`, so the enhance pipeline drives it
like any other model. Saved as ``config.json`` + ``model.safetensors``; never pickle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from stemprover.config import ModelConfig, from_dict, to_dict
from stemprover.diffusion.schedulers import make_scheduler
from stemprover.errors import StemProverError
from stemprover.models import lora
from stemprover.models.autoencoder import SpecAutoencoder
from stemprover.models.control import ControlBranch
from stemprover.models.denoiser import LatentDenoiser
from stemprover.models.serialization import (
    WEIGHTS_FILE,
    load_into,
    load_state,
    read_meta,
    save_module,
)


@dataclass(frozen=True)
class Sampling:
    """How :meth:`StemProverModel.enhance` samples.

    Attributes:
        steps: Denoising steps; 0 is the predictive single pass.
        strength: How far towards noise the condition's latent is taken first (img2img).
        seed: Seeds the noise, from the start of each input; the same seed gives the same output.
        scheduler: ``ddim`` or ``dpm++``.
        cache_control: Compute control features once per segment (off only to measure it).
    """

    steps: int = 4
    strength: float = 0.4
    seed: int = 0
    scheduler: str = "ddim"
    cache_control: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise StemProverError(f"--steps must be >= 0, got {self.steps}")
        if not 0 < self.strength <= 1:
            raise StemProverError(f"--strength must be in (0, 1], got {self.strength}")


KIND = "stemprover-latent-diffusion"  # config.json "kind" of this model family


class StemProverModel(nn.Module):
    """The phase-aware latent diffusion enhancer.

    Args:
        cfg: Architecture and defaults.
        vae: Optional diffusers ``AutoencoderKL`` to start from (``--base-model``).
    """

    def __init__(self, cfg: ModelConfig, vae=None) -> None:
        super().__init__()
        self.config = cfg
        self.stft = cfg.stft
        self.sample_rate = cfg.sample_rate
        self.autoencoder = SpecAutoencoder(cfg.autoencoder, vae)
        latent = self.autoencoder.latent_channels
        bins = cfg.stft.n_fft // 2
        self.multiple = self.autoencoder.factor * 2 ** (len(cfg.denoiser.block_out_channels) - 1)
        if bins % self.multiple:
            raise StemProverError(
                f"n_fft/2 = {bins} must divide by the total downsampling {self.multiple}"
            )
        rows = bins // self.autoencoder.factor
        self.denoiser = LatentDenoiser(cfg.denoiser, latent, rows, cfg.stft.n_fft, cfg.sample_rate)
        self.control = ControlBranch(cfg.denoiser, latent)
        # The model's recommended settings; each call may pass others (sampling=...).
        self.default_sampling = Sampling(
            cfg.diffusion.steps, cfg.diffusion.strength, scheduler=cfg.diffusion.scheduler
        )

    def predict_residual(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        control: list[torch.Tensor],
        cond: torch.Tensor,
        mix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The clean residual ``r0 = z_clean − z_cond`` from its noised version.

        Diffusion runs over the residual between the clean and the artifacted latent (as in
        residual-shifting restoration models, Yue et al. 2023, "ResShift"), so the clean
        latent is ``z_cond + r0``. With the denoiser's last layer at zero, ``r0 = 0``: the
        untrained model gives its input back, and training only has to learn corrections.

        With ``denoiser.output == "gain"`` the residual is ``tanh(a/2)·z_cond + b``: a gain
        in (0, 2) on each element of the condition's latent plus a correction. For the patch
        autoencoder this is a mask on real and imaginary parts, the form in which
        enhancement networks learn fastest (Williamson et al. 2016, complex ratio masks);
        ``b`` lets it add what the condition lacks.

        ``denoiser.output == "log_gain"`` widens the gain to ``exp(tanh(a/2)·ln G)`` in
        ``(1/G, G)`` (``G = denoiser.max_gain``), so that deep holes can be filled.

        ``denoiser.mixture_gain`` adds ``tanh(c/2)·z_mix``: a share in (−1, 1) of each element
        of the mixture's latent (``mix``; ``None``, an absent mixture, adds nothing).

        Shape: x_t, cond, mix ``(B, L, F, N)``, t ``(B,)`` or ``(1,)`` -> ``(B, L, F, N)``.
        """
        out = self.denoiser(x_t, t, control, cond)
        head = self.config.denoiser
        if head.output == "residual":
            return out
        logits, correction, *mix_logits = out.chunk(3 if head.mixture_gain else 2, dim=1)
        if mix_logits and mix is not None:
            correction = correction + torch.tanh(mix_logits[0] / 2) * mix
        if head.output == "log_gain":
            gain = torch.exp(torch.tanh(logits / 2) * math.log(head.max_gain))
            return (gain - 1) * cond + correction
        return torch.tanh(logits / 2) * cond + correction

    # -- inference --------------------------------------------------------------------

    def sampling_options(self, **changes) -> Sampling:
        """The default sampling with ``changes`` (``None`` values keep the default), checked.

        Raises:
            StemProverError: steps the scheduler cannot take at that strength.
        """
        sampling = replace(
            self.default_sampling, **{k: v for k, v in changes.items() if v is not None}
        )
        # The scheduler spreads ceil(steps / strength) steps over the trained timesteps
        # (see sample): more than those it cannot take.
        T = self.config.diffusion.train_timesteps
        if math.ceil(sampling.steps / sampling.strength) > T:
            limit = math.floor(sampling.strength * T)
            while limit > 0 and math.ceil(limit / sampling.strength) > T:
                limit -= 1
            raise StemProverError(
                f"--steps {sampling.steps} is more than this model can take at --strength "
                f"{sampling.strength:g} (at most {limit})"
            )
        return sampling

    @property
    def uses_mixture(self) -> bool:
        """Whether the model has the mixture's inputs (``denoiser.mixture``); training feeds
        them. Whether a mixture can change the output now is :attr:`reads_mixture`."""
        return self.config.denoiser.mixture

    @property
    def reads_mixture(self) -> bool:
        """Whether a mixture can change the output: the model has the mixture's inputs and
        they (or the mixture's gain head) are trained, or adapters, which may open them, are
        attached. The bundled base alone has them at zero, so ``--adapters none`` need not
        read, resample and encode a ``--mix`` file."""
        if not self.uses_mixture:
            return False
        if lora.attached(self):  # loaded for inference or being trained
            return True
        inputs = self.control.conv_in.weight[:, self.control.per_input :]
        latent = self.autoencoder.latent_channels
        head = self.denoiser.conv_out.weight[2 * latent :]  # empty without mixture_gain
        return bool(inputs.abs().amax() > 0) or bool(head.numel() and head.abs().amax() > 0)

    @torch.no_grad()
    def enhance(
        self,
        spec: torch.Tensor,
        mix: torch.Tensor | None = None,
        *,
        sampling: Sampling | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Shape: spec, mix ``(B, F, N)`` complex (compressed) -> ``(B, F, N)``.

        Args:
            mix: The mixture's spectrogram, same shape; used by models trained with it.
            sampling: How to sample (:meth:`sampling_options`); ``None``: the defaults.
            generator: Draws the noise; ``None``: a new one seeded with ``sampling.seed``.
                The pipeline passes one per input file, so that segments continue its noise.
        """
        sampling = sampling or self.default_sampling
        if generator is None:
            generator = torch.Generator().manual_seed(sampling.seed)
        mix_latent = None if mix is None or not self.reads_mixture else self.encode(mix)
        return self.through_latent(
            spec, lambda cond: self.sample(cond, mix_latent, sampling, generator)
        )

    def encode(self, spec: torch.Tensor) -> torch.Tensor:
        """Pad to the frame multiple and encode. Shape: ``(B, F, N)`` -> ``(B, L, F', N')``."""
        padded = nn.functional.pad(spec, (0, (-spec.shape[-1]) % self.multiple))
        return self.autoencoder.encode(padded.to(torch.complex64))

    def through_latent(self, spec: torch.Tensor, latent_fn) -> torch.Tensor:
        """Pad to the frame multiple, encode, apply ``latent_fn``, decode, crop.

        Shape: ``(B, F, N)`` complex -> ``(B, F, N)``, same dtype.
        """
        latent = latent_fn(self.encode(spec))  # (B, L, F', N')
        return self.autoencoder.decode(latent)[..., : spec.shape[-1]].to(spec.dtype)

    def sample(
        self,
        cond: torch.Tensor,
        mix: torch.Tensor | None,
        opts: Sampling,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Sample the clean latent given the condition's (and the mixture's).

        The residual is noised to the timestep ``strength`` selects and denoised in ``steps``
        steps (``0``: one predictive pass at that timestep).

        Shape: cond, mix ``(B, L, F, N)`` -> ``(B, L, F, N)``.
        """
        T = self.config.diffusion.train_timesteps
        control = self.control(cond, mix)
        noise = torch.randn(cond.shape, generator=generator).to(cond)
        zero = torch.zeros_like(cond)  # the residual starts from "nothing to fix"
        sched = make_scheduler(self.config.diffusion, opts.scheduler)
        if opts.steps == 0:
            t = torch.tensor([round(opts.strength * (T - 1))], device=cond.device)
            x = sched.add_noise(zero, noise, t)
            return cond + self.predict_residual(x, t, control, cond, mix)
        total = max(opts.steps, math.ceil(opts.steps / opts.strength))
        sched.set_timesteps(total, device=cond.device)
        timesteps = sched.timesteps[-opts.steps :]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(total - opts.steps)
        x = sched.add_noise(zero, noise, timesteps[:1])
        r0 = zero
        for t in timesteps:
            ctrl = control if opts.cache_control else self.control(cond, mix)
            r0 = self.predict_residual(x, t.reshape(1), ctrl, cond, mix)
            x = sched.step(r0, t, x).prev_sample
        return cond + r0

    # -- persistence ------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``folder``."""
        return save_module(self, folder, KIND, to_dict(self.config))

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> StemProverModel:
        """Rebuild a saved model; refuses other kinds, versions and pickles."""
        folder = Path(folder)
        meta = read_meta(folder, (KIND,))
        model = cls(from_dict(ModelConfig, meta["config"]))
        load_into(model, load_state(folder / WEIGHTS_FILE, str(device)), folder / WEIGHTS_FILE)
        return model.eval()


class AutoencoderRoundTrip:
    """The autoencoder alone, encode then decode: the ceiling of any output of the model."""

    def __init__(self, model: StemProverModel) -> None:
        self.model, self.stft, self.sample_rate = model, model.stft, model.sample_rate

    @torch.no_grad()
    def enhance(self, spec: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.through_latent(spec, lambda latent: latent)

    def to(self, device: torch.device) -> AutoencoderRoundTrip:
        self.model.to(device)
        return self
