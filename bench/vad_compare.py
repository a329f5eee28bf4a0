"""Voice activity detectors against a known truth: gvoice's band-level detector, the broadband-level detector it replaced,
Silero VAD (ONNX, run with onnxruntime) and WebRTC's VAD.

    python bench/vad_compare.py [--signals 24] [--csv out.csv]

The material: clean read speech of the LibriSpeech subset in ../shared/data (each utterance's own DC offset removed),
two utterances per test signal with 0.5–1.5 s of a quiet room before, between and after them. The truth is known
frame by frame: a 10 ms frame is speech when the clean utterance there is within 35 dB of its loudest frame (gaps
under 100 ms bridged, the closures inside words); the inserted pauses are never speech. Then noise over the whole
signal at several SNRs (relative to the speech): white, pink, and babble (four other readers talking at once; the
detector should still find only the target, which no detector here can). Per detector: frame precision, recall and F1
over all signals of a condition, and the median relative error of the seconds of speech found. Silero and WebRTC are
optional (pip install silero-vad onnxruntime webrtcvad-wheels; silero-vad is installed with --no-deps: its ONNX model
is used without torch); where they or the shared data are absent it says so. Notebook 13 shows this script's table.
The speech gate runs the same Silero model in numpy (gvoice.vad, notebook 12a; tests/test_vad.py checks the two
agree), as its third look only.
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMBA_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gvoice.audio import _clean_mask, frame_lengths, pad_segments, true_runs, detect_speech, frame_rms_db, level_threshold, load_audio
from gvoice.data import load_librispeech, shared_data_dir

SR = 16000
HOP = 0.01  # s: the truth and every detector's answer are compared on 10 ms frames
TRUTH_DB = 35.0  # dB below the clean utterance's loudest frame: still speech
CONDITIONS = ([('clean', None, None)] + [(f'{kind} {snr} dB', kind, snr) for kind in ('white', 'pink', 'babble') for snr in (20, 10, 5, 0)]
              + [('DC offset, 10 dB above the speech', 'offset', -10), ('50 Hz hum, 0 dB', 'hum', 0)])


# ---------------------------------------------------------------- detectors

def broadband_vad(y, sr, threshold=0.3, silence_dbfs=-55.0, min_range_db=10.0, max_gap=0.2, min_segment=0.05, pad=0.05):
    "gvoice's detector before issue 14 (commit 445118d): the same rules on the broadband frame level; (n, 2) segments in s."
    frame, hop = frame_lengths(sr, None, None)
    db = frame_rms_db(y, sr)
    floor, loud, thr = level_threshold(db, threshold, lowest_floor=silence_dbfs)
    if loud < silence_dbfs or loud - floor < min_range_db: return np.zeros((0, 2))
    mask = _clean_mask(db > thr, max_gap=int(max_gap * sr / hop), min_run=max(1, int(min_segment * sr / hop)))
    return pad_segments((true_runs(mask) * hop + (frame - hop) / 2) / sr, pad, len(y) / sr)


def band_vad(y, sr):
    "gvoice.audio.detect_speech as it is now (band levels above their floors)."
    return detect_speech(y, sr, min_speech=0.0).segments


def silero_model():
    "An onnxruntime session on the ONNX model shipped inside the silero-vad wheel, or None when either is missing."
    spec = importlib.util.find_spec('silero_vad')
    if spec is None or importlib.util.find_spec('onnxruntime') is None: return None
    import onnxruntime
    opts = onnxruntime.SessionOptions(); opts.inter_op_num_threads = opts.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(Path(spec.origin).parent / 'data' / 'silero_vad.onnx'), sess_options=opts,
                                        providers=['CPUExecutionProvider'])


def silero_probs(session, y, sr=SR):
    "Silero's speech probability for each 32 ms chunk (512 samples at 16 kHz, with the 64 samples before it as context)."
    chunk, context = 512, 64
    y = np.pad(np.asarray(y, np.float32), (0, -len(y) % chunk))
    state, ctx, out = np.zeros((2, 1, 128), np.float32), np.zeros(context, np.float32), []
    for i in range(0, len(y), chunk):
        x = np.concatenate([ctx, y[i:i + chunk]])[None]
        p, state = session.run(None, {'input': x, 'state': state, 'sr': np.array(sr, np.int64)})
        out.append(float(p[0, 0])); ctx = x[0, -context:]
    return np.array(out)


def silero_vad(session, y, sr=SR, threshold=0.5, min_speech=0.25, min_silence=0.1, pad=0.03):
    "Segments as silero-vad's get_speech_timestamps makes them with its defaults (hysteresis 0.5/0.35, 250 ms, 100 ms, 30 ms pad)."
    p, step = silero_probs(session, y, sr), 512 / sr
    segs, start, low_since = [], None, None
    for k, q in enumerate(p):
        if start is None:
            if q >= threshold: start, low_since = k, None
        elif q < threshold - 0.15:
            low_since = k if low_since is None else low_since
            if (k - low_since + 1) * step >= min_silence: segs.append((start, low_since)); start, low_since = None, None
        else: low_since = None
    if start is not None: segs.append((start, len(p)))
    segs = np.array([(a * step, b * step) for a, b in segs if (b - a) * step >= min_speech]).reshape(-1, 2)
    return pad_segments(segs, pad, len(y) / sr)


def webrtc_vad(y, sr=SR, mode=3):
    "WebRTC's VAD on 30 ms frames of 16-bit samples (mode 0 least, 3 most aggressive); (n, 2) segments in s."
    import webrtcvad
    vad, n = webrtcvad.Vad(mode), int(0.03 * sr)
    pcm = (np.clip(y, -1, 1) * 32767).astype('<i2')
    speech = np.array([vad.is_speech(pcm[i:i + n].tobytes(), sr) for i in range(0, len(pcm) - n + 1, n)], bool)
    return true_runs(speech) * 0.03


def detectors():
    "name -> function(y) giving segments; the optional ones only when installed."
    out = {'gvoice: broadband level (before)': lambda y: broadband_vad(y, SR), 'gvoice: band levels (now)': lambda y: band_vad(y, SR)}
    session = silero_model()
    if session is not None: out['Silero VAD v5 (ONNX)'] = lambda y: silero_vad(session, y)
    else: print("silero-vad or onnxruntime is not installed: Silero left out (pip install --no-deps silero-vad; pip install onnxruntime)")
    if importlib.util.find_spec('webrtcvad') is not None:
        out['WebRTC VAD, mode 3'] = lambda y: webrtc_vad(y, SR, 3)
        out['WebRTC VAD, mode 1'] = lambda y: webrtc_vad(y, SR, 1)
    else: print("webrtcvad is not installed: WebRTC left out (pip install webrtcvad-wheels)")
    return out


# ---------------------------------------------------------------- material with a known truth

def frames_of(segments, n_frames):
    "(n_frames,) bool: 10 ms frames whose centre lies inside one of the (n, 2) segments (s)."
    centre = (np.arange(n_frames) + 0.5) * HOP
    inside = np.searchsorted(np.asarray(segments, float).ravel(), centre, side='right') % 2 == 1
    return inside


def truth_frames(y, sr=SR):
    "Speech frames of a clean utterance: within TRUTH_DB of its loudest frame, gaps under 100 ms bridged, runs under 30 ms dropped."
    hop = int(HOP * sr)
    n = int(np.ceil(len(y) / hop))
    db = frame_rms_db(np.pad(y, (0, n * hop - len(y) + int(0.015 * sr))), sr)[:n]
    return _clean_mask(db > db.max() - TRUTH_DB, max_gap=10, min_run=3)


def colored(rng, n, slope):
    "Gaussian noise whose power falls as f**slope (0 white, -1 pink), unit RMS."
    spec = np.fft.rfft(rng.standard_normal(n)); f = np.arange(len(spec), dtype=float); f[0] = 1
    x = np.fft.irfft(spec * f ** (slope / 2), n)
    return x / x.std()


def make_signals(paths, n_signals, seed=0, max_seconds=6.0):
    "(clean signal, truth frames, babble sources) per test signal: two utterances with quiet pauses around them."
    rng = np.random.default_rng(seed)
    utts = [load_audio(p, sr=SR)[:int(max_seconds * SR)] for p in paths]
    out = []
    for k in range(n_signals):
        i, j = rng.choice(len(utts), 2, replace=False)
        parts, truth = [], []
        for u in (None, utts[i], None, utts[j], None):
            if u is None:
                m = int(rng.uniform(0.5, 1.5) / HOP)
                parts.append(np.zeros(m * int(HOP * SR), np.float32)); truth.append(np.zeros(m, bool))
            else:
                u = u[:len(u) // int(HOP * SR) * int(HOP * SR)]
                u = u - u.mean()  # clean speech: an utterance's own small offset would count as sound in the truth
                parts.append(u / np.abs(u).max() * 0.5); truth.append(truth_frames(u))
        others = [utts[o] for o in rng.choice([o for o in range(len(utts)) if o not in (i, j)], 4, replace=False)]
        out.append((np.concatenate(parts).astype(np.float32), np.concatenate(truth), others))
    return out


def with_noise(y, truth, kind, snr_db, others, seed):
    "`y` over noise of `kind` at `snr_db` relative to the power of its speech frames; a -70 dBFS room floor in every case."
    rng = np.random.default_rng(seed)
    room = colored(rng, len(y), -1) * 10 ** (-70 / 20)
    if kind is None: return (y + room).astype(np.float32)
    if kind == 'offset': noise = np.ones(len(y))  # a constant shift of every sample, as in some real recordings
    elif kind == 'hum': noise = sum(np.sin(2 * np.pi * 50 * k * np.arange(len(y)) / SR) / k for k in range(1, 8))
    elif kind == 'babble':
        noise = np.zeros(len(y))
        for o in others:
            o = np.resize(o, len(y)); noise += o / (o.std() + 1e-12)
    else: noise = colored(rng, len(y), {'white': 0, 'pink': -1}[kind])
    speech_power = np.mean(np.square(y[np.repeat(truth, int(HOP * SR))[:len(y)]]))
    noise = noise / np.sqrt(np.mean(np.square(noise))) * np.sqrt(speech_power / 10 ** (snr_db / 10))
    mix = y + noise + room
    return (mix / max(1.0, np.abs(mix).max())).astype(np.float32)


def score(truth, found):
    "tp, fp, fn frame counts."
    return int(np.sum(truth & found)), int(np.sum(~truth & found)), int(np.sum(truth & ~found))


def compare(signals, dets, progress=True):
    "One row per (condition, detector): frame precision, recall, F1, median speech-seconds error, ms per second of audio."
    rows = []
    for cond, kind, snr in CONDITIONS:
        mixes = [(with_noise(y, truth, kind, snr, others, s), truth) for s, (y, truth, others) in enumerate(signals)]
        for name, det in dets.items():
            tp = fp = fn = 0; errors, seconds, audio = [], 0.0, 0.0
            for y, truth in mixes:
                t = time.perf_counter(); segs = det(y); seconds += time.perf_counter() - t; audio += len(y) / SR
                found = frames_of(segs, len(truth))
                a, b, c = score(truth, found); tp, fp, fn = tp + a, fp + b, fn + c
                errors.append((found.sum() - truth.sum()) / truth.sum())
            p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
            rows.append(dict(condition=cond, detector=name, precision=p, recall=r, f1=2 * p * r / max(p + r, 1e-12),
                             speech_seconds_error=float(np.median(errors)), ms_per_audio_second=1000 * seconds / audio))
        if progress: print(f"  {cond} done", file=sys.stderr)
    return pd.DataFrame(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--signals', type=int, default=24, help='test signals per condition (two utterances each)')
    p.add_argument('--csv', help='also write the table here')
    a = p.parse_args(argv)
    libri = shared_data_dir('librispeech-subset')
    if libri is None:
        print("../shared/data/librispeech-subset is not here: nothing to measure"); return 0
    paths = list(load_librispeech(libri).sort_values('path').path)
    signals = make_signals(paths, a.signals)
    dets = detectors()
    table = compare(signals, dets)
    speech = sum(t.sum() for _, t, _ in signals) * HOP
    total = sum(len(y) for y, _, _ in signals) / SR
    print(f"{len(signals)} signals of LibriSpeech subset speech, {total:.0f} s of audio of which {speech:.0f} s speech (truth)\n")
    with pd.option_context('display.width', 200, 'display.max_columns', 20, 'display.float_format', '{:.3f}'.format):
        print(table.pivot(index='condition', columns='detector', values='f1').loc[[c for c, _, _ in CONDITIONS]].to_string(), '\n')
        print(table.groupby('detector')[['precision', 'recall', 'f1', 'speech_seconds_error', 'ms_per_audio_second']].mean().to_string())
    if a.csv: table.to_csv(a.csv, index=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
