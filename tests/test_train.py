"gvoice.train (notebook 15) and `gvoice train`, `gvoice evaluate`, `gvoice demo` (notebook 90): held-out speakers of every corpus, provenance, exit codes."
import json, re, shutil, subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from gvoice.data import ManifestWarning
from gvoice.models import load_model
from gvoice.predict import PRETRAINED
from gvoice.synth import make_corpus
from gvoice.train import CONDITIONS, evaluate_corpora, heldout_split, load_corpora, model_inputs, parse_corpus, train_model


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)).filter(lambda fm: sum(fm) > 0), min_size=1, max_size=5),
       st.floats(0.05, 0.6), st.integers(0, 10))
def test_heldout_split_holds_out_speakers_of_every_corpus(corpora, test, seed):
    rows = [{'path': f'{c}/{g}{s}/{k}.wav', 'speaker': f'{c}:{g}{s}', 'gender': g, 'corpus': f'c{c}'}
            for c, (n_f, n_m) in enumerate(corpora) for g, n in (('female', n_f), ('male', n_m)) for s in range(n) for k in range(2)]
    df = pd.DataFrame(rows)
    try: split = heldout_split(df, test=test, seed=seed)
    except ValueError as e:
        g = 'female' if 'female' in str(e) else 'male'
        if (df.gender == g).any(): assert f'no {g} speakers are left to train on' in str(e)   # lowering `test` helps
        else: assert f'the corpora have no {g} speakers' in str(e)                           # it would not
        return
    assert split.groupby(df.speaker).nunique().max() == 1                      # a speaker is wholly in or out
    assert set(df.corpus[split == 'test']) == set(df.corpus)                    # every corpus has held-out speakers
    assert df.gender[split == 'train'].nunique() == 2


def test_corpus_specs_are_checked(tmp_path):
    assert parse_corpus('LibriSpeech:/x') == ('librispeech', Path('/x'))
    with pytest.raises(ValueError, match='NAME:PATH'): parse_corpus('timit:/data')
    with pytest.raises(FileNotFoundError, match='not found'): load_corpora([f'synth:{tmp_path / "missing"}'])


@pytest.fixture(scope='module')
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('train') / 'synth'
    make_corpus(root, n_speakers=16, utterances_per_speaker=2, seed=8, progress=False)
    return root


def test_a_manifest_named_by_a_relative_path_is_named_after_its_folder(corpus_dir, tmp_path, monkeypatch):
    "`gvoice evaluate list.csv` in the folder of list.csv called its corpus '' (the name of Path('list.csv').parent); an unknown label is quoted."
    rows = pd.read_csv(corpus_dir / 'manifest.csv').head(4)
    rows = rows.assign(path=[str(corpus_dir / p) for p in rows.path], gender=['fmale', *rows.gender[1:]])
    (tmp_path / 'mine').mkdir()
    rows.to_csv(tmp_path / 'mine' / 'list.csv', index=False)
    monkeypatch.chdir(tmp_path / 'mine')
    with pytest.warns(UserWarning, match=r"^mine: kept 3 rows, dropped 1: 1 unknown gender label \('fmale'\)"):
        clips = load_corpora(['list.csv'])
    assert set(clips.corpus) == {'mine'} and clips.speaker.str.startswith('mine:').all()


def test_unreadable_files_are_left_out_and_named(corpus_dir, tmp_path):
    clips = load_corpora([f'synth:{corpus_dir}']).head(3).copy()
    (tmp_path / 'bad.wav').write_bytes(b'RIFF....WAVEfmt ')
    clips.loc[1, 'path'] = str(tmp_path / 'bad.wav')
    with pytest.warns(UserWarning, match='1 of 3 files left out; .*bad.wav'):
        X, kept = model_inputs('formants', clips, progress=False)
    assert len(X) == 2 and kept.path.tolist() == [clips.path[0], clips.path[2]]


def _gvoice(*args):
    exe = shutil.which('gvoice')
    if exe is None: pytest.skip('the gvoice console script is not installed (pip install -e .)')
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_train_then_evaluate_without_the_training_speakers(corpus_dir, tmp_path):
    model_path = tmp_path / 'm.gvm'
    r = _gvoice('train', f'synth:{corpus_dir}', '--out', model_path, '--family', 'logreg', '--features', 'formants', '--copies', '1', '--jobs', '1', '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'telephone band' in r.stdout and 'one second' in r.stdout and f'saved {model_path}' in r.stdout
    assert r.stdout.startswith('held-out speakers (2 female, 2 male)'), r.stdout   # by gender: a small corpus may hold out none of one
    info = load_model(model_path).info
    heard, held = set(info['training']['training_speakers']), set(info['training']['heldout_speakers'])
    assert len(held) == 4 and len(heard) == 12 and not heard & held
    assert set(info['metrics']['per condition']) == set(CONDITIONS)
    assert info['training']['corpora']['synth']['licence'].startswith('synthetic')
    assert info['training']['recipe']['command'].startswith('gvoice train synth:')
    ev = _gvoice('evaluate', model_path, f'synth:{corpus_dir}', '--json', '--jobs', '1')
    assert ev.returncode == 0, ev.stderr
    rows = [json.loads(line) for line in ev.stdout.splitlines()]
    assert {r['condition'] for r in rows} == set(CONDITIONS) and all(r['speakers'] == 4 for r in rows)
    model = load_model(model_path)
    model.info['training']['training_speakers'] = sorted(heard | held)
    with pytest.raises(ValueError, match="all 16 speakers .* were in the model's training data"):
        evaluate_corpora(model, [f'synth:{corpus_dir}'], progress=False)
    bad = _gvoice('evaluate', model_path, f'synth:{tmp_path / "nowhere"}')
    assert bad.returncode == 2 and 'nowhere' in bad.stderr


def test_train_defaults_to_the_shipped_recipe(corpus_dir, tmp_path):
    "`gvoice train CORPUS --out M` trains the shipped model's family on the shipped model's features (an SVM on the 146 hand-made features, before)."
    model_path = tmp_path / 'default.gvm'
    r = _gvoice('train', f'synth:{corpus_dir}', '--out', model_path, '--copies', '0', '--jobs', '1', '--quiet')
    assert r.returncode == 0, r.stderr
    model = load_model(model_path)
    recipe = model.info['training']['recipe']
    assert (model.features, recipe['features'], recipe['family']) == ('ge2e_f0', 'ge2e_f0', 'svm')
    assert '--features ge2e_f0' in recipe['command']   # the record repeats it whatever the defaults become
    assert model.kind == 'lite_svm' and recipe['weights'] == 'every corpus, and each gender within it, the same'   # saved and weighed as the shipped model (a skops SVM, every clip the same, before)


def test_a_corpus_with_few_speakers_of_one_gender_trains_without_failing_folds(corpus_dir, tmp_path):
    "A search with more speaker folds than there are women left folds without a woman: scikit-learn printed a traceback for each and took its grid's first setting."
    import warnings
    clips = pd.read_csv(corpus_dir / 'manifest.csv')
    clips = clips.assign(path=[str(corpus_dir / p) for p in clips.path])
    women = sorted(clips[clips.gender == 'female'].speaker.unique())[:3]
    clips[(clips.gender == 'male') | clips.speaker.isin(women)].to_csv(tmp_path / 'lopsided.csv', index=False)
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)                   # 'Scoring failed', 'One or more of the test scores are non-finite'
        model, _ = train_model([tmp_path / 'lopsided.csv'], tmp_path / 'm.gvm', family='logreg', features='formants', copies=0, test=0.25, n_jobs=1, progress=False)
    [corpus] = load_model(tmp_path / 'm.gvm').info['training']['corpora'].values()
    trained = corpus['train female speakers']
    assert model.estimator.cv.n_splits == trained < 5                  # a fold for each woman trained on


def test_a_corpus_without_a_usable_clip_is_named(tmp_path):
    "A manifest whose every file was unreadable stopped with a KeyError from pandas (then, mended, with 'no training speakers of one gender are left: add speakers or lower `test`')."
    rows = [dict(path=f'{g}{i}.wav', speaker=f'{g}{i}', gender=gender) for g, gender in (('f', 'female'), ('m', 'male')) for i in range(3)]
    for r in rows: (tmp_path / r['path']).write_text('not audio')
    pd.DataFrame(rows).to_csv(tmp_path / 'manifest.csv', index=False)
    for command in (['train', tmp_path / 'manifest.csv', '--out', tmp_path / 'm.gvm'], ['evaluate', 'pretrained', tmp_path / 'manifest.csv']):
        r = _gvoice(*command, '--quiet')
        assert r.returncode == 2 and f"{tmp_path / 'manifest.csv'}: no clip can be used; 6 unreadable audio" in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_train_usage_errors_exit_2(corpus_dir, tmp_path):
    for args in (['train', '--out', tmp_path / 'x.gvm'], ['train', f'timit:{corpus_dir}', '--out', tmp_path / 'x.gvm'],
                 ['train', f'synth:{corpus_dir}'], ['train', f'synth:{corpus_dir}', '--out', tmp_path / 'x.gvm', '--family', 'resnet'],
                 ['evaluate', tmp_path / 'missing.gvm', f'synth:{corpus_dir}'],
                 ['train', f'synth:{corpus_dir}', '--out', tmp_path / 'x.gvm', '--copies', '-1'],                   # trained without copies, recorded -1
                 ['train', f'synth:{corpus_dir}', '--out', tmp_path / 'x.gvm', '--family', 'logreg', '--epochs', '3'], # an option that changed nothing
                 ['evaluate', 'pretrained', f'synth:{corpus_dir}', '--jobs', '0']):                                 # joblib's 'n_jobs == 0 in Parallel has no meaning'
        r = _gvoice(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.strip(), args
    assert not (tmp_path / 'x.gvm').exists()


def test_demo_runs_offline_in_one_command(tmp_path):
    r = _gvoice('demo', tmp_path / 'demo', '--speakers', '16')
    assert r.returncode == 0, r.stderr
    for kind in ('silence', 'tone', 'band'):
        line = next(l for l in r.stdout.splitlines() if l.strip().startswith(f'{kind}.wav'))
        assert 'uncertain' in line, line
    assert (tmp_path / 'demo' / 'model.gvm').is_file() and (tmp_path / 'demo' / 'corpus' / 'manifest.csv').is_file()
    from gvoice.cli import _demo_folder, main
    assert _demo_folder(str(tmp_path / 'demo')) == tmp_path / 'demo'                  # an earlier demo's folder may be used again
    (tmp_path / 'mine').mkdir(); (tmp_path / 'mine' / 'model.gvm').write_bytes(b'mine'); (tmp_path / 'mine' / 'notes.txt').write_text('mine')
    assert main(['demo', str(tmp_path / 'mine')]) == 2                                 # a folder of someone's files is refused, untouched
    assert sorted(p.name for p in (tmp_path / 'mine').iterdir()) == ['model.gvm', 'notes.txt'] and (tmp_path / 'mine' / 'model.gvm').read_bytes() == b'mine'
    few = _gvoice('demo', tmp_path / 'few', '--speakers', '5')                       # 3 to 5 voices failed in the training, in its words ('lower `test`')
    assert few.returncode == 2 and '--speakers: 5: must be 6 or more' in few.stderr and not (tmp_path / 'few').exists(), few.stderr
    assert _gvoice('demo', tmp_path / 'six', '--speakers', '6').returncode == 0         # the least it promises to run on


def test_lite_is_asked_of_a_cnn_or_an_svm_only():
    "`saved_form` tells a model's family by its name; `--lite` of another family is refused before any training."
    from gvoice.classical import make_logreg
    from gvoice.train import check_lite, saved_form
    check_lite('cnn', True); check_lite('svm', True)                  # an svm is saved as its numpy version anyway: asking is no error
    with pytest.raises(ValueError, match="only the cnn and svm families have a numpy version \\('logreg' has none\\)"):
        saved_form(make_logreg('formants'), 'logreg', lite=True)
    assert saved_form(model := make_logreg('formants'), 'logreg') is model


def test_train_refuses_an_out_it_cannot_write_before_training(corpus_dir, tmp_path):
    "A model file that could not be written was found out after the training (an hour, with --pretrained), in Python's words."
    (tmp_path / 'folder').mkdir()
    for out, words in ((tmp_path / 'folder', 'a folder; name the model file in it'), (tmp_path / 'm.txt', "a model file's name ends in .gvm"),
                       ('/proc/m.gvm', 'cannot write in /proc')):
        r = _gvoice('train', f'synth:{corpus_dir}', '--out', out, '--family', 'logreg', '--features', 'formants', '--jobs', '1')
        assert r.returncode == 2 and words in r.stderr, r.stderr
        assert '%|' not in r.stderr, r.stderr                          # no progress bar: nothing was computed
    r = _gvoice('train', f'synth:{corpus_dir}', '--out', tmp_path / 'x.gvm', '--family', 'logreg', '--lite', '--jobs', '1')
    assert r.returncode == 2 and "'logreg' has none" in r.stderr and '%|' not in r.stderr, r.stderr


def _shared_tree(root:Path) -> Path:
    "A small shared data folder in ../shared/data's layout, of synthetic voices: LibriSpeech readers, then two manifest folders of corpora under several licences."
    make_corpus(root / 'librispeech-subset', n_speakers=6, utterances_per_speaker=2, seed=21, layout='librispeech', progress=False)
    corpora = {'extra-speakers': [('VCTK', 'CC BY 4.0', 6), ('tiny', 'CC BY 4.0', 2)],                   # 'tiny' joins the fold 'other'
               'more-speakers': [('SpeechAccentArchive', 'CC BY-NC-SA 4.0', 6), ('talk', 'research use only', 6)]}
    for seed, (folder, parts) in enumerate(corpora.items(), 22):
        clips = make_corpus(root / folder, n_speakers=sum(n for *_, n in parts), utterances_per_speaker=2, seed=seed, progress=False)
        who = pd.Series([(name, note) for name, note, n in parts for _ in range(n)], index=sorted(clips.speaker.unique()))
        clips = clips.assign(path=[str(Path(p).relative_to(root / folder)) for p in clips.path], corpus=clips.speaker.map(who.str[0]),
                             license_note=clips.speaker.map(who.str[1]), language='en', style='read')
        clips[['path', 'speaker', 'gender', 'corpus', 'language', 'style', 'license_note']].to_csv(root / folder / 'manifest.csv', index=False)
    return root


def test_pretrained_recipe_runs_on_a_shared_tree(tmp_path, monkeypatch):
    "`gvoice train --pretrained` (the shipped model's recipe) end to end on a shared folder of synthetic voices: leave-one-corpus-out over every corpus, training only on permissive ones, with the options it is given."
    shared = _shared_tree(tmp_path / 'shared')
    monkeypatch.setenv('GVOICE_CACHE', str(tmp_path / 'cache'))
    out = tmp_path / 'pre.gvm'
    r = _gvoice('train', '--pretrained', '--shared', shared, '--out', out, '--copies', '1', '--exclude', 'talk', '--jobs', '1', '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'the model card for data/README.md' in r.stdout and f'saved {out}' in r.stdout
    training, metrics = (info := load_model(out).info)['training'], info['metrics']
    assert set(metrics['per corpus, as recorded']) == {'librispeech train-clean-100', 'VCTK', 'SpeechAccentArchive', 'other'}   # 'talk' left out, 'tiny' pooled
    trained = {k for k, c in training['corpora'].items() if c['train female speakers'] + c['train male speakers']}
    assert trained == {'librispeech train-clean-100', 'VCTK', 'tiny'}                            # the non-commercial corpus is tested, never trained on
    assert training['recipe']['copies'] == 1 and training['recipe']['command'].endswith('--copies 1 --exclude talk')
    assert 0.5 <= metrics['threshold'] < 1 and set(metrics['mean over corpora']) == set(CONDITIONS)
    for args, message in ((['--test', '0.3'], '--pretrained takes no --test'), (['--terms', 'share-alike'], "no corpus has licence terms among ('share-alike',)")):
        bad = _gvoice('train', '--pretrained', '--shared', shared, '--out', tmp_path / 'x.gvm', *args)
        assert bad.returncode == 2 and message in bad.stderr and not (tmp_path / 'x.gvm').exists(), bad.stderr


def test_evaluate_recognises_librispeech_readers_under_any_name_and_says_when_it_cannot(tmp_path):
    "A model that learnt LibriSpeech reader 1001 as the shared extra speakers name it ('extra-speakers:libri-1001') is not judged on `librispeech:` reader 1001; a corpus of unknown speakers is warned about."
    make_corpus(tmp_path / 'ls', n_speakers=4, utterances_per_speaker=1, seed=1, layout='librispeech', progress=False)   # readers 1001-1004
    model = load_model(PRETRAINED)
    model.info['training']['training_speakers'] = ['extra-speakers:libri-1001', 'librispeech:1003']
    scores, left_out = evaluate_corpora(model, [f'librispeech:{tmp_path / "ls"}'], {'as recorded': None}, progress=False)
    assert left_out == 2 and set(scores.speaker) == {'librispeech:1002', 'librispeech:1004'}
    make_corpus(tmp_path / 'fo', n_speakers=4, utterances_per_speaker=1, seed=1, layout='folders', progress=False)
    with pytest.warns(ManifestWarning) as caught:   # the loader's own warning about splits too
        scores, left_out = evaluate_corpora(model, [f'folders:{tmp_path / "fo"}'], {'as recorded': None}, progress=False)
    assert any(re.match(r"folders: its speakers are unknown, so the model's training speakers cannot be left out: .*it learnt from .*LibriSpeech", str(w.message)) for w in caught)
    assert left_out == 0 and len(scores) == 4
    del model.info['training']['corpora']                   # a model that does not list its corpora: the warning names none, rather than "(it learnt from )"
    with pytest.warns(ManifestWarning) as caught:
        evaluate_corpora(model, [f'folders:{tmp_path / "fo"}'], {'as recorded': None}, progress=False)
    assert any(str(w.message).endswith("cannot be left out: any recordings of theirs are judged as new voices") for w in caught)
