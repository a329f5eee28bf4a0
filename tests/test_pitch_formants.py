"""gvoice.pitch_formants against ground truth: F0 and formant accuracy on a synthetic corpus, NaN features where there
is nothing to measure, stable feature names, and agreement with Praat on real speech when it is present."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from gvoice.audio import load_audio
from gvoice.data import load_librispeech, shared_data_dir
from gvoice.pitch_formants import (FORMANT_FEATURES, PITCH_FEATURES, burg_formants, f0_errors, formant_errors,
                                   formant_features, lpc_formants, pitch_features, praat_track, pyin_track,
                                   voicing_accuracy, yin_track)
from gvoice.synth import load_truth, make_corpus, sample_speakers, synthesize_utterance

SR = 16000
TRACKERS = {"YIN": yin_track, "pYIN": pyin_track, "Praat": praat_track}
FORMANT_ESTIMATORS = {"LPC": lpc_formants, "Praat Burg": burg_formants}


def _edge_speakers(seed=11):
    "Low-pitched women, high-pitched men (with long and short vocal tracts), a very low man and a very high woman."
    base = sample_speakers(12, seed=seed)
    women, men = [s for s in base if s.gender == "female"], [s for s in base if s.gender == "male"]
    return [dataclasses.replace(women[0], f0_median=135.0), dataclasses.replace(women[1], f0_median=150.0, vtl_cm=16.5),
            dataclasses.replace(men[0], f0_median=180.0), dataclasses.replace(men[1], f0_median=200.0, vtl_cm=15.5),
            dataclasses.replace(men[2], f0_median=72.0), dataclasses.replace(women[2], f0_median=310.0, vtl_cm=13.0)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    "A synthetic corpus of 20 speakers x 2 clips written by make_corpus, plus 12 clips of speakers at the overlap."
    root = tmp_path_factory.mktemp("synth")
    corpus = make_corpus(root, n_speakers=20, utterances_per_speaker=2, seed=7)
    out = [(r.gender, load_audio(r.path, sr=SR), load_truth(r.truth)) for r in corpus.itertuples()]
    return out + [(s.gender, *synthesize_utterance(s, SR, seed=k)) for s in _edge_speakers() for k in range(2)]


@pytest.fixture(scope="module")
def scores(clips):
    "Pooled relative errors and per-clip voicing accuracy of every estimator over `clips`."
    errors = {name: [] for name in (*TRACKERS, *FORMANT_ESTIMATORS)}
    voicing = {name: [] for name in TRACKERS}
    for _, y, truth in clips:
        tracks = {name: tracker(y, SR) for name, tracker in TRACKERS.items()}
        for name, track in tracks.items():
            errors[name].append(f0_errors(track, truth))
            voicing[name].append(voicing_accuracy(track, truth))
        for name, estimator in FORMANT_ESTIMATORS.items():
            errors[name].append(formant_errors(estimator(y, SR, tracks["YIN"].voiced), tracks["YIN"].voiced, truth))
    return {k: np.concatenate(v) for k, v in errors.items()}, {k: float(np.mean(v)) for k, v in voicing.items()}


def test_corpus_covers_the_overlap(clips):
    women = [t.speaker.f0_median for g, _, t in clips if g == "female"]
    men = [t.speaker.f0_median for g, _, t in clips if g == "male"]
    assert len(clips) >= 52 and min(women) < max(men), "low-pitched women and high-pitched men must be in the test"


@pytest.mark.parametrize("name", ["YIN", "pYIN"])
def test_f0_median_relative_error_below_2_percent(scores, name):
    errors, voicing = scores
    print(f"{name}: median F0 error {np.median(errors[name]):.2%}, voicing accuracy {voicing[name]:.1%}")
    assert len(errors[name]) > 5000
    assert np.median(errors[name]) < 0.02, f"{name}: median relative F0 error {np.median(errors[name]):.2%}"
    assert voicing[name] > 0.85, f"{name}: voicing accuracy {voicing[name]:.1%}"


def test_praat_f0_is_reported_and_sane(scores):
    errors, voicing = scores
    print(f"Praat: median F0 error {np.median(errors['Praat']):.2%}, voicing accuracy {voicing['Praat']:.1%}")
    assert np.median(errors["Praat"]) < 0.02


def test_lpc_f1_f3_median_relative_error_below_8_percent(scores):
    errors, _ = scores
    medians = np.median(errors["LPC"], axis=0)
    print("LPC F1-F3 median relative error:", np.round(medians, 4),
          "| Praat Burg:", np.round(np.median(errors["Praat Burg"], axis=0), 4))
    assert len(errors["LPC"]) > 5000
    for i, m in enumerate(medians): assert m < 0.08, f"F{i + 1}: median relative error {m:.2%}"


@pytest.mark.parametrize("y", [np.zeros(SR), 0.1 * np.random.default_rng(0).standard_normal(SR),
                               1e-4 * np.random.default_rng(1).standard_normal(2 * SR)], ids=["silence", "noise", "quiet noise"])
def test_nothing_to_measure_gives_nan_not_an_exception(y):
    pitch, formants = pitch_features(y, SR), formant_features(y, SR)
    assert pitch["voiced_fraction"] == 0.0
    assert all(np.isnan(v) for k, v in pitch.items() if k != "voiced_fraction")
    assert all(np.isnan(v) for v in formants.values())


@pytest.mark.parametrize("n", [0, 1, 100, 640, 900])
def test_too_short_input_gives_nan(clips, n):
    y = clips[0][1][SR // 2:SR // 2 + n]
    assert all(np.isnan(v) for v in pitch_features(y, SR).values())
    if n < 642: assert all(np.isnan(v) for v in formant_features(y, SR).values())


def test_feature_keys_are_stable_and_named(clips):
    _, y, truth = clips[0]
    pitch, formants = pitch_features(y, SR), formant_features(y, SR)
    assert tuple(pitch) == PITCH_FEATURES == tuple(pitch_features(np.zeros(10), SR))
    assert tuple(formants) == FORMANT_FEATURES == tuple(formant_features(np.zeros(10), SR))
    assert len(set(PITCH_FEATURES) | set(FORMANT_FEATURES)) == len(PITCH_FEATURES) + len(FORMANT_FEATURES)
    assert all(isinstance(v, float) and np.isfinite(v) for v in (*pitch.values(), *formants.values()))
    assert pitch["f0_median"] == pytest.approx(truth.speaker.f0_median, rel=0.03)
    assert formants["vtl_cm"] == pytest.approx(truth.speaker.vtl_cm, rel=0.1)


def test_bad_input_is_refused_at_the_door():
    with pytest.raises(ValueError, match="expected mono samples"): pitch_features(np.zeros((SR, 2)), SR)
    with pytest.raises(ValueError, match="NaN or Inf"): formant_features(np.full(SR, np.nan), SR)


def test_agreement_with_praat_on_real_speech():
    root = shared_data_dir("librispeech-subset")
    if root is None: pytest.skip("real speech (../shared/data/librispeech-subset) is not on this machine")
    files = load_librispeech(root).drop_duplicates("speaker").groupby("gender").head(10)
    rows = []
    for path in files.path:
        y = load_audio(path, sr=SR)
        yin, praat = yin_track(y, SR), praat_track(y, SR)
        lpc, burg = (np.nanmedian(f(y, SR, yin.voiced)[yin.voiced], axis=0) for f in FORMANT_ESTIMATORS.values())
        rows.append(dict(yin=np.median(yin.f0[yin.voiced]), praat=np.median(praat.f0[praat.voiced]),
                         voicing=np.mean(yin.voiced == praat.voiced), **{f"lpc{i}": lpc[i] for i in range(3)},
                         **{f"burg{i}": burg[i] for i in range(3)}))
    d = pd.DataFrame(rows)
    assert np.corrcoef(d.yin, d.praat)[0, 1] > 0.95
    assert np.median(np.abs(d.yin - d.praat) / d.praat) < 0.03
    assert d.voicing.mean() > 0.8
    for i in range(3): assert np.median(np.abs(d[f"lpc{i}"] - d[f"burg{i}"]) / d[f"burg{i}"]) < 0.15, f"F{i + 1}"
