"The numpy GE2E speaker encoder against resemblyzer (PyTorch): a golden fixture always, the live package where it is installed."
import importlib.util, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

import numpy as np
import pytest

from gvoice.audio import load_audio, resample
from gvoice.data import load_librispeech, shared_data_dir
from gvoice.encoder import GE2E_FILE, LSTM_BACKENDS, SpeakerEncoder, lstm_backend, melspectrogram, onnx_lstm_model, partial_slices, speaker_embedding
from gvoice.synth import sample_speakers, synthesize_utterance

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / 'tests' / 'fixtures' / 'ge2e_reference.npz'
MAKER = ROOT / 'tests' / 'fixtures' / 'make_ge2e_reference.py'


@pytest.fixture(scope='module')
def golden():
    with np.load(FIXTURE, allow_pickle=False) as z: return {k: z[k] for k in z.files}


@pytest.fixture(scope='module', params=LSTM_BACKENDS)
def encoder(request):
    "The shipped encoder with each LSTM backend: every check below holds for both (onnxruntime's where it is installed)."
    if request.param == 'onnxruntime': pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (pip install "gvoice[fast]")')
    return SpeakerEncoder.load(backend=request.param)


def _close(ours, ref):
    "Max abs difference < 1e-4, or cosine > 0.99999."
    cos = float(ours @ ref / np.linalg.norm(ours) / np.linalg.norm(ref))
    assert np.abs(ours - ref).max() < 1e-4 or cos > 0.99999, (np.abs(ours - ref).max(), cos)


def test_shipped_file_is_data_with_provenance():
    assert GE2E_FILE.is_file() and GE2E_FILE.stat().st_size < 20e6
    with np.load(GE2E_FILE, allow_pickle=False) as z:
        meta = json.loads(z['meta'].tobytes())
        assert all(z[k].dtype == np.float32 for k in z.files if k != 'meta')
    assert meta['licence'] == 'Apache-2.0' and meta['author'] == 'Corentin Jemine' and len(meta['sha256']) == 64
    assert 'resemblyzer 0.1.4' in meta['source'] and 'Apache License 2.0' in meta['notice']


@pytest.mark.parametrize('name', ['synth3s', 'synth1s'])
def test_golden_fixture(golden, encoder, name):
    sr, wav = int(golden[f'{name}_sr']), golden[name].astype(np.float32) / 32768
    wav16 = resample(wav, sr, 16000)
    slices = partial_slices(len(wav16))
    mel = melspectrogram(np.pad(wav16, (0, max(0, slices[-1].stop * 160 - len(wav16)))), encoder.mel_basis).T
    np.testing.assert_allclose(mel, golden[f'{name}_mel'], atol=1e-6 * golden[f'{name}_mel'].max())
    np.testing.assert_allclose(encoder.embed_frames(np.stack([golden[f'{name}_mel'][s] for s in slices])), golden[f'{name}_partials'], atol=1e-5)
    _close(encoder.embed_wav(wav16), golden[f'{name}_embed'])
    _close(encoder.embed(wav, sr), golden[f'{name}_embed_pre'])


@pytest.mark.filterwarnings('ignore:n_fft=400 is too large')
def test_mel_frontend_matches_librosa(encoder):
    librosa = pytest.importorskip('librosa')
    np.testing.assert_array_equal(encoder.mel_basis, librosa.filters.mel(sr=16000, n_fft=400, n_mels=40))
    for n in (0, 399, 16000, 16077):
        y = np.random.default_rng(n).normal(0, 0.1, n).astype(np.float32)
        ref = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=400, hop_length=160, n_mels=40)
        ours = melspectrogram(y, encoder.mel_basis)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, atol=1e-6 * max(ref.max(), 1e-12))


def test_short_and_odd_inputs(encoder):
    y, _ = synthesize_utterance(sample_speakers(2, seed=0)[0], seed=0, duration=2.0)
    for clip in (y[:1], y[:800], y[:16000], np.zeros(16000, np.float32)):
        e = encoder.embed(clip, 16000)
        assert e.shape == (256,) and e.dtype == np.float32 and np.isfinite(e).all()
    f = speaker_embedding(y, 16000)
    assert list(f) == [f'ge2e{i:03d}' for i in range(256)] and all(isinstance(v, float) for v in f.values())


def test_import_pulls_in_no_framework(imported_by):
    code = ("import numpy as np; from gvoice.encoder import SpeakerEncoder; "
            "SpeakerEncoder.load().embed(np.random.default_rng(0).normal(0, 0.1, 24000).astype(np.float32), 24000)")
    assert imported_by(code, ('torch', 'tensorflow', 'keras', 'librosa', 'numba')) == []


def test_backends_agree_on_speech():
    "onnxruntime's LSTM and the numpy loop embed the same clips to 1e-5, from one window to a 30 s window's 38."
    pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (pip install "gvoice[fast]")')
    ours, theirs = SpeakerEncoder.load(backend='numpy'), SpeakerEncoder.load(backend='onnxruntime')
    assert (ours.backend, theirs.backend) == ('numpy', 'onnxruntime') and theirs is SpeakerEncoder.load(backend='onnxruntime')
    y, _ = synthesize_utterance(sample_speakers(1, seed=3)[0], seed=3, duration=30.0)
    for seconds in (0.5, 3, 30):
        clip = y[:int(seconds * 16000)]
        np.testing.assert_allclose(theirs.embed(clip, 16000), ours.embed(clip, 16000), atol=1e-5)


def test_onnx_model_is_valid_onnx():
    "The model gvoice writes byte by byte is one that the onnx package reads back and finds consistent, with the encoder's own weights."
    onnx = pytest.importorskip('onnx', reason='onnx is not installed')
    from gvoice.encoder import _read_weights
    from onnx import numpy_helper
    weights = _read_weights(GE2E_FILE)[0]
    model = onnx.load_from_string(onnx_lstm_model(weights))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ['LSTM', 'Squeeze'] * 3 and model.opset_import[0].version == 12
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(tensors['R1'][0, :256], weights['lstm.weight_hh_l1'][:256])      # input gate first in both orders
    np.testing.assert_array_equal(tensors['R1'][0, 256:512], weights['lstm.weight_hh_l1'][768:])  # then ONNX's output gate: PyTorch's last


def test_backend_choice(monkeypatch):
    "'auto' follows GVOICE_LSTM, else what is installed; a backend that cannot run is an error that says how to install it, not numpy in its place."
    import gvoice.encoder as E
    monkeypatch.setenv('GVOICE_LSTM', 'numpy')
    assert lstm_backend() == 'numpy' and SpeakerEncoder.load().backend == 'numpy'
    monkeypatch.setenv('GVOICE_LSTM', 'torch')
    with pytest.raises(ValueError, match="GVOICE_LSTM.*not 'torch'"): lstm_backend()
    monkeypatch.delenv('GVOICE_LSTM')
    monkeypatch.setattr(E, '_onnxruntime_installed', lambda: False)
    assert lstm_backend() == 'numpy'
    with pytest.raises(ImportError, match=r'gvoice\[fast\]'): SpeakerEncoder.load(backend='onnxruntime')
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)   # installed, but its import fails
    with pytest.raises(ImportError, match='cannot be imported.*GVOICE_LSTM=numpy'): E._onnx_session({}, [])


def test_an_onnxruntime_that_computes_differently(monkeypatch):
    "A session that does not give numpy's states is refused: asked for by name, an error that says so; under 'auto', numpy's loop, with a warning."
    pytest.importorskip('onnxruntime', reason='onnxruntime is not installed (pip install "gvoice[fast]")')
    import gvoice.encoder as E
    weights, meta = E._read_weights(GE2E_FILE)
    monkeypatch.setattr(E, '_onnx_gates', lambda a, hidden: a)   # PyTorch's gate order handed to ONNX as its own: another LSTM
    with pytest.raises(RuntimeError, match="LSTM differs from numpy's"): SpeakerEncoder(weights, meta, backend='onnxruntime')
    monkeypatch.delenv('GVOICE_LSTM', raising=False)
    E._shipped_encoder.cache_clear()   # the shipped encoder, as the predictor loads it
    try:
        with pytest.warns(RuntimeWarning, match=r"RuntimeError: onnxruntime .*numpy's loop runs instead"): encoder = SpeakerEncoder.load()
        assert encoder.backend == 'numpy' and encoder.embed_wav(np.full(16000, 0.01, np.float32)).shape == (256,)
    finally: E._shipped_encoder.cache_clear()
    monkeypatch.setenv('GVOICE_LSTM', 'onnxruntime')   # named through the variable: an error too
    with pytest.raises(RuntimeError, match="differs"): SpeakerEncoder(weights, meta)


def _reference_python():
    "A Python with torch and resemblyzer: this one, or $GVOICE_REFERENCE_PYTHON (e.g. /tmp/rzvenv/bin/python, see the fixture script)."
    if importlib.util.find_spec('torch') and importlib.util.find_spec('resemblyzer'): return sys.executable
    return os.environ.get('GVOICE_REFERENCE_PYTHON')


def _live_inputs() -> dict:
    "16 kHz float32 clips: espeak-ng speech, synthetic voices, real clips from ../shared/data when present."
    inputs = {}
    espeak = shutil.which('espeak-ng')
    if espeak:
        for i, text in enumerate(['The quick brown fox jumps over the lazy dog.', 'Hello.', 'A much longer sentence, read slowly, '
                                  'so that the utterance is cut into many partial windows of one point six seconds each.']):
            path = Path(tempfile.mkdtemp()) / 'say.wav'
            subprocess.run([espeak, '-w', str(path), text], check=True)
            inputs[f'espeak{i}'] = load_audio(path, sr=16000)
    for i, s in enumerate(sample_speakers(4, seed=7)):
        inputs[f'synth{i}'] = synthesize_utterance(s, seed=i, duration=(1.0, 6.0))[0]
    root = shared_data_dir('librispeech-subset')
    if root is not None:
        for path in load_librispeech(root).path[:3]: inputs[Path(path).stem] = load_audio(path, sr=16000)
    return {k: np.asarray(v, dtype=np.float32) for k, v in inputs.items()}


def test_live_against_resemblyzer(encoder, tmp_path):
    python = _reference_python()
    if python is None: pytest.skip('torch and resemblyzer are not importable (set GVOICE_REFERENCE_PYTHON to a Python that has them)')
    inputs = _live_inputs()
    np.savez(tmp_path / 'in.npz', **inputs)
    subprocess.run([python, '-W', 'ignore', str(MAKER), '--embed', str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')], check=True)
    with np.load(tmp_path / 'out.npz') as ref:
        for name, wav in inputs.items():
            ours = encoder.embed_wav(wav)
            print(f'{name}: {len(wav) / 16000:.1f} s, max abs diff {np.abs(ours - ref[name]).max():.1e}, cosine {ours @ ref[name]:.7f}')
            _close(ours, ref[name])


def test_a_changed_encoder_file_is_refused(refuses_changed_weights):
    "The shipped weights are checked against GE2E_SHA256 before use: one flipped bit and loading stops, naming the file."
    import gvoice.encoder as E
    refuses_changed_weights(E, 'GE2E_FILE', E._shipped_encoder, E.SpeakerEncoder.load, "ge2e-encoder.npz: SHA-256 .* not the shipped encoder")