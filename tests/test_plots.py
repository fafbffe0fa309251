"""The teaching figures read on a projector: label sizes, labels inside the plot and apart, a
fixed amplitude scale under zoom, the edge-bin note of clipped histograms, no 'nan' text.

Figures are drawn with the Agg renderer and their text artists measured in pixels; the
alignment figures use constructed emissions (the right alignment is known, no model runs).
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from conftest import requires_kokoro_assets
from ctc_helpers import analysis_of, peaked, spoken
from workbench.asr.alignment import forced_align
from workbench.asr.alignment_errors import localize_errors
from workbench.plots.alignment import (plot_alignment_overview, plot_spectrogram, plot_timing_differences,
                                       plot_trellis, plot_waveform)
from workbench.plots.labels import TEACHING_FONTSIZE

WORDS = ["THE", "CAT", "SAT", "ON", "A", "MAT", "BY", "THE", "DOOR", "IN", "THE", "WARM", "SUN"]


def drawn(fig):
    """The figure drawn by Agg, and its renderer (text extents are final only after a draw)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return fig, canvas.get_renderer()


def texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def inside_texts(ax) -> list[Text]:
    """Text artists drawn inside ``ax`` (labels, not titles or tick labels)."""
    return [t for t in ax.texts if t.get_visible() and t.get_text().strip()]


def overlaps(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


@pytest.fixture(scope="module")
def alignment():
    frames, _ = spoken(WORDS, lead=30, tail=30)  # 0.6 s of silence before the first word
    return forced_align(analysis_of(peaked(frames), " ".join(WORDS)))


@pytest.fixture(scope="module")
def audio(alignment):
    """Speech-like noise on the word spans, near-silence (1e-5) elsewhere."""
    n = alignment.analysis.num_samples
    wav = np.random.default_rng(0).normal(0, 1e-5, n).astype(np.float32)
    for w in alignment.words:
        a, b = int(w.start * 16_000), int(w.end * 16_000)
        wav[a:b] = 0.4 * np.sin(np.arange(b - a) * 0.05)
    return wav


def test_zooming_onto_silence_keeps_the_amplitude_scale(alignment, audio):
    full = plot_waveform(alignment, audio=audio).axes[0].get_ylim()
    silent = plot_waveform(alignment, audio=audio, time_range=(0.05, 0.5)).axes[0].get_ylim()
    assert silent == pytest.approx(full)
    assert full[1] == pytest.approx(1.5 * np.abs(audio).max(), rel=1e-6)  # the utterance's peak, not the noise


def test_word_labels_inside_the_plot_whole_and_apart(alignment, audio):
    # zoomed so that the first word starts at the left edge: its label must not be clipped to "HE"
    t0 = alignment.words[0].start
    fig, renderer = drawn(plot_waveform(alignment, audio=audio, time_range=(t0, t0 + 1.2)))
    ax = fig.axes[0]
    labels = inside_texts(ax)
    assert labels[0].get_text() == "THE"
    box = ax.get_window_extent(renderer)
    extents = [t.get_window_extent(renderer) for t in labels]
    for t, e in zip(labels, extents):
        assert box.x0 - 0.5 <= e.x0 and e.x1 <= box.x1 + 0.5, f"{t.get_text()!r} runs past the plot edge"
        assert t.get_fontsize() >= TEACHING_FONTSIZE
    for i in range(len(extents)):
        for j in range(i + 1, len(extents)):
            assert not overlaps(extents[i], extents[j]), (labels[i].get_text(), labels[j].get_text())
    shown = {t.get_text() for t in labels}
    in_view = {w.word for w in alignment.words if w.end > t0 and w.start < t0 + 1.2}
    assert shown == in_view


def test_insertions_show_the_inserted_word_and_never_nan(alignment, audio):
    hyp = " ".join(WORDS[:3] + ["ZZ"] + WORDS[3:])
    errors = localize_errors(alignment.analysis, hyp, forced=alignment)
    assert (errors["op"] == "insert").sum() == 1 and pd.isna(errors.loc[errors["op"] == "insert", "ref"]).all()
    for fig in (plot_alignment_overview(alignment, audio=audio, errors=errors),
                plot_spectrogram(alignment, audio=audio, errors=errors)):
        fig, _ = drawn(fig)
        words = [t.get_text() for t in texts(fig)]
        assert "+ZZ" in words
        assert not [w for w in words if "nan" in w.lower()]


def test_trellis_letters_are_large_and_words_label_a_long_text(alignment):
    zoomed = plot_trellis(alignment, words=(0, 2)).axes[0]
    ticks = zoomed.get_yticklabels()
    assert [t.get_text() for t in ticks] == list("THE") + ["|"] + list("CAT")
    assert min(t.get_fontsize() for t in ticks) >= TEACHING_FONTSIZE

    fig, renderer = drawn(plot_trellis(alignment))
    ax = fig.axes[0]
    ticks = [t for t in ax.get_yticklabels() if t.get_text()]
    assert min(t.get_fontsize() for t in ticks) >= TEACHING_FONTSIZE
    extents = [t.get_window_extent(renderer) for t in ticks]
    assert all(not overlaps(a, b) for a, b in itertools.pairwise(extents))
    assert {t.get_text() for t in ticks} <= set(WORDS)


def test_trellis_word_range_outside_the_text_is_an_error(alignment):
    with pytest.raises(ValueError, match="selects none"):
        plot_trellis(alignment, words=(40, 50))


def _timing_table(starts, ends) -> pd.DataFrame:
    return pd.DataFrame({"id": "u", "start_diff": starts, "end_diff": ends})


def test_timing_histogram_says_how_many_values_sit_in_its_edge_bins():
    starts = [0.01, -0.02, 0.5, 0.9, -0.4]  # 2 above +0.3, 1 below -0.3
    ends = [0.0, 0.02, 0.31, -0.05, 0.1]    # 1 above
    fig = plot_timing_differences(_timing_table(starts, ends), clip=0.3)
    ax = fig.axes[0]
    notes = sorted(t.get_text() for t in ax.texts)
    assert notes == ["1 beyond -0.3 s", "3 beyond +0.3 s"]
    assert "4 start/end differences beyond +-0.3 s" in ax.get_title()
    last = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_x() == pytest.approx(0.3 - 0.6 / 40)
            and p.get_facecolor()[3] > 0]
    assert sum(p.get_height() for p in last) == 3  # the clipped values are counted in the last bin

    quiet = plot_timing_differences(_timing_table([0.01, 0.02], [0.0, -0.01]), clip=0.3).axes[0]
    assert not quiet.texts and "beyond" not in quiet.get_title()


@pytest.fixture(scope="module")
def synthesis():
    import workbench as wb

    return wb.synthesize("Where is the nearest train station, please?", "af_heart")


@requires_kokoro_assets
def test_synthesis_figure_labels_words_and_phonemes_readably(synthesis):
    fig, renderer = drawn(synthesis.plot(kind="both"))
    wave, spec = fig.axes[:2]
    words = list(synthesis.word_timings()["word"].astype(str))
    for ax in (wave, spec):
        shown = [t.get_text() for t in inside_texts(ax)]
        assert all(w in shown for w in words), (words, shown)
        box = ax.get_window_extent(renderer)
        for t in inside_texts(ax):
            e = t.get_window_extent(renderer)
            assert box.x0 - 0.5 <= e.x0 and e.x1 <= box.x1 + 0.5
    phonemes = [t for t in inside_texts(spec) if t.get_text() not in words]
    assert len(phonemes) >= 20 and min(t.get_fontsize() for t in phonemes) >= 8
    extents = [t.get_window_extent(renderer) for t in inside_texts(spec)]
    assert not any(overlaps(a, b) for i, a in enumerate(extents) for b in extents[i + 1:])
    # nothing translucent over the spectrogram: word spans are lines there, not shaded boxes
    assert not [p for p in spec.patches if p.get_alpha() is not None and p.get_facecolor()[3] > 0]


@requires_kokoro_assets
def test_voice_map_names_apart_legend_outside_and_row_explained():
    from workbench.tts.voice_inspect import voice_map

    vmap = voice_map(method="pca", blends=["af_heart:0.5,bm_george:0.5"])
    fig, renderer = drawn(vmap.plot(highlight="af_heart:0.5,bm_george:0.5"))
    ax = fig.axes[0]
    assert "row 99 = style for 100-phoneme inputs" in ax.get_title()
    box = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= box.x1  # beside the axes, so it covers no point
    names = [t for t in inside_texts(ax)]
    assert len(names) >= 0.7 * len(vmap.coords)
    assert "af_heart:0.5,bm_george:0.5" in {t.get_text() for t in names}
    extents = [t.get_window_extent(renderer) for t in names]
    assert not any(overlaps(a, b) for i, a in enumerate(extents) for b in extents[i + 1:])
    assert min(t.get_fontsize() for t in names) >= TEACHING_FONTSIZE
