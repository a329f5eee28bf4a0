"""GMM models: held-out accuracy, save/load, MAP adaptation by hand, calibration, and refusing the wrong feature recipe."""
import json
import zipfile

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from gvoice.gmm import GMMModel, UBMModel, load_frames, map_adapt_means
from gvoice.evaluate import fold_scores
from gvoice.models import ModelFileError, load_model
from gvoice.synth import make_corpus


@pytest.fixture(scope='module')
def split(tmp_path_factory):
    "Frames of a small synthetic corpus, split into training and held-out speakers (half of each gender)."
    corpus = make_corpus(tmp_path_factory.mktemp('corpus'), n_speakers=24, utterances_per_speaker=3, seed=1,
                         progress=False)
    frames = load_frames(corpus.path, progress=False)
    speakers = corpus.drop_duplicates('speaker')
    held = set(speakers.groupby('gender').speaker.apply(lambda s: s.iloc[::2]).explode())
    test = corpus.speaker.isin(held).to_numpy()
    part = lambda rows: ([frames[i] for i in np.flatnonzero(rows)], corpus.gender[rows].to_numpy(),
                         corpus.speaker[rows].to_numpy())
    return part(~test), part(test)


@pytest.fixture(scope='module', params=[GMMModel, UBMModel])
def fitted(request, split):
    (X, y, groups), _ = split
    return request.param().fit(X, y, groups=groups)


def test_beats_chance_on_held_out_speakers(fitted, split):
    _, (X, y, groups) = split
    scores = fold_scores(y, fitted.p_female(X))
    assert scores['accuracy'] >= 0.75 and scores['auc'] >= 0.8, scores


def test_save_load_identical_probabilities(fitted, split, tmp_path):
    _, (X, _, _) = split
    back = load_model(fitted.save(tmp_path / 'model.gvm'), features='s0_mfcc')
    assert type(back) is type(fitted) and back.kind == fitted.kind
    np.testing.assert_array_equal(back.p_female(X), fitted.p_female(X))


def test_calibration_on_validation_speakers(fitted, split):
    (X, y, groups), _ = split
    valid = fitted.valid_rows_
    assert set(groups[valid]).isdisjoint(np.delete(groups, valid))  # validation speakers are nobody else's
    p = fitted.p_female([X[i] for i in valid])
    assert ((p > 0) & (p < 1)).all()
    assert abs(p.mean() - (y[valid] == 'female').mean()) < 0.1


def test_map_adaptation_moves_means_by_n_over_n_plus_r():
    rng = np.random.default_rng(0)
    ubm = GaussianMixture(2, covariance_type='diag', random_state=0).fit(
        np.r_[np.full((50, 1), -5.0), np.full((50, 1), 5.0)] + rng.normal(0, 0.1, (100, 1)))
    near = int(np.argmin(ubm.means_[:, 0]))
    for n, r in [(4, 16), (16, 16), (48, 16), (16, 4)]:
        adapted = map_adapt_means(ubm, np.full((n, 1), -3.0), relevance=r)
        moved = (adapted[near] - ubm.means_[near]) / (-3.0 - ubm.means_[near])
        np.testing.assert_allclose(moved, n / (n + r), rtol=1e-6)
        np.testing.assert_allclose(adapted[1 - near], ubm.means_[1 - near])  # no data near it: it stays


def test_refuses_gmm_file_for_other_features(fitted, tmp_path):
    good = fitted.save(tmp_path / 'good.gvm')
    bad = tmp_path / 'bad.gvm'
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, 'w') as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == 'gvoice-model.json':
                meta = json.loads(data)
                assert meta['kind'] in ('gmm', 'gmm_ubm')
                data = json.dumps({**meta, 'features': 'all'})
            zout.writestr(name, data)
    with pytest.raises(ModelFileError, match="made for features 'all', not 's0_mfcc'"):
        load_model(bad, features='s0_mfcc')
    with pytest.raises(ModelFileError, match='eats s0_mfcc frames'):
        load_model(bad)


def test_fit_needs_speakers(split):
    (X, y, _), _ = split
    with pytest.raises(ValueError, match='needs groups'):
        GMMModel().fit(X, y)
