"""How fast the numpy GE2E speaker encoder is: loading it, and embedding 1 s, 3 s and 10 s of speech.

    python bench/encoder.py [--runs 30]

A benchmark, not a test: it prints figures and asserts nothing. It prints the median and the fastest of the timed calls: on a
machine shared with other work the median moves from run to run, the fastest much less. Targets (issue "a pretrained speaker encoder"), on 2 CPU cores:
`SpeakerEncoder.load()` under 0.3 s, a 3 s clip well under 20 ms after warm-up (mel frames, three LSTM layers, averaging; the
audio is at 16 kHz already, so nothing is resampled). The speech is real where ../shared/data is present (the output says which),
else synthetic. Where onnx and onnxruntime are installed, it also times the same three LSTM layers as ONNX's LSTM operator run by
onnxruntime (one thread), to show what the numpy loop costs against a compiled one; gvoice itself needs neither. Notebook 17 shows
this script's output.
"""
import argparse
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


def load_seconds(runs:int=3) -> tuple[float, float]:
    "Median seconds, in fresh processes, to import gvoice.encoder and to run SpeakerEncoder.load()."
    times = np.array([[float(v) for v in subprocess.run([sys.executable, '-c', LOAD], capture_output=True, text=True,
                                                          check=True).stdout.split()] for _ in range(runs)])
    return tuple(np.median(times, axis=0))


def onnx_lstm(weights:dict):
    "An onnxruntime session (one thread) running the encoder's three LSTM layers as ONNX LSTM operators: (time, windows, 40) -> (time, windows, 256)."
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    onnx_order = lambda a: np.concatenate([a[:256], a[768:], a[256:512], a[512:768]])  # PyTorch's gates i, f, g, o -> ONNX's i, o, f, c
    nodes, arrays, x = [], {}, 'mels'
    for l in range(3):
        arrays.update({f'W{l}': onnx_order(weights[f'lstm.weight_ih_l{l}'])[None], f'R{l}': onnx_order(weights[f'lstm.weight_hh_l{l}'])[None],
                       f'B{l}': np.concatenate([onnx_order(weights[f'lstm.bias_ih_l{l}']), onnx_order(weights[f'lstm.bias_hh_l{l}'])])[None],
                       f'axis{l}': np.array([1])})
        nodes += [helper.make_node('LSTM', [x, f'W{l}', f'R{l}', f'B{l}'], [f'Y{l}'], hidden_size=256),
                  helper.make_node('Squeeze', [f'Y{l}', f'axis{l}'], [f'h{l}'])]  # (time, 1 direction, windows, H) -> (time, windows, H)
        x = f'h{l}'
    graph = helper.make_graph(nodes, 'ge2e_lstm', [helper.make_tensor_value_info('mels', TensorProto.FLOAT, ['time', 'windows', 40])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, ['time', 'windows', 256])],
                              [numpy_helper.from_array(a if a.dtype == np.int64 else a.astype(np.float32), n) for n, a in arrays.items()])
    options = onnxruntime.SessionOptions(); options.intra_op_num_threads = 1
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=['CPUExecutionProvider'])


def compare_with_onnxruntime(runs:int):
    "Print the three LSTM layers' time on 3 windows, numpy against onnxruntime, and how far apart their outputs are."
    from gvoice.encoder import GE2E_FILE, SpeakerEncoder, _read_weights, _run_layer
    try: session = onnx_lstm(_read_weights(GE2E_FILE)[0])
    except ImportError as e: return print(f"not compared with onnxruntime ({e.name} is not installed: pip install onnx onnxruntime)")
    layers = SpeakerEncoder.load().layers
    x = np.random.default_rng(0).normal(0, 1, (160, 3, 40)).astype(np.float32) ** 2  # 3 windows of positive "mel energies", time-major
    def by_numpy():
        h = x
        for layer in layers: h = _run_layer(h, *layer)
        return h
    gap = float(np.abs(by_numpy() - session.run(None, {'mels': x})[0]).max())
    ours, theirs = timings_ms(by_numpy, runs, warmup=3), timings_ms(lambda: session.run(None, {'mels': x}), runs, warmup=3)
    print(f"the 3 LSTM layers on 3 windows: numpy {np.median(ours):.1f} ms, onnxruntime's LSTM operator {np.median(theirs):.1f} ms "
          f"(median of {runs}, one thread; outputs within {gap:.0e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=30, help='timed calls per clip length (the median is printed)')
    args = ap.parse_args()
    from gvoice.encoder import SpeakerEncoder, partial_slices
    imp, load = load_seconds()
    print(f"in a fresh process: import gvoice.encoder {imp:.2f} s, SpeakerEncoder.load() {1000 * load:.0f} ms")
    y, what = speech()
    encoder = SpeakerEncoder.load()
    print(f"speech: {what}")
    for seconds in (1, 3, 10):
        clip = y[:seconds * 16000]
        times = timings_ms(lambda: encoder.embed(clip, 16000), args.runs, warmup=3)
        print(f"{seconds:>3} s clip ({len(partial_slices(len(clip)))} windows): {np.median(times):.1f} ms per embedding "
              f"(median of {args.runs}; fastest {min(times):.1f} ms)")
    compare_with_onnxruntime(args.runs)


if __name__ == '__main__':
    main()
