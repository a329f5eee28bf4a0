"""Benchmark the Keras models of notebooks 10 and 12: training time per epoch, and the latency of one prediction.

    python bench/networks.py

Prints (not a test): milliseconds per training epoch on the LibriSpeech subset in ../shared/data (or on a synthetic
corpus when it is absent: the output says which), and the median latency of predicting a 3 s clip after warm-up,
feature extraction included (the target is under 30 ms on 2 CPU cores), for the Keras networks and for the CNN
run by numpy.
"""
import os, tempfile, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
from pathlib import Path

import keras

from gvoice.audio import load_audio
from gvoice.cnn import PatchCNN
from gvoice.data import load_librispeech, shared_data_dir
from gvoice.dense import DenseModel
from gvoice.lite import LitePatchCNN
from gvoice.nets import TrainConfig
from gvoice.synth import make_corpus
from gvoice.train import model_inputs
from timing import median_ms

def corpus():
    "The LibriSpeech subset when present, else a synthetic corpus; and its name."
    root = shared_data_dir('librispeech-subset')
    if root is not None: manifest, name = load_librispeech(root), 'LibriSpeech subset'
    else: manifest, name = make_corpus(Path(tempfile.mkdtemp()) / 'corpus', n_speakers=40, utterances_per_speaker=3, progress=False), 'synthetic corpus'
    return manifest, f"{name} ({manifest.speaker.nunique()} speakers, {len(manifest)} clips, {manifest.duration.sum() / 60:.0f} min)"

def epoch_ms(make, X, manifest, epochs:int) -> tuple[float, object]:
    """Milliseconds per training epoch: (time of an `epochs`-epoch fit - time of a 2-epoch fit) / (epochs - 2), so that
    set-up and tracing cancel (after a 1-epoch warm-up fit, which pays the process's one-off TensorFlow costs); and the model."""
    def fit_time(n):
        model = make(TrainConfig(epochs=n, patience=n, batch_size=64, progress=False))
        t0 = time.perf_counter(); model.fit(X, manifest.gender, groups=manifest.speaker)
        return time.perf_counter() - t0, model
    fit_time(1)
    (t2, _), (tn, model) = fit_time(2), fit_time(epochs)
    return 1000 * (tn - t2) / (epochs - 2), model

def main():
    manifest, name = corpus()
    print(f"data: {name}; {os.cpu_count()} CPU cores; Keras {keras.__version__} on {keras.backend.backend()}")
    models = {'S2 dense (s2_mel128)': (lambda cfg: DenseModel('s2_mel128', train=cfg), 202),
              'improved dense (s2_voice)': (lambda cfg: DenseModel('s2_voice', batchnorm=True, log_mel=True, train=cfg), 202),
              'compact CNN (logmel64, 16 patches per clip)': (lambda cfg: PatchCNN(patches_per_clip=16, train=cfg), 12)}
    y = load_audio(manifest.path.iloc[0], sr=16000)[:3 * 16000]
    print(f"{'model':46s} {'ms per epoch':>12s} {'3 s clip, ms':>13s}")
    for label, (make, epochs) in models.items():
        X, kept = model_inputs(make(None).features, manifest, n_jobs=2, progress=False)
        per_epoch, model = epoch_ms(make, X, kept, epochs)
        print(f"{label:46s} {per_epoch:12.0f} {median_ms(lambda: model.p_female_audio(y, 16000)):13.1f}", flush=True)
    lite = LitePatchCNN.from_patch_cnn(model)  # the last model: the CNN, run by numpy (notebook 15)
    print(f"{'  the same CNN run by numpy (LitePatchCNN)':46s} {'':12s} {median_ms(lambda: lite.p_female_audio(y, 16000)):13.1f}")

if __name__ == '__main__':
    main()
