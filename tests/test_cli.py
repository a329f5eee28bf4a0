"""The command line as a shell user meets it: quick to start (what it imports, not how long it takes), every
sub-command's help, and JSON Lines that a strict parser reads."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gvoice.audio import save_audio
from gvoice.synth import sample_speakers, synthesize_utterance

COMMANDS = ('corpus', 'predict', 'record', 'train', 'evaluate', 'demo')
HEAVY = ('tensorflow', 'keras', 'numba', 'librosa', 'pandas', 'sklearn', 'matplotlib', 'scipy.signal', 'gvoice.train', 'gvoice.synth')


@pytest.mark.parametrize('argv', [['--help'], *[[c, '--help'] for c in COMMANDS]])
def test_help_imports_nothing_heavy(argv, imported_by):
    "`gvoice --help` and each `gvoice COMMAND --help` import only the standard library and gvoice.cli: no pandas, no TensorFlow."
    code = f"import contextlib, io\nfrom gvoice.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n  try: main({argv!r})\n  except SystemExit: pass"
    assert imported_by(code, HEAVY) == []


def test_python_m_gvoice_cli_runs_the_command_line():
    "`python -m gvoice.cli` is the command line where the gvoice script is not on the PATH."
    done = subprocess.run([sys.executable, '-m', 'gvoice.cli', '--version'], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith('gvoice '), (done.stdout, done.stderr)


def test_each_command_says_what_it_does():
    exe = shutil.which('gvoice')
    if exe is None: pytest.skip('the gvoice console script is not installed (pip install -e .)')
    for command in COMMANDS:
        done = subprocess.run([exe, command, '--help'], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        description = done.stdout.split('\n\n')[1]
        assert 'Run `gvoice' not in done.stdout and len(description) > 40, (command, description)
    assert 'JSON Lines' in subprocess.run([exe, 'predict', '--help'], capture_output=True, text=True).stdout


def test_importing_the_predictor_does_not_import_the_course(imported_by):
    "Another project's `import gvoice.predict` brings no TensorFlow, no plotting, no scipy.signal and no training code."
    assert imported_by('import gvoice.predict', ('tensorflow', 'keras', 'matplotlib', 'scipy.signal', 'gvoice.train')) == []


def test_pretrained_prediction_never_imports_tensorflow_or_numba(tmp_path, imported_by):
    "Predicting a file with the shipped model imports no TensorFlow, no plotting, no scikit-learn or skops (a second, notebook 15), no numba (librosa's kernels compile on first use, seconds on a fresh install), and no scipy.signal (half a second: the gate's band-pass is numpy's, notebook 13)."
    y, _ = synthesize_utterance(sample_speakers(1, seed=5)[0], seed=2, duration=3.0)
    clip = save_audio(tmp_path / 'voice.wav', y, 16000)
    code = f"from gvoice.predict import GenderPredictor\nGenderPredictor.pretrained().predict_file({str(clip)!r})"
    assert imported_by(code, ('tensorflow', 'keras', 'matplotlib', 'gvoice.train', 'gvoice.synth', 'numba', 'librosa.core', 'sklearn', 'skops', 'scipy.signal')) == []


def test_first_demo_compiles_nothing(tmp_path, monkeypatch, imported_by):
    "The first `gvoice demo` on a fresh install is as quick as the next: with no features cached, it never imports numba (librosa's kernels compile on first use, half a minute)."
    monkeypatch.setenv('GVOICE_CACHE', str(tmp_path / 'cache'))   # nothing cached: every feature computed, as on a fresh install
    code = f"import contextlib, io\nfrom gvoice.cli import main\nwith contextlib.redirect_stdout(io.StringIO()): assert main(['demo', {str(tmp_path / 'demo')!r}, '--speakers', '16']) == 0"
    assert imported_by(code, ('numba', 'tensorflow', 'keras')) == []


def test_record_list_devices_without_a_microphone_exits_2(monkeypatch, capsys):
    "`gvoice record --list-devices` where there is no input device says 'none found' and exits with 2, as recording would."
    import pandas as pd
    import gvoice.audio
    from gvoice.cli import main
    monkeypatch.setattr(gvoice.audio, 'input_devices', lambda: pd.DataFrame(columns=['name', 'channels', 'default']))
    assert main(['record', '--list-devices']) == 2
    assert capsys.readouterr().err.strip() == 'gvoice record: input devices (microphones): none found'


def test_json_lines_are_strict_json(tmp_path):
    "NaN (no speech, so no probability) is written null: a strict parser, which refuses NaN, reads every line."
    exe = shutil.which('gvoice')
    if exe is None: pytest.skip('the gvoice console script is not installed (pip install -e .)')
    save_audio(tmp_path / 'silence.wav', np.zeros(32000, np.float32), 16000)
    save_audio(tmp_path / 'voice.wav', synthesize_utterance(sample_speakers(1, seed=5)[0], seed=2, duration=3.0)[0], 16000)
    (tmp_path / 'broken.wav').write_text('not audio')
    done = subprocess.run([exe, 'predict', str(tmp_path), '--json'], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr                                  # one file failed

    def refuse(name): raise ValueError(f'not JSON: {name}')
    rows = {r['source'].rsplit('/', 1)[-1]: r for r in (json.loads(l, parse_constant=refuse) for l in done.stdout.splitlines())}
    assert set(rows) == {'silence.wav', 'voice.wav', 'broken.wav'}
    assert rows['silence.wav']['label'] == 'uncertain' and rows['silence.wav']['p_female'] is None
    assert rows['silence.wav']['f0_median_hz'] is None and rows['silence.wav']['windows'] == 1
    assert 0 <= rows['voice.wav']['p_female'] <= 1 and 'not audio' in rows['broken.wav']['error']


@pytest.mark.parametrize('per', ['file', 'window', 'segment'])
def test_a_long_file_shows_its_progress_in_seconds_of_audio(tmp_path, capsys, per):
    "One long file gets a progress bar, in seconds of audio, that moves within it (the bar counted files, and hid itself for one: a podcast with --segments was minutes without a sign of life); one short file, none."
    from gvoice.cli import predict_files
    from gvoice.predict import GenderPredictor
    voice = synthesize_utterance(sample_speakers(1, seed=5)[0], seed=2, duration=3.0)[0]
    long = np.tile(voice, 24)                                                  # over a minute: three 30 s windows
    save_audio(tmp_path / 'long.wav', long, 16000)
    save_audio(tmp_path / 'short.wav', voice, 16000)
    predictor, moves = GenderPredictor.pretrained(), []
    done, failed = predict_files(predictor, [tmp_path / 'long.wav'], progress=True, per=per)
    assert len(done) and not len(failed)
    bar = capsys.readouterr().err
    assert f'100%|██████████| {len(long) / 16000:.0f}/{len(long) / 16000:.0f} s of audio' in bar, bar
    assert len({m for m in bar.split('\r') if 's of audio' in m}) > 2, bar     # it moved within the file, not only at its end
    predict_files(predictor, [tmp_path / 'short.wav'], progress=True, per=per)
    assert capsys.readouterr().err == ''


def test_predict_reads_standard_input(tmp_path, espeak_piped):
    "`espeak-ng --stdout … | gvoice predict -` answers as for the same bytes in a file: a WAV written into a pipe declares no length (espeak-ng writes 0x7FFFF000, FFmpeg 0xFFFFFFFF), and is read to its end."
    exe = shutil.which('gvoice')
    if exe is None: pytest.skip('the gvoice console script is not installed (pip install -e .)')
    piped = espeak_piped('The north wind and the sun were disputing which was the stronger.')
    assert piped[40:44] == bytes.fromhex('00f0ff7f')                           # the data chunk's size: "unknown"
    (tmp_path / 'piped.wav').write_bytes(piped)
    answers = [subprocess.run([exe, 'predict', *args, '--json'], input=piped, capture_output=True, timeout=300) for args in (['-'], [str(tmp_path / 'piped.wav')])]
    assert [a.returncode for a in answers] == [0, 0], [a.stderr for a in answers]
    from_stdin, from_file = (json.loads(a.stdout) for a in answers)
    assert from_stdin['source'] == '<stdin>' and from_stdin['speech_seconds'] > 3
    assert {**from_stdin, 'source': from_file['source']} == from_file


def test_standard_input_from_a_terminal_is_refused(monkeypatch, capsys):
    "`gvoice predict -` typed at a terminal, with nothing piped in, says so at once (exit 2) instead of waiting for audio that will not come."
    import io
    from gvoice.cli import main

    class Terminal(io.BytesIO):
        def isatty(self): return True
    monkeypatch.setattr('sys.stdin', Terminal())
    assert main(['predict', '-']) == 2
    assert 'standard input, which is a terminal' in capsys.readouterr().err


def test_warnings_are_printed_as_errors_are(monkeypatch, capsys, tmp_path):
    "A warning from a sub-command reads 'gvoice COMMAND: Category: message', without Python's file, line and source line; Python's own printer is back afterwards."
    import warnings
    import gvoice.cli
    from gvoice.data import ManifestWarning

    def run(args):
        warnings.warn('corpus: kept 1 rows, dropped 1: 1 missing file (gone.wav)', ManifestWarning)
        return 0
    monkeypatch.setattr(gvoice.cli, '_predict', run)
    before = warnings.showwarning
    assert gvoice.cli.main(['predict', str(tmp_path)]) == 0
    assert capsys.readouterr().err == 'gvoice predict: ManifestWarning: corpus: kept 1 rows, dropped 1: 1 missing file (gone.wav)\n'
    assert warnings.showwarning is before
