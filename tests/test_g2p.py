"""Offline G2P: token table, sources, flags for words Kokoro would drop, inline overrides."""
from __future__ import annotations

import pytest

from tests.conftest import requires_kokoro_assets
from workbench.errors import TextError
from workbench.models.g2p import UNK, Token, normalize_language, tokens_from_misaki, tokens_to_ps

VOCAB = {c: i for i, c in enumerate(" .,!?abdefhklnorstvwæðəɹɔˈˌIOAɪʊɡ")}


@pytest.mark.parametrize("given, expected", [("a", "en-us"), ("US", "en-us"), ("en_GB", "en-gb"), ("british", "en-gb")])
def test_normalize_language(given, expected):
    assert normalize_language(given) == expected


def test_unknown_language_is_a_text_error():
    with pytest.raises(TextError, match="en-us' or 'en-gb"):
        normalize_language("fr")


def _mtoken(text, phonemes, *, rating=None, under_rating=None, whitespace=" ", tag="NN"):
    from misaki.token import MToken

    tok = MToken(text=text, tag=tag, whitespace=whitespace, phonemes=phonemes,
                 _=MToken.Underscore(is_head=True, rating=under_rating))
    if rating is not None:
        tok.rating = rating
    return tok


def test_sources_and_flags_from_misaki_tokens():
    mtokens = [
        _mtoken("the", "ðə", rating=4),
        _mtoken("blorf", "blˈɔɹf", rating=2),
        _mtoken("xyzzy", None),                               # unresolved: misaki gave nothing
        _mtoken("I've", "ˌIv", rating=None),                  # merged sub-tokens: misaki lost the rating
        _mtoken("half", f"hæf{UNK}", under_rating=None),      # partly unresolved
        _mtoken("Kokoro", "kˈOkəɹØ", under_rating=5, whitespace=""),         # override with a symbol outside the vocab
        _mtoken(".", ".", under_rating=4, whitespace=""),
    ]
    toks = tokens_from_misaki(mtokens, VOCAB)
    assert [t.source for t in toks] == ["gold", "espeak", "unresolved", "lexicon", "unresolved", "override",
                                        "punctuation"]
    assert [t.flagged for t in toks] == [False, False, True, False, True, True, False]
    assert "it is not spoken" in toks[2].flag
    assert "part of it is not spoken" in toks[4].flag
    assert toks[5].unknown_symbols == "Ø" and "Ø" in toks[5].flag
    assert "ɹ" not in toks[1].unknown_symbols
    # Kokoro's phoneme string: unresolved words vanish (unk=''), the rest joined by their whitespace
    assert tokens_to_ps(toks) == "ðə blˈɔɹf  ˌIv hæf kˈOkəɹØ."


def test_token_flag_for_a_silent_symbol():
    t = Token(text="∆", tag="SYM", phonemes="", source="espeak", whitespace=" ")
    assert t.flagged and "no phonemes" in t.flag
    assert not Token(text=",", tag=",", phonemes=",", source="punctuation", whitespace=" ").flagged


@requires_kokoro_assets
def test_phonemize_flags_dropped_and_mangled_words(shared_registry):
    from workbench.tts.phonemize import phonemize

    r = phonemize("Call [zork](/zØrk/) at 日本 ∆ o'clock, okay?", registry=shared_registry)
    table = r.to_frame()
    assert list(table.columns) == ["text", "tag", "phonemes", "source", "whitespace", "unknown_symbols", "flagged",
                                   "flag"]
    flagged = dict(zip(table.text[table.flagged], table.flag[table.flagged]))
    assert set(flagged) == {"zork", "日本", "∆"}
    assert "Ø" in flagged["zork"] and "Latin" in flagged["日本"] and "no phonemes" in flagged["∆"]
    row = table[table.text == "o'clock"].iloc[0]
    assert row.source == "lexicon" and not row.flagged and row.phonemes  # spoken, not dropped
    assert any("3 token(s)" in n for n in r.notes)
    ps, tokens = r  # unpacks like the old (phonemes, tokens) tuple
    assert ps == r.phonemes and len(tokens) == len(table)


@requires_kokoro_assets
def test_inline_override_sets_the_phonemes(shared_registry):
    from workbench.tts.phonemize import phonemize

    plain = phonemize("I like Kokoro.", registry=shared_registry)
    marked = phonemize("I like [Kokoro](/kəkˈɔɹO/).", registry=shared_registry)
    tok = next(t for t in marked.tokens if t.text == "Kokoro")
    assert tok.phonemes == "kəkˈɔɹO" and tok.source == "override" and not tok.flagged
    assert marked.phonemes.endswith("kəkˈɔɹO.")
    assert next(t for t in plain.tokens if t.text == "Kokoro").source != "override"
    assert "[" not in "".join(t.text for t in marked.tokens)


@requires_kokoro_assets
def test_us_and_gb_differ_and_lines_are_segments(shared_registry):
    from workbench.tts.phonemize import phonemize

    us = phonemize("I can't dance.\nThe water is hot.", language="en-us", registry=shared_registry)
    gb = phonemize("I can't dance.\nThe water is hot.", language="en-gb", registry=shared_registry)
    assert us.phonemes != gb.phonemes
    assert len(us.segments) == 2 and us.phonemes == " ".join(tokens_to_ps(s) for s in us.segments)
    assert "ː" in gb.phonemes and "ː" not in us.phonemes  # length marks are British-only in misaki


@requires_kokoro_assets
@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_empty_text_gives_an_empty_result(text, shared_registry):
    from workbench.tts.phonemize import phonemize

    r = phonemize(text, registry=shared_registry)
    assert r.phonemes == "" and r.tokens == [] and any("empty" in n for n in r.notes)


def test_phonemize_rejects_non_strings():
    from workbench.tts.phonemize import phonemize

    with pytest.raises(TextError, match="must be a string"):
        phonemize(42)
