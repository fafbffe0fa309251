"""Figures of Kokoro synthesis: waveform or spectrogram with word and phoneme spans, and the
round-trip WER per voice.  Each takes ``ax=`` and returns the figure (never shows it)."""
from __future__ import annotations

import numpy as np

from .figure import axes, new_figure


def _spans(ax, result, *, phonemes: bool, max_phoneme_labels: int) -> None:
    words = result.word_timings()
    top = ax.get_ylim()[1]
    for k, w in enumerate(words.itertuples()):
        colour = "#ffcccc" if w.flag else ("#e3ecfa" if k % 2 == 0 else "#eaf6e6")
        ax.axvspan(w.start, w.end, color=colour, alpha=0.55, zorder=0, lw=0)
        ax.text((w.start + w.end) / 2, top, w.word, ha="center", va="bottom", fontsize=7, rotation=0, clip_on=True)
    if phonemes:
        ph = result.phoneme_timings()
        ph = ph[ph.symbol != " "]
        bottom = ax.get_ylim()[0]
        ax.vlines(ph.start.to_numpy(), bottom, top, colors="#999", lw=0.3, zorder=1)
        if len(ph) <= max_phoneme_labels:
            for p in ph.itertuples():
                ax.text((p.start + p.end) / 2, bottom, p.symbol, ha="center", va="bottom", fontsize=6, color="#333")
    for c in result.chunks[1:]:
        ax.axvline(c.offset, color="#c62828", lw=1, ls="--", zorder=2)


def plot_timings(result, *, ax=None, kind: str = "waveform", phonemes: bool = True, max_phoneme_labels: int = 160,
                 n_fft: int = 1024, hop_length: int = 240):
    """The audio of a :class:`~workbench.synthesis.SynthesisResult` with word spans (shaded, flagged
    words red, labels on top), phoneme boundaries (grey lines, symbols at the bottom) and chunk joins
    (red dashed).  ``kind``: ``"waveform"``, ``"spectrogram"`` or ``"both"`` (two stacked axes; pass a
    pair as ``ax`` or none)."""
    if kind not in ("waveform", "spectrogram", "both"):
        raise ValueError(f"kind={kind!r}; use 'waveform', 'spectrogram' or 'both'")
    if kind == "both":
        if ax is None:
            fig = new_figure((max(8, min(24, 1.6 * result.duration)), 5))
            pair = fig.subplots(2, 1, sharex=True)
        else:
            pair = list(ax)
            fig = pair[0].figure
        plot_timings(result, ax=pair[0], kind="waveform", phonemes=False)
        plot_timings(result, ax=pair[1], kind="spectrogram", phonemes=phonemes, max_phoneme_labels=max_phoneme_labels,
                     n_fft=n_fft, hop_length=hop_length)
        return fig
    fig, ax = axes(ax, (max(8, min(24, 1.6 * result.duration)), 3))
    audio = result.audio
    sr = result.sample_rate
    t = np.arange(len(audio)) / sr
    if kind == "waveform":
        ax.plot(t, audio, color="#37474f", lw=0.4, zorder=3)
        peak = float(np.max(np.abs(audio))) if len(audio) else 1.0
        ax.set_ylim(-1.25 * peak, 1.25 * peak)
        ax.set_ylabel("amplitude")
    else:
        import librosa

        spec = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop_length))
        db = librosa.amplitude_to_db(spec, ref=np.max(spec) if spec.size else 1.0)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(0, len(audio) / sr, 0, sr / 2000),
                  zorder=0, alpha=0.9)
        ax.set_ylabel("kHz")
    ax.set_xlim(0, len(audio) / sr)
    _spans(ax, result, phonemes=phonemes, max_phoneme_labels=max_phoneme_labels)
    ax.set_xlabel("seconds")
    ax.set_title(f"{result.voice} · {result.duration:.2f} s · {len(result.chunks)} chunk(s)", fontsize=9, loc="left")
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
