"""How sure the shipped model's abstention figures are: coverage, accuracy on the answers and strict balanced accuracy
on corpora it never heard, each with its speaker-bootstrap interval, at several confidence thresholds.

    python bench/abstention.py [--jobs 2] [--draws 1000] [--scores scores.csv]

Issue 14 asks for two things of the threshold at once: accuracy on the answers of at least 97 % with at least 95 % of
the clips answered (its section 6), and balanced accuracy of at least 95 % with "uncertain" counted as a miss
("Done when"), each as a mean over the held-out corpora. This script runs the shipped recipe's leave-one-corpus-out as
`bench/calibration_floor.py` does (the same predictions; `--scores` shares its CSV), recalibrates them as the shipped
model is, and prints:

- per held-out corpus as recorded: its clips, its errors when every clip is answered, and how many points of the mean
  over corpora one clip of it is worth;
- per threshold (the shipped one, then 0.55 to 0.75): the three means over corpora, each with the percentile interval of
  `--draws` resamples that draw each corpus's speakers with replacement, within each gender (the speakers of a corpus,
  not its clips, are what a new test set would change), and the share of resamples in which all three targets hold.

A measurement, not a test. Where ../shared/data is absent it says so and exits 0.
"""
import argparse
import sys

import numpy as np
import pandas as pd

from calibration_floor import shipped_scores_from
from gvoice.data import GENDERS
from gvoice.evaluate import _resampled_group, _speaker_sums, choose_calibration, choose_threshold

TARGETS = {'coverage': 0.95, 'accuracy answered': 0.97, 'strict balanced accuracy': 0.95}  # issue 14: section 6 and "Done when"


def fold_table(scores:pd.DataFrame) -> pd.DataFrame:
    "Per held-out corpus, as recorded: clips, errors when every clip is answered, and one clip's weight in a mean over corpora (points)."
    right = (scores.p_female >= 0.5) == (scores.gender == 'female')
    t = pd.DataFrame({'clips': scores.groupby('fold').size(), 'errors, every clip answered': (~right).groupby(scores.fold).sum()})
    return t.assign(**{'one clip, points of the mean': 100 / t.clips / len(t)})


def resampled_means(sums:pd.DataFrame, draws:int, seed:int=0) -> pd.DataFrame:
    "`TARGETS`' measures, means over folds, for the speakers as they are (row 0) and `draws` resamples of each fold's speakers within each gender (`_speaker_sums` rows)."
    rng, per_fold = np.random.default_rng(seed), []
    for _, g in sums.groupby('group', sort=False):
        w = np.ones((draws + 1, len(g)))
        for gender in GENDERS:   # each gender keeps its number of speakers, as the held-out corpus has them
            idx = np.flatnonzero((g.gender == gender).to_numpy())
            if len(idx): w[1:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=draws)
        with np.errstate(invalid='ignore'):   # a fold with no answer has no accuracy on its answers
            answered = (w @ g.hit.to_numpy(float)) / (w @ g.sure.to_numpy(float))
        per_fold.append(_resampled_group(g, w)[['coverage', 'strict balanced accuracy']].assign(**{'accuracy answered': answered}))   # the library's own rates, for these draws
    return pd.concat(per_fold).groupby(level=0).mean()[list(TARGETS)]


def threshold_table(scores:pd.DataFrame, thresholds:list, draws:int, level:float=0.9) -> pd.DataFrame:
    "Per threshold: each of `TARGETS`' means over corpora with its speaker-bootstrap interval, and the share of resamples meeting every target."
    rows = {}
    for t in thresholds:
        means = resampled_means(_speaker_sums(scores, t, 'fold'), draws)
        point, rest = means.iloc[0], means.iloc[1:]
        lo, hi = rest.quantile((1 - level) / 2), rest.quantile((1 + level) / 2)
        rows[t] = {**{m: f"{100 * point[m]:.1f} [{100 * lo[m]:.1f}, {100 * hi[m]:.1f}]" for m in TARGETS},
                   'all three hold': 'yes' if all(point[m] >= v for m, v in TARGETS.items()) else 'no',
                   'share of resamples where all hold': f"{np.mean(np.all([rest[m] >= v for m, v in TARGETS.items()], 0)):.2f}"}
    return pd.DataFrame(rows).T.rename_axis('threshold')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--draws', type=int, default=1000, help='speaker resamples per threshold')
    a, scores = shipped_scores_from(p, argv)
    if scores is None: return 0
    _, calibrated = choose_calibration(scores)
    shipped = choose_threshold(calibrated)
    recorded = calibrated[calibrated.condition == 'as recorded']
    with pd.option_context('display.width', 200):
        print("Held-out corpora, as recorded:\n")
        print(fold_table(recorded).round(2).to_string())
        print(f"\nMeans over corpora, as recorded, with 90 % speaker-bootstrap intervals ({a.draws} resamples); "
              f"targets: {', '.join(f'{m} >= {100 * v:g} %' for m, v in TARGETS.items())}. The shipped threshold is {shipped:.2f}.\n")
        print(threshold_table(recorded, [shipped, 0.55, 0.6, 0.65, 0.7, 0.75], a.draws).to_string())
    return 0


if __name__ == '__main__':
    sys.exit(main())
