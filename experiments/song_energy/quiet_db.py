"""Any ``stemprover`` command with the level step's quiet-bin threshold set to another value
(session 27): ``refiner.QUIET_DB``, the dB below a stem's loudest bin under which a bin is
not attenuated below its input (``keep_quiet``, ``song_level``, and the trust layer's output).

    python experiments/song_energy/quiet_db.py 45 evaluate --pairs data/calib_sm --split valid \
        --out /tmp/ev/calib_sm_q45 --model default --systems input

The threshold is bound as each function's default when the module loads, so the defaults are
replaced here, before the command runs (the trust layer keeps its weights: they were trained
on the level step's output at the threshold of their time).
"""

from __future__ import annotations

import sys

from stemprover.cli import main
from stemprover.models import refiner


def with_quiet_db(db: float) -> None:
    refiner.keep_quiet.__defaults__ = (db, None)
    refiner.song_level.__defaults__ = (db, None)


if __name__ == "__main__":
    with_quiet_db(float(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
