import numpy as np
import torch

from stemprover.evaluation.metrics import si_sdr
from stemprover.training.losses import si_sdr_loss


def test_si_sdr_loss_is_minus_the_metric_and_skips_silent_references():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((3, 4000))
    est = ref + 0.3 * rng.standard_normal((3, 4000))
    ref[2] = 0.0  # silent: no SI-SDR, left out
    want = -np.mean([si_sdr(ref[k : k + 1], est[k : k + 1]) for k in range(2)])
    got = si_sdr_loss(torch.from_numpy(est), torch.from_numpy(ref))
    assert abs(float(got) - want) < 1e-6
    assert float(si_sdr_loss(torch.from_numpy(est[2:]), torch.from_numpy(ref[2:]))) == 0.0


def test_si_sdr_loss_gradient_moves_the_estimate_towards_the_reference():
    ref = torch.sin(torch.linspace(0, 60, 2000))[None]
    est = (ref + 0.5 * torch.cos(torch.linspace(0, 300, 2000))[None]).requires_grad_()
    loss = si_sdr_loss(est, ref)
    loss.backward()
    with torch.no_grad():
        stepped = est - 0.01 * est.grad
    assert float(si_sdr_loss(stepped, ref)) < loss.item()


def test_si_sdr_cap_bounds_each_item_and_leaves_bad_estimates_alone():
    rng = np.random.default_rng(1)
    ref = torch.from_numpy(rng.standard_normal((2, 4000)))
    est = ref.clone()
    est[0] += 1e-4 * torch.from_numpy(rng.standard_normal(4000))  # ~80 dB
    est[1] += torch.from_numpy(rng.standard_normal(4000))  # ~0 dB
    capped = si_sdr_loss(est[:1], ref[:1], max_db=30.0)
    assert -30.0 <= float(capped) < -29.9
    bad, bad_capped = si_sdr_loss(est[1:], ref[1:]), si_sdr_loss(est[1:], ref[1:], max_db=30.0)
    assert abs(float(bad) - float(bad_capped)) < 0.01


def test_snr_loss_counts_the_output_level_that_si_sdr_ignores():
    rng = np.random.default_rng(2)
    ref = torch.from_numpy(rng.standard_normal((2, 4000)))
    quiet = 0.5 * ref  # right shape, 6 dB too quiet
    assert float(si_sdr_loss(quiet, ref, max_db=60.0)) < -59.9  # SI-SDR: perfect
    snr = si_sdr_loss(quiet, ref, scale_invariant=False)
    assert abs(float(snr) + 10 * np.log10(1 / 0.25)) < 1e-6  # SNR: 6.02 dB
    # Gradient descent on it raises the level towards the reference's.
    est = quiet.clone().requires_grad_()
    si_sdr_loss(est, ref, scale_invariant=False).backward()
    with torch.no_grad():
        stepped = est - 1e-3 * est.grad
    assert float((stepped * ref).sum() / (ref * ref).sum()) > 0.5


def test_mel_db_loss_counts_missing_and_extra_energy_alike_down_to_its_floor():
    from stemprover.evaluation.metrics import bleed_and_fullness
    from stemprover.training.losses import mel_db_loss

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 1025, 30, generator=g, dtype=torch.complex64)
    assert float(mel_db_loss(ref, ref, 2048, 44100)) == 0.0
    half, double = mel_db_loss(0.5 * ref, ref, 2048, 44100), mel_db_loss(2 * ref, ref, 2048, 44100)
    torch.testing.assert_close(half, torch.tensor(0.60206), rtol=1e-4, atol=1e-4)  # 6.02 dB / 10
    torch.testing.assert_close(half, double)  # missing and extra energy weigh the same
    # nothing at all costs at most the floor (80 dB under the reference's peak), not -inf
    silent = float(mel_db_loss(torch.zeros_like(ref), ref, 2048, 44100))
    assert 0 < silent <= 8.0
    # a quiet band counts by its dB, not its energy: emptying the top 7 of 80 mel bands,
    # 60 dB down (a millionth of the energy), costs ~20 dB of floor-clipped gap in them
    quiet = ref.clone()
    quiet[:, 600:] *= 1e-3
    emptied = quiet.clone()
    emptied[:, 600:] = 0
    assert float(mel_db_loss(emptied, quiet, 2048, 44100)) > 0.1
    # and it is what the metric counts: both measures perfect when the loss is 0
    x = np.random.default_rng(0).standard_normal((1, 44100))
    assert bleed_and_fullness(x, x, 44100) == (100.0, 100.0)


def test_level_db_loss_is_the_output_level_error_in_tens_of_db():
    from stemprover.evaluation.metrics import level_db
    from stemprover.training.losses import level_db_loss

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(3, 4000, generator=g)
    assert float(level_db_loss(ref, ref)) == 0.0
    # SI-SDR's blind spot: a quieter copy is a perfect estimate up to scale, but costs its level
    quieter, louder = level_db_loss(0.5 * ref, ref), level_db_loss(2 * ref, ref)
    # (the 30 dB floor takes ~0.01 dB off a 6 dB error)
    torch.testing.assert_close(quieter, torch.tensor(0.60206), rtol=0, atol=2e-3)
    torch.testing.assert_close(quieter, louder, rtol=0, atol=2e-3)  # both ways weigh alike
    # per item, as the metric measures a stem: one item 10 dB down of three is 10/3 dB
    mixed = ref.clone()
    mixed[0] *= 10 ** (-10 / 20)
    torch.testing.assert_close(level_db_loss(mixed, ref), torch.tensor(1 / 3), rtol=0, atol=2e-3)
    assert abs(level_db(ref[0].numpy()[None], mixed[0].numpy()[None]) + 10) < 1e-3
    # a silent output costs the floor (30 dB), with a finite gradient
    silent = torch.zeros_like(ref, requires_grad=True)
    cost = level_db_loss(silent, ref)
    cost.backward()
    torch.testing.assert_close(cost, torch.tensor(3.0), rtol=1e-3, atol=1e-3)
    assert torch.isfinite(silent.grad).all()
