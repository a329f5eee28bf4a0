"""gvoice.audio on files: every format, every bad input, and property tests of save -> load -> normalise."""
import io
import os
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings, HealthCheck, strategies as st
from hypothesis.extra.numpy import arrays

from gvoice.audio import (NOISE_SLOPES, AudioError, add_noise, atomic_write, audio_info, detect_speech, limit_peak,
                          load_audio, peak_normalize, rms_normalize, save_audio, trim_silence)

SR = 16000


def tone(seconds=0.5, sr=SR, f=220.0, channels=1, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    y = (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


def wav_bytes(y, sr=SR, subtype='PCM_16'):
    b = io.BytesIO()
    sf.write(b, y, sr, format='WAV', subtype=subtype)
    return b.getvalue()


# ---------------------------------------------------------------- formats, rates, channels

@pytest.mark.parametrize('ext,subtype', [('wav', 'PCM_U8'), ('wav', 'PCM_16'), ('wav', 'PCM_24'), ('wav', 'PCM_32'),
                                         ('wav', 'FLOAT'), ('wav', 'DOUBLE'), ('flac', 'PCM_16'), ('flac', 'PCM_24'),
                                         ('ogg', 'VORBIS'), ('mp3', 'MPEG_LAYER_III'), ('opus', 'OPUS'), ('aiff', 'PCM_16'),
                                         ('au', 'PCM_16'), ('caf', 'PCM_16')])   # the formats `gvoice predict FOLDER` walks (AUDIO_SUFFIXES)
@pytest.mark.parametrize('sr,channels', [(8000, 1), (22050, 2), (44100, 6), (48000, 1)])
def test_every_format_rate_and_channel_count(tmp_path, ext, subtype, sr, channels):
    if ext == 'mp3' and channels > 2:
        pytest.skip('MP3 holds at most two channels')
    if ext == 'opus' and sr not in (8000, 12000, 16000, 24000, 48000):
        pytest.skip('Opus codes 8, 12, 16, 24 or 48 kHz only')
    y = tone(0.5, sr, channels=channels)
    path = tmp_path / f'a.{ext}'
    sf.write(path, y, sr, subtype=subtype, format='OGG' if ext == 'opus' else None)  # soundfile does not know the .opus extension
    out = load_audio(path, sr=SR)
    assert out.dtype == np.float32 and out.ndim == 1
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    assert abs(len(out) - SR // 2) <= SR * 0.06  # MP3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(out[: SR // 4]))
    assert abs(spectrum.argmax() * 4 - 220) <= 8  # still a 220 Hz tone


def test_sources_path_str_bytes_fileobject_agree(tmp_path):
    path = save_audio(tmp_path / 'x.flac', tone(), SR)
    ref = load_audio(path)
    np.testing.assert_array_equal(load_audio(str(path)), ref)
    np.testing.assert_array_equal(load_audio(path.read_bytes()), ref)
    with open(path, 'rb') as f:
        np.testing.assert_array_equal(load_audio(f), ref)
    np.testing.assert_array_equal(load_audio(io.BytesIO(path.read_bytes())), ref)


def test_audio_info_reads_header_only(tmp_path):
    path = save_audio(tmp_path / 'x.wav', tone(1.5, 22050, channels=2), 22050)
    info = audio_info(path)
    assert (info.samplerate, info.channels, info.frames, info.format) == (22050, 2, 33075, 'WAV')
    assert info.duration == pytest.approx(1.5)


def test_reading_changes_nothing(tmp_path):
    path = save_audio(tmp_path / 'x.wav', tone(), SR)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    load_audio(path)
    audio_info(path)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


# ---------------------------------------------------------------- every bad input raises AudioError

def _good_wav():
    return wav_bytes(tone(0.1))


def _with_samplerate(data, sr):
    data = bytearray(data)
    data[24:28] = struct.pack('<I', sr)
    return bytes(data)


def _float_wav_with(value):
    y = tone(0.1)
    y[5] = value
    return wav_bytes(y, subtype='FLOAT')


def _corrupt_flac():
    b = io.BytesIO()
    sf.write(b, tone(1.0), SR, format='FLAC')
    return b.getvalue()[: len(b.getvalue()) // 2]


BAD = {  # name: (file content, words the message must contain)
    'empty file': (b'', 'empty'),
    'zero-length audio': (wav_bytes(np.zeros(0, np.float32)), 'no samples'),
    'truncated header': (_good_wav()[:20], 'corrupt or truncated WAV header'),
    'truncated data': (_good_wav()[: len(_good_wav()) // 2], 'truncated'),
    'corrupt flac data': (_corrupt_flac(), 'corrupt'),
    'text renamed .wav': (b'path,gender\nspeaker1.wav,female\n' * 20, 'not audio: looks like a text file'),
    'html error page': (b'<!DOCTYPE html><html><body>404</body></html>', 'HTML'),
    'jpeg renamed .wav': (b'\xff\xd8\xff\xe0\x00\x10JFIF\x00' + bytes(300), 'JPEG'),
    'random bytes': (bytes(range(256)) * 4, 'unrecognised'),
    'm4a (unsupported)': (b'\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00' + bytes(300), 'unsupported format'),
    'webm (unsupported)': (b'\x1aE\xdf\xa3' + bytes(300), 'unsupported format'),
    'ogg flac (unsupported)': (b'OggS\x00\x02' + bytes(20) + b'\x01\x33\x7fFLAC\x01\x00' + bytes(300), 'unsupported format: FLAC in Ogg'),
    'speex (unsupported)': (b'OggS\x00\x02' + bytes(20) + b'\x01\x50Speex   1.2' + bytes(300), 'unsupported format: Speex'),
    'nan samples': (_float_wav_with(np.nan), 'NaN'),
    'inf samples': (_float_wav_with(np.inf), 'NaN or Inf'),
    'sample rate 0': (_with_samplerate(_good_wav(), 0), 'sample rate of 0 Hz'),
    'sample rate 3 Hz': (_with_samplerate(_good_wav(), 3), 'sample rate of 3 Hz'),
    'sample rate 1 GHz': (_with_samplerate(_good_wav(), 10 ** 9), 'not plausible'),
}


@pytest.mark.parametrize('case', sorted(BAD))
@pytest.mark.parametrize('as_', ['path', 'bytes', 'fileobj'])
def test_bad_input_raises_audio_error_naming_source(tmp_path, case, as_):
    content, words = BAD[case]
    path = tmp_path / 'clip.wav'
    path.write_bytes(content)
    source = {'path': path, 'bytes': content, 'fileobj': open(path, 'rb')}[as_]
    try:
        with pytest.raises(AudioError) as err:
            load_audio(source)
    finally:
        if as_ == 'fileobj':
            source.close()
    message = str(err.value)
    assert words in message, message
    assert message.startswith(str(path) if as_ != 'bytes' else f'<{len(content)} bytes>'), message
    assert 'Traceback' not in message
    assert path.read_bytes() == content  # the user's file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ['clip.wav']  # and nothing was written beside it


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AudioError, match='file not found'):
        load_audio(tmp_path / 'nope.wav')
    with pytest.raises(AudioError, match='not a regular file'):
        load_audio(tmp_path)
    with pytest.raises(AudioError, match='file not found'):
        audio_info(tmp_path / 'nope.flac')


def test_text_mode_file_object_and_wrong_type(tmp_path):
    (tmp_path / 'a.wav').write_bytes(_good_wav())
    with open(tmp_path / 'a.wav', 'r', encoding='latin-1') as f, pytest.raises(AudioError, match='text mode'):
        load_audio(f)
    with pytest.raises(AudioError, match='expected a path, bytes or a binary file object'):
        load_audio(12345)


def test_audio_error_is_value_error():
    assert issubclass(AudioError, ValueError)


def test_bad_target_rate():
    with pytest.raises(ValueError, match='sr=0'):
        load_audio(_good_wav(), sr=0)


def test_save_audio_refuses_to_clip_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(AudioError, match='peak_normalize'):
        save_audio(tmp_path / 'x.wav', tone(amp=3.0), SR)
    with pytest.raises(AudioError, match='NaN'):
        save_audio(tmp_path / 'x.wav', np.array([0.0, np.nan]), SR)
    assert list(tmp_path.iterdir()) == []


def test_save_audio_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    target = save_audio(tmp_path / 'x.wav', tone(), SR)
    original = target.read_bytes()

    def broken_write(*args, **kwargs):
        raise OSError('disk full')
    monkeypatch.setattr(sf, 'write', broken_write)
    with pytest.raises(OSError, match='disk full'):
        save_audio(target, tone(f=440), SR)
    assert target.read_bytes() == original  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ['x.wav']  # no temporary file left


@pytest.mark.parametrize('umask', [0o022, 0o077, 0o002])
def test_atomic_write_obeys_the_umask_without_touching_it(tmp_path, monkeypatch, umask):
    "Files get the mode open() gives them, and the umask is never changed (changing it, even for a moment, is not thread-safe)."
    old = os.umask(umask)
    try:
        with open(tmp_path / 'plain', 'w') as f: f.write('x')
        def no_umask(*args): raise AssertionError('atomic_write changed the umask')
        monkeypatch.setattr(os, 'umask', no_umask)
        with atomic_write(tmp_path / 'atomic', 'w') as f: f.write('x')
        monkeypatch.undo()
    finally: during = os.umask(old)
    assert during == umask
    assert (tmp_path / 'atomic').stat().st_mode & 0o777 == (tmp_path / 'plain').stat().st_mode & 0o777 == 0o666 & ~umask


# ---------------------------------------------------------------- properties

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(y=arrays(np.float64, st.integers(1, 3000), elements=finite),
       ext_subtype=st.sampled_from([('wav', 'PCM_16'), ('wav', 'FLOAT'), ('flac', 'PCM_24'), ('wav', 'PCM_U8')]),
       sr=st.sampled_from([8000, 16000, 44100]))
def test_any_finite_array_survives_save_load_normalise(tmp_path, y, ext_subtype, sr):
    ext, subtype = ext_subtype
    path = save_audio(tmp_path / f'p.{ext}', peak_normalize(y), sr, subtype=subtype)
    out = load_audio(path, sr=SR)
    for z in (out, peak_normalize(out), rms_normalize(out), trim_silence(out, SR)[0]):
        assert np.isfinite(z).all()
        assert z.size == 0 or np.abs(z).max() <= 1.0
    activity = detect_speech(out, SR)
    assert activity.status in ('speech', 'no_speech', 'too_little_speech')
    assert np.isfinite(activity.speech_seconds)


@settings(max_examples=200, deadline=None)
@given(y=arrays(np.float64, st.integers(0, 500), elements=finite), target=st.floats(-60, 0))
def test_normalisers_never_make_nan_or_exceed_full_scale(y, target):
    for z in (peak_normalize(y), rms_normalize(y, target)):
        assert np.isfinite(z).all()
        assert z.size == 0 or np.abs(z).max() <= 1.0 + 1e-6


# ---------------------------------------------------------------- voice activity on synthetic speech

def test_vad_finds_synthetic_speech_between_silences():
    from gvoice.synth import sample_speakers, synthesize_utterance
    for seed, speaker in enumerate(sample_speakers(6, seed=3)):
        y, truth = synthesize_utterance(speaker, sr=SR, seed=seed)
        spoken = [i for i, p in enumerate(truth.phones) if p != 'sil']
        start, end = 1.0 + truth.starts[spoken[0]], 1.0 + truth.ends[spoken[-1]]
        pad = np.zeros(SR, np.float32)
        act = detect_speech(np.concatenate([pad, y, pad]), SR)
        assert act.status == 'speech'
        assert act.segments[0, 0] == pytest.approx(start, abs=0.1), (seed, truth.phones)
        assert act.segments[-1, 1] == pytest.approx(end, abs=0.1), (seed, truth.phones)
        assert act.speech_seconds <= end - start + 0.05


def test_vad_ignores_what_is_not_sound_offset_rumble_hum():
    "A DC offset, rumble or hum louder than the voice leaves the segments where they are (issue 14: real recordings have them)."
    from gvoice.synth import sample_speakers, synthesize_utterance
    for seed, speaker in enumerate(sample_speakers(4, seed=5)):
        y, _ = synthesize_utterance(speaker, sr=SR, seed=seed)
        y = np.concatenate([np.zeros(SR // 2, np.float32), y, np.zeros(SR // 2, np.float32)])
        y = y + (np.random.default_rng(seed).standard_normal(len(y)) * 1e-4).astype(np.float32)  # a quiet room
        clean = detect_speech(y, SR)
        rms = np.sqrt(np.mean(y ** 2))
        t = np.arange(len(y)) / SR
        for name, extra in {'DC offset': np.full(len(y), 3 * rms), 'rumble at 20 Hz': 3 * rms * np.sin(2 * np.pi * 20 * t),
                            'hum at 50 Hz': 2 * rms * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 6))}.items():
            act = detect_speech((y + extra).astype(np.float32), SR)
            assert act.status == 'speech', (seed, name, act.reason)
            assert act.speech_seconds == pytest.approx(clean.speech_seconds, rel=0.15), (seed, name)
            assert act.segments[0, 0] == pytest.approx(clean.segments[0, 0], abs=0.1), (seed, name)


def test_band_snr_of_steady_sounds_barely_moves():
    from gvoice.audio import band_snr_db
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    for y in (0.1 * rng.standard_normal(3 * SR), 0.3 * np.sin(2 * np.pi * 440 * t), np.full(3 * SR, 0.2),
              0.3 * np.sin(2 * np.pi * np.cumsum(900 + 400 * np.sin(2 * np.pi * 0.5 * t)) / SR)):
        s = band_snr_db(y.astype(np.float32), SR)
        assert np.percentile(s, 99) - np.percentile(s, 10) < 10
        assert detect_speech(y.astype(np.float32), SR).status == 'no_speech'


@settings(max_examples=60, deadline=None)
@given(y=arrays(np.float64, st.integers(2, 4000), elements=st.floats(-1, 1, width=32)).filter(lambda y: np.mean(y ** 2) > 1e-20),  # a power that does not underflow
       snr=st.floats(-20, 60), color=st.sampled_from(sorted(NOISE_SLOPES)), seed=st.integers(0, 2 ** 32 - 1))
def test_noise_is_added_at_exactly_the_snr_asked(y, snr, color, seed):
    "Whatever the signal, length and colour: the SNR of the mix is the one asked, and bringing it within full scale keeps it."
    noisy = add_noise(y, snr, seed, color=color)
    fitted, gain = limit_peak(noisy), 1 / max(1.0, np.abs(noisy).max())
    assert np.abs(fitted).max() <= 1 + 1e-12
    for clean, mix in ((y, noisy), (gain * y, fitted)):
        assert 10 * np.log10(np.mean(clean ** 2) / np.mean((mix - clean) ** 2)) == pytest.approx(snr, abs=1e-6)
