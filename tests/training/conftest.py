"""The training tests' pairs: 5 tiny songs, made once per session."""

import pytest

from stemprover.cli import main


@pytest.fixture(scope="session")
def pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_data") / "pairs"
    # 5 songs x 4 stems = 20 pairs; the 80/10/10 rule would leave no valid split at 5 songs.
    assert (
        main(
            [
                "pairs",
                "--out",
                str(out),
                "--synthetic",
                "5",
                "--seconds",
                "1.5",
                "--rate",
                "16000",
                "--seed",
                "2",
                "-q",
            ]
        )
        == 0
    )
    return out
