"""Fixtures shared by the tests: the virtual microphone (tests/test_mic.py, tests/test_live.py), espeak-ng speech, the check
that a changed weights file shipped in the package is refused (tests/test_encoder.py, tests/test_vad.py), and which modules a
fresh Python imports (tests/test_cli.py, tests/test_encoder.py, tests/test_explain.py, tests/test_pretrained.py).

A private PulseAudio daemon gives a virtual microphone (the monitor of a null sink) into which espeak-ng speaks; the
tests that need it skip where PulseAudio, espeak-ng or PortAudio are missing (`.ci/run` installs them when it runs as
root on Debian/Ubuntu)."""
import os, shutil, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path

import pytest

from gvoice.audio import input_devices

SENTENCES = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
             "Peter Piper picked a peck of pickled peppers. ") * 3  # about half a minute: longer than any recording here


def _why_no_virtual_mic() -> str | None:
    "What this machine lacks for the virtual microphone, or None."
    missing = [t for t in ('pulseaudio', 'pactl', 'paplay', 'espeak-ng') if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (sudo apt-get install pulseaudio libasound2-plugins espeak-ng)"
    # in a child process, so that PortAudio starts here only once PulseAudio is up
    probe = subprocess.run([sys.executable, '-c', 'import sounddevice'], capture_output=True, text=True, timeout=60)
    if probe.returncode:
        return (f"sounddevice cannot be imported ({probe.stderr.strip().splitlines()[-1]}): "
                "pip install sounddevice; sudo apt-get install libportaudio2")
    return None


def _wait_for_pulseaudio(daemon, log: Path, timeout: float = 20.0):
    "Return once `pactl info` reaches the daemon; raise if it exits or does not answer in time."
    deadline = time.monotonic() + timeout
    while subprocess.run(['pactl', 'info'], capture_output=True, timeout=30).returncode:
        if daemon.poll() is not None:
            raise RuntimeError(f"pulseaudio exited with {daemon.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"pulseaudio did not answer within {timeout:g} s:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope='session')
def virtual_mic(tmp_path_factory):
    "A private PulseAudio daemon whose default source is the monitor of the null sink 'virtmic'; yields input_devices()."
    if why := _why_no_virtual_mic(): pytest.skip(f"no virtual microphone: {why}")
    run = tmp_path_factory.mktemp('pulse')
    socket, log = run / 'native', run / 'pulseaudio.log'
    # its own runtime and state folders and socket: a PulseAudio the user may be running is left alone
    env = {**os.environ, 'PULSE_RUNTIME_PATH': str(run), 'PULSE_STATE_PATH': str(run)}
    with open(log, 'w') as log_file:
        daemon = subprocess.Popen(['pulseaudio', '--daemonize=no', '--system=false', '--exit-idle-time=-1', '-n',
                                   '--use-pid-file=no', '--disable-shm=yes',
                                   f'--load=module-native-protocol-unix socket={socket} auth-anonymous=1'],
                                  env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv('PULSE_SERVER', f'unix:{socket}')  # for pactl, paplay, ALSA's pulse plugin and the gvoice we run
            _wait_for_pulseaudio(daemon, log)
            for cmd in (['pactl', 'load-module', 'module-null-sink', 'sink_name=virtmic'],
                        ['pactl', 'set-default-sink', 'virtmic'], ['pactl', 'set-default-source', 'virtmic.monitor']):
                subprocess.run(cmd, check=True, capture_output=True, timeout=30)
            if 'sounddevice' in sys.modules:  # PortAudio lists devices when it starts: start it again to see PulseAudio
                sys.modules['sounddevice']._terminate(); sys.modules['sounddevice']._initialize()
            devices = input_devices()
            if 'pulse' not in set(devices.name):
                pytest.skip(f"PortAudio does not reach PulseAudio (input devices: {list(devices.name)}): "
                            "ALSA's pulse plugin is missing (sudo apt-get install libasound2-plugins)")
            yield devices
    finally:
        daemon.terminate()
        try: daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill(); daemon.wait(10)
    assert daemon.poll() is not None, 'the PulseAudio daemon is still running'


@pytest.fixture(scope='session')
def sentences(virtual_mic, tmp_path_factory):
    "A WAV file of espeak-ng reading SENTENCES."
    path = tmp_path_factory.mktemp('espeak') / 'sentences.wav'
    subprocess.run(['espeak-ng', '-w', str(path), SENTENCES], check=True, capture_output=True, timeout=120)
    return path


@contextmanager
def _speaking(path: Path):
    "Play `path` into the virtual microphone for the length of the block."
    player = subprocess.Popen(['paplay', '--device=virtmic', str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # playback has started
        assert player.poll() is None, f"paplay stopped: {player.stderr.read()}"
        yield
    finally:
        player.terminate()
        player.wait(10)


@pytest.fixture(scope='session')
def speaking():
    "`speaking(path)`: a context manager that plays `path` into the virtual microphone while it lasts."
    return _speaking


def _need_espeak_ng():
    "Skip where espeak-ng is missing; fail in CI, which installs it."
    if shutil.which('espeak-ng') is None:
        if os.environ.get('CI') == 'true': pytest.fail('espeak-ng is missing in CI (.ci/run installs it)')
        pytest.skip('espeak-ng is not installed (sudo apt-get install espeak-ng)')


@pytest.fixture(scope='session')
def espeak(tmp_path_factory):
    "`espeak(text, voice, pitch)`: a WAV file of espeak-ng saying `text` (skips where espeak-ng is missing, fails in CI)."
    _need_espeak_ng()
    root = tmp_path_factory.mktemp('espeak-ng')
    def say(text: str, voice: str = 'en', pitch: int = 50) -> Path:
        path = root / f"{voice.replace('+', '-')}-{pitch}-{abs(hash(text))}.wav"
        subprocess.run(['espeak-ng', '-v', voice, '-p', str(pitch), '-w', str(path), text], check=True, capture_output=True, timeout=120)
        return path
    return say


@pytest.fixture(scope='session')
def espeak_piped():
    "`espeak_piped(text)`: the WAV bytes espeak-ng writes into a pipe (`--stdout`) saying `text` (skips or fails as `espeak`)."
    _need_espeak_ng()
    return lambda text: subprocess.run(['espeak-ng', '--stdout', text], capture_output=True, check=True, timeout=120).stdout


@pytest.fixture
def refuses_changed_weights(tmp_path, monkeypatch):
    "A check: with one bit of a shipped weights file flipped, loading stops with a ValueError that names the file."
    def check(module, file_attr:str, shipped_loader, load, match:str):
        "`module.<file_attr>` is the shipped file, `shipped_loader` its lru_cache'd loader, `load()` what a user calls."
        data = bytearray(getattr(module, file_attr).read_bytes()); data[-100] ^= 1
        bad = tmp_path / getattr(module, file_attr).name; bad.write_bytes(bytes(data))
        monkeypatch.setattr(module, file_attr, bad)
        shipped_loader.cache_clear()
        try:
            with pytest.raises(ValueError, match=match): load()
        finally: shipped_loader.cache_clear()
    return check


@pytest.fixture
def imported_by():
    "A probe: which of `modules` a fresh Python has imported after running `code` (which must succeed)."
    def probe(code:str, modules:tuple) -> list:
        done = subprocess.run([sys.executable, '-c', f"import sys\n{code}\nprint(' '.join(m for m in {tuple(modules)!r} if m in sys.modules))"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()
    return probe
