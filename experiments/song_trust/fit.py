"""Fit and score per-band blends of the input, the classical prior and the shipped output
(the statistics of ``collect.py``), exactly: a blend's error energy in a band is
``Σ|R|² − 2 w·b + wᵀ G w``, so every number here is the SDR a stem would get.

- ``input`` / ``prior`` / ``shipped``: one candidate everywhere.
- ``oracle stem``: the best single candidate per stem (the headroom of session 23).
- ``oracle band``: the best convex blend per stem and band (with the reference).
- ``trust``: a small network that reads each stem's reference-free band energies and its
  siblings' (mean and max over the song's other stems) and blends the three per band; trained
  on the ``--train`` sets, its step chosen on the first ``--eval`` set.

    python experiments/song_trust/fit.py --train t1.npz t2.npz --eval valid.npz calib.npz
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from stemprover.models.trust import STEM_TYPES as STEMS
from stemprover.models.trust import BlendNet, blend_si_sdr

BINS = ((5, "<5"), (10, "5-10"), (15, "10-15"), (np.inf, ">=15"))
EPS = 1e-10


def band_features(en: torch.Tensor, stems: list[int], seg: torch.Tensor):
    """(rows, B, E) energies (``collect.ENERGIES``), each row's stem type and segment ->
    the feature groups (rows, B, ·): own (in dB against the mixture's band, the mixture's
    band against its loudest, the gate), the segment's other stems' mean and max, the stem
    type, the band."""
    x = en[..., 3:4]
    db = lambda z: 10 * torch.log10((z + EPS) / (x + EPS)).clamp(-60, 20) / 20  # noqa: E731
    rel = db(en[..., [0, 1, 2, 4, 5, 6, 7, 8]])
    xdb = 10 * torch.log10((x + EPS) / (x.amax(1, keepdim=True) + EPS)).clamp(-80, 0) / 40
    own = torch.cat([rel, xdb, en[..., 9:10]], -1)
    rows, B = own.shape[:2]
    stem = torch.zeros(rows, B, len(STEMS))
    for i, k in enumerate(stems):
        stem[i, :, k] = 1
    band = torch.eye(B).expand(rows, B, B)
    sib_mean, sib_max = torch.zeros_like(own), torch.zeros_like(own)
    for s in seg.unique():
        idx = (seg == s).nonzero()[:, 0]
        f = own[idx]
        for n, i in enumerate(idx):
            o = torch.cat([f[:n], f[n + 1 :]])
            if len(o):
                sib_mean[i], sib_max[i] = o.mean(0), o.amax(0)
    return own, sib_mean, sib_max, stem, band


class Set:
    quality_oracle = False
    quality_noise = 0.0  # dB of Gaussian error added to the oracle, per stem

    def __init__(self, paths):
        parts = [np.load(p) for p in paths]
        self.gram, self.cross, self.ref, en, keys = [], [], [], [], []
        self.seg = []
        ids, stems, prods, inp, ship = [], [], [], [], []
        seg = 0
        for d in parts:
            off = len(ids)
            prev_key, prev_song = -1, None
            for k in d["key"]:
                song = "-".join(str(d["ids"][k]).split("-")[:2])
                if song != prev_song or k <= prev_key:
                    seg += 1
                prev_key, prev_song = k, song
                self.seg.append(seg)
                keys.append(k + off)
            for a in ("gram", "cross", "ref"):
                getattr(self, a).append(d[a])
            en.append(d["energies"])
            ids += list(d["ids"])
            stems += list(d["stems"])
            prods += list(d["producers"])
            inp += list(d["input_db"])
            ship += list(d["shipped_change"])
        t = lambda a: torch.tensor(np.concatenate(a))  # noqa: E731
        self.gram, self.cross, self.ref = t(self.gram), t(self.cross), t(self.ref)
        self.key = torch.tensor(keys)
        self.seg = torch.tensor(self.seg)
        self.ids, self.stems, self.prods = ids, stems, prods
        self.input_db, self.shipped_si = np.array(inp), np.array(ship)
        self._stems, self._input_db = stems, inp
        self._input_db_rows = [inp[k] for k in self.key.tolist()]
        self.feats = self.features(t(en))
        self.n = len(ids)

    def features(self, en: torch.Tensor) -> torch.Tensor:
        """(rows, B, E) energies -> (rows, B, D): each in dB against the mixture's band, the
        mixture's band against its loudest, the gate; the stem type; the band; then the song's
        other stems' (mean, max over the segment)."""
        stems = [STEMS.index(self._stems[k]) for k in self.key.tolist()]
        own, sib_mean, sib_max, stem, band = band_features(en, stems, self.seg)
        rows, B = own.shape[:2]
        feats = [own, sib_mean, sib_max, stem, band]
        if Set.quality_oracle:  # the stem's input SI-SDR (uses the reference: headroom only)
            q = torch.tensor([self._input_db[k] for k in self.key.tolist()])
            gen = torch.Generator().manual_seed(len(q))  # one noise draw per stem, fixed
            q = (
                q
                + Set.quality_noise
                * torch.randn(len(self._input_db), generator=gen, dtype=q.dtype)[self.key]
            ) / 20
            feats.append(q[:, None, None].expand(rows, B, 1).double())
        self.quality_inputs = torch.cat([own.flatten(1), sib_mean.flatten(1), stem[:, 0]], -1)
        return torch.cat(feats, -1).float()

    safe: torch.Tensor | None = None  # rows left at the shipped output (--trust-below)

    def blend(self, model) -> torch.Tensor:
        """The trust model's weights, the shipped output on ``safe`` rows."""
        w = model(self.feats)
        if self.safe is None:
            return w
        keep = torch.zeros_like(w)
        keep[..., 2] = 1
        return torch.where(self.safe[:, None, None], keep, w)

    def score(self, w: torch.Tensor) -> torch.Tensor:
        """SI-SDR (dB) per (song, stem) of blend weights ``w`` (rows, B, 3), over the
        stem's STFT segments (the library's ``blend_si_sdr``)."""
        return blend_si_sdr(w, self.gram, self.cross, self.ref, self.key, self.n)


SEVERITIES: dict[str, np.ndarray] = {}  # pair id -> the detector's severities (--severities)
SEVERITIES_ONLY = False


def add_estimated_quality(tr: Set, evs: list[Set], lam: float) -> None:
    """Ridge regression of each segment's stem input SI-SDR (/20) from its band features,
    fitted on ``tr``; the estimate is appended as one more feature to every set."""
    x = tr.quality_inputs.double()
    if SEVERITIES:
        for s in [tr, *evs]:
            sev = torch.tensor(np.stack([SEVERITIES[s.ids[k]] for k in s.key.tolist()])).double()
            s.quality_inputs = sev if SEVERITIES_ONLY else torch.cat([s.quality_inputs, sev], 1)
        x = tr.quality_inputs.double()
    mu, sd = x.mean(0), x.std(0) + 1e-6
    y = torch.tensor([tr._input_db_rows[i] for i in range(len(tr.key))]).double() / 20
    z = torch.cat([(x - mu) / sd, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    w = torch.linalg.solve(z.T @ z + lam * torch.eye(z.shape[1], dtype=x.dtype), z.T @ y)
    for s in [tr, *evs]:
        zs = torch.cat(
            [(s.quality_inputs.double() - mu) / sd, torch.ones(len(s.key), 1, dtype=x.dtype)], 1
        )
        q = (zs @ w).clamp(-1, 2)
        truth = torch.tensor(s._input_db_rows).double() / 20
        r = np.corrcoef(q.numpy(), truth.numpy())[0, 1]
        print(
            f"quality estimate: r = {r:.2f}, rms error {20 * (q - truth).pow(2).mean().sqrt():.1f} dB ({s.n} stems)"
        )
        s.feats = torch.cat(
            [s.feats, q[:, None, None].expand(len(q), s.feats.shape[1], 1).float()], -1
        )


def one_hot(s: Set, k: int) -> torch.Tensor:
    w = torch.zeros(len(s.key), s.ref.shape[1], 3, dtype=torch.float64)
    w[..., k] = 1
    return w


def oracle_band(s: Set) -> torch.Tensor:
    """Best convex blend per row and band (projected gradient on the exact quadratic)."""
    w = one_hot(s, 2).clone()
    lr = 0.5 / (torch.diagonal(s.gram, dim1=-2, dim2=-1).sum(-1, keepdim=True) + EPS)
    for _ in range(300):
        g = 2 * torch.einsum("rbkl,rbl->rbk", s.gram, w) - 2 * s.cross
        w = project_simplex(w - lr * g)
    return w


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(-1) - 1
    k = torch.arange(1, v.shape[-1] + 1, dtype=v.dtype)
    cond = u - css / k > 0
    rho = cond.to(v.dtype).cumsum(-1).argmax(-1, keepdim=True)
    theta = css.gather(-1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0)


class Trust(BlendNet):
    """The library's blend network (``hidden`` 0: linear), or one blend per stem."""

    per_stem = False

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        z = self.net(f)
        if self.per_stem:  # one blend for all the stem's bands
            z = z.mean(1, keepdim=True).expand_as(z)
        return z.softmax(-1)


def report(s: Set, sdr: torch.Tensor, base: torch.Tensor) -> dict:
    d = (sdr - base).numpy()
    out = {"all": (d.mean(), np.mean(d < -0.5))}
    groups = defaultdict(list)
    for i, db in enumerate(s.input_db):
        groups[next(n for top, n in BINS if db < top)].append(i)
    for n in ("<5", "5-10", "10-15", ">=15"):
        if groups[n]:
            out[n] = (d[groups[n]].mean(), np.mean(d[groups[n]] < -0.5))
    return out


def table(rows: dict, n: int, title: str) -> None:
    cols = ("all", "<5", "5-10", "10-15", ">=15")
    print(f"\n### {title} ({n} stems; SI-SDR change over the input, dB, share losing > 0.5 dB)\n")
    print("| system | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in rows.items():
        print(
            f"| {name} | "
            + " | ".join(f"{r[c][0]:+.2f} ({r[c][1]:.0%})" if c in r else "" for c in cols)
            + " |"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--eval", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None)
    ap.add_argument("--per-stem", action="store_true")
    ap.add_argument(
        "--harm", type=float, default=0.0, help="weight of the loss below the shipped output"
    )
    ap.add_argument(
        "--quality-ridge",
        type=float,
        default=0.0,
        help="also read an estimate of each stem's input SI-SDR: ridge regression on the "
        "segment's band features, fitted on the training sets (this L2 weight)",
    )
    ap.add_argument(
        "--severities",
        nargs="*",
        default=[],
        help="severities.py outputs: the detector's severities join the quality estimate's inputs",
    )
    ap.add_argument("--severities-only", action="store_true")
    ap.add_argument("--quality-pred", help="quality.py train --predict output: one more feature")
    ap.add_argument(
        "--trust-below",
        type=float,
        default=np.inf,
        help="with --quality-pred: stems estimated at or above this SI-SDR (dB) keep the "
        "shipped output",
    )
    ap.add_argument("--quality-noise", type=float, default=0.0, help="dB of error on the oracle")
    ap.add_argument(
        "--quality-oracle", action="store_true", help="also read each stem's true input SI-SDR"
    )
    args = ap.parse_args()
    Set.quality_oracle = args.quality_oracle
    Set.quality_noise = args.quality_noise
    global SEVERITIES_ONLY
    SEVERITIES_ONLY = args.severities_only
    for p in args.severities:
        d = np.load(p)
        SEVERITIES.update(zip(map(str, d["ids"]), d["sev"], strict=True))
    torch.manual_seed(args.seed)
    tr = Set(args.train)
    evs = [Set([p]) for p in args.eval]
    if args.quality_pred:  # quality.py's estimates (dB / 20), as the oracle is read
        d = np.load(args.quality_pred)
        pred = dict(zip(map(str, d["ids"]), d["sev"][:, 0], strict=True))
        for s in [tr, *evs]:
            q = torch.tensor([float(pred[s.ids[k]]) for k in s.key.tolist()])
            truth = torch.tensor(s._input_db_rows) / 20
            r = np.corrcoef(q.numpy(), truth.numpy())[0, 1]
            print(
                f"quality estimate: r = {r:.2f}, rms error {20 * (q - truth).pow(2).mean().sqrt():.1f} dB ({s.n} stems)"
            )
            s.feats = torch.cat(
                [s.feats, q[:, None, None].expand(len(q), s.feats.shape[1], 1).float()], -1
            )
            s.safe = q * 20 >= args.trust_below  # estimated good: keep the shipped output
    if args.quality_ridge:
        add_estimated_quality(tr, evs, args.quality_ridge)
    model = Trust(tr.feats.shape[-1], args.hidden)
    model.per_stem = args.per_stem
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=args.wd)
    base_tr = tr.score(one_hot(tr, 0))
    ship_tr = tr.score(one_hot(tr, 2))
    best = (-np.inf, 0, None)
    for step in range(args.steps + 1):
        if step % 100 == 0:
            with torch.no_grad():
                v = evs[0]
                gain = (v.score(v.blend(model)) - v.score(one_hot(v, 0))).mean().item()
                tr_gain = (tr.score(tr.blend(model)) - base_tr).mean().item()
                rest = [
                    (v.score(v.blend(model)) - v.score(one_hot(v, 0))).mean().item()
                    for v in evs[1:]
                ]
            if gain > best[0]:
                best = (gain, step, {k: t.clone() for k, t in model.state_dict().items()})
            print(
                f"step {step}: train {tr_gain:+.3f} eval {gain:+.3f} "
                + " ".join(f"{r:+.3f}" for r in rest),
                flush=True,
            )
        if step == args.steps:
            break
        sdr = tr.score(tr.blend(model))
        loss = (
            -(sdr - base_tr).clamp(max=30).mean() + args.harm * (ship_tr - sdr).clamp_min(0).mean()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"chosen: step {best[1]} ({best[0]:+.3f} on {args.eval[0]})")
    model.load_state_dict(best[2])
    if args.save:
        torch.save(model.state_dict(), args.save)
    for s, path in [(tr, "train"), *zip(evs, args.eval, strict=True)]:
        base = s.score(one_hot(s, 0))
        rows = {}
        for k, name in enumerate(("input", "prior", "shipped")):
            rows[name] = report(s, s.score(one_hot(s, k)), base)
        stem_best = torch.stack([s.score(one_hot(s, k)) for k in range(3)]).amax(0)
        rows["oracle stem"] = report(s, stem_best, base)
        rows["oracle band"] = report(s, s.score(oracle_band(s)), base)
        with torch.no_grad():
            rows["trust"] = report(s, s.score(s.blend(model)), base)
        table(rows, s.n, str(path))
        ship = s.score(one_hot(s, 2)) - base
        print(
            f"(shipped SDR change here {ship.mean():+.2f}; time-domain SI-SDR change {s.shipped_si.mean():+.2f})"
        )


if __name__ == "__main__":
    main()
