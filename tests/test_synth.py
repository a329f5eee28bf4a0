"""Corpus-level checks of gvoice.synth: the files each layout promises, reproducibility, and truth that matches the audio."""
import csv
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from gvoice.synth import LAYOUTS, NON_SPEECH, VOWELS, load_truth, make_corpus, non_speech, synthesize_utterance

# Every audio file of a layout, relative to the corpus root, and the metadata files it must write.
AUDIO = {
    "gvoice": r"wav/(s\d{4})/\1_u\d{3}\.wav",
    "librispeech": r"LibriSpeech/train-clean-100/(\d+)/(\d+)/\1-\2-\d{4}\.flac",
    "audiomnist": r"data/(\d{2})/\d_\1_\d{1,2}\.wav",
    "commonvoice": r"clips/common_voice_en_\d+\.mp3",
    "voxceleb1": r"wav/id1\d{4}/[A-Za-z0-9_-]{11}/\d{5}\.wav",
    "folders": r"(female|male)/s\d{4}_u\d{3}\.wav",
}
META = {
    "gvoice": ["manifest.csv"],
    "librispeech": ["LibriSpeech/SPEAKERS.TXT"],
    "audiomnist": ["data/audioMNIST_meta.txt"],
    "commonvoice": ["validated.tsv", "train.tsv", "dev.tsv", "test.tsv"],
    "voxceleb1": ["vox1_meta.csv"],
    "folders": [],
}
N_SPEAKERS, N_UTTERANCES = 5, 3


def files_under(root):
    "Every file under `root`, relative, as posix strings."
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    "A small corpus in every layout, built once: {layout: (root, manifest)}."
    base = tmp_path_factory.mktemp("layouts")
    return {layout: (base / layout, make_corpus(base / layout, N_SPEAKERS, N_UTTERANCES, seed=3, layout=layout,
                                                progress=False))
            for layout in LAYOUTS}


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory):
    "The default 40 x 5 corpus on one core, timed: (root, manifest, seconds)."
    root = tmp_path_factory.mktemp("default")
    start = time.perf_counter()
    manifest = make_corpus(root, n_speakers=40, utterances_per_speaker=5, seed=0, n_jobs=1, progress=False)
    return root, manifest, time.perf_counter() - start


def test_layouts_asked_for_are_exactly_the_ones_written():
    assert set(LAYOUTS) == set(AUDIO) == set(META)


@pytest.mark.parametrize("layout", sorted(AUDIO))
def test_layout_writes_the_files_it_promises(corpora, layout):
    root, manifest = corpora[layout]
    n = N_SPEAKERS * N_UTTERANCES
    files = files_under(root)
    audio = [f for f in files if re.fullmatch(AUDIO[layout], f)]
    assert len(audio) == n, files
    truth = [f for f in files if re.fullmatch(r"truth/s\d{4}_u\d{3}\.npz", f)]
    assert len(truth) == n
    for meta in META[layout] + ["gvoice_manifest.csv"]:
        assert meta in files, meta
    trans = [f for f in files if f.endswith(".trans.txt")]
    assert len(trans) == (N_SPEAKERS if layout == "librispeech" else 0)
    assert sorted(audio + truth + trans + META[layout] + ["gvoice_manifest.csv"]) == files  # nothing else

    # the manifest: one row per file, absolute paths that soundfile reads at the stated rate
    assert len(manifest) == n
    for col in ("path", "speaker", "gender", "dataset", "duration", "truth", "f0_median", "vtl_cm"):
        assert col in manifest, col
    assert (manifest.dataset == "synth").all() and manifest.speaker.str.fullmatch(r"synth:s\d{4}").all()
    assert set(manifest.gender) == {"female", "male"}
    for row in manifest.itertuples():
        assert Path(row.path).is_absolute() and Path(row.truth).is_absolute()
        info = sf.info(row.path)
        assert info.samplerate == row.sr == (48000 if layout == "audiomnist" else 16000)
        assert info.channels == 1 and info.frames == round(row.duration * row.sr)
        assert (0.5 if layout == "audiomnist" else 2.0) <= row.duration <= (1.6 if layout == "audiomnist" else 4.6)
    # the manifest on disk: the same rows with paths relative to the root
    on_disk = pd.read_csv(root / "gvoice_manifest.csv")
    assert sorted(on_disk.path) == sorted(audio) and sorted(on_disk.truth) == sorted(truth)
    assert (on_disk.speaker.tolist(), on_disk.gender.tolist()) == (manifest.speaker.tolist(), manifest.gender.tolist())


def test_gvoice_manifest_csv_is_the_manifest(corpora):
    root, manifest = corpora["gvoice"]
    a, b = pd.read_csv(root / "manifest.csv"), pd.read_csv(root / "gvoice_manifest.csv")
    pd.testing.assert_frame_equal(a, b)
    assert [str(root / p) for p in a.path] == manifest.path.tolist()


def test_librispeech_metadata(corpora):
    root, manifest = corpora["librispeech"]
    lines = (root / "LibriSpeech/SPEAKERS.TXT").read_text().splitlines()
    assert ";ID  |SEX| SUBSET           |MINUTES| NAME" in lines
    rows = [[f.strip() for f in ln.split("|", 4)] for ln in lines if not ln.startswith(";")]
    assert len(rows) == N_SPEAKERS and any("|" in r[4] for r in rows)  # a name with a pipe, as in the real file
    sex = {r[0]: r[1] for r in rows}
    for row in manifest.itertuples():
        reader = Path(row.path).parts[-3]
        assert sex[reader] == row.gender[0].upper() and row.native_speaker == reader
    assert all(r[2] == "train-clean-100" and float(r[3]) > 0 for r in rows)
    for trans in root.rglob("*.trans.txt"):
        ids = [ln.split(" ", 1)[0] for ln in trans.read_text().splitlines()]
        assert ids == sorted(p.stem for p in trans.parent.glob("*.flac"))


def test_audiomnist_metadata(corpora):
    root, manifest = corpora["audiomnist"]
    meta = json.loads((root / "data/audioMNIST_meta.txt").read_text())
    assert sorted(meta) == [f"{i:02d}" for i in range(1, N_SPEAKERS + 1)]
    for nn, fields in meta.items():
        assert set(fields) == {"accent", "age", "gender", "native speaker", "origin", "recordingdate", "recordingroom"}
        assert isinstance(fields["age"], int if nn == "01" else str)  # the real file's mixed types
    for row in manifest.itertuples():
        assert meta[Path(row.path).parent.name]["gender"] == row.gender


def test_commonvoice_metadata(corpora):
    root, manifest = corpora["commonvoice"]
    read = lambda name: pd.read_csv(root / name, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    validated = read("validated.tsv")
    assert validated.columns.tolist() == ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender",
                                          "accents", "variant", "locale", "segment"]
    assert validated.client_id.str.fullmatch(r"[0-9a-f]{64}").all() and validated.client_id.nunique() == N_SPEAKERS
    assert sorted(validated.path) == sorted(Path(p).name for p in manifest.path)
    labels = dict(zip(validated.path, validated.gender))
    for row in manifest.itertuples():
        assert labels[Path(row.path).name] == {"female": "female_feminine", "male": "male_masculine"}[row.gender]
    splits = {s: set(read(f"{s}.tsv").client_id) for s in ("train", "dev", "test")}
    assert not (splits["train"] & splits["dev"] or splits["train"] & splits["test"] or splits["dev"] & splits["test"])
    assert set().union(*splits.values()) == set(validated.client_id)
    assert sum(len(read(f"{s}.tsv")) for s in splits) == len(validated)


def test_voxceleb1_metadata(corpora):
    root, manifest = corpora["voxceleb1"]
    meta = pd.read_csv(root / "vox1_meta.csv", sep="\t")
    assert meta.columns.tolist() == ["VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set"]
    assert set(meta.Gender) <= {"m", "f"} and set(meta.Set) <= {"dev", "test"}
    gender = dict(zip(meta["VoxCeleb1 ID"], meta.Gender))
    for row in manifest.itertuples():
        assert gender[Path(row.path).parts[-3]] == row.gender[0]


def test_same_speakers_in_every_layout(corpora):
    params = {layout: m[["speaker", "gender", "f0_median", "vtl_cm"]].reset_index(drop=True) for layout, (_, m) in corpora.items()}
    for layout, p in params.items():
        pd.testing.assert_frame_equal(p, params["gvoice"], obj=layout)


@pytest.mark.parametrize("layout", sorted(AUDIO))
def test_same_seed_gives_byte_identical_files(corpora, tmp_path, layout):
    root, _ = corpora[layout]
    make_corpus(tmp_path, N_SPEAKERS, N_UTTERANCES, seed=3, layout=layout, progress=False)
    files = files_under(root)
    assert files_under(tmp_path) == files
    for f in files:
        assert (tmp_path / f).read_bytes() == (root / f).read_bytes(), f


def test_parallel_build_is_identical(corpora, tmp_path):
    root, _ = corpora["gvoice"]
    make_corpus(tmp_path, N_SPEAKERS, N_UTTERANCES, seed=3, n_jobs=2, progress=False)
    for f in files_under(root):
        assert (tmp_path / f).read_bytes() == (root / f).read_bytes(), f


def test_another_seed_gives_other_speakers_and_audio(corpora, tmp_path):
    root, manifest = corpora["gvoice"]
    other = make_corpus(tmp_path, N_SPEAKERS, N_UTTERANCES, seed=4, progress=False)
    assert not np.allclose(other.f0_median, manifest.f0_median)
    for a, b in zip(other.path, manifest.path):
        assert Path(a).read_bytes() != Path(b).read_bytes()


@pytest.mark.parametrize("layout", ["gvoice", "audiomnist"])
def test_a_clip_can_be_made_again_from_its_truth(corpora, layout):
    "The truth file keeps the speaker and seed: synthesize_utterance remakes the clip (up to 16-bit quantisation)."
    _, manifest = corpora[layout]
    row = manifest.iloc[-1]
    truth = load_truth(row.truth)
    y, again = synthesize_utterance(truth.speaker, truth.sr, truth.seed, duration=LAYOUTS[layout].duration)
    np.testing.assert_allclose(sf.read(row.path, dtype="float32")[0], y, atol=1.5 / 32768)
    assert again.phones == truth.phones


def test_noise_and_room_are_recorded(tmp_path):
    clean = make_corpus(tmp_path / "clean", 2, 1, seed=5, progress=False)
    wet = make_corpus(tmp_path / "wet", 2, 1, seed=5, snr_db=5.0, rt60=0.4, progress=False)
    assert (wet.snr_db == 5.0).all() and (wet.rt60 == 0.4).all() and clean.snr_db.isna().all()
    truth = load_truth(wet.truth[0])
    assert (truth.snr_db, truth.rt60) == (5.0, 0.4)
    np.testing.assert_array_equal(truth.f0, load_truth(clean.truth[0]).f0)  # the voice is the same
    y_clean, y_wet = sf.read(clean.path[0])[0], sf.read(wet.path[0])[0]
    assert np.corrcoef(y_clean, y_wet)[0, 1] < 0.9


def test_default_corpus_builds_fast_and_balanced(default_corpus):
    root, manifest, seconds = default_corpus
    minutes = manifest.duration.sum() / 60
    print(f"\n40 speakers x 5 utterances ({minutes:.1f} min of audio) built in {seconds:.1f} s on one core")
    assert len(manifest) == 200 and manifest.speaker.nunique() == 40
    assert manifest.drop_duplicates("speaker").gender.value_counts().to_dict() == {"female": 20, "male": 20}
    assert manifest.duration.between(2.0, 4.6).all()
    assert seconds < 60


def test_default_corpus_genders_overlap_in_f0(default_corpus):
    _, manifest, _ = default_corpus
    spk = manifest.drop_duplicates("speaker")
    assert spk[spk.gender == "female"].f0_median.min() < spk[spk.gender == "male"].f0_median.max()


def test_truth_files_are_plain_arrays(default_corpus):
    _, manifest, _ = default_corpus
    for path in manifest.truth[::10]:
        with np.load(path, allow_pickle=False) as z:
            assert all(z[k].dtype.kind in "biuf" for k in z.files)
        truth = load_truth(path)
        assert truth.speaker.speaker in set(manifest.speaker)


def _acf_period(frame, sr, fmin=60, fmax=500):
    "The lag (s) of the largest autocorrelation peak between 1/fmax and 1/fmin, parabolically interpolated."
    frame = frame - frame.mean()
    r = np.correlate(frame, frame, "full")[len(frame) - 1:]
    lo, hi = int(sr / fmax), int(sr / fmin)
    k = lo + int(np.argmax(r[lo:hi]))
    return (k + 0.5 * (r[k - 1] - r[k + 1]) / (r[k - 1] - 2 * r[k] + r[k + 1])) / sr


def _periodicity(frame, sr):
    "Height of the normalised autocorrelation's largest peak at lags of 2-16 ms."
    frame = frame - frame.mean()
    r = np.correlate(frame, frame, "full")[len(frame) - 1:]
    return r[int(0.002 * sr):int(0.016 * sr)].max() / r[0]


def test_truth_matches_the_audio(default_corpus):
    "On voiced frames inside a vowel the autocorrelation period is 1/F0; unvoiced frames are not periodic."
    _, manifest, _ = default_corpus
    errors, voiced_per, unvoiced_per = [], [], []
    for row in manifest.iloc[::4].itertuples():
        y, sr = sf.read(row.path)
        truth = load_truth(row.truth)
        assert (sr, len(truth.f0)) == (truth.sr, 1 + len(y) // truth.hop_length)
        np.testing.assert_array_equal(truth.f0 > 0, truth.voiced)
        half = int(0.02 * sr)  # 40 ms windows
        for i, c in enumerate(np.arange(len(truth.f0)) * truth.hop_length):
            if c - half < 0 or c + half > len(y):
                continue
            k = np.searchsorted(truth.ends, c / sr, side="right")
            inside = truth.starts[k] * sr <= c - half and c + half <= truth.ends[k] * sr
            if not inside or truth.phones[k] == "sil":
                continue
            frame = y[c - half:c + half]
            if truth.voiced[i]:
                assert truth.phones[k] in VOWELS
                errors.append(abs(1 / _acf_period(frame, sr) / truth.f0[i] - 1))
                voiced_per.append(_periodicity(frame, sr))
            else:
                unvoiced_per.append(_periodicity(frame, sr))
    errors = np.array(errors)
    print(f"\n{len(errors)} voiced frames: median error {np.median(errors):.2%}, "
          f"{np.mean(errors < 0.02):.1%} within 2 %; periodicity voiced {np.median(voiced_per):.2f}, "
          f"unvoiced {np.median(unvoiced_per):.2f}")
    assert len(errors) > 1000 and np.median(errors) < 0.01 and np.mean(errors < 0.02) > 0.97
    assert np.median(voiced_per) > 0.7 and np.median(unvoiced_per) < 0.3


def test_pauses_are_quiet(default_corpus):
    "Away from their edges (where the resonators ring down), pauses hold only the faint noise floor."
    _, manifest, _ = default_corpus
    for row in manifest.iloc[::20].itertuples():
        y, sr = sf.read(row.path)
        truth = load_truth(row.truth)
        pauses = np.concatenate([y[int((s + 0.04) * sr):int((e - 0.04) * sr)]
                                 for p, s, e in zip(truth.phones, truth.starts, truth.ends) if p == "sil"])
        vowels = y[np.repeat(truth.voiced, truth.hop_length)[:len(y)]]
        assert 10 * np.log10(np.mean(pauses ** 2) / np.mean(vowels ** 2)) < -40


def test_non_speech_is_deterministic_and_checked():
    "The bench of sounds that are not speech (for the gate of notebook 13): seeded, at the length, rate and peak asked for."
    for kind in NON_SPEECH:
        y = non_speech(kind, 1.0, sr=8000, seed=5, peak_dbfs=-20)
        np.testing.assert_array_equal(y, non_speech(kind, 1.0, sr=8000, seed=5, peak_dbfs=-20))
        assert y.dtype == np.float32 and len(y) == 8000
        assert np.abs(y).max() == (0 if kind == 'silence' else pytest.approx(0.1, rel=1e-4)), kind
    with pytest.raises(ValueError, match='expected one of'):
        non_speech('bagpipes')


@pytest.mark.parametrize("layout", ["librispeech", "folders"])
def test_a_corpus_written_over_an_earlier_one_leaves_none_of_its_clips(tmp_path, layout):
    "A smaller corpus written over a larger one: the loader finds the new clips only (the old ones stayed, and were read with the new labels)."
    import warnings
    from gvoice.data import load_dataset
    make_corpus(tmp_path, 8, 3, seed=0, layout=layout, progress=False)
    new = make_corpus(tmp_path, 4, 1, seed=1, layout=layout, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                                          # the folders layout's pseudo-speakers are said, and expected
        warnings.filterwarnings("error", message=".*dropped")                    # but not even a dropped row
        loaded = load_dataset(layout, tmp_path)
    assert sorted(loaded.path) == sorted(new.path)
    assert loaded.set_index("path").gender.to_dict() == new.set_index("path").gender.to_dict()


def test_a_folder_of_someone_elses_files_is_refused_untouched(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,gender,speaker\nme.wav,female,me\n")
    with pytest.raises(ValueError, match="holds other files .e.g. manifest.csv."):
        make_corpus(tmp_path, 2, 1, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.csv"]
    assert (tmp_path / "manifest.csv").read_text() == "path,gender,speaker\nme.wav,female,me\n"
