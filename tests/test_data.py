"""Tests for gvoice.data: loaders on generated fixture trees with malformed rows, the shared-data lookup, and
speaker-disjoint splits. Real data (../shared/data) is used only when present. Downloads: tests/test_download.py."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st

from gvoice.data import (AUDIOMNIST_GENDER_SPEAKERS, GENDERS, LOADERS, ManifestWarning, assert_speaker_disjoint,
                         audiomnist_gender_protocol, audiomnist_gender_split, audiomnist_ids, balance_genders,
                         load_audiomnist, load_commonvoice, load_commonvoice_kaggle, load_dataset, load_folders,
                         load_librispeech, load_manifest, load_synth, load_voxceleb1, parse_audiomnist_meta,
                         parse_speakers_txt, shared_data_dir, speaker_folds, speaker_split, validate_manifest)


# ---------------------------------------------------------------- fixture helpers

def audio(path: Path, seconds=0.2, sr=16000) -> Path:
    "A short tone in the format given by `path`'s extension (wav, flac, mp3)."
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def junk(path: Path) -> Path:
    "A file with an audio extension that is not audio."
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('this is not audio\n')
    return path


def load_quietly(loader, *args, **kwargs):
    "Run a loader, returning its manifest and the ManifestWarning messages it gave."
    with pytest.warns(ManifestWarning) as record:
        df = loader(*args, **kwargs)
    return df, [str(w.message) for w in record if issubclass(w.category, ManifestWarning)]


def check_manifest(df, dataset):
    validate_manifest(df)
    assert (df.dataset == dataset).all()
    assert df.path.map(lambda p: Path(p).is_absolute() and Path(p).is_file()).all()
    assert df.duration.gt(0).all()


# ---------------------------------------------------------------- LibriSpeech

SPEAKERS_TXT = """\
; Some pipe(|) separated metadata about all LibriVox readers
;
;ID  |SEX| SUBSET           |MINUTES| NAME
19   | F | train-clean-100  | 25.19 | Kara Shallenberg
60   | M | train-clean-100  | 20.18 | |CBW|Simon

26   | M | train-clean-100  | 25.08 | Denny Sayers
26   | M | train-clean-100  | 25.08 | Denny Sayers
27   | X | train-clean-100  | 20.00 | Unknown Label
40   | F | train-clean-100  | 10.00 | Reader A
40   | M | train-clean-100  | 10.00 | Reader B
this line is not a speaker row
"""


@pytest.fixture
def librispeech_root(tmp_path):
    base = tmp_path / 'LibriSpeech'
    base.mkdir()
    (base / 'SPEAKERS.TXT').write_text(SPEAKERS_TXT)
    sub = base / 'train-clean-100'
    for rel in ['19/198/19-198-0000.flac', '19/198/19-198-0001.flac', '60/121082/60-121082-0000.flac',
                '26/495/26-495-0000.flac', '27/124992/27-124992-0000.flac', '40/222/40-222-0000.flac',
                '99/1/99-1-0000.flac', '19/198/notes.flac', '19/198/60-121082-0001.flac']:
        audio(sub / rel)
    junk(sub / '19/198/19-198-0002.flac')
    (sub / '19/198/19-198.trans.txt').write_text('19-198-0000 SOME WORDS\n')
    audio(base / 'dev-clean/19/200/19-200-0000.flac')
    return tmp_path


def test_parse_speakers_txt(librispeech_root):
    with pytest.warns(ManifestWarning, match='SPEAKERS.TXT'):
        readers = parse_speakers_txt(librispeech_root / 'LibriSpeech/SPEAKERS.TXT')
    assert sorted(readers.index) == ['19', '26', '27', '60']
    assert readers.loc['60', 'name'] == '|CBW|Simon'  # the name keeps its '|'
    assert readers.loc['19', 'sex'] == 'F' and readers.loc['19', 'minutes'] == pytest.approx(25.19)
    assert readers.attrs['dropped'] == {'SPEAKERS.TXT: malformed line': 1, 'SPEAKERS.TXT: duplicate row': 1,
                                        'SPEAKERS.TXT: conflicting rows for one speaker': 2}


def test_load_librispeech(librispeech_root):
    df, msgs = load_quietly(load_librispeech, librispeech_root, subsets=['train-clean-100'])
    check_manifest(df, 'librispeech')
    assert sorted(Path(p).name for p in df.path) == ['19-198-0000.flac', '19-198-0001.flac', '26-495-0000.flac',
                                                      '60-121082-0000.flac']
    assert df.groupby('speaker').gender.first().to_dict() == {
        'librispeech:19': 'female', 'librispeech:26': 'male', 'librispeech:60': 'male'}
    assert df.set_index('speaker').loc['librispeech:60', 'reader_name'] == '|CBW|Simon'
    assert df.attrs['dropped'] == {
        'SPEAKERS.TXT: malformed line': 1, 'SPEAKERS.TXT: duplicate row': 1,
        'SPEAKERS.TXT: conflicting rows for one speaker': 2, 'unknown gender label': 1,
        'reader not in SPEAKERS.TXT': 2, 'file name is not <reader>-<chapter>-<utt>.flac': 1,
        'file name does not match its folders': 1, 'unreadable audio': 1}
    assert any('kept 4 rows, dropped 10' in m for m in msgs)
    # every subset by default, and the LibriSpeech folder itself as root
    df_all, _ = load_quietly(load_librispeech, librispeech_root / 'LibriSpeech')
    assert sorted(df_all.subset.unique()) == ['dev-clean', 'train-clean-100'] and len(df_all) == 5


def test_librispeech_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        load_librispeech(tmp_path / 'nowhere')
    (tmp_path / 'LibriSpeech').mkdir()
    with pytest.raises(FileNotFoundError, match='SPEAKERS.TXT'):
        load_librispeech(tmp_path)
    (tmp_path / 'LibriSpeech/SPEAKERS.TXT').write_text(SPEAKERS_TXT)
    with pytest.raises(FileNotFoundError, match="subset 'dev-other'"):
        load_librispeech(tmp_path, subsets=['dev-other'])


LIBRISPEECH_SUBSET = shared_data_dir('librispeech-subset')


@pytest.mark.skipif(LIBRISPEECH_SUBSET is None, reason='real data ../shared/data/librispeech-subset is absent')
def test_librispeech_subset_real_data():
    df = load_librispeech(LIBRISPEECH_SUBSET)
    check_manifest(df, 'librispeech')
    assert len(df) == 127
    readers = parse_speakers_txt(LIBRISPEECH_SUBSET / 'LibriSpeech/SPEAKERS.TXT')
    present = readers.loc[readers.index.isin(df.speaker.str.removeprefix('librispeech:'))]
    expected = present.sex.map({'F': 'female', 'M': 'male'}).value_counts().to_dict()
    assert df.groupby('speaker').gender.first().value_counts().to_dict() == expected == {'female': 62, 'male': 63}
    assert df.attrs['dropped'] == {}
    assert 8 * 60 < df.duration.sum() < 60 * 60


# ---------------------------------------------------------------- AudioMNIST

AUDIOMNIST_FEMALE = {12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60}  # from the real audioMNIST_meta.txt
ROOM_SPELLINGS = {1: 'Kino', 20: 'Ruheraum', 23: 'VR-Room', 26: 'library', 29: 'vr-room', 31: 'VR-room', 52: 'vr-romm'}


def audiomnist_meta_text() -> str:
    "An audioMNIST_meta.txt with the real file's shape and quirks (mixed age types, age '1234', room spellings)."
    room = 'vr-room'
    meta = {}
    for s in range(1, 61):
        room = ROOM_SPELLINGS.get(s, room)
        meta[f'{s:02d}'] = {'accent': 'german' if s == 1 else 'German', 'age': str(20 + s % 30),
                            'gender': 'female' if s in AUDIOMNIST_FEMALE else 'male',
                            'native speaker': 'yes' if s == 41 else 'no', 'origin': 'Europe, Germany, Berlin',
                            'recordingdate': f'17-07-{s % 28 + 1:02d}-17-05-31', 'recordingroom': room}
    meta['01']['age'] = 30  # a number, where every other age is a string
    meta['45']['age'] = '1234'
    return json.dumps(meta, indent=4).replace(',\n', ', \n')


@pytest.fixture
def audiomnist_root(tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'audioMNIST_meta.txt').write_text(audiomnist_meta_text())
    for s in ['01', '12', '45', '52']:
        for digit in (0, 1):
            audio(data / s / f'{digit}_{s}_0.wav', seconds=0.3, sr=48000)
    audio(data / '61/0_61_0.wav', sr=48000)  # a speaker the metadata does not know
    audio(data / '01/0_02_5.wav', sr=48000)  # in the wrong folder
    audio(data / '01/zero.wav', sr=48000)  # not <digit>_<NN>_<rep>.wav
    junk(data / '12/2_12_0.wav')
    return tmp_path


def test_parse_audiomnist_meta(audiomnist_root):
    meta = parse_audiomnist_meta(audiomnist_root / 'data/audioMNIST_meta.txt')
    assert len(meta) == 60 and meta.gender.value_counts().to_dict() == {'male': 48, 'female': 12}
    assert np.isnan(meta.loc['45', 'age']) and meta.loc['45', 'age_note'] == 'implausible age 1234 set to NaN'
    assert meta.loc['01', 'age'] == 30 and meta.loc['02', 'age'] == 22 and meta.loc['02', 'age_note'] == ''
    assert set(meta.recordingroom) == {'Kino', 'Ruheraum', 'VR-Room', 'Library'}
    assert meta.loc['52', 'recordingroom'] == 'VR-Room' and meta.loc['31', 'recordingroom'] == 'VR-Room'
    assert meta.loc['01', 'accent'] == 'German' and meta.native_speaker.sum() == 1
    assert meta.loc['12', 'recordingdate'] == pd.Timestamp('2017-07-13 17:05:31')


def test_parse_audiomnist_meta_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='audioMNIST_meta.txt'):
        parse_audiomnist_meta(tmp_path / 'audioMNIST_meta.txt')
    (tmp_path / 'bad.txt').write_text('{"01": {"gender": "male"},}')
    with pytest.raises(ValueError, match='bad.txt'):
        parse_audiomnist_meta(tmp_path / 'bad.txt')


def test_load_audiomnist(audiomnist_root):
    df, msgs = load_quietly(load_audiomnist, audiomnist_root)
    check_manifest(df, 'audiomnist')
    assert sorted(df.speaker.unique()) == ['audiomnist:01', 'audiomnist:12', 'audiomnist:45', 'audiomnist:52']
    assert len(df) == 8 and df.digit.isin([0, 1]).all()
    assert df.attrs['dropped'] == {'file name is not <digit>_<NN>_<rep>.wav': 1, 'file name does not match its folder': 1,
                                   'speaker not in audioMNIST_meta.txt': 1, 'unreadable audio': 1}
    s45 = df[df.speaker == 'audiomnist:45'].iloc[0]
    assert np.isnan(s45.age) and 'implausible' in s45.age_note and s45.recordingroom == 'VR-Room'
    assert df.groupby('speaker').gender.first().to_dict() == {
        'audiomnist:01': 'male', 'audiomnist:12': 'female', 'audiomnist:45': 'male', 'audiomnist:52': 'female'}
    # a chosen subset of speakers, and the data folder itself as root
    some, _ = load_quietly(load_audiomnist, audiomnist_root / 'data', speakers=[1, 'audiomnist:52'])
    assert sorted(some.speaker.unique()) == ['audiomnist:01', 'audiomnist:52']


def test_audiomnist_bad_gender(audiomnist_root):
    meta = audiomnist_root / 'data/audioMNIST_meta.txt'
    meta.write_text(meta.read_text().replace('"female"', '"femal"', 1))  # speaker 12
    df, _ = load_quietly(load_audiomnist, audiomnist_root)
    assert 'audiomnist:12' not in set(df.speaker) and df.attrs['dropped']['unknown gender label'] == 3  # its 3 files


def test_audiomnist_ids():
    assert audiomnist_ids([1, '2', ' 03', 'audiomnist:12', 60]) == ['01', '02', '03', '12', '60']
    with pytest.raises(ValueError):
        audiomnist_ids(['audiomnist:x'])


def test_audiomnist_gender_protocol():
    p = audiomnist_gender_protocol()
    counts = p.groupby(['fold', 'part']).speaker.nunique().unstack()
    assert (counts[['train', 'valid', 'test']] == [12, 6, 6]).all().all()
    assert sorted(p.speaker.unique()) == [f'audiomnist:{s:02d}' for s in AUDIOMNIST_GENDER_SPEAKERS]
    assert len(AUDIOMNIST_GENDER_SPEAKERS) == 24
    assert len(set(AUDIOMNIST_GENDER_SPEAKERS) & AUDIOMNIST_FEMALE) == 12  # all 12 women, and 12 of the 48 men
    for fold in range(4):  # each fold's parts are speaker-disjoint, and each speaker is tested once
        parts = p[p.fold == fold]
        assert parts.speaker.is_unique
        female = parts.speaker.str[-2:].astype(int).isin(AUDIOMNIST_FEMALE)
        assert female.groupby(parts.part).sum().to_dict() == {'test': 3, 'train': 6, 'valid': 3}
    assert p[p.part == 'test'].speaker.value_counts().eq(1).all()
    # the test sets as published in soerenab/AudioMNIST audiomnist/train/splits.py
    published = [{58, 59, 60, 7, 23, 38}, {36, 47, 56, 2, 44, 50}, {26, 12, 57, 25, 37, 45}, {43, 28, 52, 48, 53, 41}]
    for fold, speakers in enumerate(published):
        assert set(p[(p.fold == fold) & (p.part == 'test')].speaker.str[-2:].astype(int)) == speakers


def test_audiomnist_gender_split(audiomnist_root):
    df, _ = load_quietly(load_audiomnist, audiomnist_root)
    split = audiomnist_gender_split(df, fold=0)
    assert split.index.equals(df.index)
    by_speaker = split.groupby(df.speaker).first().to_dict()
    assert by_speaker['audiomnist:12'] == 'train' and by_speaker['audiomnist:45'] == 'train'
    assert by_speaker['audiomnist:52'] == 'valid' and pd.isna(split[df.speaker == 'audiomnist:01']).all()
    with pytest.raises(ValueError, match='folds 0-3'):
        audiomnist_gender_split(df, fold=4)


# ---------------------------------------------------------------- Common Voice

CV_HEADER = 'client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment'
CV_ROWS = [  # client_id, clip, sentence, gender
    ('c1', 'a.mp3', 'He said "hi', 'male_masculine'), ('c1', 'b.mp3', 'Old label.', 'male'),
    ('c2', 'c.mp3', 'New label.', 'female_feminine'), ('c3', 'd.mp3', 'Old label.', 'female'),
    ('c4', 'e.mp3', 'x', 'other'), ('c5', 'f.mp3', 'x', 'non-binary'), ('c6', 'g.mp3', 'x', 'do_not_wish_to_say'),
    ('c7', 'h.mp3', 'x', 'intersex'), ('c8', 'i.mp3', 'x', 'transgender'), ('c9', 'j.mp3', 'x', ''),
    ('c10', 'k.mp3', 'x', 'mle'), ('c3', 'd.mp3', 'Old label.', 'female'), ('c11', 'missing.mp3', 'x', 'female'),
    ('', 'l.mp3', 'x', 'male'), ('c12', 'm.mp3', 'x', 'male'), ('c12', 'n.mp3', 'x', 'female')]


@pytest.fixture
def commonvoice_root(tmp_path):
    lines = [CV_HEADER] + [f'{c}\t{p}\t{s}\t2\t0\ttwenties\t{g}\t\t\ten\t' for c, p, s, g in CV_ROWS]
    lines.insert(5, 'c13\to.mp3\ttoo\tmany\tfields\there\t1\t2\t3\t4\t5\t6\t7')
    (tmp_path / 'validated.tsv').write_text('\n'.join(lines) + '\n\n')
    (tmp_path / 'test.tsv').write_text('\n'.join([CV_HEADER, lines[1]]) + '\n')
    for p in 'abcdefghijklmn':
        audio(tmp_path / 'clips' / f'{p}.mp3', seconds=0.5)
    return tmp_path


def test_load_commonvoice(commonvoice_root):
    df, msgs = load_quietly(load_commonvoice, commonvoice_root)
    check_manifest(df, 'commonvoice')
    assert df.groupby('speaker').gender.first().to_dict() == {'commonvoice:c1': 'male', 'commonvoice:c2': 'female',
                                                              'commonvoice:c3': 'female'}
    assert len(df) == 4 and df.gender_label.tolist() == ['male_masculine', 'male', 'female_feminine', 'female']
    assert df.sentence.iloc[0] == 'He said "hi'  # quotes are text, not CSV quoting
    assert df.attrs['dropped'] == {'validated.tsv: malformed line': 1, 'gender not binary': 5, 'gender missing': 1,
                                   'unknown gender label': 1, 'speaker id missing': 1, 'duplicate row': 1,
                                   'speaker labelled with both genders': 2, 'missing file': 1}
    assert load_commonvoice(commonvoice_root, tsv='test.tsv').speaker.tolist() == ['commonvoice:c1']
    with pytest.raises(FileNotFoundError, match='dev.tsv'):
        load_commonvoice(commonvoice_root, tsv='dev.tsv')


def test_commonvoice_missing_columns(tmp_path):
    (tmp_path / 'validated.tsv').write_text('path\tsentence\na.mp3\thello\n')
    with pytest.raises(ValueError, match=r"validated.tsv: missing column\(s\) \['client_id', 'gender'\]"):
        load_commonvoice(tmp_path)


def test_load_commonvoice_kaggle(tmp_path):
    rows = ['filename,text,up_votes,down_votes,age,gender,accent,duration',
            'cv-valid-train/sample-000000.mp3,"hello, world",1,0,twenties,female,us,',
            'cv-valid-train/sample-000001.mp3,hi,1,0,,male,,', 'cv-valid-train/sample-000002.mp3,hi,1,0,,other,,',
            'cv-valid-train/sample-000003.mp3,hi,1,0,,,,', 'cv-valid-train/sample-000004.mp3,hi,1,0,,male,,']
    (tmp_path / 'cv-valid-train.csv').write_text('\n'.join(rows) + '\n')
    for i in range(4):
        audio(tmp_path / f'cv-valid-train/sample-00000{i}.mp3')
    df, msgs = load_quietly(load_commonvoice_kaggle, tmp_path)
    check_manifest(df, 'commonvoice-kaggle')
    assert df.speaker.tolist() == ['commonvoice-kaggle:cv-valid-train/sample-000000',
                                   'commonvoice-kaggle:cv-valid-train/sample-000001']
    assert df.text.iloc[0] == 'hello, world' and df.attrs['pseudo_speakers']
    assert df.attrs['dropped'] == {'gender not binary': 1, 'gender missing': 1, 'missing file': 1}
    assert any('pseudo-speaker' in m for m in msgs)


# ---------------------------------------------------------------- VoxCeleb1

VOX_META = """\
VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet
id10001\tPerson_A\tm\tIreland\tdev
id10002 \tPerson_B\t f \tUSA\ttest
id10003\tPerson_C\tx\tUSA\tdev
id10004\tPerson_D\tf\tIndia\tdev
id10004\tPerson_D\tf\tIndia\tdev
id10005\tPerson_E\tm\tUK\tdev
id10005\tPerson_E\tf\tUK\tdev
id10006\tPerson_F\tm\tUK\tdev\tan extra field

"""


def test_load_voxceleb1(tmp_path):
    (tmp_path / 'vox1_meta.csv').write_text(VOX_META)
    for rel in ['id10001/vidA/00001.wav', 'id10001/vidB/00001.wav', 'id10002/vidC/00001.wav',
                'id10003/vidD/00001.wav', 'id10004/vidE/00001.wav', 'id10005/vidF/00001.wav', 'id10099/vidG/00001.wav']:
        audio(tmp_path / 'wav' / rel)
    df, msgs = load_quietly(load_voxceleb1, tmp_path)
    check_manifest(df, 'voxceleb1')
    assert df.groupby('speaker').gender.first().to_dict() == {
        'voxceleb1:id10001': 'male', 'voxceleb1:id10002': 'female', 'voxceleb1:id10004': 'female'}
    assert df.video.tolist() == ['vidA', 'vidB', 'vidC', 'vidE'] and df.set.tolist() == ['dev', 'dev', 'test', 'dev']
    assert df.attrs['dropped'] == {'vox1_meta.csv: malformed line': 1, 'vox1_meta.csv: duplicate row': 1,
                                   'vox1_meta.csv: conflicting rows for one speaker': 2,
                                   'speaker not in vox1_meta.csv': 2, 'unknown gender label': 1}
    (tmp_path / 'vox1_meta.csv').unlink()
    with pytest.raises(FileNotFoundError, match='vox1_meta.csv'):
        load_voxceleb1(tmp_path)


# ---------------------------------------------------------------- folders and synthetic corpus

def test_load_folders(tmp_path):
    audio(tmp_path / 'female/a.wav'), audio(tmp_path / 'female/b.flac'), audio(tmp_path / 'male/c.wav')
    junk(tmp_path / 'male/broken.wav')
    (tmp_path / 'male/notes.txt').write_text('not listed: not an audio extension')
    df, msgs = load_quietly(load_folders, tmp_path, dataset='audioset')
    check_manifest(df, 'audioset')
    assert df.speaker.tolist() == ['audioset:female/a', 'audioset:female/b', 'audioset:male/c']
    assert df.gender.tolist() == ['female', 'female', 'male'] and df.attrs['dropped'] == {'unreadable audio': 1}
    assert any('speaker-disjoint splits cannot be guaranteed' in m for m in msgs)
    with pytest.warns(ManifestWarning, match='pseudo-speaker'):
        speaker_split(df)
    with pytest.raises(FileNotFoundError, match='no female/ or male/ folder'):
        load_folders(tmp_path / 'male')


def test_load_synth(tmp_path):
    rows = ['path,speaker,gender,dataset,duration,truth,f0_median,vtl_cm']
    for spk, g, f0 in [('s00', 'female', 210.0), ('s01', 'male', 115.5)]:
        for u in range(2):
            audio(tmp_path / f'wav/{spk}/{spk}_{u}.wav', seconds=0.25)
            rows.append(f'wav/{spk}/{spk}_{u}.wav,synth:{spk},{g},synth,0.25,truth/{spk}_{u}.npz,{f0},15.0')
    rows += ['wav/s02/gone.wav,synth:s02,female,synth,1.0,,200,14', 'wav/s00/s00_0.wav,synth:s00,female,synth,0.25,,210,15']
    audio(tmp_path / 'wav/s03/x.wav')
    rows.append('wav/s03/x.wav,synth:s03,unknown,synth,0.2,,150,16')
    (tmp_path / 'manifest.csv').write_text('\n'.join(rows) + '\n')
    df, msgs = load_quietly(load_synth, tmp_path)
    check_manifest(df, 'synth')
    assert df.speaker.tolist() == ['synth:s00'] * 2 + ['synth:s01'] * 2  # not 'synth:synth:s00'
    assert df.f0_median.dtype.kind == 'f' and df.f0_median.tolist() == [210.0, 210.0, 115.5, 115.5]
    assert df.truth.iloc[0] == str(tmp_path / 'truth/s00_0.npz')
    assert df.attrs['dropped'] == {'unknown gender label': 1, 'duplicate row': 1, 'missing file': 1}


def test_empty_and_unreadable_audio(tmp_path):
    audio(tmp_path / 'female/ok.wav')
    sf.write(tmp_path / 'female/empty.wav', np.zeros(0, np.float32), 16000)
    (tmp_path / 'male').mkdir()
    (tmp_path / 'male/zero.wav').write_bytes(b'')
    df, msgs = load_quietly(load_folders, tmp_path)
    assert len(df) == 1 and df.attrs['dropped'] == {'empty audio': 1, 'unreadable audio': 1}
    assert any(f"1 empty audio ({tmp_path / 'female/empty.wav'})" in m and f"1 unreadable audio ({tmp_path / 'male/zero.wav'})" in m for m in msgs), msgs  # the warning names them


def test_load_dataset(librispeech_root, tmp_path):
    df, _ = load_quietly(load_dataset, 'LibriSpeech', librispeech_root, subsets=['dev-clean'])
    assert df.speaker.tolist() == ['librispeech:19']
    with pytest.raises(ValueError, match='unknown dataset .timit.; choose one of: audiomnist, commonvoice'):
        load_dataset('timit', librispeech_root)
    assert set(LOADERS) == {'audiomnist', 'commonvoice', 'commonvoice-kaggle', 'folders', 'librispeech', 'manifest',
                            'synth', 'voxceleb1'}


def test_load_manifest_resolves_paths_and_counts_bad_rows(tmp_path):
    (tmp_path / 'clips').mkdir()
    for name in ('a', 'b', 'c'): sf.write(tmp_path / 'clips' / f'{name}.wav', np.zeros(1600, np.float32), 16000)
    (tmp_path / 'list.csv').write_text('path,speaker,gender,corpus\n'
                                       'clips/a.wav,s1,F,x\nclips/b.wav,s2,male,y\n'
                                       'clips/c.wav,s3,other,y\nclips/gone.wav,s4,f,y\n')
    df, w = load_quietly(load_manifest, tmp_path / 'list.csv', 'mine')
    assert df.path.tolist() == [str(tmp_path / 'clips' / 'a.wav'), str(tmp_path / 'clips' / 'b.wav')]
    assert df.speaker.tolist() == ['mine:s1', 'mine:s2'] and df.gender.tolist() == ['female', 'male']
    assert df.corpus.tolist() == ['x', 'y'] and set(df.dataset) == {'mine'}
    assert df.attrs['dropped'] == {'gender not binary': 1, 'missing file': 1}
    with pytest.raises(FileNotFoundError, match='manifest CSV not found: .*nothing.csv'):
        load_manifest(tmp_path / 'nothing.csv')


@pytest.mark.parametrize('name', sorted(LOADERS))
def test_missing_root_is_named(tmp_path, name):
    with pytest.raises(FileNotFoundError, match='no_such_corpus'):
        load_dataset(name, tmp_path / 'no_such_corpus')


# ---------------------------------------------------------------- shared data

def test_shared_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv('GVOICE_SHARED_DATA', raising=False)
    (tmp_path / 'shared/data/librispeech-subset').mkdir(parents=True)
    (tmp_path / 'main/nbs').mkdir(parents=True)
    monkeypatch.chdir(tmp_path / 'main/nbs')
    assert shared_data_dir() == tmp_path / 'shared/data'
    assert shared_data_dir('librispeech-subset') == tmp_path / 'shared/data/librispeech-subset'
    assert shared_data_dir('nope') is None
    monkeypatch.setenv('GVOICE_SHARED_DATA', str(tmp_path / 'main'))
    assert shared_data_dir() == tmp_path / 'main' and shared_data_dir('librispeech-subset') is None
    monkeypatch.setenv('GVOICE_SHARED_DATA', str(tmp_path / 'absent'))
    with pytest.warns(ManifestWarning, match='not a folder'):
        assert shared_data_dir() is None


def test_shared_data_dir_start(tmp_path, monkeypatch):
    "Where the walk up starts is an argument; the current directory only its default."
    monkeypatch.delenv('GVOICE_SHARED_DATA', raising=False)
    (tmp_path / 'shared/data').mkdir(parents=True)
    (tmp_path / 'main/nbs').mkdir(parents=True)
    monkeypatch.chdir(tmp_path / 'main')
    assert shared_data_dir(start=tmp_path / 'main/nbs') == tmp_path / 'shared/data'
    assert shared_data_dir(start=tmp_path.parent) != tmp_path / 'shared/data'  # the walk goes up from `start`, never down
    monkeypatch.setenv('GVOICE_SHARED_DATA', str(tmp_path / 'main'))
    assert shared_data_dir(start=tmp_path / 'main/nbs') == tmp_path / 'main'  # the variable wins over the walk


def test_shared_data_dir_absent(tmp_path, monkeypatch):
    monkeypatch.delenv('GVOICE_SHARED_DATA', raising=False)
    monkeypatch.chdir(tmp_path)
    if any((p / 'shared/data').is_dir() for p in tmp_path.parents):
        pytest.skip('a shared/data folder exists above the temporary directory')
    assert shared_data_dir() is None and shared_data_dir('librispeech-subset') is None


# ---------------------------------------------------------------- splits

def manifest(n_female, n_male, clips):
    "A manifest (no files) with `clips[i]` clips for speaker i."
    genders = ['female'] * n_female + ['male'] * n_male
    rows = [(f'/x/{i}_{j}.wav', f'demo:{i}', g) for i, g in enumerate(genders) for j in range(clips[i % len(clips)])]
    return pd.DataFrame(rows, columns=['path', 'speaker', 'gender']).assign(dataset='demo', duration=1.0)


corpora = st.builds(manifest, st.integers(1, 30), st.integers(1, 30), st.lists(st.integers(1, 5), min_size=1, max_size=7))


@settings(max_examples=150, deadline=None)
@given(corpora, st.integers(0, 10_000), st.sampled_from([(0.15, 0.15), (0.1, 0.2), (0.0, 0.3), (0.25, 0.25)]))
def test_speaker_split_properties(df, seed, fractions):
    valid, test = fractions
    split = speaker_split(df, valid=valid, test=test, seed=seed)
    assert split.index.equals(df.index) and set(split) <= {'train', 'valid', 'test'}
    assert_speaker_disjoint(df, split)
    assert split.groupby(df.speaker).nunique().eq(1).all()
    per_speaker = pd.DataFrame({'gender': df.gender, 'split': split}).groupby(df.speaker).first()
    for g in GENDERS:  # stratified: each gender gets its own rounded share of speakers, and keeps a train speaker
        parts = per_speaker[per_speaker.gender == g].split.value_counts()
        n = parts.sum()
        n_test = min(int(np.floor(test * n + 0.5)), n - 1)
        assert parts.get('test', 0) == n_test
        assert parts.get('valid', 0) == min(int(np.floor(valid * n + 0.5)), n - 1 - n_test)
        assert parts.get('train', 0) >= 1
    assert split.equals(speaker_split(df, valid=valid, test=test, seed=seed))  # reproducible


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 6), st.integers(0, 25), st.integers(0, 25), st.lists(st.integers(1, 5), min_size=1, max_size=7),
       st.integers(0, 10_000))
def test_speaker_folds_properties(k, extra_f, extra_m, clips, seed):
    df = manifest(k + extra_f, k + extra_m, clips)
    folds = speaker_folds(df, k=k, seed=seed)
    assert folds.index.equals(df.index) and set(folds) == set(range(k))  # every row in a fold, no fold empty
    assert_speaker_disjoint(df, folds)  # every speaker is in exactly one test fold
    assert folds.groupby(df.speaker).nunique().eq(1).all() and df.speaker.nunique() == folds.groupby(df.speaker).first().size
    for f in range(k):  # a speaker-disjoint train/test pair per fold
        assert not set(df.speaker[folds == f]) & set(df.speaker[folds != f])


def test_speaker_folds_stratified():
    df = manifest(20, 40, [3])
    folds = speaker_folds(df, k=5, seed=1)
    female_share = df.gender.eq('female').groupby(folds).mean()
    assert female_share.between(0.25, 0.42).all()  # a third of each fold, as in the whole
    with pytest.raises(ValueError, match='at least 5 speakers of each gender'):
        speaker_folds(manifest(4, 10, [2]), k=5)


@settings(max_examples=100, deadline=None)
@given(corpora, st.integers(0, 10_000))
def test_balance_genders(df, seed):
    by_speaker = balance_genders(df, seed=seed, by='speaker')
    n = df.groupby('gender').speaker.nunique().min()
    assert by_speaker.groupby('gender').speaker.nunique().to_dict() == {'female': n, 'male': n}
    assert by_speaker.groupby('speaker').size().equals(df[df.speaker.isin(by_speaker.speaker)].groupby('speaker').size())
    by_clip = balance_genders(df, seed=seed, by='clip')
    m = df.gender.value_counts().min()
    assert by_clip.gender.value_counts().to_dict() == {'female': m, 'male': m}
    assert by_clip.index.is_monotonic_increasing


def test_balance_genders_errors():
    with pytest.raises(ValueError, match="by must be 'speaker' or 'clip'"):
        balance_genders(manifest(2, 2, [1]), by='file')
    with pytest.raises(ValueError, match='only'):
        balance_genders(manifest(3, 0, [1]))


def test_assert_speaker_disjoint():
    df = manifest(2, 2, [2])
    assert_speaker_disjoint(df, ['train'] * 4 + ['test'] * 4)
    with pytest.raises(AssertionError, match=r"1 speaker\(s\) in more than one part.*demo:0"):
        assert_speaker_disjoint(df, ['train', 'test'] + ['train'] * 6)
    assert_speaker_disjoint(df.assign(part=['train', None] + ['test'] * 6), 'part')  # NaN rows are unused
    with pytest.raises(ValueError, match='3 labels for 8 rows'):
        assert_speaker_disjoint(df, ['a', 'b', 'c'])


def test_split_refuses_bad_input():
    with pytest.raises(ValueError, match='valid \\+ test < 1'):
        speaker_split(manifest(3, 3, [1]), valid=0.5, test=0.5)
    df = manifest(2, 2, [2])
    df.loc[0, 'gender'] = 'male'
    with pytest.raises(ValueError, match='both genders'):
        speaker_split(df)
