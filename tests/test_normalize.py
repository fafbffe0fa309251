"""The text normaliser: each step on its own, the defaults, and the odd inputs."""
from __future__ import annotations

import pytest

from workbench.scoring.normalize import (
    MODEL_ALPHABET,
    Normalizer,
    default_normalizer,
    raw_normalizer,
    resolve_normalizer,
)

DEFAULT_CASES = [
    ("Hello, World!", "HELLO WORLD"),
    ("  spaced \t out\n text ", "SPACED OUT TEXT"),
    ("It's the dogs' bone", "IT'S THE DOGS' BONE"),
    ("\u201cDon\u2019t\u201d, she said", "DON'T SHE SAID"),
    ("'quoted' words", "QUOTED WORDS"),
    ("well-known mother-in-law", "WELL KNOWN MOTHER IN LAW"),
    ("Caf\u00e9 na\u00efve \ufb01sh Stra\u00dfe", "CAFE NAIVE FISH STRASSE"),
    ("42 apples", "FORTY TWO APPLES"),
    ("1,000,000 people", "ONE MILLION PEOPLE"),
    ("the 21st time", "THE TWENTY FIRST TIME"),
    ("3.5 litres", "THREE POINT FIVE LITRES"),
    ("50% & more", "FIFTY PERCENT AND MORE"),
    ("105", "ONE HUNDRED AND FIVE"),
    ("\u4f60\u597d world", "WORLD"),
    ("emoji \U0001f642 here", "EMOJI HERE"),
    ("?!...", ""),
    ("", ""),
    (None, ""),
]


@pytest.mark.parametrize("text, expected", DEFAULT_CASES)
def test_default_maps_to_model_alphabet(text, expected):
    out = default_normalizer()(text)
    assert out == expected
    assert set(out) <= set(MODEL_ALPHABET) | {" "}


def test_raw_only_touches_whitespace():
    raw = raw_normalizer()
    assert raw("  The cat,  sat 42 \u00e9  ") == "The cat, sat 42 \u00e9"
    assert raw(None) == ""


def test_options_change_each_step():
    assert Normalizer(case="lower")("Hello There") == "hello there"
    assert Normalizer(case="keep", alphabet=None)("Hello There") == "Hello There"
    assert Normalizer(keep_apostrophes=False)("don't stop") == "DONT STOP"
    assert Normalizer(digits="keep", alphabet=None)("route 66") == "ROUTE 66"
    assert Normalizer(digits="remove")("route 66") == "ROUTE"
    assert Normalizer(strip_accents=False, alphabet=None)("caf\u00e9") == "CAF\u00c9"
    assert Normalizer(strip_punctuation=False, alphabet=None)("a, b") == "A, B"
    assert Normalizer(replacements={"Dr.": "doctor"})("Dr. Who") == "DOCTOR WHO"
    assert Normalizer(collapse_spaces=False, alphabet=None)("a  b") == "A  B"


def test_dropped_characters_are_reported():
    norm = default_normalizer()
    assert norm.dropped("\u4f60\u597d world") == ["\u4f60", "\u597d"]
    assert norm.dropped("plain text") == []
    text, dropped = norm.explain("\u00e5ngstr\u00f6m \u03bb")
    assert text == "ANGSTROM" and dropped == ["\u039b"]


def test_trace_shows_every_step():
    steps = default_normalizer().trace("Caf\u00e9 42%")
    names = [name for name, _ in steps]
    assert names == ["input", "replacements", "unicode", "digits", "case", "punctuation", "alphabet", "spaces"]
    assert steps[0][1] == "Caf\u00e9 42%"
    assert steps[-1][1] == "CAFE FORTY TWO PERCENT"


def test_bad_options_and_resolution():
    with pytest.raises(ValueError, match="case="):
        Normalizer(case="title")
    with pytest.raises(ValueError, match="digits="):
        Normalizer(digits="roman")
    assert resolve_normalizer(None).name == "default"
    assert resolve_normalizer("raw").name == "raw"
    with pytest.raises(ValueError):
        resolve_normalizer(42)
