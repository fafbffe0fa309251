"""Long texts: a 43,000-character text with no line breaks is cut into bounded G2P pieces and
bounded chunks, and streaming yields its first (short) chunk before the rest is synthesized."""
from __future__ import annotations

import math
import re

import pytest

from tests.conftest import requires_kokoro_assets

# Public-domain prose (Lewis Carroll, Alice's Adventures in Wonderland, 1865), one long line.
ALICE = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing "
    "to do: once or twice she had peeped into the book her sister was reading, but it had no pictures or "
    "conversations in it, \u201cand what is the use of a book,\u201d thought Alice \u201cwithout pictures or "
    "conversations?\u201d So she was considering in her own mind (as well as she could, for the hot day made "
    "her feel very sleepy and stupid), whether the pleasure of making a daisy-chain would be worth the "
    "trouble of getting up and picking the daisies, when suddenly a White Rabbit with pink eyes ran close "
    "by her. There was nothing so very remarkable in that; nor did Alice think it so very much out of the "
    "way to hear the Rabbit say to itself, \u201cOh dear! Oh dear! I shall be late!\u201d (when she thought it "
    "over afterwards, it occurred to her that she ought to have wondered at this, but at the time it all "
    "seemed quite natural); but when the Rabbit actually took a watch out of its waistcoat-pocket, and "
    "looked at it, and then hurried on, Alice started to her feet, for it flashed across her mind that she "
    "had never before seen a rabbit with either a waistcoat-pocket, or a watch to take out of it, and "
    "burning with curiosity, she ran across the field after it, and fortunately was just in time to see it "
    "pop down a large rabbit-hole under the hedge. "
)
# one run of words with no mark at all, longer than a G2P piece: only the word level can cut it
RUN_ON = " ".join(["down down down she went and the well was very deep or she fell very slowly"] * 20) + ". "


def long_text(chars: int = 43_000) -> str:
    text = (ALICE * (chars // len(ALICE) + 1))
    middle = text.index("hedge. ", chars // 2) + len("hedge. ")  # at a sentence end
    text = text[:middle] + RUN_ON + text[middle:]
    return text[:chars].rsplit(" ", 1)[0] + "."


def test_a_long_line_becomes_bounded_lossless_pieces():
    from workbench.tts.textsplit import PIECE_CHARS, bounded_parts, text_pieces

    text = long_text()
    assert len(text) > 42_000 and "\n" not in text
    pieces = list(text_pieces(text))
    assert "".join(pieces) == text  # nothing lost or reordered
    assert max(len(p) for p in pieces) <= PIECE_CHARS and len(pieces) >= len(text) // PIECE_CHARS
    # pieces end at sentence ends, except the run-on sentence (longer than a piece) which is cut at words
    run_on = [p for p in pieces if "down down" in p]
    others = [p for p in pieces if p not in run_on]
    assert all(re.search(r"[.!?][\u201d)]*\s*$", p) for p in others[:-1])
    assert len(run_on) >= 2 and all(len(p) <= PIECE_CHARS for p in run_on)
    # a word longer than the cap is cut hard; a short line is left whole
    assert [len(p) for p in bounded_parts("x" * 2_500, 1_000)] == [1_000, 1_000, 500]
    assert list(text_pieces("One line.\n\nTwo, three.")) == ["One line.", "Two, three."]


@requires_kokoro_assets
def test_chunks_of_a_43000_character_text_are_bounded_and_ramp_up(shared_registry):
    from workbench.models.g2p import tokens_to_ps
    from workbench.models.kokoro import MAX_TOKENS
    from workbench.tts.synthesis import FIRST_CHUNK, RAMP, text_chunks

    text = long_text()
    model = shared_registry.get("kokoro-82m")
    groups = list(text_chunks(text, shared_registry.g2p("en-us"), model.vocab, first_chunk=FIRST_CHUNK))
    sizes = [len(tokens_to_ps(g)) for g in groups]
    assert max(sizes) <= MAX_TOKENS and min(sizes) > 0
    limit = FIRST_CHUNK
    for size in sizes[:8]:  # each chunk within the ramp: 30, 45, 68, ... phonemes
        assert size <= limit
        limit = min(MAX_TOKENS, math.ceil(limit * RAMP))
    assert sizes[0] <= FIRST_CHUNK < sizes[0] + 25  # cut near the cap (at a comma), not at nothing
    assert len(groups) > len(text) // 600  # ~1 phoneme per character: dozens of chunks
    # every word of the text is in exactly one chunk, in order
    said = " ".join(t.text for g in groups for t in g)
    assert re.findall(r"[A-Za-z]+", said) == re.findall(r"[A-Za-z]+", text)


@requires_kokoro_assets
def test_stream_yields_the_first_chunk_before_synthesizing_the_rest(shared_registry, monkeypatch):
    from workbench.models.kokoro import MAX_TOKENS, KokoroModel
    from workbench.tts.synthesis import FIRST_CHUNK, RAMP, stream, synthesize

    calls: list[int] = []
    infer = KokoroModel.infer

    def counted(self, tokens, style, speed=1.0):  # a spy: the real graph still runs
        calls.append(len(tokens))
        return infer(self, tokens, style, speed)

    monkeypatch.setattr(KokoroModel, "infer", counted)
    chunks = stream(long_text(), "af_heart", registry=shared_registry)
    first = next(chunks)
    assert len(calls) == 1 and first.index == 0 and first.offset == 0
    assert 0 < len(first.phonemes) <= FIRST_CHUNK and first.graphemes.startswith("Alice was beginning")
    assert len(first.audio) == int(first.durations.sum()) * 600
    second = next(chunks)
    assert len(calls) == 2 and second.offset == pytest.approx(first.duration)
    assert 0 < len(second.phonemes) <= math.ceil(FIRST_CHUNK * RAMP) <= MAX_TOKENS
    chunks.close()
    # a text within the first chunk is one call, the same audio as synthesize (Kokoro's chunking)
    calls.clear()
    short = "The cat sat on the mat."
    streamed = list(stream(short, "af_heart", registry=shared_registry))
    assert len(streamed) == 1 and calls == [len(streamed[0].tokens)]
    whole = synthesize(short, "af_heart", registry=shared_registry)
    assert (streamed[0].audio == whole.audio).all()
