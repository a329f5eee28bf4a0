"""How fast the GE2E speaker encoder is: loading it, and embedding 1 s, 3 s and 10 s of speech.

    python bench/encoder.py [--runs 30]

A benchmark, not a test: it prints figures and asserts nothing. It prints the median and the fastest of the timed calls: on a
machine shared with other work the median moves from run to run, the fastest much less. Targets (issue "a pretrained speaker encoder"), on 2 CPU cores:
`SpeakerEncoder.load()` under 0.3 s, a 3 s clip well under 20 ms after warm-up (mel frames, three LSTM layers, averaging; the
audio is at 16 kHz already, so nothing is resampled). The speech is real where ../shared/data is present (the output says which),
else synthetic. The embeddings are timed with each LSTM backend that is installed: the numpy loop always, and onnxruntime's LSTM
operator (one thread) where onnxruntime is (`pip install "gvoice[fast]"`), with how far apart the two embeddings are; where the
onnx package is installed, the time to import it (what writing the ONNX model without it saves). Notebook 17 shows this script's output.
"""
import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

from gvoice.audio import load_audio
from gvoice.data import load_librispeech, shared_data_dir
from gvoice.synth import sample_speakers, synthesize_utterance
from timing import timings_ms

LOAD = ("import time; t0 = time.perf_counter(); from gvoice.encoder import SpeakerEncoder; t1 = time.perf_counter(); "
        "SpeakerEncoder.load(); t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")


def speech(seconds:float=10.0) -> tuple[np.ndarray, str]:
    "`seconds` of speech at 16 kHz: a LibriSpeech clip when present, else a synthetic voice; and what it is."
    root = shared_data_dir('librispeech-subset')
    if root is not None:
        libri = load_librispeech(root)
        path = libri.path[libri.duration >= seconds].iloc[0]
        return load_audio(path, sr=16000)[:int(seconds * 16000)], f'LibriSpeech subset (real speech): {Path(path).name}'
    y, _ = synthesize_utterance(sample_speakers(1, seed=0)[0], seed=0, duration=seconds + 0.5)
    return y[:int(seconds * 16000)], 'a synthetic voice (gvoice.synth)'


def import_seconds(module:str, runs:int=3) -> float:
    "Median seconds to import `module` in a fresh process that has already imported numpy."
    code = f"import time, numpy; t0 = time.perf_counter(); import {module}; print(time.perf_counter() - t0)"
    return float(np.median([float(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout)
                            for _ in range(runs)]))


def load_seconds(runs:int=3) -> tuple[float, float]:
    "Median seconds, in fresh processes, to import gvoice.encoder and to run SpeakerEncoder.load()."
    times = np.array([[float(v) for v in subprocess.run([sys.executable, '-c', LOAD], capture_output=True, text=True,
                                                          check=True).stdout.split()] for _ in range(runs)])
    return tuple(np.median(times, axis=0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=30, help='timed calls per clip length (the median is printed)')
    args = ap.parse_args()
    from gvoice.encoder import SpeakerEncoder, installed_lstm_backends, partial_slices
    imp, load = load_seconds()
    print(f"in a fresh process: import gvoice.encoder {imp:.2f} s, SpeakerEncoder.load() {1000 * load:.0f} ms (default backend)")
    if importlib.util.find_spec('onnx') is not None:
        print(f"in a fresh process: import onnx {import_seconds('onnx'):.2f} s (gvoice writes the ONNX model itself, without it)")
    y, what = speech()
    encoders = {b: SpeakerEncoder.load(backend=b) for b in installed_lstm_backends()}
    print(f"speech: {what}")
    for seconds in (1, 3, 10):
        clip = y[:seconds * 16000]
        times = {b: timings_ms(lambda: e.embed(clip, 16000), args.runs, warmup=3) for b, e in encoders.items()}
        embeddings = [e.embed(clip, 16000) for e in encoders.values()]
        print(f"{seconds:>3} s clip ({len(partial_slices(len(clip)))} windows), ms per embedding (median of {args.runs}, fastest): "
              + "; ".join(f"{b} {np.median(t):.1f}, {min(t):.1f}" for b, t in times.items())
              + (f" (embeddings within {np.abs(embeddings[1] - embeddings[0]).max():.0e})" if len(embeddings) > 1 else ""))
    if len(encoders) == 1: print('onnxruntime is not installed: only the numpy loop was timed (pip install "gvoice[fast]")')

if __name__ == '__main__':
    main()
