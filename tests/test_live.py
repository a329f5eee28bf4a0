"""The live demo (notebook 18, `gvoice.live`): streaming segments of a man then a woman, and the widget driven from
Python as the browser, the kernel's (virtual) microphone and a file would drive it. The page itself is tested in
tests/test_browser.py."""
import io

import numpy as np
import pytest
import soundfile as sf
import soxr

from gvoice.audio import load_audio
from gvoice.data import load_librispeech, shared_data_dir
from gvoice.live import (LiveWidget, StreamingPredictor, Take, _wav_bytes, choose_source, format_segments, merge_windows,
                         microphone_blocks, segments, stream_windows)
from gvoice.predict import GenderPredictor

SR = 16000
TEXT = "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore."


@pytest.fixture(scope='module')
def predictor():
    return GenderPredictor.pretrained()


@pytest.fixture(scope='module')
def man(espeak):
    "espeak-ng's default English voice (male), 16 kHz."
    return load_audio(espeak(TEXT), SR)


@pytest.fixture(scope='module')
def woman(espeak):
    "espeak-ng's female variant f3, raised (its plain female voices often sound male to the model)."
    return load_audio(espeak(TEXT, 'en+f3', 80), SR)


def _man_then_woman_real(seconds=4.0):
    "A LibriSpeech man then a LibriSpeech woman, `seconds` each, from ../shared/data (skips when absent)."
    root = shared_data_dir('librispeech-subset')
    if root is None: pytest.skip('no real speech here (../shared/data/librispeech-subset is absent)')
    df = load_librispeech(root).sort_values('path')
    n = int(seconds * SR)
    return np.concatenate([load_audio(df[(df.gender == g) & (df.duration > seconds)].path.iloc[0], SR)[:n]
                           for g in ('male', 'female')]), seconds


@pytest.mark.parametrize('speech', ['espeak-ng', 'librispeech'])
def test_segments_of_a_man_then_a_woman(speech, man, woman, predictor, tmp_path):
    if speech == 'librispeech': y, change = _man_then_woman_real()
    else: y, change = np.concatenate([man, woman]), len(man) / SR
    path = tmp_path / 'mw.flac'
    sf.write(path, y, SR)
    segs = segments(path, predictor=predictor)
    gendered = segs[segs.label != 'uncertain']
    assert list(gendered.label) == ['male', 'female'], segs
    assert abs(gendered.start.iloc[1] - change) < 0.75, segs
    assert gendered.p_female.iloc[0] < 0.3 and gendered.p_female.iloc[1] > 0.7, segs
    assert segs.start.iloc[0] == 0 and segs.end.iloc[-1] == pytest.approx(len(y) / SR, abs=0.01)
    assert (segs.start.to_numpy()[1:] == segs.end.to_numpy()[:-1]).all()  # no gaps, no overlaps
    text = format_segments(segs).splitlines()
    assert text[0].split() == ['start', 'end', 'label', 'p_female', 'reason'] and len(text) == len(segs) + 1
    assert 'male' in text[1 + segs.index[segs.label == 'male'][0]]
    same = segments(y, sr=SR, predictor=predictor)  # an array gives the same as its file
    assert list(same.label) == list(segs.label)


@pytest.mark.parametrize('block', [1, 160, 4096, 10 ** 6])
def test_answers_do_not_depend_on_the_block_size(block, man, predictor):
    y48 = soxr.resample(man[:3 * SR], SR, 48000)
    windows = list(stream_windows(((y48[i:i + block], 48000) for i in range(0, len(y48), block)), predictor))
    assert [w.end for w in windows] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    assert [w.label for w in windows[1:]] == ['male'] * 5


def test_silence_clears_the_smoothing(man, woman, predictor):
    sp = StreamingPredictor(predictor, smooth=5)
    windows = [w for part in (man[:2 * SR], np.zeros(2 * SR, np.float32), woman[:2 * SR]) for w in sp.feed(part, SR)]
    labels = [w.label for w in windows]
    assert labels[3] == 'male' and labels[-1] == 'female', labels  # 5 windows of smoothing, yet the woman is heard at once
    assert 'uncertain' in labels[4:8] and all(w.reason for w in windows if w.label == 'uncertain')
    assert merge_windows([]).empty


def _play_browser(widget, y, sr=48000, block_seconds=0.1):
    "What the page sends: a 'begin' message, then blocks of 16-bit WAV bytes, through the widget's message handler."
    widget._handle_custom_msg({'type': 'begin', 'sr': sr, 'device': 'test'}, [])
    n = int(block_seconds * sr)
    for i in range(0, len(y), n):
        widget._handle_custom_msg({'type': 'block'}, [memoryview(_wav_bytes(y[i:i + n], sr))])


@pytest.fixture
def sent(monkeypatch):
    "The messages a widget sends to the page."
    def watch(widget):
        messages = []
        monkeypatch.setattr(widget, 'send', lambda content, buffers=None: messages.append(content))
        return messages
    return watch


@pytest.mark.parametrize('voice', ['man', 'woman'])
def test_browser_source_fixed_take(voice, man, woman, predictor, sent):
    y = {'man': man, 'woman': woman}[voice]
    w = LiveWidget(source='browser', seconds=3.0, predictor=predictor)
    messages = sent(w)
    assert 'Warmed up' in w.status and not w.recording
    w.record()
    assert messages == [{'type': 'start'}]  # the page starts capturing, and answers with 'begin'
    _play_browser(w, soxr.resample(y, SR, 48000))
    assert w.result['label'] == {'man': 'male', 'woman': 'female'}[voice], (w.result, w.status)
    assert messages[-1] == {'type': 'stop'} and not w.recording and w.wait(0)
    assert "48000 Hz" not in w.status and w.status.startswith('3.0 s recorded (end: reached 3 s)'), w.status
    take, sr = sf.read(io.BytesIO(w.audio))
    assert sr == SR and len(take) == 3 * SR
    assert w.plot[:4] == b'\x89PNG'
    assert 0 <= w.result['p_female'] <= 1 and w.result['f0_median_hz'] > 0
    assert (w.result['p_female'] >= 0.5) == (voice == 'woman')   # the probability agrees with the label


def test_browser_source_voice_take_and_stream(man, woman, predictor, sent):
    room = np.random.default_rng(1).normal(0, 0.001, SR).astype(np.float32)  # -60 dBFS
    w = LiveWidget(source='browser', mode='voice', seconds=30, predictor=predictor)
    sent(w)
    _play_browser(w, np.concatenate([room, man, room, room, woman]), sr=SR)
    assert w.result['label'] == 'male', w.status            # it stopped in the silence after the man
    assert 'silence' in w.status
    assert len(man) / SR < len(sf.read(io.BytesIO(w.audio))[0]) / SR < len(man) / SR + 1.5
    w.mode = 'stream'
    w._handle_custom_msg({'type': 'begin', 'sr': 44100, 'device': 'test'}, [])
    y = soxr.resample(np.concatenate([man, woman]), SR, 44100)
    for i in range(0, len(y), 4410): w._handle_custom_msg({'type': 'block'}, [_wav_bytes(y[i:i + 4410], 44100)])
    assert w.recording and w.timeline and w.result['label'] == 'female'  # the running answer
    w._handle_custom_msg({'type': 'stop'}, [])
    assert not w.recording and 'Stop button' in w.status
    assert [s['label'] for s in w.timeline if s['label'] != 'uncertain'] == ['male', 'female'], w.timeline


def test_browser_errors_are_shown(predictor, sent):
    w = LiveWidget(source='browser', predictor=predictor)
    sent(w)
    w._handle_custom_msg({'type': 'begin', 'sr': 48000}, [])
    assert w.recording
    w._handle_custom_msg({'type': 'error', 'message': 'permission denied: allow the microphone'}, [])
    assert not w.recording and w.status == "the browser's microphone: permission denied: allow the microphone"
    w._handle_custom_msg({'type': 'begin', 'sr': 48000}, [])
    w._handle_custom_msg({'type': 'block'}, [b'not a wav file'])
    assert not w.recording and 'Error' in w.status, w.status
    before = (w.status, dict(w.result), w.audio)
    w._handle_custom_msg({'type': 'block'}, [_wav_bytes(np.zeros(4800, np.float32), 48000)])  # no take: ignored
    assert not w.recording
    assert (w.status, dict(w.result), w.audio) == before   # nothing about the last take changed


def test_kernel_source_records_the_virtual_microphone(virtual_mic, sentences, speaking, predictor):
    w = LiveWidget(source='kernel', seconds=2.0, predictor=predictor)
    with speaking(sentences):
        w.record()
        assert w.recording
        assert w.wait(30), w.status
    assert w.result['label'] == 'male', (w.result, w.status)  # espeak-ng's default voice
    assert w.status.startswith('2.0 s recorded'), w.status
    assert len(sf.read(io.BytesIO(w.audio))[0]) == 2 * SR


def test_microphone_blocks_stream_the_virtual_microphone(virtual_mic, sentences, speaking, predictor):
    with speaking(sentences): windows = list(stream_windows(microphone_blocks(2.0), predictor))  # gvoice record --stream
    assert [w.end for w in windows] == pytest.approx([0.5, 1.0, 1.5, 2.0], abs=0.02)
    assert 'male' in [w.label for w in windows] and 'female' not in [w.label for w in windows]


def test_kernel_source_stops_on_silence(virtual_mic, predictor):
    w = LiveWidget(source='kernel', mode='voice', seconds=5.0, predictor=predictor, wait_seconds=1.5)
    w.record()
    assert w.wait(30)
    assert w.result == {} and w.status == 'nothing recorded (end: no voice in 1.5 s).', w.status  # the virtual mic is silent


def test_kernel_source_without_a_microphone(sounddevice_missing, predictor):
    w = LiveWidget(source='kernel', predictor=predictor)
    w.record()
    assert w.wait(10)
    assert not w.recording and "the kernel's microphone: recording needs the sounddevice package" in w.status, w.status


@pytest.fixture
def sounddevice_missing(monkeypatch):
    "`import sounddevice` fails for one test."
    import sys
    class Missing:
        def find_spec(self, name, path=None, target=None):
            if name == 'sounddevice': raise ModuleNotFoundError("No module named 'sounddevice'")
    monkeypatch.delitem(sys.modules, 'sounddevice', raising=False)
    monkeypatch.setattr(sys, 'meta_path', [Missing(), *sys.meta_path])


def test_file_source(man, woman, predictor, tmp_path):
    path = tmp_path / 'mw.wav'
    sf.write(path, np.concatenate([man, woman]), SR)
    w = LiveWidget(source='file', file=path, mode='stream', seconds=60, predictor=predictor)
    w.record()
    assert w.status.startswith(f"{(len(man) + len(woman)) / SR:.1f} s recorded (end: end of the file)"), w.status
    assert [s['label'] for s in w.timeline if s['label'] != 'uncertain'] == ['male', 'female'], w.timeline
    up = LiveWidget(source='file', predictor=predictor)
    up.record()
    assert 'choose an audio file' in up.status
    up._handle_custom_msg({'type': 'file', 'name': 'her.wav'}, [_wav_bytes(woman, SR)])
    assert up.result['label'] == 'female' and 'her.wav' not in up.status  # a fixed take of 3 s
    assert up.status.startswith('3.0 s recorded'), up.status
    up._handle_custom_msg({'type': 'file', 'name': 'photo.jpg'}, [b'\xff\xd8\xff\xe0 a JPEG'])
    assert 'not audio' in up.status and not up.recording


def test_choose_source(monkeypatch, sounddevice_missing):
    import gvoice.live
    assert choose_source('auto', file='x.wav')[0] == 'file'
    monkeypatch.setattr(gvoice.live, '_in_jupyter', lambda: True)
    source, why = choose_source()
    assert source == 'browser' and 'JupyterHub' in why and "source='kernel'" in why
    monkeypatch.setattr(gvoice.live, '_in_jupyter', lambda: False)
    source, why = choose_source()
    assert source == 'file' and 'no microphone here' in why and 'sounddevice' in why
    with pytest.raises(ValueError, match="source='phone'"): choose_source('phone')


def test_take_modes():
    loud = np.sin(np.arange(SR) / 5).astype(np.float32) * 0.3
    quiet = np.zeros(SR, np.float32) + 1e-4
    t = Take('voice', 10, silence_seconds=0.5)
    kept = t.add(np.concatenate([quiet, loud, quiet, loud]))
    assert t.done == '0.5 s of silence' and t.offset == pytest.approx(0.8)
    assert len(kept) == len(t.samples) == int(1.7 * SR)  # 0.2 s before the voice, 1 s of it, 0.5 s of silence
    assert t.add(loud).size == 0                           # done: nothing more joins
    with pytest.raises(ValueError, match="mode='x'"): Take('x')


def test_live_labels_with_the_predictors_own_rule():
    "One rule labels P(female), in gvoice.predict; the live answers use it rather than a copy (at the threshold itself, a gender)."
    from gvoice import live, predict
    assert live.verdict is predict.verdict and not hasattr(live, '_verdict')
    assert [predict.verdict(p, 0.8)[0] for p in (0.8, 0.2, 0.79, 0.21)] == ['female', 'male', 'uncertain', 'uncertain']
