"""How well calibrated the shipped recipe is on corpora it never heard, and how far from 0 a corpus's ECE falls by chance alone.

    python bench/calibration_floor.py [--jobs 2] [--draws 2000] [--scores scores.csv]

Runs the shipped recipe's leave-one-corpus-out as `gvoice train --pretrained` does (the same folds, training pool, copies,
seed, features and weights; about ten minutes on 2 cores when the features are cached, mostly the SVM's search, a minute
a fold), recalibrates its log-odds as the shipped model is (`gvoice.evaluate.choose_calibration`), and prints, per corpus
as recorded, the clips, the ECE, and the ECE a *perfectly* calibrated model with the same probabilities would show
(`gvoice.evaluate.chance_calibration_error`: labels drawn from its own P(female), `--draws` times; mean and 95th
percentile), and its mean confidence beside its accuracy (which side of the diagonal a gap lies on). The mean over
corpora of that chance level says how low the mean per-corpus ECE can go on corpora of these sizes.

Then it asks which predictions the temperature should be fitted on: the shipped one is fitted on all four conditions of
`gvoice.train.CONDITIONS` pooled (three of them made harsher by hand), the other only on the recordings as they are. It
prints, per condition, the mean over corpora of the log loss and the ECE under each, and the ECE of all clips, and then
the per-corpus table again for the second. `--scores` keeps the leave-one-corpus-out predictions in a CSV and reads them
back on the next run. A measurement, not a test. Where ../shared/data is absent it says so and exits 0.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gvoice.data import shared_data_dir
from gvoice.evaluate import calibration_error, chance_calibration_error, choose_calibration, loco_calibration, summarize
from gvoice.train import (PRETRAINED_BALANCE, PRETRAINED_COPIES, PRETRAINED_FAMILY, PRETRAINED_FEATURES, SHARED_CORPORA, load_corpora, loco_pool,
                          loco_scores, shared_corpus_specs)


def shipped_loco_scores(shared:Path, n_jobs:int) -> pd.DataFrame:
    "The shipped recipe's leave-one-corpus-out predictions, every condition, before recalibration."
    speech = load_corpora(shared_corpus_specs(shared))
    return loco_scores(PRETRAINED_FAMILY, speech, *loco_pool(speech), copies=PRETRAINED_COPIES, seed=0, features=PRETRAINED_FEATURES,
                       n_jobs=n_jobs, progress=True, balance=PRETRAINED_BALANCE)


def ece_table(scores:pd.DataFrame, draws:int, seed:int=0) -> pd.DataFrame:
    "Per fold (as recorded): clips, ECE, its chance level under perfect calibration (mean, 95th percentile), and the mean confidence beside the accuracy (the side of a gap: below it, too modest); then the mean over folds."
    rows = {}
    for fold, d in scores[scores.condition == 'as recorded'].groupby('fold'):
        p, y = d.p_female.to_numpy(), d.gender.to_numpy()
        chance = chance_calibration_error(p, draws, seed)
        rows[fold] = {'clips': len(d), 'ECE': calibration_error(y, p),
                      'ECE by chance, mean': chance.mean(), 'ECE by chance, 95th percentile': np.percentile(chance, 95),
                      'mean confidence': np.maximum(p, 1 - p).mean(), 'accuracy': ((p >= 0.5) == (y == 'female')).mean()}
    table = pd.DataFrame(rows).T
    table.loc['mean over corpora'] = table.mean()
    return table


def where_fitted_table(scores:pd.DataFrame) -> pd.DataFrame:
    "For a temperature fitted on every condition (shipped) and on the recordings as they are only: its slope, and per condition the mean over corpora of log loss and ECE, and the ECE of all clips pooled."
    tables = {}
    for name, conditions in (('every condition (shipped)', None), ('as recorded only', ['as recorded'])):
        platt, calibrated = loco_calibration(scores, fit_on=conditions)
        per_fold = summarize(calibrated, ['condition', 'fold']).astype(float).groupby(level='condition', sort=False).mean()
        tables[name] = pd.DataFrame({'slope a': platt.a_, 'log loss, mean over corpora': per_fold.log_loss, 'ECE, mean over corpora': per_fold.ece,
                                     'ECE, all clips': summarize(calibrated, 'condition').ece.astype(float)})
    return pd.concat(tables).rename_axis([None, None])


def shipped_scores_from(p:argparse.ArgumentParser, argv=None) -> tuple:
    "Add --jobs and --scores to `p`, parse `argv`, and return the arguments and the shipped recipe's leave-one-corpus-out predictions (None, having said why, where ../shared/data is not here)."
    p.add_argument('--jobs', type=int, default=2, help='worker processes for features')
    p.add_argument('--scores', type=Path, help='a CSV of the leave-one-corpus-out predictions: read if it exists, else written')
    a = p.parse_args(argv)
    shared = shared_data_dir()
    if shared is None or not all((shared / f).is_dir() for f in SHARED_CORPORA):
        print("../shared/data (librispeech-subset, extra-speakers, more-speakers) is not here: nothing to measure")
        return a, None
    if a.scores is not None and a.scores.exists(): return a, pd.read_csv(a.scores)
    scores = shipped_loco_scores(shared, a.jobs)
    if a.scores is not None: scores.to_csv(a.scores, index=False)
    return a, scores


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--draws', type=int, default=2000, help='label draws per corpus for the chance level')
    a, scores = shipped_scores_from(p, argv)
    if scores is None: return 0
    platt, calibrated = choose_calibration(scores)
    print(f"calibration: {'a temperature, a = %.3f' % platt.a_ if platt is not None else 'none (the temperature did not lower the log loss)'}\n")
    table = ece_table(calibrated, a.draws)
    table['clips'] = table['clips'].round().astype(int)
    with pd.option_context('display.width', 200):
        print(table.round(3).to_string())
        print("\nWhich predictions the temperature is fitted on:\n")
        print(where_fitted_table(scores).round(3).to_string())
        print("\nPer corpus as recorded, with the temperature fitted on the recordings as they are only:\n")
        print(ece_table(loco_calibration(scores, fit_on=['as recorded'])[1], a.draws).drop(columns='clips').round(3).to_string())
    return 0


if __name__ == '__main__':
    sys.exit(main())
