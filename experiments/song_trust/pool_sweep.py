"""Session 25's choice of how song mode reads the quality estimate (README, "In the library"):
the blend network retrained on blend statistics whose rows carry each 4 s segment's own
estimate (``stemprover trust train`` as of 2c3c9a7, before pooling), with that estimate
replaced by the stem's pooled one (``mean``, or ``wmean``: weighted by the stem's energy in
each segment) or kept (``segment``), at a threshold; blend step chosen on validation,
calibration reported beside it, both as the change over the level step's output per input bin.

    python experiments/song_trust/pool_sweep.py wmean 8    # needs 2c3c9a7's cache files
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from stemprover.training.trust import BlendStats, TrustTrainConfig, _trust_with_quality, train_blend

TR = [
    "runs/trust/cache/blend-trust_sm-train.npz",
    "runs/trust/cache/blend-trust_tcn-train.npz",
    "runs/trust/cache/blend-trust_bs-train.npz",
]
VA = ["runs/trust/cache/blend-v3_mixed-valid.npz", "runs/trust/cache/blend-bs_train-valid.npz"]
CA = ["/tmp/trust/blend-calib.npz"]


def agg(st, how):
    if how == "segment":
        return st
    n = st.n
    q = st.quality.double()
    if how == "mean":
        s = torch.zeros(n, dtype=q.dtype).index_add(0, st.key, q) / torch.bincount(
            st.key, minlength=n
        )
    elif how == "wmean":
        w = st.gram[..., 0, 0].sum(-1)
        s = torch.zeros(n, dtype=q.dtype).index_add(0, st.key, q * w) / torch.zeros(
            n, dtype=q.dtype
        ).index_add(0, st.key, w)
    elif how == "median":
        s = torch.tensor([q[st.key == i].median() for i in range(n)])
    qr = s[st.key].float()
    st.quality = qr
    st.feats = st.feats.clone()
    st.feats[..., -1] = qr[:, None] / 20
    return st


how = sys.argv[1]
below = float(sys.argv[2])
tr, va = agg(BlendStats(TR), how), agg(BlendStats(VA), how)
layer = _trust_with_quality(Path("runs/trust"))
layer.config = replace(layer.config, below=below)
best = train_blend(layer, tr, va, TrustTrainConfig(), lambda m: None)


def rep(va, tag):
    base = va.score(va.one_hot(0))
    with torch.no_grad():
        t = va.score(va.weights(layer)) - base
    y = va.score(va.one_hot(2)) - base
    bins = np.digitize(va.input_db, [5, 10, 15])
    cells = [
        f"{t[bins == b].mean() - y[bins == b].mean():+.2f} ({(t[bins == b] - y[bins == b] < -0.5).float().mean():.0%})"
        for b in range(4)
    ]
    print(
        f"{tag} {how} below {below}: step {best['step']} all {t.mean() - y.mean():+.3f} (Y {y.mean():+.2f}) | "
        + " | ".join(cells),
        flush=True,
    )


rep(va, "valid")
rep(agg(BlendStats(CA), how), "calib")
