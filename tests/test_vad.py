"""gvoice.vad: Silero VAD in numpy gives the original's probabilities (onnxruntime on the ONNX file of the silero-vad wheel,
where both are installed), its shipped weights are data with their provenance and licence, and a changed file is refused."""
import importlib.util
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from gvoice.audio import load_audio
from gvoice.data import shared_data_dir
from gvoice.synth import NON_SPEECH, non_speech, sample_speakers, synthesize_utterance
from gvoice.vad import CHUNK, VAD_FILE, SileroVAD, convert_silero

SR = 16000
ROOT = Path(__file__).resolve().parents[1]


def silero_wheel_file(name):
    "A file of the installed silero-vad wheel (pip install --no-deps silero-vad==6.2.3), or a skip."
    spec = importlib.util.find_spec('silero_vad')
    if spec is None: pytest.skip('silero-vad is not installed (pip install --no-deps silero-vad==6.2.3)')
    return Path(spec.origin).parent / name


@pytest.fixture(scope='module')
def vad():
    return SileroVAD.load()


def test_shipped_file_is_data_with_provenance(vad):
    assert VAD_FILE.is_file() and VAD_FILE.stat().st_size < 3e6
    with np.load(VAD_FILE, allow_pickle=False) as z:
        meta = json.loads(z['meta'].tobytes())
        assert all(z[k].dtype == np.float32 for k in z.files if k != 'meta')
    assert meta['licence'] == 'MIT' and 'Silero Team' in meta['notice'] and len(meta['sha256']) == 64
    assert 'Permission is hereby granted' in meta['licence_text'] and 'Copyright (c) 2020-present Silero Team' in meta['licence_text']
    assert vad.meta == meta


def test_numpy_matches_the_original(vad):
    "The same probabilities as onnxruntime on silero_vad.onnx, the wheel's default model, to 1e-4: speech, whispers, noise, music, silence."
    ort = pytest.importorskip('onnxruntime', reason='onnxruntime is not installed')
    session = ort.InferenceSession(str(silero_wheel_file('data/silero_vad.onnx')), providers=['CPUExecutionProvider'])
    silero_probs = runpy.run_path(str(ROOT / 'bench' / 'vad_compare.py'))['silero_probs']   # chunk by chunk, as silero-vad's OnnxWrapper feeds it
    rng = np.random.default_rng(0)
    inputs = {'synthetic voice': synthesize_utterance(sample_speakers(4, seed=1)[2], SR, seed=3, duration=3.0)[0],
              'one sample': np.float32([0.3]), 'a chunk and one': rng.uniform(-0.5, 0.5, CHUNK + 1).astype(np.float32),
              **{kind: non_speech(kind, 2.0, SR, seed=5) for kind in ('silence', 'white_noise', 'band', 'violin', 'modulated_noise')}}
    shared = shared_data_dir('more-speakers')
    if shared is not None:   # real speech, and the whispered digit
        inputs.update({p.name: load_audio(p, sr=SR) for p in sorted(shared.rglob('8_31_4.flac'))[:1] + sorted(shared.rglob('*.flac'))[::300]})
    for name, y in inputs.items():
        ours, ref = vad.chunk_probabilities(y), silero_probs(session, y)
        assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1e-4, (name, np.abs(ours - ref).max())


def test_conversion_gives_the_shipped_file(tmp_path):
    "convert_silero on the wheel's 16 kHz ONNX model writes the shipped bytes (what notebook 12a's download cell did)."
    pytest.importorskip('onnx', reason='onnx is not installed')
    model = silero_wheel_file('data/silero_vad_16k_op15.onnx')
    licence = next(model.parents[2].glob('silero_vad-*.dist-info/licenses/LICENSE')).read_text()
    out = convert_silero(model, tmp_path / 'silero-vad.npz', licence)
    assert out.read_bytes() == VAD_FILE.read_bytes()
    with pytest.raises(ValueError, match="not Silero VAD's 16 kHz model"):
        convert_silero(silero_wheel_file('data/silero_vad.onnx'), tmp_path / 'x.npz', licence)   # its weights sit in subgraphs


def test_a_changed_vad_file_is_refused(refuses_changed_weights):
    "The shipped weights are checked against VAD_SHA256 before use: one flipped bit and loading stops, naming the file."
    import gvoice.vad as V
    refuses_changed_weights(V, 'VAD_FILE', V._shipped_vad, V.SileroVAD.load, "silero-vad.npz: SHA-256 .* not the shipped detector")


@pytest.mark.parametrize('n', [0, 1, 511, 512, 513, 16000])
def test_any_length(vad, n):
    p = vad.probabilities(np.zeros(n, np.float32), SR)
    assert p.shape == (-(-n // CHUNK),) and p.dtype == np.float32 and np.all((p >= 0) & (p < 0.1))
