"""How often `gvoice.gate.speech_gate` turns real speech away, by corpus, over every file of ../shared/data.

    python bench/gate_real.py [--jobs 2] [--csv out.csv] [--limit N]

Runs `speech_gate(load_audio(path, sr=16000), 16000)` on the LibriSpeech subset, extra-speakers and more-speakers
(about 2,500 files) and prints the status and the rule that fired, per corpus, then every file turned away.
A measurement, not a test (tests/test_gate.py asserts on the same data). Where ../shared/data is absent it says
so and exits 0. Notebook 13's real-speech numbers come from this script's `gate_table`.
"""
import os

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMBA_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import argparse
import sys
import time

import pandas as pd

from gvoice.audio import load_audio
from gvoice.data import shared_data_dir
from gvoice.gate import speech_gate
from gvoice.train import SHARED_CORPORA, load_corpora, shared_corpus_specs

SR = 16000


def real_speech_files() -> pd.DataFrame|None:
    "path, corpus, gender of every real speech file of ../shared/data, or None when any of its folders is absent."
    shared = shared_data_dir()
    if shared is None or not all((shared / f).is_dir() for f in SHARED_CORPORA): return None
    return load_corpora(shared_corpus_specs(shared))[['path', 'gender', 'corpus']]


def rule(reason:str) -> str:
    "The rule that fired, from a gate's reason ('' for speech): the words before the colon or parenthesis."
    return reason.split(':')[0].split('(')[0].strip() if reason else ''


def gate_one(path:str) -> dict:
    "The gate's verdict and measures on one file."
    y = load_audio(path, sr=SR)
    g = speech_gate(y, SR)
    return dict(path=path, seconds=len(y) / SR, status=g.status, rule=rule(g.reason), reason=g.reason,
                speech_seconds=g.speech_seconds, **g.measures)


def gate_table(files:pd.DataFrame, n_jobs:int=1, progress:bool=True) -> pd.DataFrame:
    "One row per file: its corpus and the gate's verdict (joblib over `n_jobs` processes)."
    from joblib import Parallel, delayed
    paths = list(files.path)
    if progress:
        from tqdm.auto import tqdm
        paths = tqdm(paths, desc='speech_gate', mininterval=5)
    rows = Parallel(n_jobs=n_jobs, batch_size=16)(delayed(gate_one)(p) for p in paths)
    return files.reset_index(drop=True).merge(pd.DataFrame(rows), on='path')


def summary(table:pd.DataFrame) -> pd.DataFrame:
    "Files per corpus, and how many were turned away by each rule."
    out = pd.crosstab(table.corpus, table.status.where(table.status != 'no_speech', 'no_speech: ' + table.rule))
    out.insert(0, 'files', table.groupby('corpus').size())
    out['turned away'] = out['files'] - out.get('speech', 0)
    out.loc['all'] = out.sum()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--jobs', type=int, default=2, help='processes (the machine is shared: 1 or 2)')
    p.add_argument('--csv', help='also write the per-file table here')
    p.add_argument('--limit', type=int, help='only the first N files of each corpus (a quick look)')
    a = p.parse_args(argv)
    files = real_speech_files()
    if files is None:
        print("../shared/data (librispeech-subset, extra-speakers, more-speakers) is not here: nothing to measure")
        return 0
    if a.limit: files = files.groupby('corpus').head(a.limit)
    t = time.perf_counter()
    table = gate_table(files, a.jobs)
    print(f"{len(table)} files, {table.seconds.sum() / 60:.0f} min of audio, in {time.perf_counter() - t:.0f} s\n")
    with pd.option_context('display.width', 200, 'display.max_columns', 20, 'display.max_colwidth', 120):
        print(summary(table).to_string(), '\n')
        away = table[table.status != 'speech']
        if len(away):
            print(f"turned away ({len(away)}):")
            print(away[['corpus', 'path', 'seconds', 'reason']].assign(path=lambda d: d.path.map(os.path.basename))
                  .to_string(index=False))
    if a.csv: table.to_csv(a.csv, index=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
