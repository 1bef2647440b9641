"""Stem types from file names."""


def test_stem_type_from_a_separator_output_name():
    from stemprover.vocabulary import named_stem_type

    names = {
        "vocals": "vocals",
        "htdemucs_drums": "drums",
        "Song (Bass)": "bass",
        "other": "other",
        "no_vocals": "instrumental",
        "no_drums": "other",
        "accompaniment": "instrumental",
        "song_(Instrumental)": "instrumental",
        "song_(Vocals)": "vocals",
        "lead_vox": "vocals",
        "take3": None,
        "whatever": None,  # not a hi-hat
        "mixture": None,
    }
    assert {n: named_stem_type(n) for n in names} == names
