"GenderPredictor (notebook 14) and `gvoice predict` (notebook 90): honest answers, bounded memory, clear failures, exit codes."
import json, shutil, subprocess, sys, tracemalloc

import numpy as np
import pytest
import soundfile as sf

from gvoice.audio import AudioError
from gvoice.classical import make_logreg
from gvoice.features import extract
from gvoice.synth import NON_SPEECH, non_speech
from gvoice.predict import GenderPredictor, Prediction
from gvoice.synth import make_corpus

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A predictor around logistic regression on formants of 24 synthetic speakers, its model file, and 8 unseen speakers' clips."
    root = tmp_path_factory.mktemp('predict')
    corpus = make_corpus(root / 'corpus', n_speakers=32, utterances_per_speaker=2, seed=21, progress=False)
    train = corpus.speaker.isin(corpus.speaker.unique()[:24]).to_numpy()
    X = extract(corpus, 'formants', cache_dir=root / 'cache', progress=False).features
    model = make_logreg('formants').fit(X[train], corpus.gender[train], groups=corpus.speaker[train])
    return GenderPredictor(model), model.save(root / 'model.gvm'), corpus[~train]

def test_prediction_reads_as_attributes_and_as_a_mapping(trained):
    predictor, _, test = trained
    r = predictor.predict_file(test.path.iloc[0])
    assert isinstance(r, Prediction)
    for key in ('label', 'p_female', 'confidence', 'speech_seconds', 'f0_median_hz', 'reason'): assert r[key] == getattr(r, key) or np.isnan(r[key])
    json.dumps(dict(r))
    assert r.label in ('female', 'male', 'uncertain') and 0 <= r.p_female <= 1
    assert r.confidence == pytest.approx(max(r.p_female, 1 - r.p_female))
    assert (r.reason == '') == (r.label != 'uncertain')

def test_unseen_synthetic_speakers_are_mostly_right(trained):
    predictor, _, test = trained
    results = [predictor.predict_file(p) for p in test.path]
    answered = [(r.label, g) for r, g in zip(results, test.gender) if r.label != 'uncertain']
    assert len(answered) >= len(results) // 2
    assert np.mean([label == g for label, g in answered]) > 0.8

@pytest.mark.parametrize('kind', NON_SPEECH)
def test_non_speech_never_gets_a_gender(trained, kind):
    predictor, _, _ = trained
    for seed, level in ((0, -6), (3, -24)):
        r = predictor.predict(non_speech(kind, duration=4.0, seed=seed, peak_dbfs=level), 16000)
        assert r.label == 'uncertain' and r.reason and np.isnan(r.p_female) and r.confidence == 0, (kind, r)

def test_too_little_speech_is_uncertain(trained):
    predictor, _, test = trained
    y, sr = sf.read(test.path.iloc[0], dtype='float32')
    r = predictor.predict(y[int(0.4 * sr):int(0.6 * sr)], sr)
    assert r.label == 'uncertain' and 'speech' in r.reason
    assert 0 < r.speech_seconds < 0.215 and f'only {r.speech_seconds:.2f} s of speech' in r.reason, r   # what was found, as the reason says
    assert predictor.predict(np.zeros(0, np.float32), 16000).label == 'uncertain'

def test_low_confidence_is_uncertain_with_the_probability(trained):
    predictor, path, test = trained
    strict = GenderPredictor.load(path, threshold=0.999)
    r = strict.predict_file(test.path.iloc[0])
    assert r.label == 'uncertain' and 'confidence' in r.reason and 0 <= r.p_female <= 1

def _peak_memory(fn):
    "fn()'s result and the peak of Python memory allocations while it ran."
    tracemalloc.start()
    try: return fn(), tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()

def test_long_files_are_read_in_windows_in_bounded_memory(trained, tmp_path):
    predictor, _, test = trained
    y = np.concatenate([sf.read(p, dtype='float32')[0] for p in test.path])
    for minutes in (2, 20): sf.write(tmp_path / f'{minutes}.flac', np.resize(y, minutes * 60 * 16000), 16000)   # 20 min: 77 MB as float32
    short, short_peak = _peak_memory(lambda: predictor.predict_file(tmp_path / '2.flac'))
    long, long_peak = _peak_memory(lambda: predictor.predict_file(tmp_path / '20.flac'))
    assert long.windows == 40 and long.duration == pytest.approx(1200, abs=1) and long.speech_seconds > 600
    assert long_peak < 1.2 * short_peak, f'{short_peak / 1e6:.0f} MB for 2 min, {long_peak / 1e6:.0f} MB for 20 min'
    assert long.label == short.label

def test_bad_files_raise_audio_errors_that_name_them(trained, tmp_path):
    predictor, _, _ = trained
    (tmp_path / 'notes.wav').write_text('not audio')
    with pytest.raises(AudioError, match='notes.wav'): predictor.predict_file(tmp_path / 'notes.wav')
    with pytest.raises(AudioError, match='missing.flac'): predictor.predict_file(tmp_path / 'missing.flac')
    with pytest.raises(ValueError, match='threshold'): GenderPredictor(predictor.model, threshold=1.0)

def _gvoice(*args):
    "Run the installed `gvoice` console script."
    exe = shutil.which('gvoice')
    if exe is None: pytest.skip('the gvoice console script is not installed (pip install -e .)')
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=300)

def test_cli_predict_exit_codes_and_outputs(trained, tmp_path):
    _, model, test = trained
    folder = tmp_path / 'clips'; folder.mkdir()
    for p in test.path.iloc[:3]: shutil.copy(p, folder)
    ok = _gvoice('predict', folder, '--model', model)
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.strip().splitlines()) == 4 and 'label' in ok.stdout
    (folder / 'broken.wav').write_bytes(b'RIFF\x00\x00')
    some = _gvoice('predict', folder, '--model', model, '--json')
    assert some.returncode == 1 and 'broken.wav' in some.stderr
    lines = [json.loads(l) for l in some.stdout.splitlines()]
    assert len(lines) == 4 and sum('error' in l for l in lines) == 1
    assert {l['label'] for l in lines if 'label' in l} <= {'female', 'male', 'uncertain'}
    assert _gvoice('predict', tmp_path / 'empty-dir-does-not-exist-either', '--model', model).returncode == 1
    (tmp_path / 'empty').mkdir()
    assert _gvoice('predict', tmp_path / 'empty', '--model', model).returncode == 2
    assert _gvoice('predict').returncode == 2
    assert _gvoice('predict', folder, '--model', tmp_path / 'nope.gvm').returncode == 2
