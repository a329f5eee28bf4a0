"""What a user of `GenderPredictor` waits for: loading the pretrained model, one 3 s clip, an hour of audio.

    python bench/predict.py [--minutes 60]

A benchmark, not a test: it prints figures and asserts nothing. Targets (issue 14), on 2 CPU cores:
`GenderPredictor.pretrained()` in under 1 s (in a fresh process; its first prediction, which reads the speaker
encoder, is timed too), a 3 s clip in under 30 ms after warm-up (gate, features
and model), an hour of audio in under a minute. The 3 s clip is timed with each LSTM backend of the speaker encoder that is installed
(numpy always, onnxruntime where it is installed, as `pip install gvoice` does where onnxruntime publishes wheels; notebook 17), taking turns; the rest runs as the process was started ('auto' unless GVOICE_LSTM is set).
The speech is real where ../shared/data is present (the output says which), else synthetic.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

from gvoice.audio import load_audio
from gvoice.data import load_librispeech, shared_data_dir
from gvoice.encoder import SpeakerEncoder, installed_lstm_backends
from gvoice.synth import make_corpus
from timing import median_ms, timings_ms

LOAD = ("import sys, time; t0 = time.perf_counter(); from gvoice.predict import GenderPredictor; t1 = time.perf_counter(); "
        "p = GenderPredictor.pretrained(); t2 = time.perf_counter(); p.predict_file(sys.argv[1]); t3 = time.perf_counter(); print(t1 - t0, t2 - t1, t3 - t2)")


def speech_files() -> tuple[list, str]:
    "Paths of real speech (the LibriSpeech subset) when present, else of a synthetic corpus; and a name for them."
    root = shared_data_dir('librispeech-subset')
    if root is not None: return list(load_librispeech(root).path), 'LibriSpeech subset (real speech)'
    corpus = make_corpus(Path(tempfile.mkdtemp()) / 'corpus', n_speakers=10, utterances_per_speaker=3, progress=False)
    return list(corpus.path), 'synthetic corpus'


def load_seconds(clip:Path, # a short recording for the first prediction
                 runs:int=3) -> tuple[float, float, float]:
    "Median seconds, in fresh processes, to import gvoice.predict, to run GenderPredictor.pretrained(), and for its first prediction (on `clip`), which reads the speaker encoder and prepares its LSTM (with onnxruntime: writes the ONNX model, opens a session)."
    times = np.array([[float(v) for v in subprocess.run([sys.executable, '-c', LOAD, str(clip)], capture_output=True, text=True, check=True,
                                                         env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'}).stdout.split()] for _ in range(runs)])
    return tuple(np.median(times, axis=0))


def long_file(files:list, minutes:float, folder:Path) -> Path:
    "A 16 kHz FLAC file of `minutes` of the speech in `files`, end to end, written block by block."
    path, target = folder / 'long.flac', int(minutes * 60 * 16000)
    with sf.SoundFile(path, 'w', 16000, 1, format='FLAC') as out:
        written, i = 0, 0
        while written < target:
            y = load_audio(files[i % len(files)], sr=16000)[:target - written]
            out.write(y); written += len(y); i += 1
    return path


def parts(model) -> list:
    "(name, function of (y, sr)) for the gate and each feature function of `model`'s recipe (a FeatureSet's parts, an ArrayRecipe's one computation), in the order a prediction runs them."
    from gvoice.features import FeatureSet, get_recipe
    from gvoice.gate import speech_gate
    recipe = get_recipe(model.features)
    fns = [f for name in (recipe.of or (recipe.name,)) for f in get_recipe(name).parts] if isinstance(recipe, FeatureSet) else [recipe.compute]
    return [('speech_gate', speech_gate)] + [(getattr(f, '__name__', recipe.name), f) for f in fns]


@contextmanager
def lstm_env(backend:str):
    "GVOICE_LSTM set to `backend` inside the block, and back to what it was (or unset) after it."
    before = os.environ.get('GVOICE_LSTM')
    os.environ['GVOICE_LSTM'] = backend
    try: yield
    finally:
        if before is None: del os.environ['GVOICE_LSTM']
        else: os.environ['GVOICE_LSTM'] = before


def clip_ms(predictor, y:np.ndarray, backends:list, rounds:int=5, runs:int=10) -> dict:
    "Milliseconds of each `predictor.predict(y, 16000)` with each LSTM backend, `runs` calls per backend in each of `rounds` turns (so that a busy moment hits all)."
    times = {b: [] for b in backends}
    for _ in range(rounds):
        for b in backends:
            with lstm_env(b): times[b].extend(timings_ms(lambda: predictor.predict(y, 16000), runs, warmup=3))
    return {b: np.array(t) for b, t in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--minutes', type=float, default=60.0, help='length of the long file (default 60)')
    args = ap.parse_args()
    from gvoice.predict import GenderPredictor
    predictor = GenderPredictor.pretrained()
    files, name = speech_files()
    print(f"{os.cpu_count()} CPU cores; model: {predictor.model!r}; encoder: {SpeakerEncoder.load()!r} by default; speech: {name}")
    y = load_audio(files[0], sr=16000)[:3 * 16000]
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / 'clip.wav'
        sf.write(clip, y, 16000)
        t_import, t_load, t_first = load_seconds(clip)
    print(f"import gvoice.predict: {t_import:.2f} s; GenderPredictor.pretrained(): {t_load:.2f} s (target < 1 s); "
          f"its first prediction, of a 3 s file (reading the encoder, preparing its LSTM): {t_first:.2f} s")
    for backend, times in clip_ms(predictor, y, installed_lstm_backends()).items():
        print(f"a 3 s clip, the encoder's LSTM on {backend}: {np.median(times):.1f} ms per prediction (median of {len(times)}; fastest {times.min():.1f} ms; "
              f"gate, features, model; target < 30 ms)")
        with lstm_env(backend): print("  of which: " + ", ".join(f"{name} {median_ms(lambda: fn(y, 16000)):.1f} ms" for name, fn in parts(predictor.model)))
    with tempfile.TemporaryDirectory() as d:
        path = long_file(files, args.minutes, Path(d))
        t0 = time.perf_counter(); r = predictor.predict_file(path); el = time.perf_counter() - t0
    print(f"{r.duration / 60:.0f} min of audio in {r.windows} windows: {el:.1f} s, {r.duration / el:.0f}x real time "
          f"(target: an hour in under a minute); label {r.label}, P(female) {r.p_female:.2f}")


if __name__ == '__main__':
    main()
