"""The CTC trellis and its Viterbi best path, in numpy with bounded memory.

A label sequence ``l_0 .. l_{L-1}`` becomes the extended state sequence
``blank, l_0, blank, l_1, ..., l_{L-1}, blank`` (``S = 2L + 1`` states; label ``j`` is state
``2j + 1``).  A path stays in its state, moves one state on, or skips the blank between two
*different* labels (a repeated letter needs a blank between, as CTC decoding merges repeats).
Optional "star" labels (a wildcard that absorbs untranscribed speech) may be skipped too.

:func:`viterbi` loops over frames and works on whole state vectors per frame (no Python loop
over states).  Each frame only touches the states that can still lie on a complete path
(reachable from the start in ``t`` frames and able to reach the end in the frames left), or,
with ``beam``, the states within ``beam`` nats of the frame's best.  Backpointers are one
``int8`` code per live cell; when they would exceed ``max_backpointer_bytes`` (an hour of
audio is 180,000 frames x ~40,000 states = 7 GB) the pass keeps score checkpoints every
``K`` frames instead and recomputes one segment of backpointers at a time while tracing back
(checkpointed Viterbi: ~2x the compute, memory ``O(T/K * S + K * S)``).  Scores are kept
relative to each frame's best in float32 (Viterbi is invariant to per-frame constants), so
precision does not decay over long inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import AlignmentError

NEG_INF = np.float32(-np.inf)


@dataclass(frozen=True)
class Trellis:
    """The extended state sequence of a label sequence and its allowed moves."""

    labels: np.ndarray  # [L] emission column of each label (a vocab id, or the star column)
    star: np.ndarray  # [L] bool: optional wildcard labels
    blank: int  # emission column of blank
    ids: np.ndarray = field(repr=False)  # [S] emission column per state
    token: np.ndarray = field(repr=False)  # [S] label index per state, -1 for blanks
    skip_masks: dict = field(repr=False)  # offset -> [S] float32 additive mask (0 allowed, -inf not)
    need_before: np.ndarray = field(repr=False)  # [S] frames needed before a path can be in this state
    need_after: np.ndarray = field(repr=False)  # [S] frames needed after this state to reach an end
    initial: np.ndarray = field(repr=False)  # [S] bool
    final: np.ndarray = field(repr=False)  # [S] bool

    @property
    def num_states(self) -> int:
        return int(self.ids.shape[0])

    @property
    def min_frames(self) -> int:
        """Fewest frames any complete path needs: mandatory labels + blanks between repeats."""
        return int(self.need_after[self.initial].min()) + 1

    @property
    def repeats(self) -> int:
        """Adjacent equal mandatory labels (each pair needs a blank frame between)."""
        mandatory = self.labels[~self.star]
        return int(np.count_nonzero(mandatory[1:] == mandatory[:-1])) if mandatory.size else 0

    @property
    def max_offset(self) -> int:
        return max([1, *self.skip_masks])


def build_trellis(labels, blank: int, *, star=None) -> Trellis:
    """The trellis of ``labels`` (emission columns); ``star[j]`` marks optional wildcard labels.

    Moves into state ``s``: from ``s`` and ``s-1`` always; from ``s-2`` into a label that differs
    from the label before it, and into the blank after a star from the blank before it.  A star
    is skipped entirely by the moves blank-before-star -> label-after-star (``s-3``) and
    label-before-star -> label-after-star (``s-4``, when those two labels differ), so a trellis
    with its stars skipped allows exactly the paths of the trellis without them.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    star = np.zeros(labels.shape, dtype=bool) if star is None else np.asarray(star, dtype=bool).reshape(-1)
    if star.shape != labels.shape:
        raise ValueError(f"star mask has {star.size} entries for {labels.size} labels")
    if np.any(star[1:] & star[:-1]):
        raise ValueError("two star labels in a row; one star already absorbs any number of frames")
    L = labels.size
    S = 2 * L + 1
    ids = np.full(S, blank, dtype=np.int64)
    ids[1::2] = labels
    token = np.full(S, -1, dtype=np.int64)
    token[1::2] = np.arange(L)

    allow = {off: np.zeros(S, dtype=bool) for off in (2, 3, 4)}
    if L > 1:
        j = np.arange(1, L)
        allow[2][2 * j + 1] = labels[j] != labels[j - 1]  # label after a different label (or a star)
        after_star = j[star[j - 1] & ~star[j]]
        allow[3][2 * after_star + 1] = True  # blank before a star -> the label after it
        ok = after_star[after_star >= 2]
        ok = ok[labels[ok] != labels[ok - 2]]
        allow[4][2 * ok + 1] = True  # label before a star -> the label after it
    allow[2][2 * np.flatnonzero(star) + 2] = True  # blank before a star -> the blank after it
    skip_masks = {off: np.where(a, 0.0, -np.inf).astype(np.float32) for off, a in allow.items()
                  if off == 2 or a.any()}

    # Frames a path needs before it can be in a state, and after it to reach an end (exact
    # for this topology; the window bounds of the recursion come from them).  Stars are free.
    mandatory = ~star
    rep = np.zeros(L, dtype=np.int64)  # 1 where mandatory label j equals the previous mandatory label
    mand_idx = np.flatnonzero(mandatory)
    if mand_idx.size > 1:
        rep[mand_idx[1:][labels[mand_idx[1:]] == labels[mand_idx[:-1]]]] = 1
    cum_m = np.cumsum(mandatory.astype(np.int64))  # mandatory labels in 0..j
    cum_r = np.cumsum(rep)  # blanks needed between repeats up to j
    need_before = np.zeros(S, dtype=np.int64)
    need_after = np.zeros(S, dtype=np.int64)
    if L:
        tot_m, tot_r = int(cum_m[-1]), int(cum_r[-1])
        need_before[1::2] = np.where(star, cum_m + cum_r, cum_m + cum_r - 1)
        need_before[2::2] = cum_m + cum_r
        need_after[1::2] = (tot_m - cum_m) + (tot_r - cum_r)  # label j: later labels and their repeats
        need_after[0:-1:2] = (tot_m - cum_m + mandatory) + (tot_r - cum_r)  # blank before label j
        # a star and the blank before it are as far from the end as the blank after the star
        js = np.flatnonzero(star)
        need_after[2 * js + 1] = need_after[2 * js + 2]
        need_after[2 * js] = need_after[2 * js + 2]
    # both are monotone already; these keep them monotone lower bounds whatever the labels
    need_before = np.minimum.accumulate(need_before[::-1])[::-1].copy()
    need_after = np.minimum.accumulate(need_after)

    initial = np.zeros(S, dtype=bool)
    initial[: min(2, S)] = True
    if L and star[0]:
        initial[: min(4, S)] = True
    final = np.zeros(S, dtype=bool)
    final[max(0, S - 2):] = True
    if L and star[-1]:
        final[max(0, S - 4):] = True
    return Trellis(labels=labels, star=star, blank=int(blank), ids=ids, token=token, skip_masks=skip_masks,
                   need_before=need_before, need_after=need_after, initial=initial, final=final)


@dataclass
class ViterbiResult:
    """The best path through a trellis."""

    states: np.ndarray  # [T] int: trellis state per frame
    score: float  # sum of the emissions along the path (float64)
    checkpointed: bool  # True when backpointers were recomputed segment by segment
    backpointer_bytes: int  # peak bytes held in backpointers
    checkpoint_bytes: int  # bytes held in score checkpoints
    cells: int  # trellis cells computed (both passes)


def _decode_table(offsets: list[int]) -> np.ndarray:
    """Backpointer code -> state offset: the highest set bit wins (later candidates won the max)."""
    table = np.zeros(1 << (len(offsets) + 1), dtype=np.int64)
    for code in range(table.size):
        off = 0
        if code & 1:
            off = 1
        for bit, o in enumerate(offsets, start=1):
            if code & (1 << bit):
                off = o
        table[code] = off
    return table


class _Runner:
    """Frame-by-frame Viterbi recursion over a window of live states.

    A window is ``(lo, P)``: ``P[pad + i]`` is the score of state ``lo + i`` relative to the
    frame's best, with ``pad`` cells of -inf on both sides so the shifted candidate vectors
    (stay, +1, +2, +3, +4) are plain slices.
    """

    def __init__(self, emissions: np.ndarray, trellis: Trellis, beam: float | None,
                 normalise_every: int = 16) -> None:
        self.E = emissions
        self.tr = trellis
        self.T = int(emissions.shape[0])
        self.S = trellis.num_states
        self.beam = None if beam is None else float(beam)
        self.every = 1 if beam is not None else normalise_every
        self.pad = trellis.max_offset
        self.skips = [(off, 1 << bit, trellis.skip_masks[off]) for bit, off in enumerate(sorted(trellis.skip_masks), 1)]
        self.table = _decode_table(sorted(trellis.skip_masks))
        # states that can lie on a complete path at frame t: reachable in t frames, able to finish in the rest
        t = np.arange(self.T)
        hi = np.searchsorted(trellis.need_before, t, side="right")
        lo = np.searchsorted(-trellis.need_after, -(self.T - 1 - t), side="left")
        self._cum = np.concatenate([[0], np.cumsum(np.maximum(hi - lo, 0))])  # cells of the exact recursion
        self.max_cells = int(self._cum[-1])
        self.hi, self.lo = hi.tolist(), lo.tolist()  # python ints: cheap to index per frame
        self._block = (0, 0, 0, None)  # (t0, t1, state0, gathered emissions) when beam is None

    def emit(self, t: int, c_lo: int, c_hi: int) -> np.ndarray:
        """Emission log-probs of states ``c_lo..c_hi`` at frame ``t``."""
        if self.beam is not None:  # narrow, unpredictable windows: gather per frame
            return self.E[t].take(self.tr.ids[c_lo:c_hi])
        t0, t1, s0, G = self._block
        if not t0 <= t < t1:  # gather up to 256 frames (at most 2**20 cells) over their window bounds at once
            width = max(1, self.hi[min(self.T - 1, t + 255)] - self.lo[t])
            t0, t1 = t, min(self.T, t + max(1, min(256, (1 << 20) // width)))
            s0, s1 = self.lo[t], self.hi[t1 - 1]
            G = self.E[t0:t1].take(self.tr.ids[s0:s1], axis=1)
            self._block = (t0, t1, s0, G)
        return G[t - t0, c_lo - s0:c_hi - s0]

    def cells_between(self, t0: int, t1: int) -> int:
        """Upper bound of the cells frames ``t0..t1-1`` compute without a beam."""
        return int(self._cum[t1] - self._cum[t0])

    def start(self) -> tuple[int, np.ndarray]:
        init = np.flatnonzero(self.tr.initial)
        lo, hi = max(self.lo[0], int(init[0])), min(self.hi[0], int(init[-1]) + 1)
        if lo >= hi:
            raise AlignmentError("no state can start a complete path (the labels cannot fit the frames)")
        n, pad = hi - lo, self.pad
        P = np.full(n + 2 * pad, NEG_INF, dtype=np.float32)
        P[pad:pad + n] = self.E[0].take(self.tr.ids[lo:hi])
        P[pad:pad + n][~self.tr.initial[lo:hi]] = NEG_INF
        return self._normalise(lo, P, 0)

    def _normalise(self, lo: int, P: np.ndarray, t: int) -> tuple[int, np.ndarray]:
        pad = self.pad
        best = P[pad:P.size - pad]
        m = np.maximum.reduce(best)
        if not np.isfinite(m):
            raise AlignmentError(
                f"every path has zero probability at frame {t} (log-probs of -inf or NaN in the emissions?); "
                "check the emissions, or widen the beam")
        best -= m
        if self.beam is not None:
            keep = best >= -self.beam
            k0, k1 = int(keep.argmax()), best.size - int(keep[::-1].argmax())
            if k0 or k1 < best.size:
                P[k0:k0 + pad] = NEG_INF
                P[pad + k1:k1 + 2 * pad] = NEG_INF
                P = P[k0:k1 + 2 * pad]
                lo += k0
        return lo, P

    def step(self, t: int, lo: int, P: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """Frame ``t`` from frame ``t-1``'s window: the new window and its backpointer codes."""
        pad = self.pad
        c_lo = max(lo, self.lo[t])
        c_hi = min(lo + P.size - pad, self.hi[t])
        n = c_hi - c_lo
        if n <= 0:
            raise AlignmentError(
                f"the beam pruned every state that can still finish by the last frame (frame {t}); "
                "use a wider beam or beam=None")
        base = pad + c_lo - lo
        Q = np.empty(n + 2 * pad, dtype=np.float32)
        Q[:pad] = NEG_INF
        Q[pad + n:] = NEG_INF
        best = Q[pad:pad + n]
        c0 = P[base:base + n]
        c1 = P[base - 1:base - 1 + n]
        np.maximum(c0, c1, out=best)
        code = np.greater(c1, c0).view(np.int8)
        for off, bit, mask in self.skips:
            cand = np.add(P[base - off:base - off + n], mask[c_lo:c_hi])
            won = np.greater(cand, best)
            np.maximum(best, cand, out=best)
            if bit == 2:
                np.add(code, won, out=code, casting="unsafe")
                np.add(code, won, out=code, casting="unsafe")
            else:
                code += won.view(np.int8) * np.int8(bit)
        best += self.emit(t, c_lo, c_hi)
        if t % self.every == 0 or t == self.T - 1:
            new_lo, Q = self._normalise(c_lo, Q, t)
            if new_lo != c_lo or Q.size != n + 2 * pad:
                code = code[new_lo - c_lo:new_lo - c_lo + Q.size - 2 * pad]
            c_lo = new_lo
        return c_lo, Q, code


class _Backpointers:
    """Backpointer codes of consecutive frames in one flat int8 buffer (no Python object per frame)."""

    def __init__(self, frames: int, budget: int, *, expect: int | None = None) -> None:
        self.budget = int(budget)
        self.buf = np.empty(min(self.budget, expect if expect is not None else 1 << 20), dtype=np.int8)
        self.off = np.zeros(frames, dtype=np.int64)
        self.lo = np.zeros(frames, dtype=np.int64)
        self.used = 0

    def add(self, k: int, lo: int, code: np.ndarray) -> bool:
        """Store frame ``k``'s codes (window starting at state ``lo``); False when over budget."""
        end = self.used + code.size
        if end > self.budget:
            return False
        if end > self.buf.size:
            grown = np.empty(min(self.budget, max(end, 2 * self.buf.size)), dtype=np.int8)
            grown[:self.used] = self.buf[:self.used]
            self.buf = grown
        self.buf[self.used:end] = code
        self.off[k] = self.used
        self.lo[k] = lo
        self.used = end
        return True

    def trace(self, table: np.ndarray, states: np.ndarray, s: int, k1: int, k0: int, t_of_k0: int) -> int:
        """Follow the codes of frames ``k1 .. k0+1`` (buffer index) back from state ``s`` at ``k1``;
        writes the states of the frames before into ``states`` and returns the state at ``k0``."""
        buf, off, lo = self.buf, self.off, self.lo
        for k in range(k1, k0, -1):
            s -= int(table[buf[off[k] + s - lo[k]]])
            states[t_of_k0 + k - 1] = s
        return s

    @property
    def nbytes(self) -> int:
        return int(self.buf.nbytes + self.off.nbytes + self.lo.nbytes)


def viterbi(emissions: np.ndarray, trellis: Trellis, *, beam: float | None = None,
            max_backpointer_bytes: int = 64 << 20) -> ViterbiResult:
    """Best path of ``trellis`` through ``emissions`` [T, C] (log-probs; columns as in ``trellis.ids``).

    ``beam``: keep only states within ``beam`` nats of each frame's best (faster on long audio;
    exact when ``None``).  Backpointers beyond ``max_backpointer_bytes`` switch to checkpoints
    (see the module doc).  Raises :class:`AlignmentError` when the labels need more frames
    than there are.
    """
    emissions = np.asarray(emissions)
    if emissions.dtype != np.float32:
        emissions = emissions.astype(np.float32)
    T = int(emissions.shape[0])
    if T == 0:
        raise AlignmentError("the emissions have no frames; nothing to align")
    if trellis.min_frames > T:
        raise AlignmentError(
            f"the labels need at least {trellis.min_frames} frames but there are {T}")
    run = _Runner(emissions, trellis, beam)
    S = trellis.num_states
    pad = run.pad
    seg = max(1, int(max_backpointer_bytes // max(S, 1)))  # frames per recomputed segment
    checkpoints: dict[int, tuple[int, np.ndarray]] = {}
    # keep every backpointer when they fit the budget; exact runs that cannot fit go straight to checkpoints
    fits = beam is not None or run.max_cells <= max_backpointer_bytes
    bps: _Backpointers | None = None
    if fits:
        bps = _Backpointers(T, max_backpointer_bytes, expect=None if beam is not None else run.max_cells)

    lo, vals = run.start()
    cells = vals.size - 2 * pad
    for t in range(1, T):
        if t % seg == 0:
            checkpoints[t] = (lo, vals.copy())
        lo, vals, code = run.step(t, lo, vals)
        cells += code.size
        if bps is not None and not bps.add(t, lo, code):
            bps = None  # over budget: trace back segment by segment from the checkpoints
    ck_bytes = sum(v.nbytes for _, v in checkpoints.values())
    live = vals[pad:vals.size - pad]
    fin = trellis.final[lo:lo + live.size] & np.isfinite(live)
    if not fin.any():
        raise AlignmentError("no end state is live at the last frame; widen the beam or use beam=None")
    last = lo + int(np.flatnonzero(fin)[np.argmax(live[fin])])

    states = np.empty(T, dtype=np.int64)
    states[T - 1] = last
    table = run.table
    if bps is not None:
        bps.trace(table, states, last, T - 1, 0, 0)
        peak_bp = bps.used
        checkpointed = False
    else:
        checkpointed = True
        peak_bp = 0
        s = last
        bounds = [0, *sorted(checkpoints), T]
        for i in range(len(bounds) - 2, -1, -1):
            t0, t1 = bounds[i], bounds[i + 1]
            # recompute frames t0..t1-1 with backpointers, from the score window before frame t0
            rows = _Backpointers(t1 - t0, max(S, 1) * (t1 - t0), expect=None if beam is not None else
                                 int(run.cells_between(t0, t1)))
            if t0 == 0:
                lo_, vals_ = run.start()
                first = 1
            else:
                lo_, vals_ = checkpoints[t0]
                first = t0
            for t in range(first, t1):
                lo_, vals_, code = run.step(t, lo_, vals_)
                cells += code.size
                rows.add(t - t0, lo_, code)
            peak_bp = max(peak_bp, rows.used)
            # frames t1-1 .. max(t0,1): the state before each
            s = rows.trace(table, states, s, t1 - 1 - t0, max(t0, 1) - 1 - t0, t0)
            del rows
    score = float(emissions[np.arange(T), trellis.ids[states]].astype(np.float64).sum())
    return ViterbiResult(states=states, score=score, checkpointed=checkpointed, backpointer_bytes=int(peak_bp),
                         checkpoint_bytes=int(ck_bytes), cells=int(cells))
