"""Stem types from file names."""


def test_stem_type_from_a_separator_output_name():
    from stemprover.data.multitrack import named_stem_type

    names = {
        "vocals": "vocals",
        "htdemucs_drums": "drums",
        "Song (Bass)": "bass",
        "other": "other",
        "no_vocals": "other",
        "lead_vox": "vocals",
        "take3": None,
        "whatever": None,  # not a hi-hat
        "mixture": None,
    }
    assert {n: named_stem_type(n) for n in names} == names
