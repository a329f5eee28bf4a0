"""gvoice.gate: every kind of non-speech is rejected at many seeds, levels and noise levels; speech of every sort passes
(shouted, raised, telephone, over a DC offset or hum, single spoken digits); real speech of ../shared/data is not turned
away (issue 14); any length works, in bounded memory."""
import shutil
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from gvoice.audio import add_noise, detect_speech, limit_peak, load_audio, mix_at_snr, peak_normalize, resample
from gvoice.data import shared_data_dir
from gvoice.gate import MIN_SPEECH, MIN_VOICED, Gate, speech_gate
from gvoice.robustness import Whisper
from gvoice.synth import NON_SPEECH, make_corpus, non_speech, sample_speakers, synthesize_utterance
from gvoice.train import SHARED_CORPORA, load_corpora, shared_corpus_specs

SR = 16000
VOICE_RANGE = (60, 400)  # Hz


def at_level(y, peak_dbfs):
    return peak_normalize(y, 10 ** (peak_dbfs / 20))


def with_noise(y, snr_db, seed):
    return y if snr_db is None or not np.any(y) else add_noise(y, snr_db, seed).astype(np.float32)


def over_music(y, music, below_db):
    return limit_peak(mix_at_snr(y, music[:len(y)], below_db)).astype(np.float32)


def telephone(y, sr=SR):
    return resample(signal.sosfiltfilt(signal.butter(6, [300, 3400], 'bandpass', fs=sr, output='sos'), y), sr, 8000)


@pytest.fixture(scope='module')
def speakers():
    return sample_speakers(16, seed=11)


# ---------------------------------------------------------------- non-speech

@pytest.mark.parametrize('kind', NON_SPEECH)
@pytest.mark.parametrize('seed', [10, 11, 12])
def test_non_speech_is_never_speech(kind, seed):
    for level in (-60, -40, -20, -3):  # -60 and -40: raised by the gate before it judges (raise_quiet), and still refused
        for snr in (None, 30, 10):
            g = speech_gate(at_level(with_noise(non_speech(kind, seed=seed), snr, seed), level), SR)
            assert g.status != 'speech', (kind, seed, level, snr, g.measures)
            assert np.isnan(g.f0_median_hz) and g.speech_seconds <= 0.3 and g.reason


@pytest.mark.parametrize('kind', NON_SPEECH)
def test_second_and_third_looks_let_no_non_speech_through(kind):
    "The beat track's second look and Silero's third (notebook 13) never turn non-speech into speech: 12 seeds, 5 rates and lengths, clean and in noise."
    for seed in range(4, 16):
        for sr, duration in ((8000, 2.0), (16000, 3.0), (22050, 5.0), (44100, 1.5), (16000, 1.0)):
            y = non_speech(kind, duration, sr, seed=seed)
            for snr in (None, 10):
                g = speech_gate(with_noise(y, snr, seed), sr)
                assert not (g.ok and (g.measures['second_look'] or g.measures['third_look'])), (kind, seed, sr, duration, snr, g.measures)


@pytest.mark.parametrize('kind', ['piano', 'band', 'violin', 'beeps', 'syllable_train', 'drums', 'modulated_noise'])
def test_non_speech_at_other_rates_and_lengths(kind):
    for sr, duration in ((8000, 2.0), (22050, 5.0), (44100, 1.5)):
        g = speech_gate(non_speech(kind, duration, sr, seed=3), sr)
        assert g.status != 'speech', (kind, sr, duration, g.measures)


def test_energy_detector_alone_would_accept_much_of_the_bench():
    "The gate is needed: detect_speech alone lets several kinds through (if this fails, the bench got too easy)."
    passed = {k for k in NON_SPEECH if detect_speech(non_speech(k, seed=10), SR).status == 'speech'}
    assert {'beeps', 'syllable_train', 'drums', 'modulated_noise'} <= passed


def test_reasons_name_the_family():
    reasons = {k: speech_gate(non_speech(k, seed=4), SR).reason for k in NON_SPEECH}
    assert reasons['silence'].startswith('silence')
    assert reasons['syllable_train'].startswith('music or a tone: steady pitch for')
    assert reasons['modulated_noise'].startswith(('noise, not a voice', 'a steady sound'))
    assert reasons['drums'].startswith(('noise, not a voice', 'a steady sound'))


def test_the_predictor_does_not_carry_the_test_bench():
    "The bench of non-speech sounds lives in gvoice.synth: neither the gate nor the predictor that imports it loads the synthesiser."
    import gvoice.gate
    assert not hasattr(gvoice.gate, 'non_speech') and not hasattr(gvoice.gate, 'NON_SPEECH')
    code = "import sys, gvoice.predict; assert 'gvoice.synth' not in sys.modules, sorted(m for m in sys.modules if m.startswith('gvoice'))"
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


# ---------------------------------------------------------------- speech passes

def test_synthetic_corpus_passes(tmp_path):
    manifest = make_corpus(tmp_path, n_speakers=10, utterances_per_speaker=3, seed=3, progress=False)
    gates = [speech_gate(load_audio(p), SR) for p in manifest.path]
    assert [g.status for g in gates] == ['speech'] * len(gates), [g.reason for g in gates if not g.ok]
    truth_f0 = manifest.groupby('speaker').f0_median.first() if 'f0_median' in manifest else None
    if truth_f0 is not None:
        got = pd.Series([g.f0_median_hz for g in gates], index=manifest.speaker).groupby(level=0).median()
        assert np.all(np.abs(np.log2(got / truth_f0.loc[got.index])) < 0.3)  # within a third of an octave


@pytest.mark.parametrize('condition', ['clean', 'noise10', 'telephone', 'reverb', 'quiet', 'very quiet', 'band12', 'violin12', 'loud'])
def test_speech_in_hard_conditions_passes(speakers, condition):
    for i, s in enumerate(speakers):
        y, _ = synthesize_utterance(s, SR, seed=200 + i, duration=(2.0, 4.0), rt60=0.5 if condition == 'reverb' else None)
        sr = SR
        if condition == 'noise10': y = with_noise(y, 10, i)
        elif condition == 'telephone': y, sr = telephone(y), 8000
        elif condition == 'quiet': y = at_level(y, -30)
        elif condition == 'very quiet': y = at_level(y, -50)  # heard only because the gate raises it first
        elif condition == 'loud': y = at_level(y, -0.1)
        elif condition == 'band12': y = over_music(y, non_speech('band', len(y) / SR + 0.1, seed=i), 12)
        elif condition == 'violin12': y = over_music(y, non_speech('violin', len(y) / SR + 0.1, seed=i), 12)
        g = speech_gate(y, sr)
        assert g.status == 'speech', (condition, i, g.reason, g.measures)
        assert VOICE_RANGE[0] <= g.f0_median_hz <= VOICE_RANGE[1]
        assert g.speech_seconds > 0.5 and g.voiced_seconds > 0.2



def test_a_muted_microphone_is_silence():
    "Hiss far below any speech (-80 dBFS) is not raised into a sound: it is silence, and says so."
    g = speech_gate(np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 1e-4, SR)
    assert (g.status, g.measures['gain_db']) == ('no_speech', 0.0) and g.reason.startswith('silence'), g


def test_f0_median_follows_the_speaker(speakers):
    for i, s in enumerate(speakers[:8]):
        y, _ = synthesize_utterance(s, SR, seed=300 + i)
        assert abs(np.log2(speech_gate(y, SR).f0_median_hz / s.f0_median)) < 0.25, s


def speech_piece(seconds, seed):
    "`seconds` from inside a synthetic utterance's first speech segment, in 1 s of a quiet room."
    y, _ = synthesize_utterance(sample_speakers(6, seed=seed)[seed % 6], SR, seed=seed, duration=3.0)
    start = int(detect_speech(y, SR).segments[0, 0] * SR) + int(0.1 * SR)
    n = int(seconds * SR)
    piece = y[start:start + n] * np.clip(np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.01 * SR), 0, 1)
    out = np.random.default_rng(seed).standard_normal(SR) * 1e-4
    out[SR // 2 - n // 2:][:n] += piece
    return out.astype(np.float32)


@pytest.mark.parametrize('seed', range(8))
def test_too_little_speech(seed):
    short, enough = speech_gate(speech_piece(0.2, seed), SR), speech_gate(speech_piece(0.6, seed), SR)
    assert short.status == 'too_little_speech' and short.reason.startswith('only 0.')
    assert f'at least {MIN_SPEECH:g} s of speech needed' in short.reason  # the message states the real requirement
    assert 0.1 < short.speech_seconds < 0.3 and np.isnan(short.f0_median_hz)
    assert enough.status == 'speech', (enough.reason, enough.measures)
    assert speech_gate(speech_piece(0.6, seed), SR, min_speech=1.0).status == 'too_little_speech'


ESPEAK = shutil.which('espeak-ng')


def espeak(tmp_path, text, *args):
    "espeak-ng saying `text` (extra command-line `args`), at 16 kHz."
    subprocess.run([ESPEAK, *args, '-w', str(tmp_path / 'x.wav'), text], check=True, capture_output=True)
    return load_audio(tmp_path / 'x.wav', sr=SR)


@pytest.mark.skipif(ESPEAK is None, reason='espeak-ng is not installed')
@pytest.mark.parametrize('voice', ['en', 'en+f3', 'en+m3', 'en-us+f4'])
def test_espeak_acted_and_degraded_speech_passes(tmp_path, voice):
    "What real recordings do to a voice (issue 14): shouted and clipped, raised pitch, a phone's band, an offset, hum, rumble."
    text = 'Stop it right now, I told you I will not do it again!'
    y = espeak(tmp_path, text, '-v', voice)
    shouted = espeak(tmp_path, text, '-v', voice, '-a', '200', '-p', '80', '-s', '200')
    shouted = np.clip(shouted / np.abs(shouted).max() * 3, -1, 1)  # clipped, as shouting into a phone is
    t = np.arange(len(y)) / SR
    rms = float(np.sqrt(np.mean(y ** 2)))
    cases = {'shouted, clipped': (shouted, SR), 'raised pitch': (espeak(tmp_path, text, '-v', voice, '-p', '99'), SR),
             'telephone': (telephone(y), 8000), 'telephone, noise 10 dB': (telephone(with_noise(y, 10, 1)), 8000),
             'DC offset 3x the speech': (y + 3 * rms, SR), 'hum 50 Hz at the speech level': (y + rms * np.sin(2 * np.pi * 50 * t), SR),
             'rumble 20 Hz, 3x the speech': (y + 3 * rms * np.sin(2 * np.pi * 20 * t), SR)}
    for case, (yy, sr) in cases.items():
        g = speech_gate(np.asarray(yy, np.float32), sr)
        assert g.status == 'speech', (voice, case, g.reason, g.measures)


@pytest.mark.skipif(ESPEAK is None, reason='espeak-ng is not installed')
def test_spoken_digits_get_an_answer(tmp_path):
    "Single spoken digits (0.5-0.9 s files) are judged, but for the shortest, which measure like a 0.2 s blip (notebook 13)."
    gates = {(voice, word): speech_gate(espeak(tmp_path, word, '-v', voice), SR)
             for voice in ('en', 'en+f3', 'en+m3', 'en-us') for word in 'zero one two three four five six seven eight nine'.split()}
    short = {k: g.speech_seconds for k, g in gates.items() if g.status != 'speech'}
    assert all(g.status in ('speech', 'too_little_speech') for g in gates.values())
    assert len(short) <= 2 and all(s > 0.2 for s in short.values()), short


@pytest.mark.skipif(ESPEAK is None, reason='espeak-ng is not installed')
@pytest.mark.parametrize('voice', ['en', 'en+f3', 'en+m3', 'en-us+f4', 'de', 'fr+f2', 'es', 'it+m1', 'en+f5'])
def test_espeak_speech_passes(tmp_path, voice):
    text = {'de': 'Der schnelle braune Fuchs springt über den faulen Hund und läuft dann in den Wald.',
            'fr+f2': 'Le renard brun rapide saute par-dessus le chien paresseux, puis il court dans la forêt.'}.get(
        voice, 'Please call Stella and ask her to bring these things with her from the store.')
    subprocess.run([ESPEAK, '-v', voice, '-w', str(tmp_path / 'x.wav'), text], check=True, capture_output=True)
    y = load_audio(tmp_path / 'x.wav', sr=SR)
    for case, (yy, sr) in {'clean': (y, SR), 'noise10': (with_noise(y, 10, 0), SR), 'telephone': (telephone(y), 8000),
                           'over the band': (over_music(y, non_speech('band', len(y) / SR + 0.1, seed=1), 12), SR)}.items():
        g = speech_gate(yy, sr)
        assert g.status == 'speech', (voice, case, g.reason, g.measures)


def test_whispered_speech_passes_on_the_third_look():
    """A whisper has no pitch: the pitch rules call it noise, and Silero VAD, the third look, hears speech (notebook 13). 16 synthetic speakers
    whispered (`gvoice.robustness.Whisper`): clean and in noise all pass on it, through a telephone band nearly all pass (15 of 16 when written)."""
    passed = {}
    for i, s in enumerate(sample_speakers(16, seed=11)):
        y, _ = synthesize_utterance(s, SR, seed=200 + i, duration=(2.0, 4.0))
        w = Whisper()(y, SR, i)
        for case, (yy, sr) in {'clean': (w, SR), 'noise20': (with_noise(w, 20, i), SR), 'telephone': (telephone(w), 8000)}.items():
            g = speech_gate(yy, sr)
            if g.measures['third_look']: assert g.ok and np.isnan(g.f0_median_hz) and g.measures['voiced_fraction'] < MIN_VOICED, (i, case, g.measures)
            passed.setdefault(case, []).append((g.ok, g.measures['third_look']))
    assert all(ok and third for ok, third in passed['clean'] + passed['noise20']), passed
    assert np.mean([ok for ok, _ in passed['telephone']]) >= 0.85, passed   # through the band, one passed on a pitch look when written


@pytest.mark.skipif(ESPEAK is None, reason='espeak-ng is not installed')
def test_espeak_whispers_mostly_pass(tmp_path):
    "espeak-ng's whispering voices, 6 voices x 3 sentences: most pass on the third look (14 of 18 when written; Silero hears its female whispers least)."
    texts = ('Please call Stella and ask her to bring these things with her from the store.', 'The quick brown fox jumps over the lazy dog. Seven, eight, nine.',
             'Der schnelle braune Fuchs springt über den faulen Hund und läuft dann in den Wald.')
    gates = [speech_gate(espeak(tmp_path, text, '-v', voice), SR)
             for voice in ('en+whisper', 'en+whisperf', 'de+whisper', 'fr+whisperf', 'en-us+whisper', 'es+whisperf') for text in texts]
    assert all(g.measures['third_look'] == g.ok for g in gates)   # no pitch: only the third look can pass them
    assert sum(g.ok for g in gates) >= 12, [g.measures['vad_seconds'] for g in gates]


def test_third_look_only_for_sounds_without_pitch():
    "Silero is asked only when neither pitch look heard a voice: not for a voice the pitch rules hear, and not for held notes with vibrato."
    y, _ = synthesize_utterance(sample_speakers(2, seed=2)[0], SR, seed=1)
    for yy in (y, non_speech('violin', seed=3)):
        g = speech_gate(yy, SR)
        assert not g.measures['third_look'] and np.isnan(g.measures['vad_seconds']), g.measures


# ---------------------------------------------------------------- input of any length and kind

@pytest.mark.parametrize('n', [0, 1, 10, 100, 399, 400, 1000, 4000, 8000])
def test_any_length(n):
    rng = np.random.default_rng(n)
    for y in (np.zeros(n, np.float32), (0.1 * rng.standard_normal(n)).astype(np.float32), non_speech('band', n / SR, seed=1)):
        g = speech_gate(y, SR)
        assert isinstance(g, Gate) and g.status in ('no_speech', 'too_little_speech')
        assert g.duration == pytest.approx(n / SR)


def test_bad_input_raises():
    y = non_speech('piano')
    for bad in (np.nan, np.inf, -np.inf):
        z = y.copy(); z[100] = bad
        with pytest.raises(ValueError, match='NaN or Inf'):
            speech_gate(z, SR)
    with pytest.raises(ValueError, match='mono'):
        speech_gate(np.stack([y, y], axis=1), SR)


def test_float64_input_gives_the_same_verdict():
    y, _ = synthesize_utterance(sample_speakers(2, seed=2)[0], SR, seed=1)
    a, b = speech_gate(y, SR), speech_gate(y.astype(np.float64), SR)
    assert a.ok and b.ok and a.f0_median_hz == pytest.approx(b.f0_median_hz, rel=1e-3)


def test_long_input_is_blocked_and_bounded():
    y, _ = synthesize_utterance(sample_speakers(2, seed=2)[1], SR, seed=5, duration=3.0)
    rest = (np.random.default_rng(0).standard_normal(SR) * 1e-3).astype(np.float32)
    long = np.concatenate([np.concatenate([y, rest])] * 75)  # about 5 minutes
    tracemalloc.start()
    t = time.perf_counter()
    g = speech_gate(long, SR)
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert g.ok
    assert g.speech_seconds == pytest.approx(75 * detect_speech(y, SR).speech_seconds, rel=0.05)
    assert len(long) / SR / seconds > 30  # far faster than real time even on a busy CI runner
    assert peak < 4 * long.nbytes + 150e6  # bounded by the block, not the length (the input itself is 20 MB)
    # blocks do not change the verdict of a clip that fits in one
    assert speech_gate(y, SR, block_seconds=1.0).status == speech_gate(y, SR).status == 'speech'
    # the segments of all blocks are in the recording's time
    assert g.segments[-1, 1] <= len(long) / SR + 1e-9 and g.segments[-1, 1] > len(long) / SR - 1.5


def test_a_few_milliseconds_per_clip():
    y, _ = synthesize_utterance(sample_speakers(2, seed=2)[0], SR, seed=3, duration=3.0)
    y = y[:3 * SR]
    speech_gate(y, SR)
    times = []
    for _ in range(15):
        t = time.perf_counter(); speech_gate(y, SR); times.append(time.perf_counter() - t)
    assert np.median(times) < 0.05  # about 6 ms on the course's machine


# ---------------------------------------------------------------- real speech

def real_files():
    shared = shared_data_dir()
    if shared is None or not all((shared / f).is_dir() for f in SHARED_CORPORA):
        pytest.skip('real speech (../shared/data: librispeech-subset, extra-speakers, more-speakers) is not on this machine')
    return list(load_corpora(shared_corpus_specs(shared)).path)


# Issue 14's goal is that no real speech file is turned away. Where it stands (bench/gate_real.py, notebook 13): three of
# 2,506 are, all called non-speech: a VoxCeleb clip of music alone (adam_beach_2), one with a crowd and a whistle over a
# voice (abigail_breslin_1) and an Urdu clip holding only a breath in noise (SM23_F2_S08). No file is too short since
# detect_speech removes a DC offset (the digit 2_09_3: 0.21 s of speech with it, 0.28 s without). Two digits with next to
# no voice (8_31_4, 2_31_6) pass on the third look. It was 287 before issue 14.
MAX_NON_SPEECH = 3  # real files the gate may call non-speech
MAX_TOO_SHORT = 0  # real files the gate may call too short


def gate_status(path):
    g = speech_gate(load_audio(path, sr=SR), SR)
    return g.status, g.reason, g.speech_seconds


def test_real_speech_is_not_turned_away():
    "Issue 14: real speech files are (almost) never turned away: at most the three known ones, none as too short."
    from joblib import Parallel, delayed
    files = real_files()
    results = Parallel(n_jobs=2, batch_size=16)(delayed(gate_status)(p) for p in files)
    away = {p.rsplit('/', 1)[-1]: r for p, (status, r, _) in zip(files, results) if status == 'no_speech'}
    short = {p.rsplit('/', 1)[-1]: s for p, (status, _, s) in zip(files, results) if status == 'too_little_speech'}
    assert len(files) > 2400
    assert len(away) <= MAX_NON_SPEECH, away
    assert len(short) <= MAX_TOO_SHORT, short


def test_quiet_real_speech_is_heard():
    "Real speech turned down by 40 dB (a microphone's gain turned down) passes as often as at its own level, within 3 points."
    clips = [load_audio(p, sr=SR) for p in real_files()[::20]]
    ok = [speech_gate(y, SR).ok for y in clips]
    quiet = [speech_gate(y * np.float32(0.01), SR).ok for y in clips]
    assert np.mean(quiet) >= np.mean(ok) - 0.03, (np.mean(ok), np.mean(quiet))


def test_random_windows_of_real_speech():
    files = [f for f in real_files() if '/more-speakers/' not in f]  # read speech (LibriSpeech subset, extra-speakers)
    rng = np.random.default_rng(1)
    rejected_by_pitch, judged = [], 0
    for path in rng.choice(files, 300, replace=False):
        y = load_audio(path, sr=SR)
        if len(y) < 2 * SR: continue
        start = int(rng.integers(0, len(y) - SR))
        g = speech_gate(y[start:start + SR], SR)
        if g.status == 'too_little_speech' or g.reason.startswith(('silence', 'a steady sound')): continue  # pauses
        judged += 1
        if not g.ok: rejected_by_pitch.append((path, g.reason))
    assert judged > 200
    assert len(rejected_by_pitch) / judged < 0.03, rejected_by_pitch
