"""Corpus-scale extraction: the content cache, resuming, failures (the files', not the code's), bounded memory, the worker
processes (joblib still usable after them) and the Dask path."""
import subprocess
import sys
import tracemalloc
from functools import partial

import numpy as np
import pandas as pd
import pytest

from gvoice.audio import save_audio
from gvoice.features import RECIPES, FeatureSet, extract, file_features, mfcc_stats
from gvoice.synth import make_corpus

CALLS = []


def counting_part(y, sr, n_mfcc=13):
    "mfcc_stats that records each call, to see what was computed rather than served from the cache."
    CALLS.append(len(y))
    return mfcc_stats(y, sr, n_mfcc=n_mfcc)


def counting_set(n_mfcc=13):
    return FeatureSet('counting', 16000, 'mfcc_stats, counted', (partial(counting_part, n_mfcc=n_mfcc),))


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp('corpus'), n_speakers=6, utterances_per_speaker=2, seed=0,
                       progress=False)


def test_cache_serves_same_content_and_recomputes_changed_content(corpus, tmp_path):
    CALLS.clear()
    fs = counting_set()
    first = extract(corpus, fs, cache_dir=tmp_path, progress=False).features
    assert len(CALLS) == len(corpus)
    again = extract(corpus, fs, cache_dir=tmp_path, progress=False).features
    assert len(CALLS) == len(corpus)  # nothing recomputed
    pd.testing.assert_frame_equal(first, again)

    changed = corpus.path[0]
    save_audio(changed, np.zeros(16000, np.float32) + 0.01 * np.sin(np.arange(16000) / 5), 16000)
    third = extract(corpus, fs, cache_dir=tmp_path, progress=False).features
    assert len(CALLS) == len(corpus) + 1  # only the changed file
    assert not np.allclose(third.iloc[0], first.iloc[0])
    pd.testing.assert_frame_equal(third.iloc[1:], first.iloc[1:])


def test_a_changed_parameter_never_serves_stale_features(corpus, tmp_path):
    CALLS.clear()
    a = extract(corpus.path[:3], counting_set(13), cache_dir=tmp_path, progress=False).features
    b = extract(corpus.path[:3], counting_set(20), cache_dir=tmp_path, progress=False).features
    assert len(CALLS) == 6
    assert counting_set(13).key != counting_set(20).key
    assert a.shape[1] == 52 and b.shape[1] == 80


def test_interrupted_run_resumes_where_it_stopped(corpus, tmp_path):
    CALLS.clear()
    fs = counting_set()
    extract(corpus.path[:5], fs, cache_dir=tmp_path, progress=False)  # a run stopped after 5 files
    assert len(CALLS) == 5
    done = extract(corpus.path, fs, cache_dir=tmp_path, progress=False)
    assert len(CALLS) == len(corpus)  # the other files only
    assert len(done.features) == len(corpus)
    assert not list(tmp_path.rglob('.*.part'))  # no half-written cache entries


def test_failures_are_tabled_and_the_run_goes_on(corpus, tmp_path):
    bad = tmp_path / 'notes.wav'
    bad.write_text('speaker,gender\n')
    paths = list(corpus.path[:3]) + [str(bad), str(tmp_path / 'missing.flac')] + list(corpus.path[3:5])
    ex = extract(paths, 'mfcc_stats', n_jobs=2, cache_dir=None, progress=False)
    assert list(ex.features.index) == [0, 1, 2, 5, 6]
    assert list(ex.failures.path) == [str(bad), str(tmp_path / 'missing.flac')]
    assert 'not audio' in ex.failures.error[0] and 'notes.wav' in ex.failures.error[0]
    assert 'missing.flac' in ex.failures.error[1]


def buggy_value(y, sr):
    "A recipe with a bug: a ValueError that no file causes."
    raise ValueError('a bug in the recipe, not in the file')


def buggy_type(y, sr):
    "A recipe with a bug: a TypeError."
    return {'n': len(y) + ' samples'}


@pytest.mark.parametrize('n_jobs', [1, 2])
@pytest.mark.parametrize('bug', [buggy_value, buggy_type])
def test_a_bug_in_a_recipe_is_raised_not_tabled(corpus, n_jobs, bug):
    "A recipe's own ValueError or TypeError says nothing about the files: it stops the run instead of failing every file."
    with pytest.raises((ValueError, TypeError), match='a bug in the recipe|unsupported operand'):
        extract(corpus.path[:4], FeatureSet('buggy', 16000, 'a bug', (bug,)), n_jobs=n_jobs, cache_dir=None, progress=False)


def test_a_cache_that_cannot_be_written_is_raised(corpus, tmp_path):
    "A cache folder that cannot be made is the machine's problem, not the file's."
    (tmp_path / 'file').write_text('')
    with pytest.raises(OSError):
        extract(corpus.path[:2], 'formants', cache_dir=tmp_path / 'file' / 'cache', progress=False)


def test_unusable_files_are_tabled_with_their_reason(corpus, tmp_path):
    "Corrupt, too short, a folder, missing: each is tabled with the reason, in worker processes too, and the others are extracted."
    wav = open(corpus.path[0], 'rb').read()
    (tmp_path / 'notes.wav').write_text('speaker,gender\n19,F\n')                   # a text file named .wav
    save_audio(tmp_path / 'short.wav', np.full(100, 0.1, np.float32), 16000)         # shorter than one 25 ms frame
    (tmp_path / 'truncated.wav').write_bytes(wav[:len(wav) // 2])
    (tmp_path / 'folder.wav').mkdir()
    bad = [tmp_path / n for n in ('notes.wav', 'short.wav', 'truncated.wav', 'folder.wav', 'missing.wav')]
    ex = extract([corpus.path[1], *bad, corpus.path[2]], 'mfcc_stats', n_jobs=2, cache_dir=None, progress=False)
    assert list(ex.features.index) == [0, 6]
    assert list(ex.failures.path) == list(map(str, bad))
    errors = list(ex.failures.error)
    assert 'notes.wav: not audio' in errors[0] and 'too large for uncentered' in errors[1]
    assert 'truncated' in errors[2] and 'Is a directory' in errors[3] and 'missing.wav: cannot be read' in errors[4]
    arrays = extract([corpus.path[1], *bad], 's0_mfcc', cache_dir=None, progress=False)   # arrays alike
    assert len(arrays.features) == 1 and len(arrays.failures) == len(bad)


def test_unknown_backend_is_refused(corpus):
    with pytest.raises(ValueError, match="'dask'"):
        extract(corpus.path[:1], 'formants', backend='threading', cache_dir=None, progress=False)


def test_joblib_still_works_after_parallel_extraction(corpus):
    "extract's workers must leave joblib usable in the same process (taking loky's pool directly broke every later Parallel)."
    from joblib import Parallel, delayed
    extract(corpus.path[:4], 'mfcc_stats', n_jobs=2, cache_dir=None, progress=False)
    assert Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]


def test_every_file_failing_gives_empty_features(tmp_path):
    ex = extract([tmp_path / 'a.wav', tmp_path / 'b.wav'], 'mfcc_stats', cache_dir=None, progress=False)
    assert ex.features.empty and len(ex.failures) == 2


def test_memory_is_bounded_no_audio_accumulates(tmp_path):
    """The main process holds feature vectors, never the corpus's audio."""
    n, seconds = 40, 4.0
    y = (0.1 * np.sin(2 * np.pi * 150 * np.arange(int(seconds * 16000)) / 16000)).astype(np.float32)
    paths = [save_audio(tmp_path / f'{i}.wav', y * (1 + i / n), 16000) for i in range(n)]
    audio_bytes = n * len(y) * 4  # 10 MB of float32 audio
    tracemalloc.start()
    ex = extract(paths, 'mfcc_stats', n_jobs=1, cache_dir=tmp_path / 'cache', progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(ex.features) == n
    assert peak < audio_bytes / 3, f'peak {peak / 1e6:.1f} MB for {audio_bytes / 1e6:.1f} MB of audio'


def test_unknown_recipe_and_manifest_without_paths():
    with pytest.raises(ValueError, match='choose one of'):
        extract(['x.wav'], 'nope')
    with pytest.raises(ValueError, match="no 'path' column"):
        extract(pd.DataFrame({'file': ['x.wav']}), 'mfcc_stats')


def test_feature_names_are_stable_for_every_set(corpus):
    y_path = corpus.path[0]
    for name, fs in RECIPES.items():
        if not isinstance(fs, FeatureSet): continue
        v = file_features(y_path, fs)
        assert v.index.is_unique, name
        assert list(v.index) == list(file_features(corpus.path[1], fs).index), name


def test_dask_backend_on_a_local_cluster_matches_joblib(corpus):
    distributed = pytest.importorskip('distributed')
    local = extract(corpus.path[:6], 'formants', n_jobs=1, cache_dir=None, progress=False).features
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        remote = extract(corpus.path[:6], 'formants', cache_dir=None, backend='dask', progress=False)
    assert remote.failures.empty
    pd.testing.assert_frame_equal(remote.features, local, rtol=1e-4, atol=1e-5)


def test_dask_backend_without_a_client_says_how_to_start_one(corpus):
    with pytest.raises(RuntimeError, match='Client'):
        extract(corpus.path[:1], 'formants', backend='dask', cache_dir=None, progress=False)


RECIPE_MODULE = '''
import numpy as np
from gvoice.features import FeatureSet

def inner(y, n={n}):
    return float(np.sum(np.abs(y[:n])))

def part(y, sr):
    return {{'first': inner(y)}}

FS = FeatureSet('edited', 16000, 'a recipe whose inner default is edited', (part,))
'''


def test_editing_a_default_deep_inside_a_recipe_recomputes(corpus, tmp_path, monkeypatch):
    "Change a default of a function the recipe calls (not the recipe itself) and reload: the cache must not serve the old values."
    import importlib, sys
    monkeypatch.syspath_prepend(str(tmp_path))
    src = tmp_path / 'edited_recipe.py'
    cache = tmp_path / 'cache'
    values = []
    for n in (100, 1000, 100):
        src.write_text(RECIPE_MODULE.format(n=n))
        sys.modules.pop('edited_recipe', None)
        importlib.invalidate_caches()
        mod = importlib.import_module('edited_recipe')
        values.append(file_features(corpus.path[0], mod.FS, cache_dir=cache).iloc[0])
    assert values[1] > values[0]  # the new default was computed, not served from the cache
    assert values[2] == values[0]  # and going back to the old code finds the old entry
    assert len(list(cache.rglob('*.npz'))) == 2
