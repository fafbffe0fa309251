"""A broad English training vocabulary and seeded word sequences drawn from it.

The word types are wordfreq's most frequent English words that misaki's own pronouncing
lexicons (``us_gold.json`` / ``us_silver.json``, shipped inside the misaki package) also
hold, so Kokoro says every one of them from a dictionary entry, not a guess.  Sequences mix
frequency-weighted draws (function words as common as in running text) with a seeded sweep
over every type (breadth), and keep to the wav2vec2-base-960h alphabet (letters and ').
"""
from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

#: Single letters kept as words (others are initials or spelling noise in a frequency list).
ONE_LETTER = {"a", "i"}


@cache
def misaki_lexicon() -> frozenset[str]:
    """Every headword of misaki's American gold and silver lexicons (~180k, lower-cased)."""
    try:
        import misaki
    except ImportError as exc:
        raise ImportError("the broad recipe needs misaki's lexicons: pip install 'workbench[tts]'") from exc
    folder = Path(misaki.__file__).parent / "data"
    words: set[str] = set()
    for name in ("us_gold.json", "us_silver.json"):
        words.update(k.lower() for k in json.loads((folder / name).read_text(encoding="utf-8")))
    return frozenset(words)


def _spellable(word: str) -> bool:
    return (word.replace("'", "").isalpha() and word.isascii() and not word.startswith("'")
            and (len(word) > 1 or word in ONE_LETTER))


@cache
def word_list(n: int = 12_000, *, candidates: int = 40_000) -> tuple[str, ...]:
    """The ``n`` most frequent English words (wordfreq order) that misaki's lexicon holds."""
    try:
        from wordfreq import top_n_list
    except ImportError as exc:
        raise ImportError("the broad recipe needs a word-frequency list: pip install wordfreq==3.1.1") from exc
    lexicon = misaki_lexicon()
    out = [w for w in top_n_list("en", candidates) if _spellable(w) and w in lexicon]
    if len(out) < n:
        raise ValueError(f"only {len(out)} of wordfreq's top {candidates} words are in misaki's lexicon; "
                         f"ask for n <= {len(out)} or raise candidates")
    return tuple(out[:n])


@cache
def _cum_weights(words: tuple[str, ...]) -> tuple[float, ...]:
    """Cumulative wordfreq frequencies (``random.choices`` then draws in O(log n))."""
    from itertools import accumulate

    from wordfreq import word_frequency

    return tuple(accumulate(max(word_frequency(w, "en"), 1e-9) for w in words))


class WordSampler:
    """Seeded source of word sequences: a mix of frequency-weighted words and a sweep over all types.

    ``sweep`` is the share of words taken, in a seeded shuffled order, from the whole list, so
    that every type is spoken after about ``len(words) / (sweep * mean_length)`` sequences.
    """

    def __init__(self, words: tuple[str, ...], *, seed: int, sweep: float = 0.5) -> None:
        if not words:
            raise ValueError("WordSampler needs a non-empty word list (see word_list())")
        self.words, self.sweep = words, sweep
        self.rng = random.Random(seed)
        self.cum = _cum_weights(words)
        self._order: list[str] = []
        self._epoch = 0
        self._seed = seed

    def _next_swept(self) -> str:
        if not self._order:
            self._order = list(self.words)
            random.Random(self._seed * 7919 + self._epoch).shuffle(self._order)
            self._epoch += 1
        return self._order.pop()

    def sequence(self, n_words: int) -> str:
        """``n_words`` words joined by spaces, the first capitalised, a full stop at the end."""
        out = [self._next_swept() if self.rng.random() < self.sweep
               else self.rng.choices(self.words, cum_weights=self.cum)[0] for _ in range(n_words)]
        text = " ".join(out)
        return text[0].upper() + text[1:] + "."


def word_types(texts) -> set[str]:
    """Distinct lower-case word types in ``texts`` (letters and apostrophes only)."""
    out: set[str] = set()
    for t in texts:
        out.update(w for w in ("".join(c if c.isalpha() or c == "'" else " " for c in t.lower())).split())
    return out
