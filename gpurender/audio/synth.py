"""A built-in, synthesized piece of music, so that the demo and the tests need no audio files.

:func:`demo_track` writes a short loop at 120 bpm in A minor — kick on every beat, snare on two and
four, hi-hats on the eighths, a bass line, sustained chords and a plucked arpeggio — with every
instrument placed where a visual can see it: bass and onsets from the kick, mids from the chords,
treble from the hats. It is deterministic for a given seed (the seed picks the arpeggio's notes
and the hats' noise) and built from whole-array operations, one small array per note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import AudioError
from .decode import AudioData

BPM = 120.0
# Am - F - C - G, one bar each: (bass root MIDI note, chord MIDI notes).
PROGRESSION = ((45, (57, 60, 64)), (41, (57, 60, 65)), (48, (55, 60, 64)), (43, (55, 59, 62)))


def _hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


def demo_track(duration: float = 10.0, sample_rate: int = 48000, seed: int = 0) -> AudioData:
    """A deterministic stereo piece of music, ``duration`` seconds at ``sample_rate`` Hz."""
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise AudioError(f"demo track duration {duration!r} is not valid; give a positive number of seconds")
    if int(sample_rate) != sample_rate or sample_rate < 8000:
        raise AudioError(f"demo track sample rate {sample_rate!r} is not valid; give a whole number of Hz >= 8000")
    sample_rate = int(sample_rate)
    n = max(1, int(round(duration * sample_rate)))
    rng = np.random.default_rng(seed)
    mix = _Mix(n, sample_rate)
    beat = 60.0 / BPM
    bar = 4 * beat
    n_beats = int(math.ceil(n / sample_rate / beat))
    cache: dict = {}

    def once(key, make):
        # Pitched sounds repeat bar after bar: synthesize each once (the noisy ones stay fresh).
        if key not in cache:
            cache[key] = make()
        return cache[key]

    for b in range(n_beats):
        t0 = b * beat
        mix.add(t0, once("kick", lambda: _kick(sample_rate)), 0.9, pan=0.0)
        if b % 4 in (1, 3):
            mix.add(t0, _snare(sample_rate, rng), 0.45, pan=0.05)
        for half in (0, 1):
            hat = _hat(sample_rate, rng, open_=(half == 1 and b % 2 == 1))
            mix.add(t0 + half * beat / 2, hat, 0.14 if half else 0.08, pan=-0.35 if half else 0.3)

    for bar_index in range(int(math.ceil(n / sample_rate / bar))):
        root, chord = PROGRESSION[bar_index % len(PROGRESSION)]
        start = bar_index * bar
        for eighth in range(8):
            # The bass ducks on the beat (where the kick is) and pushes on the off-beats.
            gain = 0.12
            bass = once(("bass", root), lambda: _bass(_hz(root - 12), sample_rate, beat / 2))
            mix.add(start + eighth * beat / 2, bass, gain, pan=0.0)
        for i, note in enumerate(chord):
            pad = once(("pad", note, i), lambda: _pad(_hz(note), sample_rate, bar, detune=1.0 + 0.002 * (i - 1)))
            mix.add(start, pad, 0.06, pan=0.25 * (i - 1))
        notes = [chord[0] + 12, chord[1] + 12, chord[2] + 12, chord[0] + 24]
        for sixteenth in range(16):
            if rng.random() < 0.7:
                note = notes[int(rng.integers(len(notes)))]
                pluck = once(("pluck", note), lambda: _pluck(_hz(note), sample_rate))
                mix.add(start + sixteenth * beat / 4, pluck, 0.07,
                        pan=float(rng.uniform(-0.6, 0.6)))

    # A faint bed of air (vinyl-like hiss), so the treble never drops to digital silence between hats.
    hiss = rng.standard_normal((n + 1, 2), dtype=np.float32)
    mix.buffer += 0.004 * (hiss[1:] - hiss[:-1])
    del hiss
    samples = mix.samples()
    peak = float(np.abs(samples).max())
    if peak > 0:
        samples *= 0.89 / peak
    return AudioData(samples, sample_rate)


class _Mix:
    def __init__(self, n: int, sample_rate: int):
        self.rate = sample_rate
        self.buffer = np.zeros((n, 2), np.float32)

    def add(self, time: float, sound: np.ndarray, gain: float, pan: float) -> None:
        start = int(round(time * self.rate))
        if start >= len(self.buffer):
            return
        sound = sound[: len(self.buffer) - start]
        angle = (pan + 1) * math.pi / 4  # constant-power pan
        end = start + len(sound)
        self.buffer[start:end, 0] += gain * math.cos(angle) * math.sqrt(2) * sound
        self.buffer[start:end, 1] += gain * math.sin(angle) * math.sqrt(2) * sound

    def samples(self) -> np.ndarray:
        return self.buffer


def _time(seconds: float, sample_rate: int) -> np.ndarray:
    return np.arange(int(seconds * sample_rate)) / sample_rate


def _kick(sample_rate: int) -> np.ndarray:
    t = _time(0.45, sample_rate)
    # Pitch falls from ~150 Hz to 48 Hz; the phase is the integral of that frequency.
    phase = 2 * np.pi * (48.0 * t + 100.0 * 0.035 * (1 - np.exp(-t / 0.035)))
    return np.sin(phase) * np.exp(-t / 0.18) * np.minimum(1.0, t / 0.002)


def _snare(sample_rate: int, rng) -> np.ndarray:
    t = _time(0.25, sample_rate)
    noise = np.diff(rng.standard_normal(len(t) + 1))  # first difference: a brighter noise
    tone = np.sin(2 * np.pi * 190.0 * t)
    return (0.5 * noise * np.exp(-t / 0.06) + 0.8 * tone * np.exp(-t / 0.04)) * np.minimum(1.0, t / 0.001)


def _hat(sample_rate: int, rng, open_: bool) -> np.ndarray:
    t = _time(0.25 if open_ else 0.06, sample_rate)
    # Second difference of white noise: energy rises 12 dB per octave, so it lives in the treble.
    noise = np.diff(rng.standard_normal(len(t) + 2), n=2) / 2
    return noise * np.exp(-t / (0.07 if open_ else 0.015))


def _bass(frequency: float, sample_rate: int, length: float) -> np.ndarray:
    t = _time(length, sample_rate)
    wave = np.sin(2 * np.pi * frequency * t) + 0.35 * np.sin(4 * np.pi * frequency * t)
    return wave * np.minimum(1.0, t / 0.005) * np.exp(-t / 0.08) * np.minimum(1.0, (length - t) / 0.01)


def _pad(frequency: float, sample_rate: int, length: float, detune: float) -> np.ndarray:
    t = _time(length, sample_rate)
    wave = sum(np.sin(2 * np.pi * frequency * detune * h * t) / h for h in (1, 2, 3, 4))
    return wave * np.minimum(1.0, t / 0.08) * np.minimum(1.0, (length - t) / 0.05)


def _pluck(frequency: float, sample_rate: int) -> np.ndarray:
    t = _time(0.3, sample_rate)
    wave = np.sin(2 * np.pi * frequency * t) + 0.5 * np.sin(6 * np.pi * frequency * t)
    return wave * np.exp(-t / 0.08) * np.minimum(1.0, t / 0.002)


@dataclass(frozen=True)
class BeatTrack:
    """A generated track and the ground truth of its beats, for measuring a beat tracker.

    ``beats`` and ``downbeats`` are the times in seconds at which each kick starts (the first
    sample of its sound); ``silences`` are the ``(start, end)`` stretches, in seconds, where the
    track is digitally silent; ``tempo_changes`` the times of the first beat after each change of
    tempo between two sections that play.
    """

    audio: AudioData
    beats: np.ndarray
    downbeats: np.ndarray
    silences: tuple[tuple[float, float], ...]
    tempo_changes: tuple[float, ...]


def beat_track(sections, sample_rate: int = 44100, meter: int = 4, hats: float = 0.35,
               lead_in: float = 0.25, seed: int = 0) -> BeatTrack:
    """A drum-and-bass track whose beat times are known exactly.

    ``sections`` is a sequence of ``(bpm, beats)`` that play ``beats`` beats at ``bpm`` (or
    ``(bpm, beats, gain_db)``, louder or quieter), and ``(0, seconds)`` for that many seconds of
    digital silence. Every beat has a kick; the first
    of each bar of ``meter`` beats has a louder kick, a bass note and a new chord; hi-hats at
    ``hats`` gain fall on the off-beats, halfway between two beats (0 leaves them out). A faint
    hiss plays wherever music does (not in silences). Bars count on across tempo changes and
    restart after a silence. Deterministic for a given seed.
    """
    sample_rate = int(sample_rate)
    rng = np.random.default_rng(seed)
    plan: list[tuple[float, float, float]] = []  # (time, period, gain) of every beat
    silences: list[tuple[float, float]] = []
    changes: list[float] = []
    time = float(lead_in)
    previous_bpm = None
    for section in sections:
        bpm, amount = section[0], section[1]
        gain = 10.0 ** (section[2] / 20.0) if len(section) > 2 else 1.0
        if bpm <= 0:
            silences.append((time, time + float(amount)))
            time += float(amount)
            previous_bpm = None
            continue
        period = 60.0 / bpm
        if previous_bpm is not None and bpm != previous_bpm:
            changes.append(time)
        for _ in range(int(amount)):
            plan.append((time, period, gain))
            time += period
        previous_bpm = bpm
    n = int(round((time + 0.5) * sample_rate))
    mix = _Mix(n, sample_rate)
    kick = _kick(sample_rate)
    fade = len(kick) // 8
    kick[len(kick) - fade:] *= np.linspace(1.0, 0.0, fade)  # no click where it is cut off
    beats, downbeats = [], []
    index = 0
    restart = {round(end, 9) for _, end in silences}
    for time, period, gain in plan:
        if round(time, 9) in restart:
            index = 0
        down = index % meter == 0
        mix.add(time, kick, gain * (0.9 if down else 0.6), pan=0.0)
        if down:
            root = PROGRESSION[(index // meter) % len(PROGRESSION)]
            mix.add(time, _bass(_hz(root[0] - 12), sample_rate, 0.9 * period), gain * 0.25, pan=0.0)
            for i, note in enumerate(root[1]):
                mix.add(time, _pad(_hz(note), sample_rate, meter * period, 1.0), gain * 0.04, pan=0.25 * (i - 1))
            downbeats.append(time)
        if hats > 0:
            mix.add(time + period / 2, _hat(sample_rate, rng, open_=False), gain * hats, pan=0.2)
        beats.append(time)
        index += 1
    hiss = rng.standard_normal((n + 1, 2), dtype=np.float32)
    mix.buffer += 0.002 * (hiss[1:] - hiss[:-1])
    # Silence is silence: cut whatever rings on into it (sounds, hiss) with a 5 ms fade.
    fade = int(0.005 * sample_rate)
    for start, end in silences:
        a, b = int(round(start * sample_rate)), int(round(end * sample_rate))
        mix.buffer[a:a + fade] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        mix.buffer[a + fade:b] = 0.0
    first = int(round(lead_in * sample_rate))
    mix.buffer[:first] = 0.0
    tail = min(int(0.3 * sample_rate), n)  # fade out: an abrupt end would click
    mix.buffer[n - tail:] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)[:, None]
    peak = float(np.abs(mix.buffer).max())
    if peak > 0:
        mix.buffer *= 0.89 / peak
    return BeatTrack(AudioData(mix.samples(), sample_rate), np.asarray(beats), np.asarray(downbeats),
                     tuple(silences), tuple(changes))


@dataclass(frozen=True)
class BeatScore:
    """How detected beats compare with true ones (see :func:`score_beats`)."""

    found: int  # true beats matched (of those scored)
    scored: int  # true beats scored (all, less the ones a tempo change is allowed to miss)
    extras: int  # detections matched to no true beat (less those allowed in a tempo change)
    errors: np.ndarray  # seconds, detected - true, per matched beat

    @property
    def found_fraction(self) -> float:
        return self.found / self.scored if self.scored else 1.0

    @property
    def max_error_ms(self) -> float:
        return float(np.abs(self.errors).max() * 1000) if self.errors.size else 0.0

    @property
    def median_error_ms(self) -> float:
        return float(np.median(np.abs(self.errors)) * 1000) if self.errors.size else 0.0


def score_beats(detected, truth, tolerance: float = 0.03, tempo_changes=(), allowance: int = 4) -> BeatScore:
    """Match detected beat times to true ones, one to one, within ``tolerance`` seconds.

    Pairs are taken closest first (a detection and a true beat each join at most one pair). A
    true beat without a detection is missed; a detection without a true beat is an extra. For
    each time in ``tempo_changes`` (the first true beat of a new tempo), the first ``allowance``
    true beats from it on are not scored if missed, and an unmatched detection between the last
    true beat before it and the last of those beats is not counted as an extra.
    """
    detected = np.sort(np.asarray(detected, np.float64))
    truth = np.sort(np.asarray(truth, np.float64))
    pairs = []
    for j, t in enumerate(truth):
        lo, hi = np.searchsorted(detected, [t - tolerance, t + tolerance], side="left")
        for i in range(lo, hi):
            if abs(detected[i] - t) <= tolerance:
                pairs.append((abs(detected[i] - t), i, j))
    pairs.sort()
    used_detected: dict[int, int] = {}
    used_truth: set[int] = set()
    for _, i, j in pairs:
        if i in used_detected or j in used_truth:
            continue
        used_detected[i] = j
        used_truth.add(j)
    excused_truth: set[int] = set()
    spans = []
    for change in tempo_changes:
        first = int(np.searchsorted(truth, change - 1e-9))
        granted = list(range(first, min(first + allowance, len(truth))))
        excused_truth.update(j for j in granted if j not in used_truth)
        start = truth[first - 1] if first > 0 else -np.inf
        end = truth[granted[-1]] + tolerance if granted else change
        spans.append((start, end))
    extras = 0
    for i, d in enumerate(detected):
        if i in used_detected:
            continue
        if any(start < d <= end for start, end in spans):
            continue
        extras += 1
    errors = np.array([detected[i] - truth[j] for i, j in sorted(used_detected.items())])
    return BeatScore(found=len(used_truth), scored=len(truth) - len(excused_truth), extras=extras, errors=errors)
