"""Figures of CTC alignments: emissions with the path, the trellis, waveform/spectrogram with
segments, per-frame blank probability, per-word confidences and confidence reliability.

Every function takes keyword options and ``ax=`` and returns the figure (never shows it).
Without ``ax`` a new ``matplotlib.figure.Figure`` is made (not a pyplot figure, so nothing
leaks or shows twice in notebooks).  ``time_range=(t0, t1)`` (seconds) zooms any time axis.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .figure import axes
from .labels import TEACHING_FONTSIZE, axes_size_points

OP_COLOURS = {"substitute": "#ef6c00", "delete": "#c62828", "insert": "#6a1b9a", "equal": "#2e7d32"}
WORD_COLOUR = "#1565c0"
LOW_COLOUR = "#c62828"


def _analysis_of(obj):
    """(analysis, alignment) from an UtteranceAnalysis or an Alignment."""
    if hasattr(obj, "words") and hasattr(obj, "analysis"):  # an Alignment (duck-typed: plots sit below asr)
        return obj.analysis, obj
    return obj, None


def _zoom(ax, time_range, duration: float | None = None) -> None:
    if time_range is not None:
        ax.set_xlim(float(time_range[0]), float(time_range[1]))
    elif duration is not None:
        ax.set_xlim(0.0, duration)


def _word_labels(ax, items, *, colours, fontsize: float, top: bool = True, rows: int = 3,
                 text_colour=None) -> int:
    """Draw ``items`` = ``[(text, start, end)]`` as non-overlapping labels inside the x-range
    (rows from the top, or from the bottom with ``top=False``); returns how many did not fit."""
    from matplotlib.transforms import blended_transform_factory

    from .labels import place_labels, row_step

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    lo, hi = sorted(ax.get_xlim())
    step = row_step(ax, fontsize)
    spots = place_labels(items, lo=lo, hi=hi, ax=ax, fontsize=fontsize, rows=rows)
    missed = 0
    for (text, start, end), colour, spot in zip(items, colours, spots):
        if spot is None:
            missed += int(end > lo and start < hi)
            continue
        x, row = spot
        y = 0.98 - row * step if top else 0.02 + row * step
        bbox = {"boxstyle": "square,pad=0.1", "fc": "black" if text_colour == "white" else "white", "ec": "none",
                "alpha": 0.55 if text_colour == "white" else 0.75}
        ax.text(x, y, text, transform=trans, ha="center", va="top" if top else "bottom", fontsize=fontsize,
                color=text_colour or colour, clip_on=True, bbox=bbox, zorder=5)
    return missed


def _mark_words(ax, alignment, *, ymax: float = 1.0, label: bool = True, errors=None,
                fontsize: float = TEACHING_FONTSIZE, shade: bool = True, text_colour=None) -> None:
    """Shade word spans (coloured by WER error op when ``errors`` is given) and label them inside the
    current x-range (call after zooming).  Insertions are drawn as ``+word`` along the bottom."""
    ops = {}
    if errors is not None and len(errors):
        for _, row in errors.iterrows():
            if not _isnan(row.get("ref_index")):
                ops[int(row["ref_index"])] = row["op"]
    items, colours = [], []
    for i, w in enumerate(alignment.words):
        colour = OP_COLOURS.get(ops.get(w.index, ""), LOW_COLOUR if w.low_confidence else WORD_COLOUR)
        if shade:
            ax.axvspan(w.start, w.end, ymin=0, ymax=ymax, color=colour, alpha=0.12 if i % 2 else 0.2, lw=0)
        items.append((w.word, w.start, w.end))
        colours.append(colour)
    if label:
        _word_labels(ax, items, colours=colours, fontsize=fontsize, text_colour=text_colour)
    for s in alignment.stars:
        ax.axvspan(s.start, s.end, color="#757575", alpha=0.25, lw=0, hatch="//")
    if errors is not None and len(errors):
        inserts = []
        for _, row in errors[errors["op"] == "insert"].iterrows():
            if _isnan(row.get("start")) or _isnan(row.get("end")):
                continue
            if shade:
                ax.axvspan(row["start"], row["end"], color=OP_COLOURS["insert"], alpha=0.25, lw=0)
            if not _isnan(row.get("hyp")):  # an insertion has a hypothesis word and no reference word
                inserts.append((f"+{row['hyp']}", float(row["start"]), float(row["end"])))
        if label and inserts:
            _word_labels(ax, inserts, colours=[OP_COLOURS["insert"]] * len(inserts), fontsize=fontsize, top=False,
                         rows=2, text_colour=text_colour)


def _isnan(v) -> bool:
    """True for None, NaN and pandas' NA (nullable integer columns hold ``pd.NA``)."""
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- emissions + path
def plot_emissions(analysis, *, alignment=None, ax=None, probabilities: bool = True, time_range=None,
                   show_special: bool = False, cmap: str = "magma"):
    """Heatmap of the emissions (vocabulary x time) with the alignment's path overlaid.

    ``probabilities``: posteriors (0..1) instead of log-probs.  Special tokens (``<s>``...) are
    hidden unless ``show_special``; blank is the bottom row.
    """
    from ..models.ctc import SPECIAL

    analysis, own = _analysis_of(analysis)
    alignment = alignment if alignment is not None else own
    lp = np.asarray(analysis.log_probs)
    vocab = list(analysis.vocab)
    blank = analysis.blank_id
    rows = [blank] + [i for i, tok in enumerate(vocab) if i != blank and (show_special or tok not in SPECIAL)]
    names = ["·" if i == blank else vocab[i] for i in rows]
    mat = lp[:, rows].T
    if probabilities:
        mat = np.exp(mat)
    fs = analysis.frame_seconds
    T = lp.shape[0]
    fig, ax = axes(ax, (10.0, 4.2))
    im = ax.imshow(mat, aspect="auto", origin="lower", interpolation="nearest", cmap=cmap,
                   extent=(0, T * fs, -0.5, len(rows) - 0.5), vmin=0 if probabilities else None,
                   vmax=1 if probabilities else None)
    _, height_pt = axes_size_points(ax)  # letters as large as their rows allow (9 pt on the default figure)
    ax.set_yticks(range(len(rows)), names, fontsize=float(np.clip(0.9 * height_pt / len(rows), 6.0, 10.0)))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("token")
    fig.colorbar(im, ax=ax, label="posterior" if probabilities else "log-prob", pad=0.01)
    if alignment is not None:
        row_of = {tok: r for r, tok in enumerate(rows)}
        ids = np.asarray(alignment.frame_ids)
        y = np.array([row_of.get(int(i), np.nan) for i in ids], dtype=float)
        x = (np.arange(T) + 0.5) * fs
        ax.plot(x, y, ls="none", marker="s", ms=3.5, mfc="none", mec="#00e5ff", mew=0.9,
                label=f"{alignment.mode} path")
        star = ids >= lp.shape[1]
        if star.any():
            ax.plot(x[star], np.full(star.sum(), len(rows) - 0.5), "s", color="#bdbdbd", ms=3, label="star")
        ax.legend(loc="upper right", fontsize=8, frameon=True)
    ax.set_title(f"{analysis.id}: emissions ({analysis.model})", fontsize=10)
    _zoom(ax, time_range, T * fs)
    return fig


def plot_trellis(alignment, *, ax=None, time_range=None, words: tuple[int, int] | None = None,
                 cmap: str = "viridis", fontsize: float = TEACHING_FONTSIZE + 1):
    """Log-prob of every label of the aligned text (rows, in order) x frames, with the path.

    The path sits on label ``j`` on the frames it emits it and between labels (``j - 0.5``) on
    blank frames: the staircase of a CTC alignment.  ``words=(i, j)`` keeps only the labels of
    words ``i..j-1`` and their frames (a trellis small enough to read letter by letter).  Each
    letter is written on the y axis at ``fontsize`` when the rows are tall enough for it;
    otherwise each word is written once beside its rows, with a line between words.
    """
    analysis = alignment.analysis
    if analysis is None:
        raise ValueError("the alignment has no analysis attached; the trellis needs its emissions")
    lp = np.asarray(analysis.log_probs)
    labels = list(alignment.tokens)
    T = lp.shape[0]
    fs = alignment.frame_seconds
    if words is not None:
        i, j = int(words[0]), int(words[1])
        chosen = [w for w in alignment.words if i <= w.index < j]
        if not chosen:
            raise ValueError(f"words={words!r} selects none of the {len(alignment.words)} aligned words; "
                             f"use a range within 0..{len(alignment.words)}")
        keep = {w.index for w in chosen}
        first = min(k for k, t in enumerate(labels) if t.word_index in keep)
        last = max(k for k, t in enumerate(labels) if t.word_index in keep)
        labels = labels[first:last + 1]
        if time_range is None:
            time_range = (max(0.0, chosen[0].start - 4 * fs), min(T * fs, chosen[-1].end + 4 * fs))
    ids = np.array([t.token_id for t in labels], dtype=int)
    if ids.size == 0:
        fig, ax = axes(ax)
        ax.text(0.5, 0.5, "empty transcript", ha="center", va="center", transform=ax.transAxes)
        return fig
    n = len(labels)
    cols = np.where(ids < lp.shape[1], ids, 0)
    mat = lp[:, cols].T
    mat = np.where((ids >= lp.shape[1])[:, None], np.nan, mat)
    fig, ax = axes(ax, (10.0, float(np.clip(0.2 * n + 1.2, 3.0, 9.0))))
    im = ax.imshow(mat, aspect="auto", origin="lower", interpolation="nearest", cmap=cmap,
                   extent=(0, T * fs, -0.5, n - 0.5), vmin=max(float(np.nanmin(mat)), -20.0), vmax=0)
    fig.colorbar(im, ax=ax, label="log-prob", pad=0.01)
    # y of the path: token position on its frames, half-way between on blank frames
    pos = np.full(T, np.nan)
    for k, t in enumerate(labels):
        pos[t.start_frame:t.end_frame] = k
    known = ~np.isnan(pos)
    last = np.maximum.accumulate(np.where(known, np.arange(T), -1))  # last emitting frame so far
    before = np.where(last >= 0, pos[np.maximum(last, 0)], -1.0)
    filled = np.where(known, pos, before + 0.5)
    if words is not None:  # outside the chosen words the path leaves the plotted rows
        filled = np.where((filled < -0.5) | (filled > n - 0.5), np.nan, filled)
    ax.step((np.arange(T) + 0.5) * fs, filled, where="mid", color="#ff1744", lw=1.5, label=f"{alignment.mode} path")
    _, height_pt = axes_size_points(ax)
    if 0.8 * height_pt / n >= 1.1 * fontsize:  # one letter per row fits
        ax.set_yticks(range(n), ["|" if t.char == "|" else t.char for t in labels], fontsize=fontsize)
        ax.set_ylabel("letter of the aligned text (| = word gap)")
    else:
        spans: dict[int, list[int]] = {}
        for k, t in enumerate(labels):
            if t.word_index >= 0:
                spans.setdefault(t.word_index, []).append(k)
        names = {w.index: w.word for w in alignment.words}
        ticks, texts, gap = [], [], 1.2 * fontsize * n / (0.8 * height_pt)  # rows one label needs
        for wi, ks in spans.items():
            centre = (min(ks) + max(ks)) / 2
            if not ticks or centre - ticks[-1] >= gap:  # thin the words whose labels would overlap
                ticks.append(centre)
                texts.append(names.get(wi, "?"))
        ax.set_yticks(ticks, texts, fontsize=fontsize)
        for ks in spans.values():
            ax.axhline(max(ks) + 0.5, color="white", lw=0.4, alpha=0.5)
        ax.set_ylabel("word of the aligned text (its letters in order)")
    ax.set_xlabel("time (s)")
    ax.set_title(f"{alignment.utterance}: trellis ({alignment.mode}, log-prob {alignment.score:.1f})", fontsize=11)
    ax.legend(loc="lower right", fontsize=9)
    _zoom(ax, time_range, T * fs)
    return fig


# --------------------------------------------------------------------------- audio with segments
def _audio_for(alignment, audio):
    if audio is not None:
        return np.asarray(audio, dtype=np.float32)
    a = alignment.analysis
    if a is None or not a.audio_path:
        raise ValueError("no audio given and the analysis has no audio path; pass audio=...")
    from ..data.audio import load_audio

    return load_audio(a.audio_path, sample_rate=a.sample_rate)


def plot_waveform(alignment, *, audio=None, ax=None, level: str = "word", time_range=None, errors=None):
    """The waveform with word (``level="word"``) or character (``"char"``) segments shaded.

    ``errors``: a :func:`workbench.asr.alignment_errors.localize_errors` table; reference words are
    then coloured by their WER operation and insertions drawn where the model put them.
    The amplitude axis is the whole utterance's (+-1.5 x its peak) also when zoomed, so a
    zoom onto silence shows silence, not magnified noise.
    """
    wav = _audio_for(alignment, audio)
    sr = alignment.sample_rate
    fig, ax = axes(ax, (10.0, 2.6))
    duration = wav.size / sr
    peak = float(np.max(np.abs(wav))) if wav.size else 1.0
    t = np.arange(wav.size) / sr
    if time_range is not None:
        keep = (t >= time_range[0]) & (t <= time_range[1])
        t, wav = t[keep], wav[keep]
    step = max(1, t.size // 20000)
    ax.plot(t[::step], wav[::step], color="#424242", lw=0.5)
    ax.set_ylim(-1.5 * (peak or 1.0), 1.5 * (peak or 1.0))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    _zoom(ax, time_range, duration)
    _segments(ax, alignment, level=level, errors=errors)
    ax.set_title(f"{alignment.utterance}: {alignment.mode} {level} segments", fontsize=10)
    return fig


def plot_spectrogram(alignment, *, audio=None, ax=None, level: str = "word", time_range=None, errors=None,
                     n_fft: int = 512, hop_length: int = 160, n_mels: int = 80):
    """A log-mel spectrogram (librosa) with word or character boundaries (lines, no shading, so the
    spectrogram keeps its contrast)."""
    import librosa
    import librosa.display

    wav = _audio_for(alignment, audio)
    sr = alignment.sample_rate
    mel = librosa.feature.melspectrogram(y=wav, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    db = librosa.power_to_db(mel, ref=np.max)
    fig, ax = axes(ax, (10.0, 3.2))
    librosa.display.specshow(db, sr=sr, hop_length=hop_length, x_axis="time", y_axis="mel", ax=ax, cmap="magma")
    for seg in (alignment.words if level == "word" else [t for t in alignment.tokens if t.char != "|"]):
        ax.axvline(seg.start, color="white", lw=0.6, alpha=0.8)
        ax.axvline(seg.end, color="white", lw=0.6, alpha=0.4, ls=":")
    _zoom(ax, time_range, wav.size / sr)
    _segments(ax, alignment, level=level, errors=errors, shade=False)
    ax.set_title(f"{alignment.utterance}: log-mel spectrogram, {alignment.mode} {level} boundaries", fontsize=10)
    return fig


def _segments(ax, alignment, *, level: str, errors=None, shade: bool = True) -> None:
    """Word or character spans and labels inside the current x-range (call after zooming)."""
    text_colour = None if shade else "white"
    if level == "word":
        _mark_words(ax, alignment, errors=errors, shade=shade, text_colour=text_colour)
        return
    if level != "char":
        raise ValueError(f"level={level!r}; use 'word' or 'char'")
    tokens = [t for t in alignment.tokens if t.char != "|"]
    if shade:
        for k, tok in enumerate(tokens):
            ax.axvspan(tok.start, tok.end, color=WORD_COLOUR if k % 2 else "#00897b", alpha=0.18, lw=0)
    _word_labels(ax, [(t.char, t.start, t.end) for t in tokens], colours=["black"] * len(tokens),
                 fontsize=TEACHING_FONTSIZE, rows=2, text_colour=text_colour)


# --------------------------------------------------------------------------- per-frame / per-word
def plot_blank_probability(obj, *, alignment=None, ax=None, time_range=None, labels: bool = True, errors=None):
    """Per-frame blank posterior (and the best non-blank's), with the word spans shaded (coloured by
    WER operation when ``errors`` is given, as in :func:`plot_waveform`) and labelled unless
    ``labels=False``."""
    analysis, own = _analysis_of(obj)
    alignment = alignment if alignment is not None else own
    lp = np.asarray(analysis.log_probs)
    fs = analysis.frame_seconds
    x = (np.arange(lp.shape[0]) + 0.5) * fs
    blank = np.exp(lp[:, analysis.blank_id])
    other = np.exp(np.delete(lp, analysis.blank_id, axis=1).max(axis=1))
    fig, ax = axes(ax, (10.0, 2.6))
    ax.plot(x, blank, color="#37474f", lw=1.0, label="blank")
    ax.plot(x, other, color="#ef6c00", lw=0.8, alpha=0.8, label="best non-blank")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("posterior")
    _zoom(ax, time_range, lp.shape[0] * fs)
    if alignment is not None:
        _mark_words(ax, alignment, ymax=1.0, label=labels, errors=errors)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{analysis.id}: blank probability per frame ({np.mean(blank > 0.5):.0%} of frames blank)",
                 fontsize=10)
    return fig


def plot_word_confidence(alignment, *, ax=None, threshold: float | None = None, show_min: bool = True):
    """Bars of each word's confidence (mean char posterior), low ones red, with the threshold line."""
    threshold = alignment.confidence_threshold if threshold is None else threshold
    words = alignment.words
    fig, ax = axes(ax, (max(4.0, 0.35 * len(words) + 1.5), 3.0))
    x = np.arange(len(words))
    conf = np.array([w.confidence for w in words])
    colours = [LOW_COLOUR if c < threshold else WORD_COLOUR for c in conf]
    ax.bar(x, conf, color=colours)
    if show_min and words:
        ax.plot(x, [w.min_confidence for w in words], "_", color="black", ms=10, label="weakest letter")
        ax.legend(loc="upper right", fontsize=8)
    ax.axhline(threshold, color="#616161", ls="--", lw=1)
    ax.set_xticks(x, [w.word for w in words], rotation=60, ha="right", fontsize=TEACHING_FONTSIZE)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("confidence")
    ax.set_title(f"{alignment.utterance}: word confidence ({alignment.mode}); "
                 f"{sum(c < threshold for c in conf)} below {threshold:g}", fontsize=10)
    return fig


def plot_reliability(table, *, ax=None):
    """Reliability diagram of :func:`workbench.asr.alignment_errors.calibration`: accuracy per confidence bin."""
    fig, ax = axes(ax, (4.2, 4.0))
    t = table[table["words"] > 0]
    ax.plot([0, 1], [0, 1], ls="--", color="#9e9e9e", lw=1, label="perfect calibration")
    ax.plot(t["mean_confidence"], t["accuracy"], "o-", color=WORD_COLOUR, label="words")
    for _, row in t.iterrows():
        ax.annotate(str(int(row["words"])), (row["mean_confidence"], row["accuracy"]), fontsize=8,
                    xytext=(3, -8), textcoords="offset points", color="#616161")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("word confidence (bin mean)")
    ax.set_ylabel("fraction of words correct")
    ece = table.attrs.get("ece")
    ax.set_title("confidence reliability" + (f" (ECE {ece:.3f})" if ece is not None else ""), fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_alignment_overview(alignment, *, audio=None, time_range=None, errors=None, level: str = "word"):
    """Waveform with segments, emissions with the path and the blank probability in one figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 9.0), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, height_ratios=[1.0, 1.8, 0.8])
    plot_waveform(alignment, audio=audio, ax=ax1, level=level, time_range=time_range, errors=errors)
    plot_emissions(alignment.analysis, alignment=alignment, ax=ax2, time_range=time_range)
    plot_blank_probability(alignment.analysis, alignment=alignment, ax=ax3, time_range=time_range, labels=False,
                           errors=errors)
    ax1.set_xlabel("")
    ax2.set_xlabel("")
    return fig


def plot_timing_differences(table, *, summary: dict | None = None, ax=None, clip: float = 0.3):
    """Histogram of word start and end differences (CTC minus reference) in seconds.

    Differences beyond +-``clip`` are drawn in the outermost bins (hatched), each edge bin says
    how many of its values lie beyond the clip, and the title gives the total, so a pile-up at
    the edges is never mistaken for the distribution's shape.  ``summary`` is
    :func:`workbench.asr.reference_timing.timing_summary` of ``table`` (its medians go in the title).
    """
    fig, ax = axes(ax, (7.0, 3.8))
    bins = np.linspace(-clip, clip, 41)
    below = above = 0
    for col, colour, label in (("start_diff", "#1565c0", "word start"), ("end_diff", "#ef6c00", "word end")):
        values = table[col].to_numpy(float)
        values = values[np.isfinite(values)]
        below += int((values < -clip).sum())
        above += int((values > clip).sum())
        ax.hist(np.clip(values, -clip, clip), bins=bins, alpha=0.6, color=colour, label=label)
    width = bins[1] - bins[0]
    for count, edge, ha in ((below, -clip, "left"), (above, clip - width, "right")):
        if count:
            ax.axvspan(edge, edge + width, facecolor="none", edgecolor="#757575", hatch="///", lw=0, zorder=0)
            ax.annotate(f"{count} beyond {'-' if edge < 0 else '+'}{clip:g} s", (edge + width / 2, 1.0),
                        xycoords=("data", "axes fraction"), xytext=(0, -4), textcoords="offset points",
                        ha=ha, va="top", fontsize=TEACHING_FONTSIZE, color="#424242",
                        bbox={"boxstyle": "square,pad=0.2", "fc": "white", "ec": "none"})
    ax.axvline(0, color="#424242", lw=0.8)
    ax.set_xlabel("CTC forced alignment minus reference (s)")
    ax.set_ylabel("words")
    title = f"{len(table)} words"
    if summary:
        title += (f": median |start diff| {1000 * summary['start_median']:.0f} ms, "
                  f"|end diff| {1000 * summary['end_median']:.0f} ms")
    if below + above:
        title += f"\n{below + above} start/end differences beyond +-{clip:g} s are counted in the hatched edge bins"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=9, loc="upper center")
    ax.margins(y=0.15)
    return fig
