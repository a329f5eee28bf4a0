"""Feature extraction speed: real-time factor per core, 2-core speed-up, cached re-run speed-up.

    python bench/features.py [--seconds 60]

A benchmark, not a test: it prints figures (on synthetic speech, so it runs anywhere) and asserts nothing.
Targets (issue "Features"): MFCC + YIN pitch + LPC formants at >= 100x real time per core,
>= 1.7x on 2 cores, a cached re-run >= 50x faster.
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMBA_NUM_THREADS'):
    os.environ.setdefault(_var, '1')  # one thread per process, so that "per core" means one core

import argparse
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from gvoice.audio import load_audio
from gvoice.features import FEATURE_SETS, extract, mfcc
from gvoice.pitch_formants import f0_statistics, formant_features, lpc_formants, yin_track
from gvoice.synth import make_corpus


@contextmanager
def one_core():
    "Run the block on a single CPU (Praat's analyses start threads of their own; pinning keeps 'per core' honest)."
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try: yield
    finally: os.sched_setaffinity(0, cpus)


def timed(fn, *args, **kwargs):
    "(seconds, result) of one call."
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def per_core_rtf(clips, seconds_of_audio, fn, sr):
    "Real-time factor of `fn(y, sr)` over decoded clips, on one core (decoding excluded)."
    fn(clips[0], sr)  # warm-up: numba JIT, caches
    t, _ = timed(lambda: [fn(y, sr) for y in clips])
    return seconds_of_audio / t


def mfcc_yin_lpc(y, sr):
    "MFCC, YIN's F0 statistics, and LPC formant features on YIN's voiced frames: the fast utterance description."
    track = yin_track(y, sr)
    return mfcc(y, sr), f0_statistics(track), formant_features(y, sr, voiced=track.voiced)


def main(seconds: float):
    root = Path(tempfile.mkdtemp())
    n = max(2, round(seconds / 3))
    corpus = make_corpus(root / 'corpus', n_speakers=n, utterances_per_speaker=1, seed=0, progress=False)
    total = corpus.duration.sum()
    clips = [load_audio(p, 16000) for p in corpus.path]
    print(f'{len(corpus)} synthetic clips, {total:.1f} s of speech at 16 kHz\n')

    print('real-time factor on one core (x real time, decoding excluded)')
    core = {'MFCC (13, 25/10 ms)': lambda y, sr: mfcc(y, sr),
            'YIN pitch track': lambda y, sr: yin_track(y, sr),
            'LPC formant track (all frames)': lambda y, sr: lpc_formants(y, sr)}
    core['MFCC + YIN pitch + LPC formants'] = mfcc_yin_lpc
    with one_core():
        for name, fn in core.items():
            print(f'  {name:34} {per_core_rtf(clips, total, fn, 16000):8.0f}x')
        for fs in FEATURE_SETS:
            name = fs.name
            ys = clips if fs.sr == 16000 else [load_audio(p, fs.sr) for p in corpus.path]
            print(f'  feature set {name!r:22} {per_core_rtf(ys, total, fs, fs.sr):8.0f}x')

    print("\nfeature set 'all' through extract() (files decoded, no cache)")
    extract(corpus.path[:4], 'all', n_jobs=2, cache_dir=None, progress=False)  # start and warm the 2 workers
    with one_core():
        t1, _ = timed(extract, corpus.path, 'all', n_jobs=1, cache_dir=None, progress=False)
    t2, _ = timed(extract, corpus.path, 'all', n_jobs=2, cache_dir=None, progress=False)
    print(f'  1 core {t1:.2f} s ({total / t1:.0f}x real time), 2 cores {t2:.2f} s: speed-up {t1 / t2:.2f}x')

    cache = root / 'cache'
    with one_core():
        cold, _ = timed(extract, corpus.path, 'all', n_jobs=1, cache_dir=cache, progress=False)
        warm, _ = timed(extract, corpus.path, 'all', n_jobs=1, cache_dir=cache, progress=False)
    print(f'  cached re-run: {cold:.2f} s -> {warm:.3f} s: {cold / warm:.0f}x faster')


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seconds', type=float, default=60, help='seconds of speech to process (default 60)')
    main(p.parse_args().seconds)
