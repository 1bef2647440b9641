import torch
import torch.nn.functional as F

from stemprover.audio.canceller import bleed_canceller, moving_mean


def test_bleed_canceller_finds_the_other_instruments_leaking_into_a_stem():
    g = torch.Generator().manual_seed(7)

    def noise():
        return torch.complex(*torch.randn((2, 4, 129, 200), generator=g))

    own, others = noise(), noise()
    mix = own + others

    def snr(est):
        return 10 * torch.log10(own.abs().pow(2).sum() / (est - own).abs().pow(2).sum())

    leaky = own + 0.3 * others
    beta, rho = bleed_canceller(leaky, mix)
    assert beta.abs().max() <= 1 + 1e-6 and rho.min() >= 0 and rho.max() <= 1
    assert torch.allclose(beta.real.mean(), torch.tensor(0.3 / 0.7), atol=0.02)
    assert snr(leaky - beta * (mix - leaky)) > snr(leaky) + 5  # 10.5 -> ~17.5 dB
    # a clean stem: coherence at the window's noise floor; in phase with the mixture: ~1
    assert bleed_canceller(own, mix)[1].mean() < 0.05 < rho.mean()
    assert bleed_canceller(0.6 * mix, mix)[1].min() > 0.99
    # and nothing without a mixture (X = S)
    beta, rho = bleed_canceller(own, own)
    assert beta.abs().max() == 0 and rho.max() == 0


def test_moving_mean_is_a_centred_mean_over_the_frames_that_exist():
    a = torch.rand(3, 5, 40, dtype=torch.float64) * torch.logspace(0, -8, 40, dtype=torch.float64)
    want = F.avg_pool1d(a, 7, stride=1, padding=3, count_include_pad=False)
    got = moving_mean(a, 7)
    assert got.shape == a.shape
    assert torch.allclose(got, want, rtol=1e-6, atol=0)  # over an 80 dB range
    assert torch.allclose(got[..., 0], a[..., :4].mean(-1))  # 4 frames exist at the edge
