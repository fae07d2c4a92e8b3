"""Finds the beats of a whole track, once, before rendering: onset envelope, tempo, dynamic programming.

Its one job: from band levels at a fixed envelope rate (:data:`ENVELOPE_RATE` frames a second,
computed in batched FFTs by :mod:`gpurender.audio.analysis`), the times in seconds of the track's
beats and downbeats, and from those the per-frame ``beat``, ``downbeat``, ``tempo`` and
``beat_phase`` series. Everything here is NumPy on small ``[envelope frames]`` series and runs the
same on every machine.

1. **Onset envelope.** Band levels in dB above a floor that follows the music's loudness (40 dB
   under the loudest band nearby, so a hi-hat rising out of the hiss counts for less than a kick
   rising out of the last kick's tail). The envelope is their rise over the higher of the two
   frames before (rises only, averaged over the bands), with the bands below :data:`LOW_HZ`
   counted once more: kick and bass carry the beat in most music, so a kick outranks an off-beat
   hi-hat. Minus its running mean over a second; the DP's reward is that over its running
   maximum, so the strongest onset nearby reads 1.
2. **Silence.** An envelope frame is silent when the RMS of its window is below
   :data:`SILENCE_DB` under the track's loud level (its 99th percentile) or below -80 dBFS. A
   silent stretch longer than :data:`SPLIT_SECONDS` splits the track into parts that are tracked
   apart (so the beat re-locks after a pause); a part spans its first to its last strong onset;
   no beat fires where the sound is silent.
3. **Tempo.** The envelope's autocorrelation in :data:`TEMPO_WINDOW_SECONDS` windows, every
   :data:`TEMPO_HOP_SECONDS`, summed over each period's first multiples, weighted by a log-normal
   prior around :data:`PRIOR_BPM` (which settles the metrical level: 120 BPM kicks with off-beat
   hats are not 240 BPM), smoothed over time by a Viterbi pass that charges for tempo changes.
   It gives a reference period for every moment.
4. **Beats.** Dynamic programming over (beat time, interval) in each part, after Ellis (2007,
   "Beat tracking by dynamic programming") but with a state per interval, so that the tempo is
   local: the beats ``b_k`` with intervals ``p_k = b_k - b_{k-1}`` maximise
   ``sum R(b_k) - BETA * sum ln(p_k / p_ref(b_k))**2 - LAMBDA * sum |ln(p_k / p_{k-1})|``. The
   first term rewards beats on onsets, the second keeps the interval near the tempo estimate
   (weakly: it only settles the metrical level), the third lets the tempo change, at a price per
   change, so a jump from 100 to 130 BPM is followed at the first beat of the new tempo. The
   first beat lies within one interval of the part's start and the last within one of its end
   (beats at either end without an onset are then dropped). The max over the previous interval
   is a 1-D L1 distance transform (two running maxima), so the whole search costs
   ``O(frames * intervals)``.
5. **Downbeats.** Each beat's accent (low-band level just after it, plus how much its chroma
   differs from the previous beat's: chords change on the bar) is compared over 3 and 4 beats
   per bar (4/4 unless 3/4 is clearly better); a Viterbi pass over the bar positions then puts
   the downbeats on the accents, so a missed beat does not shift every later bar.

A beat's time is that of the envelope frame that rises most at it, refined between frames by a
parabola through its neighbours, less one hop (:data:`ONSET_LAG_HOPS`). Frame ``i`` of the video
"has" a beat when its analysis window (which ends at sample ``round(i * sr / fps)``) is the first
to reach the beat's sample. Nothing here reads a clock or a random number: the same samples give
the same beats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Envelope frames per second (hop = round(sample_rate / ENVELOPE_RATE) samples).
ENVELOPE_RATE = 100.0
# A beat's time is its envelope frame's window end less this many hops: a Hann window barely sees
# its newest samples, so the window that rises most at an onset is the one that has taken in
# about one hop of it (measured on kicks: detections 5 ms late with half a hop, 0-1 ms with one).
ONSET_LAG_HOPS = 1.0
# Beat-tracking bands: BEAT_BANDS log-spaced bands from BEAT_MIN_HZ to BEAT_MAX_HZ (capped at Nyquist).
BEAT_BANDS = 32
BEAT_MIN_HZ = 30.0
BEAT_MAX_HZ = 16000.0
# Bands whose centre is below LOW_HZ count twice in the onset envelope and make a beat's accent.
LOW_HZ = 150.0
# Levels are in dB above a floor LEVEL_RANGE_DB under the loudest band nearby (see _levels),
# never lower than QUIET_DB under the track's loudest.
LEVEL_RANGE_DB = 40.0
QUIET_DB = 80.0
# The onset envelope's running mean, subtracted, spans this long.
BASELINE_SECONDS = 1.0
# Tempo range; 40-240 BPM is 25-150 envelope frames.
MIN_BPM = 40.0
MAX_BPM = 240.0
# Log-normal tempo prior: centre and width in octaves.
PRIOR_BPM = 120.0
PRIOR_OCTAVES = 1.0
TEMPO_WINDOW_SECONDS = 6.0
TEMPO_HOP_SECONDS = 0.5
# Tempo windows (and chroma windows) are analysed this many at a time, to bound memory (a block's
# temporaries are a few MB: no more than a short track's whole analysis needs).
WINDOWS_PER_BLOCK = 64
# A period's salience adds the autocorrelation at its first HARMONICS multiples (weighted 1/k).
HARMONICS = 4
# Viterbi over the tempo windows: cost per octave of tempo change between neighbouring windows.
TEMPO_CHANGE_COST = 2.0
# The beat search saves its state every this many envelope frames and recomputes a stretch at a
# time to trace the beats back (see dynamic_beats).
DP_SEGMENT_FRAMES = 8192
# Beat DP weights (see the module docstring); the onset reward is 0..1 (1: the strongest nearby).
BETA = 3.0
LAMBDA = 3.0
# Silence: below SILENCE_DB under the 99th percentile of the windows' RMS, or below SILENCE_FLOOR.
SILENCE_DB = 50.0
SILENCE_FLOOR = 1e-4
# A silent stretch this long splits the track into parts tracked apart.
SPLIT_SECONDS = 0.5
# A beat fires only if the sound within BEAT_GATE_SECONDS after it is not all silent.
BEAT_GATE_SECONDS = 0.1
# The onset reward is the envelope over its running maximum over this many seconds.
NORMALISE_SECONDS = 6.0
# A beat at either end of a part with an onset under this fraction of the part's median is dropped.
TRIM_FRACTION = 0.2
# Downbeats: the bar position may jump (a missed beat, a short bar) for this many standard
# deviations of accent.
BAR_JUMP_COST = 4.0
# 3/4 must have this many times 4/4's accent contrast to win.
METER_MARGIN = 1.25
# Chroma for downbeats: one window of about CHROMA_SECONDS, over CHROMA_HZ.
CHROMA_SECONDS = 0.09
CHROMA_HZ = (100.0, 5000.0)
# A part's beats are tracked from its first to its last onset reaching this (strong onsets read 1).
STRONG_ONSET = 0.3


@dataclass(frozen=True)
class Beats:
    """The beats of one track, in seconds.

    ``times``: every beat that fires (in sound), ascending. ``downbeat``: bool per beat, the first
    beat of a bar. ``grid``: the tracked beat grid, which also runs on through short rests where
    no beat fires; ``grid_part``: the part (sounding stretch) each grid beat belongs to; ``parts``:
    the ``(start, end)`` seconds of each part. ``beats_per_bar``: the meter estimate (3 or 4).
    ``tempo``: the track's overall tempo estimate in BPM (0 when the track is silent).
    """

    times: np.ndarray
    downbeat: np.ndarray
    grid: np.ndarray
    grid_part: np.ndarray
    parts: tuple[tuple[float, float], ...]
    beats_per_bar: int
    tempo: float

    @property
    def downbeats(self) -> np.ndarray:
        return self.times[self.downbeat]


def beat_band_edges(sample_rate: int) -> np.ndarray:
    """The ``BEAT_BANDS + 1`` band edges in Hz of the beat tracker's levels."""
    return np.geomspace(BEAT_MIN_HZ, min(BEAT_MAX_HZ, 0.95 * sample_rate / 2), BEAT_BANDS + 1)


def envelope_hop(sample_rate: int) -> int:
    """Samples between envelope frames: frame ``j``'s window ends at sample ``j * hop``."""
    return max(1, int(round(sample_rate / ENVELOPE_RATE)))


def track_beats(blocks, sample_rate: int, hop: int, mono: np.ndarray | None = None) -> Beats:
    """The beats of a track from its band energies and window RMS, block after block.

    ``blocks()`` gives the track's band energies ``[rows, BEAT_BANDS]`` (power, not dB) and window
    RMS ``[rows]``, consecutive row blocks from envelope frame 0; envelope frame ``j``'s window ends
    at sample ``j * hop``. It is called twice (the loudness floor needs the whole track's loudest
    band first), so the ``[frames, bands]`` table is never held whole: a 10-minute track would
    hold 8 MB for it, and every temporary here stays a block or a per-frame series
    (:func:`table_blocks` wraps arrays). ``mono`` (the samples) adds the chords to the downbeat
    estimate; without it only the low band's accents count.
    """
    rate = sample_rate / hop
    edges = beat_band_edges(sample_rate)
    centres = np.sqrt(edges[:-1] * edges[1:])
    low = centres < LOW_HZ
    top, low_energy, rms = _frame_summaries(blocks, low)
    n = len(rms)
    strength = onset_envelope(blocks, _floor(top, rate), low, rate, n)
    del top
    silent = _silent(rms)
    del rms
    reward = _reward(strength, silent, rate)
    parts = _parts(silent, reward, rate)
    periods = np.arange(int(math.floor(60.0 * rate / MAX_BPM)), int(math.ceil(60.0 * rate / MIN_BPM)) + 1)
    reference, overall = tempo_reference(strength, silent, periods, rate)

    grid_frames: list[np.ndarray] = []
    grid_part: list[np.ndarray] = []
    for index, (a, b) in enumerate(parts):
        frames = a + _trim(dynamic_beats(reward[a:b], np.log(reference[a:b]), periods), reward[a:b])
        grid_frames.append(frames)
        grid_part.append(np.full(len(frames), index))
    frames = np.concatenate(grid_frames) if grid_frames else np.zeros(0, np.int64)
    part_of = np.concatenate(grid_part) if grid_part else np.zeros(0, np.int64)
    grid = (_refine(frames, strength) - ONSET_LAG_HOPS) * (hop / sample_rate)

    sounding = _sounding(frames, silent, rate)
    downbeat_grid, meter = _downbeats(grid, frames, part_of, low_energy, mono, sample_rate, rate)
    return Beats(
        times=grid[sounding],
        downbeat=downbeat_grid[sounding],
        grid=grid,
        grid_part=part_of,
        parts=tuple(((a - ONSET_LAG_HOPS) * hop / sample_rate, (b - ONSET_LAG_HOPS) * hop / sample_rate)
                    for a, b in parts),
        beats_per_bar=meter,
        tempo=60.0 * rate / overall if overall and n else 0.0,
    )


def table_blocks(energy: np.ndarray, rms: np.ndarray, rows: int = 8192):
    """A ``blocks`` callable for :func:`track_beats` over whole ``energy`` and ``rms`` arrays."""
    def blocks():
        for start in range(0, max(len(rms), 1), rows):
            yield energy[start:start + rows], rms[start:start + rows]
    return blocks


def _frame_summaries(blocks, low: np.ndarray):
    """Per envelope frame: the loudest band's energy (float64), the energy below :data:`LOW_HZ`
    (all bands' when none is that low; float32) and the window RMS, from one pass over the blocks."""
    top, lows, rms = [], [], []
    for energy, level in blocks():
        top.append(energy.max(axis=1).astype(np.float64) if energy.size else np.zeros(len(energy)))
        lows.append(energy[:, low].sum(axis=1) if low.any() else energy.sum(axis=1))
        rms.append(np.asarray(level))
    if not rms:
        return np.zeros(0), np.zeros(0, np.float32), np.zeros(0, np.float32)
    return np.concatenate(top), np.concatenate(lows), np.concatenate(rms)


def _floor(top: np.ndarray, rate: float) -> np.ndarray | None:
    """float32 ``[frames]``: the level floor in dB, :data:`LEVEL_RANGE_DB` under the loudest band nearby.

    The floor follows the music's loudness (the running maximum over :data:`NORMALISE_SECONDS`,
    in dB, smoothed over as long again so that it never steps): what rises from far below the
    loud sounds around it (a hi-hat out of the hiss) counts for less than a kick rising out of the
    previous kick's tail, and a quiet intro gets a floor of its own. It never drops more than
    :data:`QUIET_DB` under the track's loudest, so near-silence is not blown up. None when the
    track is silent (every level reads 0).
    """
    from scipy.ndimage import maximum_filter1d

    overall = float(top.max()) if len(top) else 0.0
    if overall <= 0.0:
        return None
    lowest = 10.0 * math.log10(overall) - QUIET_DB
    loud = 10.0 * np.log10(np.maximum(top, overall * 10.0 ** (-QUIET_DB / 10.0)))
    width = max(1, int(round(NORMALISE_SECONDS * rate))) | 1
    loud = _running_mean(maximum_filter1d(loud, size=width, mode="nearest"), width)
    return np.maximum(loud - LEVEL_RANGE_DB, lowest).astype(np.float32)


def _levels(energy: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """float32 band levels of a block in dB above its frames' ``floor``, 0 and up."""
    levels = np.maximum(energy, np.float32(1e-30), dtype=np.float32)
    np.log10(levels, out=levels)
    levels *= np.float32(10.0)
    levels -= floor[:, None]
    return np.maximum(levels, np.float32(0.0), out=levels)


def onset_envelope(blocks, floor: np.ndarray | None, low: np.ndarray, rate: float, n: int) -> np.ndarray:
    """float64 ``[n]``: rise of the levels (low bands counted twice), less its running mean.

    Block by block (``floor`` from :func:`_floor`; None for a silent track: all zeros), carrying
    the last two frames' levels from one block to the next.
    """
    flux = np.zeros(n)
    if floor is None or n == 0:
        return flux
    before = None  # the two frames' levels before the block
    start = 0
    for energy, _ in blocks():
        count = len(energy)
        if count == 0:
            continue
        levels = _levels(energy, floor[start:start + count])
        if before is None:
            before = np.repeat(levels[:1], 2, axis=0)  # frames 0 and 1 rise over frame 0
        joined = np.concatenate([before, levels])
        # A rise counts over the higher of the two frames before: a sustained bass note's level
        # wobbles from one short window to the next with its phase, and that is no onset.
        rise = np.maximum(joined[1:count + 1], joined[:count])
        np.subtract(levels, rise, out=rise)
        np.maximum(rise, 0.0, out=rise)
        flux[start:start + count] = rise.mean(axis=1, dtype=np.float64)
        if low.any():
            flux[start:start + count] += rise[:, low].mean(axis=1, dtype=np.float64)
        before = joined[-2:].copy()
        start += count
    return np.maximum(flux - _running_mean(flux, max(1, int(round(BASELINE_SECONDS * rate)))), 0.0)


def _running_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` frames (edges: over the frames that exist)."""
    padded = np.concatenate([[0.0], np.cumsum(x)])
    index = np.arange(len(x))
    lo = np.clip(index - width // 2, 0, len(x))
    hi = np.clip(index + (width - width // 2), 0, len(x))
    return (padded[hi] - padded[lo]) / np.maximum(hi - lo, 1)


def _silent(rms: np.ndarray) -> np.ndarray:
    if rms.size == 0:
        return np.zeros(0, bool)
    loud = float(np.percentile(rms, 99))
    threshold = max(SILENCE_FLOOR, loud * 10.0 ** (-SILENCE_DB / 20.0))
    return rms < threshold


def _parts(silent: np.ndarray, reward: np.ndarray, rate: float) -> list[tuple[int, int]]:
    """``[a, b)`` frame ranges to track apart: the sounding stretches (joined across silences
    shorter than :data:`SPLIT_SECONDS`), each cut to span its first to its last strong onset (a
    few frames more), so that a fade or a tail of hiss does not make the search squeeze in beats."""
    sounding = np.flatnonzero(~silent)
    if sounding.size == 0:
        return []
    gap = int(round(SPLIT_SECONDS * rate))
    breaks = np.flatnonzero(np.diff(sounding) > gap)
    starts = np.concatenate([[sounding[0]], sounding[breaks + 1]])
    ends = np.concatenate([sounding[breaks], [sounding[-1]]]) + 1
    margin = max(1, int(round(0.05 * rate)))
    parts = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        strong = a + np.flatnonzero(reward[a:b] >= STRONG_ONSET)
        if strong.size:
            parts.append((max(a, int(strong[0]) - margin), min(b, int(strong[-1]) + margin + 1)))
    return parts


def _reward(strength: np.ndarray, silent: np.ndarray, rate: float) -> np.ndarray:
    """The onset envelope over its running maximum (:data:`NORMALISE_SECONDS` wide): the strongest
    onset nearby reads 1, so a quiet verse or a section whose kicks ring on into each other (and so
    rise less) weighs as much as a loud one. Onsets under a tenth of the track's strong ones
    (99th percentile) are not lifted."""
    from scipy.ndimage import maximum_filter1d

    active = strength[~silent]
    overall = float(np.percentile(active, 99)) if active.size else 0.0
    if overall <= 0.0:
        return np.zeros_like(strength)
    local = maximum_filter1d(strength, size=max(1, int(round(NORMALISE_SECONDS * rate))) | 1, mode="constant")
    return strength / np.maximum(local, 0.1 * overall)


def tempo_reference(strength: np.ndarray, silent: np.ndarray, periods: np.ndarray, rate: float):
    """The reference period (envelope frames, float ``[frames]``) at every frame, and the overall one.

    Windowed autocorrelation of the envelope, summed over the period's first :data:`HARMONICS`
    multiples (weighted 1/k: a true beat period repeats at each multiple, where a faster or
    slower level at 3:2 or 2:1 misses some), times the log-normal tempo prior, normalised per
    window; a Viterbi pass over the windows then picks a period per window, paying
    :data:`TEMPO_CHANGE_COST` per octave of change.
    """
    n = len(strength)
    default = 60.0 * rate / PRIOR_BPM
    if n == 0:
        return np.zeros(0), 0.0
    width = int(round(TEMPO_WINDOW_SECONDS * rate))
    hop = max(1, int(round(TEMPO_HOP_SECONDS * rate)))
    centres = np.arange(0, n, hop)
    padded = np.concatenate([np.zeros(width // 2), strength, np.zeros(width)])
    taper = np.hanning(width)
    size = 1 << int(math.ceil(math.log2(2 * width)))
    salience = np.zeros((len(centres), len(periods)))
    for first in range(0, len(centres), WINDOWS_PER_BLOCK):
        block = centres[first:first + WINDOWS_PER_BLOCK]
        windows = padded[block[:, None] + np.arange(width)[None, :]] * taper
        windows -= windows.mean(axis=1, keepdims=True)
        spectrum = np.fft.rfft(windows, size, axis=1)
        acf = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, size, axis=1)[:, :width]
        energy = acf[:, :1]
        acf = np.where(energy > 1e-12, acf / np.maximum(energy, 1e-12), 0.0)
        for multiple in range(1, HARMONICS + 1):
            lags = np.minimum(multiple * periods, width - 1)
            salience[first:first + len(block)] += np.maximum(acf[:, lags], 0.0) / multiple
    bpm = 60.0 * rate / periods
    salience *= np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)[None, :]
    top = salience.max(axis=1, keepdims=True)
    salience /= np.maximum(top, 1e-12)  # in place: a table per tempo window
    quiet = silent[centres]
    salience[quiet] = 0.0
    if not salience.any():
        return np.full(n, default), 0.0
    chosen = _viterbi_l1(salience, np.log2(periods), TEMPO_CHANGE_COST)
    # Each frame takes the period of its nearest window centre.
    nearest = np.minimum((np.arange(n) + hop // 2) // hop, len(centres) - 1)
    reference = periods[chosen][nearest].astype(np.float64)
    overall = periods[int(np.argmax(salience[~quiet].sum(axis=0)))] if (~quiet).any() else 0
    return reference, float(overall)


def _viterbi_l1(score: np.ndarray, x: np.ndarray, cost: float) -> np.ndarray:
    """The state path maximising ``sum score[t, s_t] - cost * sum |x[s_t] - x[s_{t-1}]|`` (x ascending)."""
    steps, states = score.shape
    back = np.zeros((steps, states), np.int16 if states < 2**15 else np.int64)
    total = score[0].copy()
    for t in range(1, steps):
        best, arg = _l1_transform(total[None, :], x, cost)
        back[t] = arg[0]
        total = best[0] + score[t]
    path = np.zeros(steps, np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _l1_transform(values: np.ndarray, x: np.ndarray, cost: float):
    """Per row, ``max_j values[j] - cost * |x[i] - x[j]|`` for every ``i`` and the ``j`` that gives it.

    With ``x`` ascending, the max over ``j <= i`` is a running maximum of ``values + cost * x``
    (less ``cost * x[i]``), and over ``j >= i`` one from the right of ``values - cost * x``.
    """
    states = values.shape[1]
    index = np.broadcast_to(np.arange(states), values.shape)
    rise = values + cost * x
    left = np.maximum.accumulate(rise, axis=1)
    # The latest j <= i where the running maximum was set is the argmax.
    left_arg = np.maximum.accumulate(np.where(rise >= left, index, 0), axis=1)
    fall = (values - cost * x)[:, ::-1]
    right = np.maximum.accumulate(fall, axis=1)
    right_arg = (states - 1) - np.maximum.accumulate(np.where(fall >= right, index, 0), axis=1)
    left, right, right_arg = left - cost * x, right[:, ::-1] + cost * x, right_arg[:, ::-1]
    take_left = left >= right
    return np.where(take_left, left, right), np.where(take_left, left_arg, right_arg)


def dynamic_beats(reward: np.ndarray, log_reference: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Envelope frames of the beats of one part (see the module docstring, step 4).

    ``reward`` and ``log_reference`` (the log of the reference period) are per frame of the part;
    ``periods`` are the allowed intervals in frames, ascending consecutive integers.

    The search keeps a ring of running scores; the choice of each state (the interval of the
    beat before) is needed only to trace the beats back, so it is not kept for the whole part:
    the ring is saved every :data:`DP_SEGMENT_FRAMES`, and the trace back recomputes one
    segment's choices at a time from its saved ring (the same arithmetic, so the same choices).
    Memory stays ``O(segment * intervals)`` plus a ring per segment, for twice the search time.
    """
    n = len(reward)
    if n == 0:
        return np.zeros(0, np.int64)
    count = len(periods)
    x = np.log(periods.astype(np.float64))
    shortest, longest = int(periods[0]), int(periods[-1])
    ring = longest + shortest  # rows kept of the running scores
    segment = shortest * max(1, DP_SEGMENT_FRAMES // shortest)  # a whole number of blocks
    columns = np.arange(count)

    def advance(carried, first, stop, score=None, choice=None):
        # Frames [first, stop), `first` a multiple of `shortest`. A block of `shortest` frames
        # only looks back at frames before the block: do it at once.
        for start in range(first, stop, shortest):
            t = np.arange(start, min(start + shortest, stop))
            before = t[:, None] - periods[None, :]
            chained = before >= 0
            rows = np.where(chained, before, 0) % ring
            gained = np.where(chained, carried[rows, columns[None, :]], 0.0)
            block = reward[t, None] - BETA * (x[None, :] - log_reference[t, None]) ** 2 + gained
            if score is not None:
                score[t % ring] = block  # best score of a beat at t whose interval is periods[i]
            best, arg = _l1_transform(block, x, LAMBDA)
            carried[t % ring] = best  # best score a beat at t hands to a next beat of interval i
            if choice is not None:
                choice[t - first] = arg  # interval of the beat before

    score = np.zeros((ring, count))
    carried = np.zeros((ring, count))
    saved = []
    for first in range(0, n, segment):
        saved.append(carried.copy())
        advance(carried, first, min(first + segment, n), score=score)
    # The last beat: one whose next beat (an interval later) would fall past the end.
    last_t = np.arange(max(0, n - longest), n)
    ends = score[last_t % ring]
    ends = np.where(last_t[:, None] + periods[None, :] >= n, ends, -np.inf)
    row, column = np.unravel_index(int(np.argmax(ends)), ends.shape)
    t, i = int(last_t[row]), int(column)
    del score, carried, ends
    beats = [t]
    choice = np.zeros((min(segment, n), count), np.int8 if count < 128 else np.int16)
    loaded = None
    while t - periods[i] >= 0:
        t -= int(periods[i])
        k = t // segment
        if k != loaded:
            advance(saved[k], k * segment, min((k + 1) * segment, n), choice=choice)
            saved[k + 1:] = []
            loaded = k
        i = int(choice[t - k * segment, i])
        beats.append(t)
    return np.asarray(beats[::-1], np.int64)


def _trim(frames: np.ndarray, reward: np.ndarray) -> np.ndarray:
    """Drops the beats at either end of a part that have no onset (under :data:`TRIM_FRACTION` of the
    median onset at the part's beats): the DP must place a beat within an interval of each end, but
    a fade-out or a tail of hiss has none."""
    if frames.size == 0:
        return frames
    values = reward[frames]
    keep = np.flatnonzero(values >= TRIM_FRACTION * float(np.median(values)))
    if keep.size == 0:
        return frames[:0]
    return frames[keep[0]:keep[-1] + 1]


def _refine(frames: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Beat frames as fractional frames: the vertex of a parabola through the peak and its neighbours."""
    if frames.size == 0:
        return frames.astype(np.float64)
    n = len(strength)
    left = strength[np.clip(frames - 1, 0, n - 1)]
    mid = strength[frames]
    right = strength[np.clip(frames + 1, 0, n - 1)]
    curve = left - 2 * mid + right
    peak = (mid >= left) & (mid >= right) & (curve < 0)
    shift = np.where(peak, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    return frames + np.clip(shift, -0.5, 0.5)


def _sounding(frames: np.ndarray, silent: np.ndarray, rate: float) -> np.ndarray:
    """Per grid beat: whether any window within :data:`BEAT_GATE_SECONDS` after it has sound."""
    if frames.size == 0:
        return np.zeros(0, bool)
    n = len(silent)
    span = max(1, int(round(BEAT_GATE_SECONDS * rate)))
    loud = np.concatenate([[0], np.cumsum(~silent)])
    return loud[np.minimum(frames + span + 1, n)] - loud[np.minimum(frames, n)] > 0


def _downbeats(grid: np.ndarray, frames: np.ndarray, part_of: np.ndarray, low_energy: np.ndarray,
               mono: np.ndarray | None, sample_rate: int, rate: float):
    """Per grid beat: whether it starts a bar; and the beats per bar (3 or 4).

    Two accents per beat, each in standard deviations over the track: the low-band level over
    the :data:`BEAT_GATE_SECONDS` after it (a louder kick, a bass note), and how far its chroma
    (pitch classes, from one :data:`CHROMA_SECONDS` window three quarters into the beat, past the
    drums' transients) is from the previous beat's (chords change on the bar). For 3 and 4 beats
    per bar and each bar position, the contrast is the mean accent at that position less the mean
    elsewhere; the meter with the higher beat-weighted contrast (over the parts, each at its best
    position) wins, 3 only by :data:`METER_MARGIN` times. The bar positions themselves follow the
    accents beat by beat (:func:`_bar_positions`), so a missed beat does not shift every later bar.
    """
    result = np.zeros(len(frames), bool)
    if len(frames) == 0:
        return result, 4
    n = len(low_energy)
    span = max(1, int(round(BEAT_GATE_SECONDS * rate)))
    starts = np.minimum(frames, n - 1)
    # Averaged over the span: a short window's level of a low note wobbles with its phase.
    summed = np.concatenate([[0.0], np.cumsum(low_energy)])
    ends = np.minimum(starts + span, n)
    mean = (summed[ends] - summed[starts]) / np.maximum(ends - starts, 1)
    level = 10.0 * np.log10(np.maximum(mean, 1e-30))
    level = np.maximum(level, level.max() - LEVEL_RANGE_DB)
    first = np.concatenate([[True], part_of[1:] != part_of[:-1]])
    change = np.zeros(len(frames))
    if mono is not None and len(grid) > 1:
        change = _chroma_change(mono, sample_rate, grid, part_of)
    accent = _standard(level) + _standard(change, ~first)

    parts = np.unique(part_of)
    contrast: dict[int, float] = {}
    offsets: dict[int, list[int]] = {}
    for meter in (3, 4):
        total, weight, best = 0.0, 0, []
        for part in parts:
            a = accent[part_of == part]
            if len(a) < 2 * meter:
                best.append(0)
                continue
            position = np.arange(len(a)) % meter
            values = [a[position == o].mean() - a[position != o].mean() for o in range(meter)]
            o = int(np.argmax(values))
            best.append(o)
            total += values[o] * len(a)
            weight += len(a)
        contrast[meter] = total / weight if weight else 0.0
        offsets[meter] = best
    meter = 3 if contrast[3] > METER_MARGIN * max(contrast[4], 0.0) and contrast[3] > 0 else 4
    for k, part in enumerate(parts):
        members = np.flatnonzero(part_of == part)
        if len(members) < 2 * meter:
            result[members] = (np.arange(len(members)) % meter) == 0
            continue
        result[members] = _bar_positions(accent[members], meter) == 0
    return result, meter


def _bar_positions(accent: np.ndarray, meter: int) -> np.ndarray:
    """Each beat's position in its bar (0 = downbeat): the Viterbi path that collects the most
    accent on downbeats, stepping one position a beat, or jumping (a missed or an extra beat, a
    bar cut short) for :data:`BAR_JUMP_COST` standard deviations of accent."""
    count = len(accent)
    gain = np.zeros((count, meter))
    gain[:, 0] = accent
    step = np.full((meter, meter), -BAR_JUMP_COST)  # [from, to]
    step[np.arange(meter), (np.arange(meter) + 1) % meter] = 0.0
    total = gain[0].copy()
    back = np.zeros((count, meter), np.int64)
    for k in range(1, count):
        candidates = total[:, None] + step
        back[k] = np.argmax(candidates, axis=0)
        total = candidates[back[k], np.arange(meter)] + gain[k]
    path = np.zeros(count, np.int64)
    path[-1] = int(np.argmax(total))
    for k in range(count - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    return path


def _chroma_change(mono: np.ndarray, sample_rate: int, grid: np.ndarray, part_of: np.ndarray) -> np.ndarray:
    """Per grid beat: 1 - cosine similarity of its chroma and the previous beat's (0 for a part's first)."""
    import scipy.fft

    size = 1 << max(8, int(round(math.log2(CHROMA_SECONDS * sample_rate))))
    intervals = np.diff(grid)
    following = np.concatenate([intervals, intervals[-1:]])
    centres = np.round((grid + 0.75 * following) * sample_rate).astype(np.int64)
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate)
    useful = np.flatnonzero((frequencies >= CHROMA_HZ[0]) & (frequencies < CHROMA_HZ[1]))
    pitch_class = np.round(12.0 * np.log2(frequencies[useful] / 440.0)).astype(np.int64) % 12
    fold = np.zeros((len(useful), 12), np.float32)  # bin -> pitch class
    fold[np.arange(len(useful)), pitch_class] = 1.0
    taper = np.hanning(size).astype(np.float32)
    mono = np.asarray(mono, np.float32)
    chroma = np.zeros((len(grid), 12))
    for first in range(0, len(grid), WINDOWS_PER_BLOCK):
        block = centres[first:first + WINDOWS_PER_BLOCK] - size // 2
        # Copied window by window (zeros outside the track): no padded copy of the track and no
        # [windows, size] index table.
        windows = np.zeros((len(block), size), np.float32)
        for row, start in enumerate(block.tolist()):
            a, b = max(start, 0), min(start + size, len(mono))
            if b > a:
                windows[row, a - start:b - start] = mono[a:b]
        windows *= taper
        magnitude = np.abs(scipy.fft.rfft(windows, axis=1)[:, useful])
        chroma[first:first + len(block)] = magnitude @ fold
    norm = np.linalg.norm(chroma, axis=1, keepdims=True)
    chroma = np.where(norm > 1e-12, chroma / np.maximum(norm, 1e-12), 0.0)
    change = np.zeros(len(grid))
    change[1:] = 1.0 - (chroma[1:] * chroma[:-1]).sum(axis=1)
    change[np.concatenate([[True], part_of[1:] != part_of[:-1]])] = 0.0
    return change


def _standard(values: np.ndarray, counted: np.ndarray | None = None) -> np.ndarray:
    """``values`` in standard deviations from their mean (over ``counted``; 0 elsewhere and when flat)."""
    counted = np.ones(len(values), bool) if counted is None else counted
    if counted.sum() < 2:
        return np.zeros(len(values))
    mean, spread = float(values[counted].mean()), float(values[counted].std())
    if spread <= 1e-9:
        return np.zeros(len(values))
    return np.where(counted, (values - mean) / spread, 0.0)


def beat_series(beats: Beats, frame_end: np.ndarray, sample_rate: int, fps: float, decay: float) -> dict:
    """Per video frame: ``beat``, ``downbeat`` (pulses), ``tempo`` (BPM) and ``beat_phase`` (0..1).

    A beat belongs to the first frame whose window end reaches its sample; that frame reads 1 and
    the pulse decays as ``exp(-dt / decay)`` (0 before the first). ``beat_phase`` rises from 0 at
    a grid beat to 1 at the next, over the grid of each part (continued by one interval before
    its first beat and after its last, within the part), and is 0 elsewhere. ``tempo`` is 60 over
    the median of the three grid intervals around the frame's, held through silences and before
    the first beat; 0 when no part has two beats.
    """
    n = len(frame_end)
    times = frame_end.astype(np.float64) / sample_rate
    out = {
        "beat": _pulse(_frames_of(beats.times, frame_end, sample_rate), n, fps, decay),
        "downbeat": _pulse(_frames_of(beats.downbeats, frame_end, sample_rate), n, fps, decay),
    }
    phase = np.zeros(n)
    tempo = np.zeros(n)
    held = None  # (time, bpm) of the latest part's tempo, in time order
    filled_to = 0.0
    first_bpm = None
    for index, (start, end) in enumerate(beats.parts):
        grid = beats.grid[beats.grid_part == index]
        if len(grid) < 2:
            continue
        intervals = np.diff(grid)
        padded = np.concatenate([intervals[:1], intervals, intervals[-1:]])
        local = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)  # per interval
        # Extend the grid by one interval each side, within the part.
        extended = np.concatenate([[grid[0] - intervals[0]], grid, [grid[-1] + intervals[-1]]])
        bpm = np.clip(60.0 / np.concatenate([local[:1], local, local[-1:]]), MIN_BPM, MAX_BPM)
        inside = (times >= start) & (times < end)
        k = np.searchsorted(extended, times[inside], side="right") - 1
        valid = (k >= 0) & (k < len(extended) - 1)
        kk = np.clip(k, 0, len(extended) - 2)
        where = np.flatnonzero(inside)
        phase[where[valid]] = ((times[inside] - extended[kk]) / (extended[kk + 1] - extended[kk]))[valid]
        tempo[where] = bpm[kk]
        # Between parts, hold the previous part's last tempo; before the first, take its first.
        gap = (times >= filled_to) & (times < start)
        tempo[gap] = held if held is not None else bpm[0]
        if first_bpm is None:
            first_bpm = bpm[0]
        held = bpm[-1]
        filled_to = end
    if held is not None:
        tempo[times >= filled_to] = held
    out["beat_phase"] = np.clip(phase, 0.0, np.nextafter(1.0, 0.0))
    out["tempo"] = tempo
    return {name: value.astype(np.float32) for name, value in out.items()}


def _frames_of(times: np.ndarray, frame_end: np.ndarray, sample_rate: int) -> np.ndarray:
    """The first frame whose window end reaches each time's sample (frames past the end dropped)."""
    if len(times) == 0 or len(frame_end) == 0:
        return np.zeros(0, np.int64)
    samples = np.round(np.asarray(times) * sample_rate).astype(np.int64)
    frames = np.searchsorted(frame_end, samples, side="left")
    return np.unique(frames[frames < len(frame_end)])


def _pulse(frames: np.ndarray, n: int, fps: float, decay: float) -> np.ndarray:
    """1 on ``frames``, ``exp(-dt / decay)`` after each, 0 before the first."""
    marks = np.full(n, -1, np.int64)
    marks[frames] = frames
    last = np.maximum.accumulate(marks) if n else marks
    if decay <= 0:
        return (np.arange(n) == last).astype(np.float64)
    since = (np.arange(n) - last) / fps
    return np.where(last >= 0, np.exp(-since / decay), 0.0)
