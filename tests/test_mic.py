"""Recording: `gvoice.audio.record_audio` and `input_devices` (notebook 01) and `gvoice record` (notebook 90).

The virtual microphone (`virtual_mic`, `sentences`, `speaking` in tests/conftest.py) is a private PulseAudio daemon
into which espeak-ng speaks; those tests skip where PulseAudio, espeak-ng or PortAudio are missing (`.ci/run` installs
them when it runs as root on Debian/Ubuntu). Every way a microphone can be missing is simulated, and checked on every
machine."""
import json, math, os, re, shutil, subprocess, sys

import numpy as np
import pytest

from gvoice.audio import MicrophoneError, detect_speech, input_devices, load_audio, record_audio, rms_dbfs
from gvoice.classical import make_logreg
from gvoice.cli import main
from gvoice.features import extract
from gvoice.synth import make_corpus

SR = 16000


@pytest.fixture(scope='session')
def model(tmp_path_factory):
    "A model file: logistic regression on formants of 12 synthetic speakers (seconds to train)."
    root = tmp_path_factory.mktemp('mic-model')
    corpus = make_corpus(root / 'corpus', n_speakers=12, utterances_per_speaker=2, seed=5, progress=False)
    X = extract(corpus, 'formants', cache_dir=None, progress=False).features
    return make_logreg('formants').fit(X, corpus.gender, groups=corpus.speaker).save(root / 'model.gvm')


def _gvoice(*args, env=None):
    "Run the installed `gvoice` console script."
    exe = shutil.which('gvoice')
    if exe is None: pytest.skip('the gvoice console script is not installed (pip install -e .)')
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def test_virtual_mic_is_the_default_input(virtual_mic):
    assert virtual_mic.default.sum() == 1
    assert (virtual_mic.channels > 0).all() and (virtual_mic.default_sr >= 8000).all()


@pytest.mark.parametrize('sr,device', [(16000, None), (8000, 'pulse')])
def test_speech_played_into_the_mic_is_recorded(virtual_mic, sentences, speaking, sr, device):
    with speaking(sentences): y = record_audio(2.0, sr=sr, device=device)
    assert y.dtype == np.float32 and y.shape == (2 * sr,)
    assert np.abs(y).max() <= 1.0
    assert rms_dbfs(y) > -35, rms_dbfs(y)          # silence is -inf here, a quiet room -60
    activity = detect_speech(y, sr)
    assert activity.ok, activity.reason
    assert activity.speech_seconds > 1.0, activity.speech_seconds


def test_silence_is_recorded_as_silence(virtual_mic):
    y = record_audio(1.0)
    assert y.dtype == np.float32 and y.shape == (SR,)
    assert rms_dbfs(y) < -60, rms_dbfs(y)
    assert detect_speech(y, SR).status == 'no_speech'


def test_cli_records_saves_and_predicts(virtual_mic, sentences, speaking, model, tmp_path):
    listed = _gvoice('record', '--list-devices')
    assert listed.returncode == 0, listed.stderr
    assert 'pulse' in listed.stdout and 'default' in listed.stdout
    out = tmp_path / 'take.flac'
    with speaking(sentences): done = _gvoice('record', '--seconds', 2, '--model', model, '--json', '--out', out)
    assert done.returncode == 0, done.stderr
    assert 'speak now' in done.stderr
    (line,) = done.stdout.splitlines()
    r = json.loads(line)
    assert r['label'] in ('female', 'male', 'uncertain') and r['source'] == str(out)
    assert r['duration'] == pytest.approx(2.0) and r['speech_seconds'] > 1.0, r
    assert load_audio(out).shape == (2 * SR,)                      # the recording was kept


def test_cli_streams_answers_as_it_listens(virtual_mic, sentences, speaking, model):
    with speaking(sentences): done = _gvoice('record', '--stream', '--seconds', 3, '--model', model, '--json')
    assert done.returncode == 0, done.stderr
    assert 'listening for 3 s' in done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]      # JSON Lines: an answer every half second
    assert len(rows) >= 3, rows
    assert [r['end'] for r in rows] == sorted(r['end'] for r in rows) and rows[-1]['end'] == pytest.approx(3.0, abs=0.2)
    assert all(r['end'] - r['start'] == pytest.approx(min(1.5, r['end']), abs=0.01) for r in rows)   # each on the last 1.5 s heard
    assert any(r['label'] in ('female', 'male') for r in rows), rows                       # speech was heard and judged


def test_cli_stream_prints_a_table_on_silence(virtual_mic, model):
    done = _gvoice('record', '--stream', '--seconds', 2, '--model', model)
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    assert header.split() == ['start', 'end', 'label', 'p_female', 'reason'] and lines
    assert all(line.split()[2] == 'uncertain' for line in lines), lines


def test_cli_on_silence_says_uncertain(virtual_mic, model):
    done = _gvoice('record', '--seconds', 1, '--model', model)
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header.split()[:3] == ['source', 'label', 'p_female']
    assert row.split()[:2] == ['microphone', 'uncertain']


# ---------------------------------------------------------------- no microphone, simulated

class FakeSoundDevice:
    "Just enough of sounddevice to record without hardware: devices of our choosing; `rec` records a 200 Hz tone."
    PortAudioError = type('PortAudioError', (Exception,), {})

    def __init__(self, *devices, default=None, broken=False):
        self.devices, self.default, self.broken, self.recorded = devices, default, broken, None  # (name, inputs, rate, rates)

    def _info(self, i):
        name, inputs, rate, _ = self.devices[i]
        return dict(name=name, index=i, hostapi=0, max_input_channels=inputs, max_output_channels=0 if inputs else 2,
                    default_samplerate=float(rate))

    def query_hostapis(self, index): return {'name': 'FakeAPI'}

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None: return [self._info(i) for i in range(len(self.devices))]
        if device is None: device = -1 if self.default is None else self.default
        if isinstance(device, str):
            found = [i for i, d in enumerate(self.devices) if device.lower() in d[0].lower() and d[1]]
            if not found: raise ValueError(f"No input device matching {device!r}")
            device = found[0]
        if not 0 <= device < len(self.devices): raise self.PortAudioError(f"Error querying device {device}")
        if self.devices[device][1] < 1: raise ValueError(f"Not an input device: {self.devices[device][0]!r}")
        return self._info(device)

    def check_input_settings(self, device, channels, dtype, samplerate):
        rates = self.devices[device][3]
        if rates is not None and samplerate not in rates: raise self.PortAudioError('Invalid sample rate')

    def rec(self, frames, samplerate, channels, dtype, device, blocking):
        if self.broken: raise self.PortAudioError('Error opening InputStream: Device unavailable [PaErrorCode -9985]')
        self.recorded = (device, samplerate)
        return (0.5 * np.sin(2 * np.pi * 200 * np.arange(frames) / samplerate)).astype(dtype)[:, None]


def mics(**kwargs):
    "A machine with speakers, a USB microphone that records only at 44.1 or 48 kHz (the default) and a laptop microphone."
    return FakeSoundDevice(('HDMI out', 0, 48000, None), ('USB mic', 1, 48000, (44100, 48000)),
                           ('Laptop mic', 2, 44100, None), default=1, **kwargs)


class _FailingImport:
    "An import hook that makes `import sounddevice` raise `error`."
    def __init__(self, error): self.error = error
    def find_spec(self, name, path=None, target=None):
        if name == 'sounddevice': raise self.error


@pytest.fixture
def sounddevice_as(monkeypatch):
    "For one test, make `import sounddevice` give a fake, or raise an exception."
    def use(fake):
        monkeypatch.delitem(sys.modules, 'sounddevice', raising=False)
        if isinstance(fake, BaseException): monkeypatch.setattr(sys, 'meta_path', [_FailingImport(fake), *sys.meta_path])
        else: monkeypatch.setitem(sys.modules, 'sounddevice', fake)
        return fake
    return use


def _cli(capsys, *argv):
    "Exit code and stderr of `gvoice` run in this process."
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


MISSING = {'sounddevice': (ModuleNotFoundError("No module named 'sounddevice'"), 'pip install sounddevice'),
           'PortAudio': (OSError('PortAudio library not found'), 'sudo apt-get install libportaudio2')}


@pytest.mark.parametrize('what', sorted(MISSING))
def test_missing_sounddevice_or_portaudio(what, sounddevice_as, model, capsys):
    error, fix = MISSING[what]
    sounddevice_as(error)
    for call in (record_audio, input_devices):
        with pytest.raises(MicrophoneError, match=fix): call()
    for argv in (['--model', model], ['--list-devices']):
        code, err = _cli(capsys, 'record', *argv)
        assert code == 2 and err.startswith('gvoice record: ') and fix in err, err


def test_console_script_without_portaudio_exits_2(tmp_path, model):
    fake = tmp_path / 'fake'; fake.mkdir()
    (fake / 'sounddevice.py').write_text("raise OSError('PortAudio library not found')\n")  # as sounddevice does
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(p for p in [str(fake), os.environ.get('PYTHONPATH')] if p)}
    done = _gvoice('record', '--seconds', 2, '--model', model, env=env)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith('gvoice record: sounddevice cannot load the PortAudio library') and 'libportaudio2' in last
    assert 'Traceback' not in done.stderr and 'speak now' not in done.stderr and done.stdout == ''


def test_no_input_device(sounddevice_as, model, capsys):
    sounddevice_as(FakeSoundDevice(('HDMI out', 0, 48000, None), ('Speakers', 0, 44100, None)))
    with pytest.raises(MicrophoneError, match='no input device') as e: record_audio(1.0)
    assert '[0] HDMI out (0 in, 2 out)' in str(e.value) and '[1] Speakers' in str(e.value)  # what there is
    assert len(input_devices()) == 0
    code, err = _cli(capsys, 'record', '--model', model)
    assert code == 2 and err.startswith('gvoice record: no input device'), err
    code, err = _cli(capsys, 'record', '--list-devices')
    assert code == 2 and err.strip() == 'gvoice record: input devices (microphones): none found', err


@pytest.mark.parametrize('device,words', [('yeti', "No input device matching 'yeti'"), (0, "Not an input device: 'HDMI out'"),
                                          (9, 'Error querying device 9')])
def test_unknown_device(device, words, sounddevice_as, model, capsys):
    sd = sounddevice_as(mics())
    with pytest.raises(MicrophoneError) as e: record_audio(1.0, device=device)
    message = str(e.value)
    assert f"device={device!r}" in message and words in message
    assert '[1] USB mic' in message and '[2] Laptop mic' in message and 'HDMI' not in message.split('\n', 1)[1]
    code, err = _cli(capsys, 'record', '--model', model, '--device', device)
    assert code == 2 and err.startswith(f'gvoice record: device={device!r}'), err
    assert sd.recorded is None


def test_no_default_input_device(sounddevice_as):
    sounddevice_as(FakeSoundDevice(('USB mic', 1, 48000, None)))
    with pytest.raises(MicrophoneError, match='there is no default input device') as e: record_audio(1.0)
    assert '[0] USB mic' in str(e.value)
    assert record_audio(0.5, device=0).shape == (SR // 2,)


@pytest.mark.parametrize('seconds', [0, -1, 0.01, 601, 1e9, math.nan, math.inf, True, '3', None])
def test_bad_seconds_fail_before_touching_the_sound_system(seconds, sounddevice_as):
    sounddevice_as(ModuleNotFoundError("No module named 'sounddevice'"))  # so that any attempt to record would say so
    with pytest.raises(ValueError, match=re.escape(f'seconds={seconds!r}: must be between 0.1 and 600')) as e: record_audio(seconds)
    assert not isinstance(e.value, MicrophoneError)


@pytest.mark.parametrize('kwargs,words', [({'sr': 0}, 'sr=0'), ({'sr': 44100.5}, 'sr=44100.5'),
                                          ({'device': 1.5}, 'device=1.5'), ({'device': True}, 'device=True')])
def test_bad_rate_or_device_fail_before_touching_the_sound_system(kwargs, words, sounddevice_as):
    sounddevice_as(ModuleNotFoundError("No module named 'sounddevice'"))
    with pytest.raises(ValueError, match=re.escape(words)): record_audio(1.0, **kwargs)


@pytest.mark.parametrize('argv,words', [(['--seconds', '0'], 'seconds=0.0'), (['--seconds', 'inf'], 'seconds=inf'),
                                        (['--out', 'take.m4a'], "a recording's name ends in .wav"),
                                        (['--out', '/proc/take.wav'], 'cannot write in /proc'),
                                        (['--threshold', '1.5'], 'threshold=1.5'),
                                        (['--stream', '--out', 'take.wav'], 'a stream is not kept')])
def test_cli_refuses_bad_arguments_before_recording(argv, words, sounddevice_as, model, capsys):
    sd = sounddevice_as(mics())
    code, err = _cli(capsys, 'record', '--model', model, *argv)
    assert code == 2 and err.startswith('gvoice record: ') and words in err, err
    assert 'speak now' not in err and sd.recorded is None


def test_cli_missing_model_fails_before_recording(sounddevice_as, tmp_path, capsys):
    sd = sounddevice_as(mics())
    code, err = _cli(capsys, 'record', '--model', tmp_path / 'nope.gvm')
    assert code == 2 and 'nope.gvm' in err and sd.recorded is None


def test_records_at_sr_when_the_device_can_and_resamples_when_not(sounddevice_as):
    sd = sounddevice_as(mics())
    y = record_audio(1.0)                            # the USB mic records only at 44.1 or 48 kHz
    assert sd.recorded == (1, 48000)                 # its default rate
    assert y.dtype == np.float32 and y.shape == (SR,)
    assert abs(np.abs(np.fft.rfft(y)).argmax() - 200) <= 1   # the 200 Hz tone survives resampling
    assert record_audio(1.0, sr=44100).shape == (44100,) and sd.recorded == (1, 44100)
    assert record_audio(0.3, sr=22050, device='laptop').shape == (6615,) and sd.recorded == (2, 22050)
    assert record_audio(1 / 3, sr=8000, device=1).shape == (2667,)   # resampled lengths are exact too


def test_recording_failure_is_a_microphone_error(sounddevice_as, model, capsys):
    sounddevice_as(mics(broken=True))
    with pytest.raises(MicrophoneError, match="recording from 'USB mic' failed: .*Device unavailable"): record_audio(1.0)
    code, err = _cli(capsys, 'record', '--model', model)
    assert code == 2 and "gvoice record: recording from 'USB mic' failed" in err, err


def test_input_devices_lists_inputs_and_the_default(sounddevice_as, capsys):
    sounddevice_as(mics())
    devices = input_devices()
    assert list(devices.index) == [1, 2] and list(devices.name) == ['USB mic', 'Laptop mic']
    assert list(devices.columns) == ['name', 'hostapi', 'channels', 'default_sr', 'default']
    assert list(devices.default) == [True, False] and list(devices.default_sr) == [48000, 44100]
    assert main(['record', '--list-devices']) == 0
    out = capsys.readouterr().out
    assert 'USB mic' in out and 'Laptop mic' in out and 'HDMI' not in out


def test_cli_with_a_fake_microphone_prints_one_prediction(sounddevice_as, model, capsys, tmp_path):
    sounddevice_as(mics())
    assert main(['record', '--seconds', '1', '--model', str(model), '--device', '2', '--json', '--out', str(tmp_path / 'tone.wav')]) == 0
    out, err = capsys.readouterr()
    r = json.loads(out)
    assert r['label'] == 'uncertain' and r['reason'], r                # a steady tone is not speech
    assert r['source'] == str(tmp_path / 'tone.wav') and "from 'Laptop mic': speak now" in err
    assert load_audio(tmp_path / 'tone.wav').shape == (SR,)


def test_microphone_error_is_an_os_error():
    assert issubclass(MicrophoneError, OSError) and not issubclass(MicrophoneError, ValueError)
