"""The install the README promises: `pip install gvoice` alone (no extras) predicts a file and runs the demo, without TensorFlow,
with onnxruntime's LSTM where onnxruntime publishes wheels and numpy's elsewhere; and the editable install of a clone in a folder named
`gvoice` is not shadowed by that folder.

Both build a fresh virtual environment from a copy of this working tree; the first installs the core's
dependencies from PyPI (a few minutes the first time, seconds once pip's cache holds the wheels)."""
import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from gvoice.audio import save_audio
from gvoice.synth import sample_speakers, synthesize_utterance

REPO = Path(__file__).resolve().parents[1]
HEAVY = ('tensorflow', 'keras', 'matplotlib', 'sounddevice', 'jupyterlab', 'torch')  # what the core must not bring


def _copy_tree(dest: Path) -> Path:
    "The repository's files (tracked, and new ones git does not ignore) copied to `dest`, without builds or caches."
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split('\0')
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def _venv(path: Path) -> Path:
    "A fresh virtual environment at `path`; its bin (Scripts) folder."
    venv.create(path, with_pip=True, clear=True)
    return path / ('Scripts' if os.name == 'nt' else 'bin')


def _core_requirement(name: str) -> Requirement:
    "The requirement on `name` among settings.ini's core requirements (what `pip install gvoice` brings)."
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(REPO / 'settings.ini', encoding='utf-8')
    return next(r for r in map(Requirement, shlex.split(cfg['DEFAULT']['requirements'])) if r.name == name)


def _run(*cmd, cwd, timeout=1800, **env_vars) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'GVOICE_LSTM')}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK='1', TF_CPP_MIN_LOG_LEVEL='2', **env_vars)
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _strict(line: str) -> dict:
    "`line` parsed as strict JSON (NaN and Infinity refused)."
    def refuse(name): raise ValueError(f'not JSON: {name}')
    return json.loads(line, parse_constant=refuse)


def test_core_install_predicts_a_file_without_tensorflow(tmp_path):
    src = _copy_tree(tmp_path / 'src')
    bin_ = _venv(tmp_path / 'venv')
    _run(bin_ / 'python', '-m', 'pip', 'install', '-q', src, cwd=tmp_path)            # the core, no extras, from PyPI
    y, _ = synthesize_utterance(sample_speakers(1, seed=3)[0], seed=1, duration=3.0)
    clip = save_audio(tmp_path / 'voice.wav', y, 16000)
    save_audio(tmp_path / 'silence.wav', np.zeros(16000, np.float32), 16000)
    elsewhere = tmp_path / 'elsewhere'; elsewhere.mkdir()                               # not beside the source copy
    done = _run(bin_ / 'gvoice', 'predict', clip, tmp_path / 'silence.wav', '--json', cwd=elsewhere)
    voice, silence = map(_strict, done.stdout.splitlines())
    assert voice['label'] in ('female', 'male', 'uncertain') and voice['speech_seconds'] > 1, voice
    assert silence['label'] == 'uncertain' and silence['p_female'] is None, silence
    api = f"""
import sys
from gvoice.encoder import SpeakerEncoder
from gvoice.predict import GenderPredictor
r = GenderPredictor.pretrained().predict_file({str(clip)!r})
print(r.label, 'tensorflow' in sys.modules, SpeakerEncoder.load().backend)"""
    fast = 'onnxruntime' if _core_requirement('onnxruntime').marker.evaluate() else 'numpy'   # onnxruntime where the core brings it
    for asked, backend in (('auto', fast), ('numpy', 'numpy')):                              # and the numpy loop, which runs elsewhere
        done = _run(bin_ / 'python', '-c', api, cwd=elsewhere, GVOICE_LSTM=asked)
        assert done.stdout.split() == [voice['label'], 'False', backend], (asked, done.stdout)
    found = _run(bin_ / 'python', '-c', f"import importlib.util as u; print([m for m in {HEAVY!r} if u.find_spec(m)])", cwd=elsewhere)
    assert found.stdout.strip() == '[]', f"the core install brought {found.stdout.strip()}"
    demo = _run(bin_ / 'gvoice', 'demo', tmp_path / 'demo', '--speakers', 12, cwd=elsewhere, timeout=600)   # the README's main job
    assert 'silence.wav' in demo.stdout and 'everything is in' in demo.stdout, demo.stdout


def test_core_brings_onnxruntime_where_it_has_wheels():
    "The core's onnxruntime is asked for on the platforms onnxruntime publishes wheels for, and nowhere else (pip would fail there: it has no source)."
    marker = _core_requirement('onnxruntime').marker
    where = lambda system, machine: marker.evaluate({'sys_platform': system, 'platform_machine': machine})
    assert all(where(*p) for p in [('linux', 'x86_64'), ('linux', 'aarch64'), ('win32', 'AMD64'), ('darwin', 'arm64')])
    assert not any(where(*p) for p in [('darwin', 'x86_64'), ('linux', 'ppc64le'), ('linux', 'i686'), ('win32', 'x86'), ('freebsd14', 'amd64')])


def test_editable_install_in_a_folder_named_gvoice_is_not_shadowed(tmp_path):
    """Python started beside a clone named gvoice finds the package, not the folder (which it would take for a namespace package):
    the README's plain `pip install -e` puts the clone on Python's path (setup.py's package_dir), without setuptools' deprecated compat mode."""
    clone = _copy_tree(tmp_path / 'gvoice')
    bin_ = _venv(tmp_path / 'venv')
    installed = _run(bin_ / 'python', '-m', 'pip', 'install', '--no-deps', '-e', clone, cwd=tmp_path)
    assert 'editable mode is transitional' not in installed.stderr + installed.stdout
    done = _run(bin_ / 'python', '-c', 'import gvoice; print(gvoice.__version__, gvoice.__file__)', cwd=tmp_path)
    version, where = done.stdout.split()
    assert Path(where) == clone / 'gvoice' / '__init__.py', where


def test_docs_configuration_follows_settings(tmp_path, monkeypatch):
    "nbs/nbdev.yml is what nbdev writes from settings.ini (so the docs site says what the package says), and sidebar.yml is not committed."
    from nbdev.quarto import refresh_quarto_yml
    for name in ('settings.ini', 'nbs/_quarto.yml'):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    refresh_quarto_yml()
    assert (tmp_path / 'nbs/nbdev.yml').read_text() == (REPO / 'nbs/nbdev.yml').read_text(), 'run refresh_quarto_yml (see CONTRIBUTING.md)'
    ignored = subprocess.run(['git', 'check-ignore', '-q', 'nbs/sidebar.yml'], cwd=REPO)
    assert ignored.returncode == 0, 'nbs/sidebar.yml is generated by nbdev_docs: keep it in .gitignore'
