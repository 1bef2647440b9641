import pytest

from stemprover.errors import StemProverError
from stemprover.vocabulary import MAX_ADAPTER_WEIGHT, parse_adapters


def test_parse_adapters():
    assert parse_adapters("none") == {}
    assert parse_adapters("auto") == "auto"
    assert parse_adapters("bleed,hf_loss") == {"bleed": 1.0, "hf_loss": 1.0}
    assert parse_adapters("bleed=0.7,hf_loss=0.3") == {"bleed": 0.7, "hf_loss": 0.3}
    with pytest.raises(StemProverError):
        parse_adapters("bleed=lots")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("bleed=nan", "from 0 to"),
        ("bleed=inf", "from 0 to"),
        ("bleed=1e9", "from 0 to"),
        ("bleed=-0.5", "from 0 to"),
        ("bleed,bleed=0.5", "twice"),
        ("bleed,", "name is missing"),
        ("=0.5", "name is missing"),
    ],
)
def test_meaningless_adapter_specs_are_refused(spec, says):
    with pytest.raises(StemProverError, match=says):
        parse_adapters(spec)


def test_weights_at_the_bounds_are_accepted():
    assert parse_adapters(f"bleed=0,hf_loss={MAX_ADAPTER_WEIGHT}") == {
        "bleed": 0.0,
        "hf_loss": MAX_ADAPTER_WEIGHT,
    }
