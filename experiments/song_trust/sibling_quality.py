"""Does the blend need to know how good the song's other stems are? (session 26)

When every stem of a song is poor the multichannel Wiener prior is worse than all of them
(a calibration song: vocals input 3.9 dB, prior -9.2) and the blend still gives it weight:
its features hold the stem's own quality estimate, not its siblings'. Here both blend
networks are retrained in the exact proxy with two more features per row, the siblings'
mean and lowest pooled estimate (/20), against the same networks without them.

    python experiments/song_trust/sibling_quality.py --cache runs/trust/cache \
        --trust src/stemprover/weights/default/trust
"""

from __future__ import annotations

import torch
from more_songs import cli, widened

from stemprover.training.trust import BlendStats

TAGS = ("own estimate only (shipped)", "+ siblings' estimates")


def with_siblings(st: BlendStats) -> BlendStats:
    """``st`` with the siblings' mean and lowest quality estimate appended to each row's
    features (a segment's rows are its stems, consecutive, keys rising)."""
    key, q = st.key.tolist(), st.quality.double()
    extra = torch.zeros(len(key), 2, dtype=st.feats.dtype)
    start = 0
    for i in range(1, len(key) + 1):
        if i == len(key) or key[i] <= key[i - 1]:  # a segment's rows end here
            seg = q[start:i]
            for j in range(start, i):
                others = torch.cat([seg[: j - start], seg[j - start + 1 :]])
                if len(others):
                    extra[j] = torch.stack([others.mean(), others.min()]).to(extra.dtype) / 20
            start = i
    st.feats = torch.cat([st.feats, extra[:, None].expand(-1, st.feats.shape[1], -1)], -1)
    return st


def main() -> None:
    widened(cli(__doc__), lambda st, _names: with_siblings(st), TAGS)


if __name__ == "__main__":
    main()
