"""Classical models on utterance vectors: every factory fits, beats chance on held-out speakers and round-trips through a
model file; the F0 floor survives unvoiced clips; the SVM's search splits by speaker; on LibriSpeech the best model beats the floor."""
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from gvoice.classical import CLASSICAL_MODELS, F0Floor, compare_models, make_svm
from gvoice.data import load_librispeech, shared_data_dir, speaker_split
from gvoice.features import extract
from gvoice.models import load_model
from gvoice.synth import make_corpus


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    "One feature cache for the module's tests (cold at the start of a run)."
    return tmp_path_factory.mktemp('feature-cache')


@pytest.fixture(scope='module')
def synth(tmp_path_factory, cache):
    corpus = make_corpus(tmp_path_factory.mktemp('corpus'), n_speakers=24, utterances_per_speaker=2, seed=1, progress=False)
    return corpus, extract(corpus, 'all', n_jobs=1, cache_dir=cache, progress=False).features


@pytest.fixture(scope='module')
def halves(synth):
    corpus, X = synth
    split = speaker_split(corpus, valid=0, test=0.5, seed=0)
    return (split == 'train').to_numpy(), (split == 'test').to_numpy()


@pytest.mark.parametrize('name', list(CLASSICAL_MODELS))
def test_factory_fits_generalises_and_round_trips(name, synth, halves, tmp_path):
    (corpus, X), (tr, te) = synth, halves
    assert not set(corpus.speaker[tr]) & set(corpus.speaker[te])
    model = CLASSICAL_MODELS[name]().fit(X[tr], corpus.gender[tr], groups=corpus.speaker[tr])
    p = model.p_female(X[te])
    assert ((p >= 0.5) == (corpus.gender[te] == 'female')).mean() > 0.7, f"{name} no better than chance on held-out speakers"
    back = load_model(model.save(tmp_path / f'{name}.gvm', training={'dataset': 'synth'}))
    assert type(back) is type(model)
    np.testing.assert_array_equal(back.p_female(X[te]), p)


def test_f0_floor_handles_unvoiced_clips(synth):
    corpus, X = synth
    X = X.copy()
    X.iloc[:3, X.columns.get_loc('f0_median')] = np.nan  # as from clips without a voiced frame
    X.iloc[3, X.columns.get_loc('f0_median')] = 0.0
    floor = F0Floor().fit(X, corpus.gender)
    p = floor.p_female(X)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[:4], (corpus.gender == 'female').mean())  # no F0: the training prior
    assert 80 < floor.threshold_hz < 300
    with pytest.raises(ValueError, match="'f0_median' column"): F0Floor().fit(X.drop(columns='f0_median'), corpus.gender)


class SpyFolds(StratifiedGroupKFold):
    "StratifiedGroupKFold that records what it was given and checks each split is speaker-disjoint."
    def __init__(self, n_splits=3):
        super().__init__(n_splits=n_splits)
        self.calls = []

    def split(self, X, y=None, groups=None):
        assert groups is not None, "the search split clips without their speakers"
        for train, valid in super().split(X, y, groups):
            assert not set(groups[train]) & set(groups[valid]), "a speaker in both train and validation"
            self.calls.append((set(groups[train]), set(groups[valid])))
            yield train, valid


def test_svm_search_splits_by_speaker(synth):
    corpus, X = synth
    spy = SpyFolds(3)
    model = make_svm(cv=spy)
    assert type(model.estimator).__name__ == 'GridSearchCV'
    model.fit(X, corpus.gender, groups=corpus.speaker)
    assert len(spy.calls) == 3
    assert set().union(*(v for _, v in spy.calls)) == set(corpus.speaker)  # every speaker validated once
    assert set(model.best_params) == {'clf__estimator__C', 'clf__estimator__gamma'}
    with pytest.raises(ValueError, match='needs `groups`'): make_svm().fit(X, corpus.gender)


@pytest.mark.skipif(shared_data_dir('librispeech-subset') is None,
                    reason='real speech: ../shared/data/librispeech-subset is not on this machine')
def test_librispeech_best_model_beats_f0_floor(cache):
    "Real speech, slow with a cold cache (~1.5 min feature extraction + ~1 min of CV): 5-fold CV grouped by speaker."
    libri = load_librispeech(shared_data_dir('librispeech-subset'))
    ex = extract(libri, 'all', n_jobs=2, cache_dir=cache, progress=False)
    assert ex.failures.empty
    _, summary = compare_models(CLASSICAL_MODELS, ex.features, libri.loc[ex.features.index], k=5)
    mean = summary.xs('mean', axis=1, level=1)
    best = mean.auc.drop('f0_floor').idxmax()
    assert mean.accuracy[best] > mean.accuracy['f0_floor'], mean
    assert mean.log_loss[best] < mean.log_loss['f0_floor'], mean
    from joblib.externals.loky import get_reusable_executor
    get_reusable_executor().shutdown(wait=True)
