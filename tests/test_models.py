"""Model files: what load_model refuses, and that a reloaded model predicts identically."""
import errno
import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gvoice.models import ModelFileError, NotFittedError, PlattScaling, Recalibrated, SklearnModel, cross_validate, load_model

META = 'gvoice-model.json'


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)), columns=['f0_median', 'vtl_cm', 'f1'])
    y = np.where(X.f0_median + 0.3 * rng.normal(size=40) > 0, 'female', 'male')
    return SklearnModel(make_pipeline(StandardScaler(), LogisticRegression()), 'voice').fit(X, y), X


def rewrite(src, dst, meta=None, payload=None):
    "Copy model file `src` to `dst`, changing its metadata and/or payload bytes."
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == META and meta: data = json.dumps({**json.loads(data), **meta})
            elif name != META and payload is not None: data = payload
            zout.writestr(name, data)
    return dst


def test_reload_predicts_identically_and_keeps_metadata(fitted, tmp_path):
    model, X = fitted
    path = model.save(tmp_path / 'm.gvm', training={'speakers': 40}, metrics={'accuracy': 0.9})
    back = load_model(path)
    np.testing.assert_array_equal(back.p_female(X), model.p_female(X))
    assert back.info['metrics'] == {'accuracy': 0.9} and back.feature_names_ == list(X.columns)


FRESH = {  # a fresh model of every family: module, then how to make it
    'SklearnModel': ('gvoice.models', lambda m: m.SklearnModel(LogisticRegression(), 'voice')),
    'logreg': ('gvoice.classical', lambda m: m.make_logreg('formants')), 'svm search': ('gvoice.classical', lambda m: m.make_svm('formants')),
    'F0Floor': ('gvoice.classical', lambda m: m.F0Floor()), 'GMMModel': ('gvoice.gmm', lambda m: m.GMMModel()), 'UBMModel': ('gvoice.gmm', lambda m: m.UBMModel()),
    'DenseModel': ('gvoice.dense', lambda m: m.DenseModel()), 'PatchCNN': ('gvoice.cnn', lambda m: m.PatchCNN())}


@pytest.mark.parametrize('family', FRESH)
def test_predicting_or_saving_before_fit_says_so(family, tmp_path):
    "Every family, Keras included, refuses to predict or to be saved before fit, with the one message of VoiceModel's check."
    module, make = FRESH[family]
    if module in ('gvoice.dense', 'gvoice.cnn'): pytest.importorskip('tensorflow')
    import importlib
    model = make(importlib.import_module(module))
    assert not model.fitted
    for ask in (model.p_female, model.predict, model.predict_proba, lambda X: model.save(tmp_path / 'm.gvm')):
        with pytest.raises(NotFittedError, match=f'^this {type(model).__name__} is not fitted: call fit first$'):
            ask(np.zeros((2, 3)))
    assert not (tmp_path / 'm.gvm').exists()


def test_fitted_attributes_end_in_an_underscore(fitted):
    "What fit learns ends in '_' (scikit-learn's convention); constructor settings do not; a recalibration needs fitted parts."
    model, X = fitted
    assert model.fitted and model.feature_names_ == list(X.columns)
    platt = PlattScaling()
    assert (platt.a_, platt.b_, platt.fitted) == (None, None, False)
    with pytest.raises(NotFittedError, match='this PlattScaling is not fitted'): platt(np.zeros(2))
    with pytest.raises(NotFittedError, match='this PlattScaling is not fitted'): Recalibrated(model, platt)
    with pytest.raises(NotFittedError, match='this SklearnModel is not fitted'): Recalibrated(SklearnModel(LogisticRegression(), 'voice'), platt)
    platt.fit(model.p_female(X), np.where(X.f0_median > 0, 'female', 'male'))
    assert Recalibrated(model, platt).fitted and set(PlattScaling.from_dict(platt.to_dict()).to_dict()) == {'a', 'b'}


def test_untrusted_type_in_payload_is_refused_even_with_a_matching_digest(fitted, tmp_path):
    model, _ = fitted
    path = model.save(tmp_path / 'm.gvm')
    evil = sio.dumps({'x': pd.Timestamp('2020-01-01')})  # pandas: outside the allow-list
    import hashlib
    meta = {'sha256': {'estimator.skops': hashlib.sha256(evil).hexdigest()}}
    with pytest.raises(ModelFileError, match='untrusted types'):
        load_model(rewrite(path, tmp_path / 'evil.gvm', meta=meta, payload=evil))


def test_model_modules_outside_gvoice_are_never_imported(fitted, tmp_path):
    model, _ = fitted
    path = rewrite(model.save(tmp_path / 'm.gvm'), tmp_path / 'x.gvm', meta={'kind': 'other', 'module': 'json.tool'})
    sys.modules.pop('json.tool', None)
    with pytest.raises(ModelFileError, match="unknown model kind 'other'"):
        load_model(path)
    assert 'json.tool' not in sys.modules


def test_a_file_naming_a_gvoice_module_does_not_get_it_imported(fitted, tmp_path):
    "A crafted file naming gvoice.cli (or gvoice.cnn, which starts TensorFlow) as its kind's module: refused, nothing imported."
    model, _ = fitted
    path = model.save(tmp_path / 'm.gvm')
    for module in ('gvoice.cli', 'gvoice.cnn'):
        crafted = rewrite(path, tmp_path / 'x.gvm', meta={'kind': module.split('.')[1], 'module': module})
        code = f"""
import sys
from gvoice.models import ModelFileError, load_model
try: load_model({str(crafted)!r})
except ModelFileError as e: print('refused:', e)
print({module!r} in sys.modules, 'tensorflow' in sys.modules)"""
        done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        refused, imported = done.stdout.strip().splitlines()
        assert refused.startswith('refused: ') and 'unknown model kind' in refused, refused
        assert imported == 'False False', (module, imported)


@pytest.mark.parametrize('missing', ['kind', 'features', 'sr', 'params', 'sha256', 'created'])
def test_incomplete_metadata_is_a_model_file_error(fitted, tmp_path, missing):
    model, _ = fitted
    path = model.save(tmp_path / 'm.gvm')
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp_path / 'x.gvm', 'w') as zout:
        for name in zin.namelist():
            data = zin.read(name)
            zout.writestr(name, json.dumps({k: v for k, v in json.loads(data).items() if k != missing}) if name == META else data)
    with pytest.raises(ModelFileError, match=f'x.gvm: incomplete metadata: missing or mistyped {missing} '):
        load_model(tmp_path / 'x.gvm')


def test_a_payload_file_without_checksum_or_parameter_is_refused(fitted, tmp_path):
    model, _ = fitted
    path = model.save(tmp_path / 'm.gvm')
    with pytest.raises(ModelFileError, match='extra.bin was modified after the model was saved'):
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp_path / 'x.gvm', 'w') as zout:
            for name in zin.namelist(): zout.writestr(name, zin.read(name))
            zout.writestr('extra.bin', b'123')
        load_model(tmp_path / 'x.gvm')
    meta = {'kind': 'recalibrated', 'params': {'inner': {'kind': 'sklearn', 'features': 'voice', 'params': {}}}}  # no inner/ payload
    with pytest.raises(ModelFileError, match="y.gvm: incomplete model file: no 'estimator.skops' in its recalibrated payload"):
        load_model(rewrite(path, tmp_path / 'y.gvm', meta=meta))


def test_the_table_of_model_kinds_is_complete():
    "MODEL_HOMES names every kind gvoice registers, with the module that registers it."
    pytest.importorskip('tensorflow')
    import gvoice.classical, gvoice.cnn, gvoice.dense, gvoice.gmm, gvoice.lite  # noqa: F401 (they register their kinds)
    from gvoice.models import MODEL_HOMES, MODEL_KINDS
    assert {k: c.__module__ for k, c in MODEL_KINDS.items()} == MODEL_HOMES


@pytest.mark.parametrize('cut', [10, 200, -50])
def test_truncated_files_are_refused(fitted, tmp_path, cut):
    model, _ = fitted
    data = model.save(tmp_path / 'm.gvm').read_bytes()
    (tmp_path / 'cut.gvm').write_bytes(data[:cut])
    with pytest.raises(ModelFileError, match=r'cut\.gvm: '):
        load_model(tmp_path / 'cut.gvm')


def test_a_damaged_byte_anywhere_is_refused_or_harmless(fitted, tmp_path):
    "Flip each byte of a model file in turn: loading raises ModelFileError naming the file, or gives the same model (a byte zip does not check)."
    model, X = fitted
    data = model.save(tmp_path / 'm.gvm').read_bytes()
    expected = model.p_female(X)
    for i in range(len(data)):
        bad = bytearray(data); bad[i] ^= 0xFF
        (tmp_path / 'bad.gvm').write_bytes(bytes(bad))
        try: same = np.allclose(load_model(tmp_path / 'bad.gvm').p_female(X), expected)
        except ModelFileError as e: same = 'bad.gvm' in str(e)
        assert same, f"byte {i} of {len(data)}"


def test_missing_metadata_and_bad_json(fitted, tmp_path):
    with zipfile.ZipFile(tmp_path / 'plain.zip', 'w') as zf:
        zf.writestr('model.bin', b'123')
    with pytest.raises(ModelFileError, match='no gvoice-model.json'):
        load_model(tmp_path / 'plain.zip')
    with zipfile.ZipFile(tmp_path / 'badjson.gvm', 'w') as zf:
        zf.writestr(META, '{not json')
    with pytest.raises(ModelFileError, match='unreadable metadata'):
        load_model(tmp_path / 'badjson.gvm')


@pytest.mark.parametrize('error', [PermissionError(errno.EACCES, 'Permission denied'), OSError(errno.EIO, 'Input/output error')])
def test_a_file_the_system_cannot_read_is_not_called_corrupt(fitted, tmp_path, monkeypatch, error):
    "Permission denied, or a failing disk, says so (as root, chmod does not deny, so the refusal is simulated where the file is opened)."
    model, _ = fitted
    path = model.save(tmp_path / 'm.gvm')
    def refused(*args, **kwargs): raise error
    monkeypatch.setattr(zipfile, 'ZipFile', refused)
    with pytest.raises(ModelFileError, match=rf'm\.gvm: cannot be read \({error.strerror}\)'): load_model(path)

def test_saving_is_atomic(fitted, tmp_path, monkeypatch):
    model, _ = fitted
    path = model.save(tmp_path / 'm.gvm')
    before = path.read_bytes()
    monkeypatch.setattr(type(model), '_payload', lambda self: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        model.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ['m.gvm']


def test_cross_validate_never_tests_on_a_training_speaker():
    trained, tested = [], []
    manifest = pd.DataFrame({'speaker': [f'synth:{i // 3}' for i in range(60)],
                             'gender': ['female' if (i // 3) % 2 else 'male' for i in range(60)]})

    class Spy(SklearnModel):
        def fit(self, X, y, groups=None):
            trained.append(set(groups))
            return super().fit(X, y, groups)

        def _p_female(self, X):
            tested.append(set(manifest.speaker[X.index]))
            return super()._p_female(X)

    X = pd.DataFrame(np.random.default_rng(1).normal(size=(60, 2)), columns=['a', 'b'])
    p, scores = cross_validate(lambda: Spy(LogisticRegression(), 'voice'), X, manifest, k=5)
    assert len(trained) == len(tested) == 5 and not np.isnan(p).any()
    assert all(not (train & test) for train, test in zip(trained, tested))
    assert set().union(*tested) == set(manifest.speaker)
    assert scores.speakers.sum() == manifest.speaker.nunique()
