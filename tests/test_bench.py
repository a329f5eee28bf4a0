"""The benchmarks' own arithmetic: what `bench/abstention.py` resamples is what gvoice.evaluate measures."""
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gvoice.evaluate import _speaker_sums, risk_coverage

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def abstention():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT / 'bench'))   # it imports calibration_floor from beside it, as `python bench/abstention.py` does
        return runpy.run_path(str(ROOT / 'bench' / 'abstention.py'))


def loco_like(seed=0):
    "Predictions of three held-out corpora of different sizes, each with speakers of both genders and a few clips each, some wrong and some unsure."
    rng, rows = np.random.default_rng(seed), []
    for fold, speakers in (('big', 30), ('mid', 10), ('small', 4)):
        for s in range(speakers):
            gender = ('female', 'male')[s % 2]
            for _ in range(rng.integers(1, 5)):
                p = np.clip(rng.normal(0.85, 0.2), 0.01, 0.99)   # P(the right gender): mostly sure and right
                rows.append({'fold': fold, 'speaker': f'{fold}{s}', 'gender': gender, 'p_female': p if gender == 'female' else 1 - p})
    return pd.DataFrame(rows)


@pytest.mark.parametrize('threshold', [0.5, 0.6, 0.75])
def test_abstention_measures_what_risk_coverage_measures(abstention, threshold):
    "Row 0 of `resampled_means` (the speakers as they are) is `gvoice.evaluate.risk_coverage` at that threshold; the resamples vary around it."
    scores = loco_like()
    means = abstention['resampled_means'](_speaker_sums(scores, threshold, 'fold'), draws=200)
    expected = risk_coverage(scores, [threshold]).iloc[0]
    for measure in abstention['TARGETS']: assert means[measure].iloc[0] == pytest.approx(expected[measure], abs=1e-12), measure
    assert len(means) == 201 and means['strict balanced accuracy'].iloc[1:].std() > 0
    lo, hi = means.iloc[1:].quantile(0.05), means.iloc[1:].quantile(0.95)
    assert (lo <= means.iloc[0]).all() and (means.iloc[0] <= hi).all()   # the estimate inside its 90 % interval


def test_abstention_resamples_each_gender_within_its_corpus(abstention):
    "Every woman right and every man wrong: strict balanced accuracy is 0.5 in every resample, since no resample loses a gender (the smallest corpus has two of each)."
    scores = loco_like().assign(p_female=0.99)
    strict = abstention['resampled_means'](_speaker_sums(scores, 0.5, 'fold'), draws=300)['strict balanced accuracy']
    assert np.allclose(strict, 0.5)
