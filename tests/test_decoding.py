"""Beam search and LM fusion (workbench.asr.decoding), the KenLM registry kind, the ARPA builder
(workbench.recipe.lm) and the decoding options of the CLI."""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyctcdecode")
kenlm = pytest.importorskip("kenlm")

from workbench.asr.decoding import DecodeOptions, decode, decode_result  # noqa: E402
from workbench.errors import AssetIntegrityError, ModelNotAvailableError, WorkbenchError  # noqa: E402
from workbench.models.registry import ModelRegistry  # noqa: E402
from workbench.recipe.lm import BOS, EOS, kneser_ney  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "datasets" / "kokoro-eval" / "manifest.jsonl"
VOCAB = [t for t, _ in sorted(json.loads((ROOT / "workbench/checkpoints/w2v2-tiny-ctc/vocab.json").read_text()).items(),
                              key=lambda kv: kv[1])]
EXACT = dict(beam_width=1000, beam_prune_logp=-1000.0, token_min_logp=-1000.0)  # no pruning at all


def emissions(steps: list[dict[str, float]], vocab: list[str] = VOCAB) -> np.ndarray:
    """Log-probs [T, V]: each step's tokens get the given probabilities, the rest share 1e-6."""
    out = np.full((len(steps), len(vocab)), 1e-6)
    for t, step in enumerate(steps):
        for token, p in step.items():
            out[t, vocab.index(token)] = p
    return np.log(out / out.sum(axis=1, keepdims=True))


def spell(text: str, *, ambiguous: dict[int, dict[str, float]] | None = None) -> list[dict[str, float]]:
    """One confident frame per character (space = "|") with a blank frame after each."""
    steps = []
    for i, ch in enumerate(text):
        token = "|" if ch == " " else ch
        steps.append((ambiguous or {}).get(i, {token: 0.95}))
        steps.append({"<pad>": 0.95})
    return steps


@pytest.fixture(scope="module")
def reg() -> ModelRegistry:
    return ModelRegistry()


# --------------------------------------------------------------------------- beam search
def _best_labelling(log_probs: np.ndarray, vocab: list[str]) -> tuple[str, float]:
    """The most probable transcript by brute force: every path, collapsed, probabilities summed."""
    probs = np.exp(log_probs)
    total: dict[str, float] = {}
    for path in itertools.product(range(len(vocab)), repeat=len(probs)):
        p = float(np.prod([probs[t, c] for t, c in enumerate(path)]))
        chars, prev = [], None
        for c in path:
            if c != prev and vocab[c] not in ("<pad>", "<s>", "</s>", "<unk>"):
                chars.append(" " if vocab[c] == "|" else vocab[c])
            prev = c
        text = " ".join("".join(chars).split())
        total[text] = total.get(text, 0.0) + p
    return max(total.items(), key=lambda kv: kv[1])


def test_huge_beam_without_lm_finds_the_most_probable_transcript(reg):
    vocab = ["<pad>", "<s>", "</s>", "<unk>", "|", "A", "B"]
    frame_a = {"<pad>": 0.45, "A": 0.35, "B": 0.15, "|": 0.05}
    frame_b = {"<pad>": 0.45, "A": 0.15, "B": 0.35, "|": 0.05}
    lp = emissions([frame_a, frame_a, frame_b, frame_b], vocab)
    best, p = _best_labelling(lp, vocab)
    assert (best, round(p, 4)) == ("AB", 0.2645)  # every frame's argmax is blank: the best path says ""
    assert decode(lp, vocab) == ""
    assert decode(lp, vocab, decoder="beam", registry=reg, **EXACT) == "AB"


def test_greedy_options_match_the_engine_transcript():
    lp = emissions(spell("THE CAT"))
    assert decode(lp, VOCAB) == decode(lp, VOCAB, decoder="greedy") == "THE CAT"
    with pytest.raises(ValueError, match="decoder='greedy' takes no lm="):
        DecodeOptions(decoder="greedy", lm="demo-lm")
    with pytest.raises(ValueError, match="must be one of"):
        DecodeOptions(decoder="viterbi")
    assert DecodeOptions(lm="demo-lm").decoder == "beam"  # an LM implies beam search


AMBIGUOUS_T = {6: {"D": 0.55, "T": 0.45}}  # "THE CA?" : the acoustics prefer D


def _toy_lm(tmp_path: Path) -> Path:
    return kneser_ney(["THE CAT SAT", "THE CAT", "A CAT SAT ON THE MAT", "THE DOG"], 3).write_arpa(tmp_path / "toy.arpa")


def test_lm_turns_an_acoustically_preferred_non_word_into_the_word(reg, tmp_path):
    lp = emissions(spell("THE CAT", ambiguous=AMBIGUOUS_T))
    assert decode(lp, VOCAB) == "THE CAD"
    assert decode(lp, VOCAB, decoder="beam", registry=reg) == "THE CAD"
    arpa = _toy_lm(tmp_path)
    assert decode(lp, VOCAB, lm=str(arpa), registry=reg) == "THE CAT"
    assert decode(lp, VOCAB, lm=str(arpa), alpha=0.0, beta=0.0, registry=reg) == "THE CAD"  # LM weight off


def test_hotwords_favour_a_word_without_any_lm(reg):
    lp = emissions(spell("THE CAT", ambiguous=AMBIGUOUS_T))
    assert decode(lp, VOCAB, decoder="beam", hotwords=["cat"], registry=reg) == "THE CAT"
    assert decode(lp, VOCAB, decoder="beam", hotwords=["cat"], hotword_weight=0.0, registry=reg) == "THE CAD"


def test_an_arpa_path_and_its_registered_name_decode_alike(tmp_path):
    reg = ModelRegistry()
    arpa = _toy_lm(tmp_path)
    lp = emissions(spell("THE CAT", ambiguous=AMBIGUOUS_T))
    by_path = decode(lp, VOCAB, lm=str(arpa), registry=reg)
    assert reg.spec("toy.arpa").kind == "lm"  # the path was registered under its file name
    reg.register("toy-lm", arpa, kind="lm")
    assert decode(lp, VOCAB, lm="toy-lm", registry=reg) == by_path == "THE CAT"
    assert reg.load_count == 2  # one KenLM load per registered entry, each decoder built once
    decode(lp, VOCAB, lm="toy-lm", registry=reg)
    assert reg.load_count == 2


def test_a_lower_case_lm_works_with_the_upper_case_vocabulary(tmp_path):
    reg = ModelRegistry()
    upper = _toy_lm(tmp_path)
    lower = tmp_path / "lower-case.arpa"
    lower.write_text(upper.read_text().lower())  # the same model with lower-case words
    lp = emissions(spell("THE CAT", ambiguous=AMBIGUOUS_T))
    assert decode(lp, VOCAB, lm=str(lower), registry=reg) == "THE CAT"
    assert reg.get("lower-case.arpa").upper is False and reg.get("demo-lm").upper


def test_demo_lm_is_in_the_catalogue_and_loads(reg):
    table = reg.catalog(kind="lm").set_index("name")
    assert table.loc["demo-lm", "source"] == "package" and bool(table.loc["demo-lm", "available_offline"])
    lm = reg.get("demo-lm")
    assert lm.order == 3 and lm.upper
    assert {"STATION", "LIBRARY", "SEVENTEEN"} <= lm.unigrams and len(lm.unigrams) > 5000
    assert lm.model.score("THE TRAIN LEAVES AT SEVEN", bos=True, eos=False) > lm.model.score(
        "THE TRAIN LEAVES AT HEAVEN", bos=True, eos=False)


def test_a_missing_or_garbage_lm_file_is_a_clear_error(reg, tmp_path):
    lp = emissions(spell("THE CAT"))
    with pytest.raises(ModelNotAvailableError, match="no such file; give the path of an ARPA file"):
        decode(lp, VOCAB, lm=str(tmp_path / "missing.arpa"), registry=reg)
    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("this is not a language model\n")
    with pytest.raises(AssetIntegrityError, match=r"KenLM cannot read .*not \\data.*python -m workbench.recipe.lm"):
        decode(lp, VOCAB, lm=str(garbage), registry=reg)
    with pytest.raises(WorkbenchError, match="not a language model"):
        decode(lp, VOCAB, lm="w2v2-tiny-ctc", registry=reg)


# --------------------------------------------------------------------------- the ARPA builder
TOY = ["A B", "B B", "A"]


def test_kneser_ney_matches_a_hand_computed_bigram_model():
    # <s> A B </s> / <s> B B </s> / <s> A </s>, D = 0.5 at both orders.  Continuation counts:
    # A 1 (<s>), B 3 (A, <s>, B), </s> 2 (B, A): total 6; the uniform share goes to A, B, </s>, <unk>.
    m = kneser_ney(TOY, 2, discounts=[0.5, 0.5])
    uni = {w: m.probs[0][(w,)] for w in ("A", "B", EOS, "<unk>")}
    gamma0 = 0.5 * 3 / 6
    assert uni == pytest.approx({"A": 0.5 / 6 + gamma0 / 4, "B": 2.5 / 6 + gamma0 / 4,
                                 EOS: 1.5 / 6 + gamma0 / 4, "<unk>": gamma0 / 4})
    assert m.backoffs[0] == pytest.approx({(BOS,): 1 / 3, ("A",): 0.5, ("B",): 1 / 3})
    assert m.probs[1][(BOS, "A")] == pytest.approx(1.5 / 3 + uni["A"] / 3)
    assert m.probs[1][("A", "B")] == pytest.approx(0.5 / 2 + 0.5 * uni["B"])
    assert m.probs[1][("B", EOS)] == pytest.approx(1.5 / 3 + uni[EOS] / 3)
    # backed off: p(<unk> | A) = gamma(A) p(<unk>); <unk> is no history, so p(</s> | <unk>) = p(</s>)
    assert m.prob("ZEBRA", ["A"]) == pytest.approx(0.5 * uni["<unk>"])
    expected = math.log10((1.5 / 3 + uni["A"] / 3) * 0.5 * uni["<unk>"] * uni[EOS])
    assert m.sentence_log10(["A", "ZEBRA"]) == pytest.approx(expected)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_every_history_sums_to_one_and_kenlm_agrees(tmp_path, order):
    corpus = ["the cat sat", "the cat ran", "a dog sat", "the dog sat on the mat", "a cat sat on a mat",
              "the mat sat on the dog"]
    m = kneser_ney(corpus, order)
    assert all(0 < d < 1 for d in m.discounts)
    model = kenlm.Model(str(m.write_arpa(tmp_path / "toy.arpa")))
    histories = [()] + [g for n in range(order - 1) for g in m.probs[n] if EOS not in g and BOS not in g[1:]]
    for h in histories:
        ours = sum(m.prob(w, h) for w in m.vocab)
        state = kenlm.State()
        (model.BeginSentenceWrite if h[:1] == (BOS,) else model.NullContextWrite)(state)
        for w in h[1:] if h[:1] == (BOS,) else h:
            nxt = kenlm.State()
            model.BaseScore(state, w, nxt)
            state = nxt
        theirs = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in m.vocab)
        assert ours == pytest.approx(1.0, abs=1e-9) and theirs == pytest.approx(1.0, abs=1e-4), h
    for sentence in corpus + ["the mat ran", "zebra sat on a cat", "a"]:
        words = sentence.upper().split()
        assert model.score(" ".join(words), bos=True, eos=True) == pytest.approx(m.sentence_log10(words), abs=1e-4)


def test_vocabulary_words_join_the_unigrams_only():
    m = kneser_ney(TOY, 2, vocabulary=["zebra", "A"])
    assert ("ZEBRA",) in m.probs[0] and not any("ZEBRA" in g for g in m.probs[1])
    assert sum(m.prob(w, ()) for w in m.vocab) == pytest.approx(1.0)


def test_the_builder_refuses_what_kenlm_cannot_read():
    with pytest.raises(ValueError, match="at least 2"):
        kneser_ney(TOY, 1)
    with pytest.raises(ValueError, match="non-empty sentence"):
        kneser_ney(["", "!!"], 3)


# --------------------------------------------------------------------------- engine, evaluate, CLI
needs_eval = pytest.mark.skipif(not EVAL.exists(), reason="datasets/kokoro-eval is missing")


@needs_eval
def test_transcribe_and_evaluate_decode_the_cached_log_probs(reg):
    from workbench.asr.engine import analyze, store_for, transcribe
    from workbench.data.corpus import Corpus
    from workbench.evaluation.evaluate import evaluate

    corpus = Corpus.load(EVAL).subset(3)
    result = analyze(corpus, "w2v2-tiny-ctc", registry=reg, progress=False)
    calls = store_for(reg).forward_calls
    beam = decode_result(result, registry=reg, lm="demo-lm")
    assert transcribe(corpus, "w2v2-tiny-ctc", registry=reg, lm="demo-lm") == beam
    assert transcribe(corpus, "w2v2-tiny-ctc", registry=reg) == result.transcripts()
    ev = evaluate(corpus, "w2v2-tiny-ctc", registry=reg, n_boot=0, decoder="beam", lm="demo-lm")
    assert store_for(reg).forward_calls == calls  # decoding never ran the model again
    per = ev.score.per_utterance.set_index("id")
    assert {uid: per.loc[uid, "hypothesis"] for uid in beam} == beam
    assert ev.provenance["decoding"]["lm"] == "demo-lm" and "beam100+demo-lm" in ev.score.name


@needs_eval
def test_cli_decoder_flags_end_to_end(tmp_path, capsys):
    from workbench.asr.engine import analyze
    from workbench.cli import main
    from workbench.data.corpus import Corpus

    rows = [json.loads(line) for line in EVAL.read_text().splitlines()[:2]]
    for r in rows:
        r["audio_filepath"] = str((EVAL.parent / r["audio_filepath"]).resolve())
    manifest = tmp_path / "two.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected = decode_result(analyze(Corpus.load(manifest), "w2v2-tiny-ctc", progress=False), lm="demo-lm")

    assert main(["transcribe", str(manifest), "--decoder", "beam", "--lm", "demo-lm", "--json"]) == 0
    got = {d["id"]: d["transcript"] for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert got == expected

    assert main(["evaluate", "--model", "w2v2-tiny-ctc", "--data", str(manifest), "--out", str(tmp_path / "ev"),
                 "--decoder", "beam", "--lm", "demo-lm", "--beam-width", "50", "--alpha", "0.5", "--beta", "1.5",
                 "--n-boot", "0", "--no-report"]) == 0
    saved = json.loads((tmp_path / "ev" / "corpus.json").read_text())
    assert saved["provenance"]["decoding"]["lm"] == "demo-lm" and saved["provenance"]["decoding"]["beam_width"] == 50

    assert main(["run", "--model", "w2v2-tiny-ctc", "--data", str(manifest), "--out", str(tmp_path / "run"),
                 "--decoder", "beam", "--lm", "demo-lm"]) == 0
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert {r["id"]: r["transcript"] for r in results} == expected
    capsys.readouterr()
    assert main(["transcribe", str(manifest), "--lm", str(tmp_path / "nope.arpa")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_tune_ranks_the_lm_weights_by_wer(tmp_path):
    from workbench.asr.decoding import tune
    from workbench.asr.engine import UtteranceAnalysis

    reg = ModelRegistry()
    arpa = _toy_lm(tmp_path)
    lp = emissions(spell("THE CAT", ambiguous=AMBIGUOUS_T))
    item = UtteranceAnalysis(id="u1", model="toy", revision="", num_samples=16000, sample_rate=16000, frame_stride=320,
                             reference="the cat", log_probs=lp.astype(np.float32), vocab=VOCAB)
    table = tune([item], lm=str(arpa), alphas=(0.0, 0.5), betas=(0.0,), registry=reg)
    assert table[["alpha", "wer"]].values.tolist() == [[0.5, 0.0], [0.0, 0.5]]  # no LM weight: "THE CAD"


def test_an_lm_sidecar_sets_the_default_weights_and_explicit_ones_win(tmp_path):
    from workbench.asr.decoding import resolve_weights

    reg = ModelRegistry()
    arpa = _toy_lm(tmp_path)
    lp = emissions(spell("THE CAT", ambiguous=AMBIGUOUS_T))
    assert resolve_weights(DecodeOptions(lm=str(arpa)), reg).alpha == 0.5  # no sidecar: pyctcdecode's defaults
    (tmp_path / "toy.decoding.json").write_text(json.dumps({"alpha": 0.0, "beta": 0.0, "tuned_on": "a test"}))
    opts = resolve_weights(DecodeOptions(lm=str(arpa)), reg)
    assert (opts.alpha, opts.beta) == (0.0, 0.0)
    assert decode(lp, VOCAB, lm=str(arpa), registry=reg) == "THE CAD"  # the tuned (here: no) LM weight is used
    assert decode(lp, VOCAB, lm=str(arpa), alpha=0.5, registry=reg) == "THE CAT"  # an explicit weight wins
    assert resolve_weights(DecodeOptions(lm=str(arpa), alpha=0.7), reg).beta == 0.0  # each unset one is filled
    (tmp_path / "toy.decoding.json").write_text('{"alpha": "heavy"}')
    with pytest.raises(AssetIntegrityError, match="toy.decoding.json.*not a decoding-weights file"):
        decode(lp, VOCAB, lm=str(arpa), registry=ModelRegistry())


def test_demo_lm_weights_were_tuned_on_the_dev_set_not_a_reported_one(reg):
    from workbench.asr.decoding import resolve_weights
    from workbench.models.lm import locate, tuned_path

    side = tuned_path(locate(reg.spec("demo-lm")))
    record = json.loads(side.read_text())
    assert record["tuned_on"].startswith("datasets/kokoro-dev")
    best = min(record["grid"], key=lambda r: (r["wer"], r["cer"]))
    assert (best["alpha"], best["beta"]) == (record["alpha"], record["beta"])  # the grid's best was written
    opts = resolve_weights(DecodeOptions(lm="demo-lm"), reg)
    assert (opts.alpha, opts.beta) == (record["alpha"], record["beta"])


# ---------------------------------------------------------------- English bigrams and the static mixture
def test_bigram_backoff_matches_hand_computed_probabilities():
    from collections import Counter

    from workbench.recipe.lm import UNK, bigram_backoff

    uni = Counter({"THE": 6, "CAT": 2, "DOG": 2})
    bi = Counter({("THE", "CAT"): 3, ("THE", "DOG"): 1})
    m = bigram_backoff(uni, bi, backoff=0.4, eos=0.1)
    total = 10 + 1  # counts + <unk>'s floor
    assert m.prob("CAT") == pytest.approx(0.9 * 2 / total)
    assert m.prob(EOS) == pytest.approx(0.1) and m.prob(UNK) == pytest.approx(0.9 / total)
    assert m.prob("CAT", ["THE"]) == pytest.approx(0.6 * 3 / 4)
    # THE's leftover 0.4 goes to the words it did not list, in unigram proportion
    unlisted = 1 - m.prob("CAT") - m.prob("DOG")
    assert m.prob("THE", ["THE"]) == pytest.approx(0.4 * m.prob("THE") / unlisted)
    assert sum(m.prob(w, ["THE"]) for w in m.vocab) == pytest.approx(1.0, abs=1e-12)
    assert m.prob("DOG", ["CAT"]) == pytest.approx(m.prob("DOG"))  # no pairs listed: the unigram


def test_mix_is_exact_on_listed_ngrams_normalised_and_read_alike_by_kenlm(tmp_path):
    from collections import Counter

    from workbench.recipe.lm import bigram_backoff, mix

    g = kneser_ney(["the cat sat", "the dog sat on the mat", "a cat sat on a mat"], 3)
    e = bigram_backoff(Counter({"THE": 9, "CAT": 3, "ZEBRA": 2, "RAN": 2, "SAT": 1}),
                       Counter({("THE", "ZEBRA"): 2, ("ZEBRA", "RAN"): 2, ("THE", "CAT"): 4}))
    m = mix([g, e], [0.7, 0.3])
    assert m.prob("CAT", ["THE"]) == pytest.approx(0.7 * g.prob("CAT", ["THE"]) + 0.3 * e.prob("CAT", ["THE"]))
    assert m.prob("ZEBRA") == pytest.approx(0.3 * e.prob("ZEBRA"))  # G has no ZEBRA: none of its <unk> mass
    assert m.prob("SAT", ["THE", "CAT"]) == pytest.approx(0.7 * g.prob("SAT", ["THE", "CAT"])
                                                          + 0.3 * e.prob("SAT", ["CAT"]))
    histories = [()] + [h for n in range(2) for h in m.probs[n] if EOS not in h and BOS not in h[1:]]
    for h in histories:
        assert sum(m.prob(w, h) for w in m.vocab) == pytest.approx(1.0, abs=1e-9), h
    model = kenlm.Model(str(m.write_arpa(tmp_path / "mix.arpa")))
    for sentence in ["THE CAT SAT", "THE ZEBRA RAN", "A DOG SAT ON THE ZEBRA"]:
        assert model.score(sentence, bos=True, eos=True) == pytest.approx(m.sentence_log10(sentence.split()), abs=1e-4)
    with pytest.raises(ValueError, match="summing to 1"):
        mix([g, e], [0.7, 0.7])


def test_english_counts_are_real_english_in_the_model_alphabet():
    pytest.importorskip("symspellpy", reason="the English counts ship with symspellpy (the lm extra)")
    from workbench.recipe.lm import english_counts

    uni, bi = english_counts(vocab_size=5_000, min_bigram=20_000_000)
    assert len(uni) == 5_000 and uni.most_common(1)[0][0] == "THE"
    assert all(w == w.upper() and set(w) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ'") for w in uni)
    assert bi[("OF", "THE")] > bi[("THE", "OF")] and all(a in uni and b in uni for a, b in bi)
    assert min(bi.values()) >= 20_000_000
