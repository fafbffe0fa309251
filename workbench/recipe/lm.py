"""A small n-gram language model from text: interpolated Kneser-Ney counts written as ARPA.

PyPI ``kenlm`` queries models but cannot estimate them (it has no ``lmplz``), so the demo
LM is estimated here, from counts, with the method of Chen & Goodman (1998, "An empirical
study of smoothing techniques", section 3, interpolated Kneser-Ney with one discount per
order, as KenLM's ``lmplz`` does with a single discount):

- Sentences are padded ``<s> w1 .. wn </s>``.  The highest order uses raw counts; a lower
  order ``n`` uses *continuation* counts: the number of distinct words seen left of the
  n-gram (an n-gram starting with ``<s>`` has nothing to its left and keeps its raw count).
- Each order has one discount ``D = n1 / (n1 + 2 n2)`` from its count-of-counts (``n1``,
  ``n2``: n-grams with count 1 and 2); ``D = 0.5`` when either is zero (tiny corpora).
- ``p(w | h) = max(a(hw) - D, 0) / a(h.) + gamma(h) p(w | h')`` with
  ``gamma(h) = D N1+(h.) / a(h.)`` (``a(h.)``: the counts of all words after ``h``,
  ``N1+(h.)``: how many distinct words follow ``h``, ``h'``: ``h`` less its first word).
  Unigrams interpolate with the uniform distribution over the vocabulary (the words,
  ``</s>`` and ``<unk>``; ``<s>`` is never predicted).
- Words of a word list (``vocabulary=``) join as one extra unigram continuation count each:
  the LM (and the beam search's unigram list) then knows a broad vocabulary, without random
  word sequences filling the higher orders with word pairs that carry no information.
- The ARPA file stores, for every n-gram seen, the full interpolated ``p(w | h)`` and, for
  every n-gram that is a history, the backoff weight ``gamma(h)``: the standard backoff query
  (``p`` if listed, else ``bow(h) * p(w | h')``) then gives the interpolated model exactly,
  and every history's distribution sums to one (tests/test_decoding.py checks both, with
  KenLM's own scores).

``python -m workbench.recipe.lm`` rebuilds the shipped ``demo-lm``
(``workbench/checkpoints/demo-lm/``) from the recipe's text generators (seeded; the held-out
sentences of ``datasets/*`` are left out); ``--order``, ``--grammar``, ``--vocab-size`` size it.
"""
from __future__ import annotations

import argparse
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FALLBACK_DISCOUNT = 0.5
_WORD = re.compile(r"[A-Z']+")


def words_of(text: str) -> list[str]:
    """Upper-case words in the model alphabet (A-Z and '), the spelling wav2vec2-base-960h emits."""
    return [w for w in _WORD.findall(text.upper()) if w.strip("'")]


@dataclass
class NgramModel:
    """An interpolated Kneser-Ney model: ``probs[n][gram]`` and ``backoffs[n][gram]`` (natural
    probabilities, not logs) for n-grams of order ``n + 1``."""

    order: int
    probs: list[dict[tuple[str, ...], float]]
    backoffs: list[dict[tuple[str, ...], float]]
    discounts: list[float]
    vocab: list[str] = field(default_factory=list)  # predictable words: the corpus words, </s>, <unk>

    def prob(self, word: str, history: Iterable[str] = ()) -> float:
        """``p(word | history)`` by the standard backoff query over the stored tables."""
        hist = tuple(history)[-(self.order - 1):] if self.order > 1 else ()
        if (word,) not in self.probs[0]:
            word = UNK
        weight = 1.0
        while True:
            gram = hist + (word,)
            p = self.probs[len(gram) - 1].get(gram)
            if p is not None:
                return weight * p
            weight *= self.backoffs[len(hist) - 1].get(hist, 1.0) if hist else 1.0
            hist = hist[1:]

    def sentence_log10(self, words: list[str]) -> float:
        """log10 p of ``<s> words </s>`` (KenLM's ``Model.score(text, bos=True, eos=True)``)."""
        hist, total = [BOS], 0.0
        for w in list(words) + [EOS]:
            total += math.log10(self.prob(w, hist))
            hist.append(w)
        return total

    def write_arpa(self, path: str | Path) -> Path:
        """The model as an ARPA text file (log10 probabilities and backoffs), sorted for diffs."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["", "\\data\\"]
        lines += [f"ngram {n + 1}={len(self.probs[n])}" for n in range(self.order)]
        for n in range(self.order):
            lines += ["", f"\\{n + 1}-grams:"]
            for gram in sorted(self.probs[n]):
                p = self.probs[n][gram]
                logp = -99.0 if p == 0.0 else math.log10(p)
                line = f"{logp:.6f}\t{' '.join(gram)}"
                if n < self.order - 1 and gram in self.backoffs[n]:
                    line += f"\t{math.log10(self.backoffs[n][gram]):.6f}"
                lines.append(line)
        lines += ["", "\\end\\", ""]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path


def count_ngrams(sentences: Iterable[list[str]], order: int) -> list[Counter]:
    """Raw counts of every n-gram (orders 1..order) in the padded sentences."""
    counts = [Counter() for _ in range(order)]
    for words in sentences:
        padded = [BOS, *words, EOS]
        for n in range(1, order + 1):
            for i in range(len(padded) - n + 1):
                counts[n - 1][tuple(padded[i:i + n])] += 1
    return counts


def _adjusted(raw: list[Counter]) -> list[Counter]:
    """KN counts: raw at the top order and for n-grams starting with <s>, continuation below."""
    order = len(raw)
    adjusted = [Counter() for _ in range(order)]
    adjusted[-1] = Counter(raw[-1])
    for n in range(order - 1, 0, -1):  # n-grams of order n from the types of order n + 1
        for gram in raw[n]:
            adjusted[n - 1][gram[1:]] += 1
        for gram, c in raw[n - 1].items():
            if gram[0] == BOS:
                adjusted[n - 1][gram] = c
    adjusted[0].pop((BOS,), None)
    return adjusted


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 and n2 else FALLBACK_DISCOUNT


def kneser_ney(sentences: Iterable[str | list[str]], order: int = 3, *, vocabulary: Iterable[str] = (),
               discounts: list[float] | None = None) -> NgramModel:
    """Estimate an interpolated Kneser-Ney model of ``order`` from sentences (text or word lists);
    ``vocabulary`` words get one extra unigram continuation count each (see the module notes)."""
    if order < 2:
        raise ValueError(f"order={order} must be at least 2 (KenLM reads bigram models and up)")
    sents = [words_of(s) if isinstance(s, str) else list(s) for s in sentences]
    sents = [s for s in sents if s]
    if not sents:
        raise ValueError("kneser_ney needs at least one non-empty sentence")
    adjusted = _adjusted(count_ngrams(sents, order))
    for word in {w for v in vocabulary for w in words_of(v)}:
        adjusted[0][(word,)] += 1
    if discounts is None:
        discounts = [_discount(adjusted[n]) for n in range(order)]
    if len(discounts) != order or not all(0.0 < d < 1.0 for d in discounts):
        raise ValueError(f"discounts={discounts} must be {order} values in (0, 1)")
    words = sorted({g[0] for g in adjusted[0]} - {EOS})
    vocab = words + [EOS, UNK]
    # order 1: interpolated with the uniform distribution over the vocabulary
    total = sum(adjusted[0].values())
    d = discounts[0]
    gamma0 = d * len(adjusted[0]) / total
    probs = [{(w,): max(adjusted[0].get((w,), 0) - d, 0.0) / total + gamma0 / len(vocab) for w in vocab}]
    probs[0][(BOS,)] = 0.0
    backoffs: list[dict] = []
    for n in range(1, order):
        d = discounts[n]
        totals: dict[tuple, float] = defaultdict(float)
        types: dict[tuple, int] = defaultdict(int)
        for gram, c in adjusted[n].items():
            totals[gram[:-1]] += c
            types[gram[:-1]] += 1
        gammas = {h: d * types[h] / totals[h] for h in totals}
        lower = probs[n - 1]
        table = {}
        for gram, c in adjusted[n].items():
            h = gram[:-1]
            below = lower.get(gram[1:])
            if below is None:  # cannot happen for counts of real text (suffixes are seen); be exact anyway
                raise AssertionError(f"suffix {gram[1:]} of {gram} missing at order {n}")
            table[gram] = (c - d) / totals[h] + gammas[h] * below
        probs.append(table)
        backoffs.append(gammas)
    return NgramModel(order=order, probs=probs, backoffs=backoffs, discounts=list(discounts), vocab=vocab)


# --------------------------------------------------------------------------- English bigrams and mixing
#: Share of each history's mass that the English bigram model leaves to its unigrams: the packaged
#: list holds only each word's most frequent pairs (counts of ~6.4 M and up in Google Books).
ENGLISH_BACKOFF = 0.4
#: The English model's probability of ending a sentence (it has no sentence boundaries; ~12 words).
ENGLISH_EOS = 1 / 12


def english_counts(*, vocab_size: int = 30_000, min_bigram: int = 0) -> tuple[Counter, Counter]:
    """Unigram and bigram counts of real English: the Google Books n-gram counts that ``symspellpy``
    ships (``frequency_dictionary_en_82_765.txt``, ``frequency_bigramdictionary_en_243_342.txt``).

    Words in the model alphabet only, the ``vocab_size`` most frequent, upper-cased; bigrams of two
    such words with count >= ``min_bigram``.  A clear error when symspellpy is not installed.
    """
    from importlib import resources

    try:
        folder = resources.files("symspellpy")
    except ModuleNotFoundError as exc:
        raise ImportError("the English bigram counts come from the symspellpy package: pip install "
                          "'workbench[lm]' (or pip install symspellpy==6.10.1)") from exc
    unigrams: Counter = Counter()
    for line in (folder / "frequency_dictionary_en_82_765.txt").read_text(encoding="utf-8").splitlines():
        word, _, count = line.rpartition(" ")
        if word and words_of(word) == [word.upper()]:
            unigrams[word.upper()] += int(count)
    unigrams = Counter(dict(unigrams.most_common(vocab_size)))
    bigrams: Counter = Counter()
    for line in (folder / "frequency_bigramdictionary_en_243_342.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 3 or int(parts[2]) < min_bigram:
            continue
        a, b = parts[0].upper(), parts[1].upper()
        if a in unigrams and b in unigrams:
            bigrams[(a, b)] += int(parts[2])
    return unigrams, bigrams


def bigram_backoff(unigrams: Counter, bigrams: Counter, *, backoff: float = ENGLISH_BACKOFF,
                   eos: float = ENGLISH_EOS) -> NgramModel:
    """A backoff bigram model from (pruned) counts: ``p(b | a) = (1 - backoff) c(ab) / c(a.)`` for
    listed pairs, the rest of ``a``'s mass (``backoff``) spread over the unigrams it did not list.

    Unigrams are relative frequencies scaled by ``1 - eos``, with ``eos`` on ``</s>`` and a floor
    count of 1 for ``<unk>``; ``<s>`` is never predicted and backs off to the unigrams.  Every
    history's distribution sums to one (the backoff weight renormalises over unlisted words).
    """
    if not unigrams:
        raise ValueError("bigram_backoff needs unigram counts")
    total = sum(unigrams.values()) + 1
    uni = {(w,): (1 - eos) * c / total for w, c in unigrams.items()}
    uni[(UNK,)] = (1 - eos) / total
    uni[(EOS,)] = eos
    uni[(BOS,)] = 0.0
    after: dict[str, float] = defaultdict(float)
    for (a, _), c in bigrams.items():
        after[a] += c
    table = {g: (1 - backoff) * c / after[g[0]] for g, c in bigrams.items()}
    listed_lower: dict[str, float] = defaultdict(float)
    for (a, b) in bigrams:
        listed_lower[a] += uni[(b,)]
    backoffs = {(a,): backoff / max(1.0 - listed_lower[a], 1e-12) for a in after}
    vocab = sorted(unigrams) + [EOS, UNK]
    return NgramModel(order=2, probs=[uni, table], backoffs=[backoffs], discounts=[0.0, backoff], vocab=vocab)


def _strict_prob(model: NgramModel, word: str, history: tuple[str, ...]) -> float:
    """``model.prob`` but 0 for a word outside the model's vocabulary (not its ``<unk>`` mass)."""
    return model.prob(word, history) if (word,) in model.probs[0] else 0.0


def mix(models: list[NgramModel], weights: list[float]) -> NgramModel:
    """One backoff model for the linear interpolation ``sum_i w_i p_i(w | h)`` (SRILM's static
    ``-mix-lm``): every n-gram listed in any model gets the exact mixed probability, and each
    history's backoff weight renormalises what it leaves to the lower order, so every history
    still sums to one.  Unlisted n-grams are approximated by the backoff (as SRILM does)."""
    if len(models) != len(weights) or not models or abs(sum(weights) - 1.0) > 1e-9 or min(weights) < 0:
        raise ValueError(f"weights={weights} must be one non-negative weight per model, summing to 1")
    order = max(m.order for m in models)
    vocab_words = sorted({w for m in models for (w,) in m.probs[0]} - {BOS, EOS, UNK})
    out = NgramModel(order=order, probs=[{}], backoffs=[], discounts=[], vocab=vocab_words + [EOS, UNK])
    for w in vocab_words + [EOS, UNK]:
        out.probs[0][(w,)] = sum(k * _strict_prob(m, w, ()) for m, k in zip(models, weights))
    out.probs[0][(BOS,)] = 0.0
    for n in range(1, order):
        grams = set().union(*(m.probs[n].keys() for m in models if m.order > n))
        table = {g: sum(k * _strict_prob(m, g[-1], g[:-1]) for m, k in zip(models, weights)) for g in grams}
        listed: dict[tuple, float] = defaultdict(float)
        lower: dict[tuple, float] = defaultdict(float)
        for g, p in table.items():
            listed[g[:-1]] += p
            lower[g[:-1]] += out.prob(g[-1], g[1:-1])  # the mixed model so far, one order down
        out.backoffs.append({h: max(1.0 - listed[h], 0.0) / max(1.0 - lower[h], 1e-12) for h in listed})
        out.probs.append(table)
    return out


# --------------------------------------------------------------------------- the demo LM
def training_text(*, grammar: int = 30_000, seed: int = 0, vocab_size: int = 12_000) -> tuple[list[str], list[str]]:
    """The recipe's training text: ``grammar`` sentences of :mod:`.sentences` (those of the committed
    held-out sets left out) and the broad vocabulary of :mod:`.vocabulary` (``vocab_size`` words;
    empty when 0, or when wordfreq/misaki are not installed)."""
    from .broad import held_out_texts
    from .sentences import generate

    held_out = held_out_texts()
    text = [s for s in generate(grammar, seed=seed + 101) if s.strip().lower() not in held_out]
    words: list[str] = []
    if vocab_size:
        try:
            from .vocabulary import word_list

            words = list(word_list(vocab_size))
        except ImportError as exc:
            print(f"note: no broad vocabulary ({exc}); the LM is built from the grammar sentences only")
    return text, words


CARD = """# demo-lm

A {order}-gram interpolated Kneser-Ney language model (ARPA, upper-case words in the
wav2vec2-base-960h alphabet) for LM-fused beam search with the demo recogniser `w2v2-tiny-ctc`.

- **Text**: {n_grammar} sentences of the recipe's phrase grammar (`workbench/recipe/sentences.py`,
  seed {grammar_seed}; the sentences of the committed held-out sets `datasets/*/manifest.jsonl`
  removed; {n_words} running words) and, as unigrams only, the recipe's broad vocabulary
  (`workbench/recipe/vocabulary.py`: the {vocab_size} most frequent wordfreq words that misaki's
  lexicons hold). {n_types} word types in all.
- **Method**: interpolated Kneser-Ney, one discount per order ({discounts}), estimated by
  `workbench/recipe/lm.py` (KenLM's Python module has no `lmplz`); n-grams: {counts}.
- **Rebuild**: `{command}` (writes this folder; `--out DIR` elsewhere)
- **What it is for**: the demo. The grammar sentences share templates with `datasets/kokoro-eval`
  (not its sentences), so the LM knows that set's phrase structure; on everyday prose it is
  little more than a unigram model. For the real `wav2vec2-base-960h` take a LibriSpeech 4-gram.
- **Licence**: Apache-2.0 (generated text).
"""


def demo_model(*, order: int = 3, grammar: int = 30_000, seed: int = 0, vocab_size: int = 12_000,
               english: float = 0.0, english_vocab: int = 20_000, min_bigram: int = 15_000_000):
    """The demo LM in memory: the Kneser-Ney model of :func:`training_text`, mixed (:func:`mix`) with
    weight ``english`` with the English bigram model of :func:`english_counts` when ``english > 0``.
    Returns (model, text sentences, vocabulary words, English bigram count)."""
    text, words = training_text(grammar=grammar, seed=seed, vocab_size=vocab_size)
    model = kneser_ney([words_of(s) for s in text], order, vocabulary=words)
    n_bigrams = 0
    if english:
        unigrams, bigrams = english_counts(vocab_size=english_vocab, min_bigram=min_bigram)
        model, n_bigrams = mix([model, bigram_backoff(unigrams, bigrams)], [1.0 - english, english]), len(bigrams)
    return model, text, words, n_bigrams


def build_demo_lm(out_dir: str | Path, *, order: int = 3, grammar: int = 30_000, seed: int = 0,
                  vocab_size: int = 12_000, english: float = 0.0, english_vocab: int = 20_000,
                  min_bigram: int = 15_000_000, name: str = "demo-lm.arpa") -> Path:
    """Estimate the demo LM (:func:`demo_model`) and write ``<out_dir>/<name>`` and README.md."""
    model, text, words, n_bigrams = demo_model(order=order, grammar=grammar, seed=seed, vocab_size=vocab_size,
                                               english=english, english_vocab=english_vocab, min_bigram=min_bigram)
    sents = [words_of(s) for s in text]
    out = Path(out_dir)
    path = model.write_arpa(out / name)
    command = (f"python -m workbench.recipe.lm --order {order} --grammar {grammar} "
               f"--seed {seed} --vocab-size {len(words)}")
    card = CARD
    if english:
        command += f" --english {english} --english-vocab {english_vocab} --min-bigram {min_bigram}"
        card = card.replace("- **Method**", (
            f"- **English**: mixed in with weight {english} (`recipe/lm.py` `mix`, SRILM-style static "
            f"interpolation): a backoff bigram model of {n_bigrams} word pairs of the {english_vocab} most "
            "frequent words in the Google Books counts that `symspellpy` ships.\n- **Method**"))
    (out / "README.md").write_text(card.format(
        order=order, n_grammar=len(text), grammar_seed=seed + 101, vocab_size=len(words),
        n_words=sum(len(s) for s in sents), n_types=len(model.vocab) - 2,
        discounts=", ".join(f"{d:.3f}" for d in model.discounts),
        counts=", ".join(f"{len(p)} {n + 1}-grams" for n, p in enumerate(model.probs)), command=command),
        encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.recipe.lm", description=build_demo_lm.__doc__)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "checkpoints" / "demo-lm")
    p.add_argument("--order", type=int, default=3)
    p.add_argument("--grammar", type=int, default=30_000, help="grammar sentences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab-size", type=int, default=12_000, help="broad-vocabulary words (0: grammar only)")
    p.add_argument("--english", type=float, default=0.0,
                   help="weight of the English bigram model mixed in (0: none; needs symspellpy)")
    p.add_argument("--english-vocab", type=int, default=20_000, help="English words kept (most frequent first)")
    p.add_argument("--min-bigram", type=int, default=15_000_000, help="smallest English pair count kept")
    args = p.parse_args(argv)
    path = build_demo_lm(args.out, order=args.order, grammar=args.grammar, seed=args.seed,
                         vocab_size=args.vocab_size, english=args.english, english_vocab=args.english_vocab,
                         min_bigram=args.min_bigram)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {path.parent / 'README.md'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
