"""The self-contained HTML report: escaping, embedded figures/audio, provenance, plots."""
from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from workbench.reports.report import Report, markdownish
from workbench.scoring.compare import compare_systems
from workbench.scoring.wer import score_corpus

EVIL = '<script>alert("x")</script>'


def test_text_and_tables_are_escaped():
    rep = Report(f"title {EVIL}", subtitle="a & b")
    rep.heading(EVIL).text(f"transcript: {EVIL}\n\n- file <a.wav>\n- **bold** & `co<de>`")
    rep.table(pd.DataFrame({"id": ["u<1>"], "hypothesis": [EVIL], "wer": [0.25]}), caption=EVIL)
    doc = rep.to_html()
    assert "<script>" not in doc
    assert doc.count("&lt;script&gt;") >= 4
    assert "u&lt;1&gt;" in doc and "0.2500" in doc
    assert "<li>file &lt;a.wav&gt;</li>" in doc and "<b>bold</b>" in doc and "<code>co&lt;de&gt;</code>" in doc


def test_markdownish_blocks():
    out = markdownish("# Head\n\npara one\nline two\n\n- a\n- b")
    assert out == "<h2>Head</h2>\n<p>para one<br>line two</p>\n<ul><li>a</li><li>b</li></ul>"


def test_figures_and_audio_are_embedded(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig2, ax2 = plt.subplots()
    ax2.bar([0], [1])
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000).astype(np.float32)
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone, 16000)
    rep = Report("figs").figure(fig, caption="png").figure(fig2, format="svg").audio(tone, 16000).audio(wav)
    doc = rep.to_html()
    png = re.search(r'src="data:image/png;base64,([^"]+)"', doc).group(1)
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in doc and "<?xml" not in doc
    clips = re.findall(r'src="data:audio/wav;base64,([^"]+)"', doc)
    assert len(clips) == 2
    back, sr = sf.read(io.BytesIO(base64.b64decode(clips[0])))
    assert sr == 16000 and len(back) == 1600 and np.max(np.abs(back - tone)) < 1e-3
    assert not re.search(r'(src|href)="(https?:)?//', doc)  # nothing external
    assert not plt.fignum_exists(fig.number)  # figures are closed once embedded


def test_provenance_and_save(tmp_path):
    rep = Report("prov").provenance(models={"w2v2-tiny-ctc": "rev123"}, corpus="kokoro-eval")
    path = rep.save(tmp_path / "sub" / "r.html")
    doc = path.read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>")
    assert "model w2v2-tiny-ctc" in doc and "rev123" in doc and "kokoro-eval" in doc
    assert "package numpy" in doc and "package jiwer" in doc and "machine python" in doc
    assert re.search(r"<td>date</td><td>\d{4}-\d\d-\d\dT", doc)
    # provenance is added even when never asked for
    assert "Provenance" in Report("none").to_html()
    with pytest.raises(ValueError):
        Report("x").audio(np.zeros(10))


def test_score_diff_html_goes_into_a_report_escaped():
    s = score_corpus({"x": "a <b> c"}, {"x": "a <i> c"}, normalizer="raw", n_boot=0)
    doc = Report("diff").html(s.diff("x", html=True)).to_html()
    assert "&lt;b&gt;" in doc and "&lt;i&gt;" in doc and "<i>" not in doc


def test_scoring_plots_take_ax_and_return_the_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.plots.scoring import plot_char_confusion, plot_speaker_wer, plot_system_scatter, plot_wer_histogram

    refs = {f"u{i}": "one two three four" for i in range(6)}
    a = score_corpus(refs, {f"u{i}": "one two three" if i % 2 else "one two three four" for i in range(6)},
                     speakers={f"u{i}": f"s{i % 3}" for i in range(6)}, name="A", n_boot=50)
    b = score_corpus(refs, {f"u{i}": "one two three four" for i in range(6)}, name="B", n_boot=50)
    fig, axes = plt.subplots(1, 4)
    assert plot_wer_histogram(a, ax=axes[0]) is fig
    assert sum(p.get_height() for p in axes[0].patches) == 6  # every utterance in one bar
    assert plot_speaker_wer(a, ax=axes[1]) is fig
    assert len(axes[1].patches) == 3
    assert plot_system_scatter(compare_systems({"A": a, "B": b}), ax=axes[2]) is fig
    assert plot_char_confusion(a.char_confusion(), ax=axes[3]) is fig
    plt.close(fig)
    own = a.plot()
    assert own is not fig and own.axes
    plt.close(own)
