"""Figures of Kokoro synthesis: waveform or spectrogram with word and phoneme spans, and the
round-trip WER per voice.  Each takes ``ax=`` and returns the figure (never shows it)."""
from __future__ import annotations

import numpy as np

from .figure import axes, new_figure
from .labels import TEACHING_FONTSIZE

PHONEME_FONTSIZE = 9.0  # IPA symbols under the spectrogram (>= 8 pt to read them)


STRESS = ("ˈ", "ˌ")  # Kokoro's stress marks are tokens of their own; they are written onto the next phoneme


def _with_stress(ph) -> list[tuple[str, float, float]]:
    """(symbol, start, end) per phoneme, each stress mark joined to the phoneme after it."""
    out: list[tuple[str, float, float]] = []
    mark = None
    for p in ph.itertuples():
        if str(p.symbol) in STRESS:
            mark = (str(p.symbol), float(p.start))
            continue
        text, start = (mark[0] + str(p.symbol), mark[1]) if mark else (str(p.symbol), float(p.start))
        out.append((text, start, float(p.end)))
        mark = None
    return out


def _spans(ax, result, *, phonemes: bool, max_phoneme_labels: int, dark: bool) -> None:
    """Word spans (labelled along the top), phoneme boundaries and symbols (along the bottom) and
    chunk joins.  On a spectrogram (``dark``) spans are lines, not shading, so the image keeps its
    contrast, and labels are white on a dark box."""
    from matplotlib.transforms import blended_transform_factory

    from .labels import place_labels, row_step

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    lo, hi = sorted(ax.get_xlim())
    words = result.word_timings()
    box = {"boxstyle": "square,pad=0.1", "fc": "black" if dark else "white", "ec": "none",
           "alpha": 0.55 if dark else 0.8}
    for k, w in enumerate(words.itertuples()):
        if dark:
            ax.axvline(w.start, color="white", lw=0.8, alpha=0.7, zorder=2)
        else:
            colour = "#ffcccc" if w.flag else ("#e3ecfa" if k % 2 == 0 else "#eaf6e6")
            ax.axvspan(w.start, w.end, color=colour, alpha=0.55, zorder=0, lw=0)
    items = [(str(w.word), float(w.start), float(w.end)) for w in words.itertuples()]
    step = row_step(ax, TEACHING_FONTSIZE)
    for (text, _, _), w, spot in zip(items, words.itertuples(), place_labels(items, lo=lo, hi=hi, ax=ax,
                                                                          fontsize=TEACHING_FONTSIZE, rows=2)):
        if spot is not None:
            colour = ("#ff8a80" if dark else "#c62828") if w.flag else ("white" if dark else "#212121")
            ax.text(spot[0], 0.98 - spot[1] * step, text, transform=trans, ha="center", va="top",
                    fontsize=TEACHING_FONTSIZE, color=colour, bbox=box, clip_on=True, zorder=5)
    if phonemes:
        ph = result.phoneme_timings()
        ph = ph[ph.symbol != " "]
        ax.vlines(ph.start.to_numpy(), 0, 0.12, transform=trans, colors="white" if dark else "#999", lw=0.5,
                  alpha=0.7, zorder=1)
        if len(ph) <= max_phoneme_labels:
            size = PHONEME_FONTSIZE
            pitems = _with_stress(ph)
            for (text, _, _), spot in zip(pitems, place_labels(pitems, lo=lo, hi=hi, ax=ax, fontsize=size, rows=2,
                                                                pad_points=1.0)):
                if spot is not None:
                    ax.text(spot[0], 0.02 + spot[1] * row_step(ax, size), text, transform=trans, ha="center",
                            va="bottom", fontsize=size, color="white" if dark else "#212121", clip_on=True,
                            bbox=box, zorder=5)
    for c in result.chunks[1:]:
        ax.axvline(c.offset, color="#c62828", lw=1, ls="--", zorder=2)


def plot_timings(result, *, ax=None, kind: str = "waveform", phonemes: bool = True, max_phoneme_labels: int = 160,
                 n_fft: int = 1024, hop_length: int = 240):
    """The audio of a :class:`~workbench.tts.synthesis.SynthesisResult` with word spans (shaded, flagged
    words red, labels on top), phoneme boundaries (grey lines, symbols at the bottom) and chunk joins
    (red dashed).  ``kind``: ``"waveform"``, ``"spectrogram"`` or ``"both"`` (two stacked axes; pass a
    pair as ``ax`` or none)."""
    if kind not in ("waveform", "spectrogram", "both"):
        raise ValueError(f"kind={kind!r}; use 'waveform', 'spectrogram' or 'both'")
    if kind == "both":
        if ax is None:
            fig = new_figure((max(10, min(24, 2.2 * result.duration)), 5))
            pair = fig.subplots(2, 1, sharex=True)
        else:
            pair = list(ax)
            fig = pair[0].figure
        plot_timings(result, ax=pair[0], kind="waveform", phonemes=False)
        plot_timings(result, ax=pair[1], kind="spectrogram", phonemes=phonemes, max_phoneme_labels=max_phoneme_labels,
                     n_fft=n_fft, hop_length=hop_length)
        pair[0].set_xlabel("")
        pair[1].set_title("spectrogram: word starts (white lines), phonemes at their predicted times", fontsize=10,
                          loc="left")
        return fig
    fig, ax = axes(ax, (max(10, min(24, 2.2 * result.duration)), 3))
    audio = result.audio
    sr = result.sample_rate
    t = np.arange(len(audio)) / sr
    if kind == "waveform":
        ax.plot(t, audio, color="#37474f", lw=0.4, zorder=3)
        peak = float(np.max(np.abs(audio))) if len(audio) else 1.0
        ax.set_ylim(-1.25 * peak, 1.6 * peak)  # headroom for the word labels
        ax.set_ylabel("amplitude")
    else:
        import librosa

        spec = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop_length))
        db = librosa.amplitude_to_db(spec, ref=np.max(spec) if spec.size else 1.0)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, len(audio) / sr, 0, sr / 2000),
                  zorder=0, vmin=-80, vmax=0)
        ax.set_ylabel("kHz")
    ax.set_xlim(0, len(audio) / sr)
    _spans(ax, result, phonemes=phonemes, max_phoneme_labels=max_phoneme_labels, dark=kind == "spectrogram")
    ax.set_xlabel("seconds")
    ax.set_title(f"{result.voice} · {result.duration:.2f} s · {len(result.chunks)} chunk(s)", fontsize=10, loc="left")
    return fig


def plot_roundtrip(rt, *, ax=None):
    """WER per voice of a round trip, split into words G2P flagged and the rest."""
    fig, ax = axes(ax, (max(4, 0.8 * len(rt.per_voice) + 2), 3.2))
    pv = rt.per_voice
    x = np.arange(len(pv))
    ax.bar(x - 0.2, pv.wer.to_numpy(float), width=0.4, color="#5c6bc0", label="WER")
    ax.bar(x + 0.2, pv.cer.to_numpy(float), width=0.4, color="#26a69a", label="CER")
    ax.set_xticks(x, pv.voice.astype(str), rotation=30, ha="right")
    ax.set_ylabel("error rate")
    ax.set_title(f"round trip through {rt.model}")
    ax.legend(frameon=False)
    return fig
