"""The live widget (notebook 18) in a real JupyterLab in Debian's Chromium, headless, with a fake microphone.

Chromium's `--use-file-for-fake-audio-capture` plays a WAV of espeak-ng speech as the microphone; the test runs a
notebook that makes the widget, clicks ● Record, and reads the answer off the page. It saves a screenshot of the
finished widget in $GVOICE_ARTIFACTS (a temporary folder when unset). Where chromium or playwright are missing it
skips with the reason, except in CI (CI=true), where it fails: `.ci/run` installs both."""
import json, os, shutil, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get('CI') == 'true'
RUN_ALL = """async () => {
  const app = window.jupyterapp, context = app.shell.currentWidget.sessionContext;
  await context.ready;
  const connected = () => context.session && context.session.kernel && context.session.kernel.connectionStatus === 'connected';
  for (let i = 0; i < 900 && !connected(); i++) await new Promise((r) => setTimeout(r, 200));
  if (connected()) app.commands.execute('notebook:run-all-cells');  // not awaited: evaluate() has no timeout
  return context.session && context.session.kernel ? context.session.kernel.connectionStatus : 'no kernel';
}"""
TEXT = "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore."


def _require(ok, why: str):
    "Skip with `why` unless `ok`; in CI, fail instead."
    if not ok: (pytest.fail if IN_CI else pytest.skip)(why)


@pytest.fixture(scope='module')
def chromium() -> str:
    "Debian's chromium, and playwright to drive it."
    exe = shutil.which('chromium')
    _require(exe, 'Debian\'s chromium is not installed (sudo apt-get install chromium)')
    try: import playwright.sync_api  # noqa: F401
    except ImportError: _require(False, 'playwright is not installed (pip install playwright)')
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _notebook(path: Path, seconds: float):
    "A notebook that shows the live widget recording from the browser."
    cells = ["from gvoice.live import LiveWidget", f"w = LiveWidget(source='browser', seconds={seconds})\nw"]
    nb = {'cells': [{'cell_type': 'code', 'execution_count': None, 'id': f'c{i}', 'metadata': {}, 'outputs': [],
                     'source': src} for i, src in enumerate(cells)],
          'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    path.write_text(json.dumps(nb))


@pytest.fixture(scope='module')
def jupyterlab(tmp_path_factory):
    "A JupyterLab server on a free local port, without a token, serving a folder with the test notebook; yields its URL."
    root = tmp_path_factory.mktemp('lab')
    for name in ('live.ipynb', 'denied.ipynb'): _notebook(root / name, seconds=3.0)
    settings = root.parent / 'settings'  # no news or update pop-ups over the page
    (settings / '@jupyterlab' / 'apputils-extension').mkdir(parents=True)
    (settings / '@jupyterlab' / 'apputils-extension' / 'notification.jupyterlab-settings').write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    port, log = _free_port(), root.parent / 'jupyterlab.log'
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(root.parent / 'config'), 'JUPYTERLAB_SETTINGS_DIR': str(settings),
           'MPLBACKEND': 'Agg'}
    with open(log, 'w') as out:
        server = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                                   '--ServerApp.token=', '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True',
                                   f'--ServerApp.root_dir={root}', '--LabApp.expose_app_in_browser=True',
                                   f'--LabApp.workspaces_dir={root.parent / "workspaces"}', '--allow-root'],
                                  env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f'{url}/api/status', timeout=2): break
            except OSError:
                if server.poll() is not None: raise RuntimeError(f"jupyterlab exited:\n{log.read_text()}")
                if time.monotonic() > deadline: raise RuntimeError(f"jupyterlab did not answer in 120 s:\n{log.read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try: server.wait(20)
        except subprocess.TimeoutExpired: server.kill(); server.wait(10)


@pytest.fixture(scope='module')
def artifacts(tmp_path_factory) -> Path:
    path = Path(os.environ.get('GVOICE_ARTIFACTS') or tmp_path_factory.mktemp('artifacts'))
    path.mkdir(parents=True, exist_ok=True)
    return path


WAIT = 180_000  # ms: generous, for a loaded machine; a passing run takes about 20 s in all
STATUS_HAS = "(text) => (document.querySelector('.gvoice-live .gv-status') || {}).textContent?.includes(text)"


@contextmanager
def _widget_page(chromium: str, url: str, notebook: str, args: list, permissions: list):
    "Chromium (headless, new mode) showing `notebook` in JupyterLab with all cells run and the widget ready; yields the page."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=['--headless=new', *args, *(['--no-sandbox'] if os.geteuid() == 0 else [])])
        try:
            page = browser.new_context(permissions=permissions, viewport={'width': 1280, 'height': 900}).new_page()
            page.set_default_timeout(WAIT)
            page.goto(f'{url}/lab/tree/{notebook}?reset')  # only this notebook open: no tabs restored from an earlier test
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=WAIT)
            # run all cells once the notebook's kernel is connected (earlier, JupyterLab asks which kernel to start)
            assert page.evaluate(RUN_ALL) == 'connected'
            page.wait_for_function(STATUS_HAS, arg='press ● Record', timeout=WAIT)
            yield page
        finally:
            browser.close()


def test_record_button_in_jupyterlab_predicts_the_fake_microphone(chromium, jupyterlab, espeak, artifacts):
    speech = espeak(TEXT, 'en+f3', 80)  # a woman's voice (espeak-ng's female variant, raised)
    fake_mic = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', f'--use-file-for-fake-audio-capture={speech}']
    with _widget_page(chromium, jupyterlab, 'live.ipynb', fake_mic, ['microphone']) as page:
        widget = page.locator('.gvoice-live')
        status = widget.locator('.gv-status')
        assert "source='browser'" in status.text_content()
        widget.locator('.gv-record').click()
        page.wait_for_function(STATUS_HAS, arg='answered in', timeout=WAIT)  # the status comes last
        label = widget.locator('.gv-label').text_content()
        widget.screenshot(path=artifacts / 'live-widget.png')
        page.screenshot(path=artifacts / 'live-page.png')
        said = status.text_content()
        assert label == 'female', (label, said)
        assert said.startswith('3.0 s recorded (end: reached 3 s)'), said
        assert widget.locator('.gv-p').text_content().startswith('P(female) = ')
        assert widget.locator('.gv-plot').get_attribute('src').startswith('blob:')
        assert widget.locator('.gv-record').is_enabled() and widget.locator('.gv-stop').is_disabled()
        widget.locator('.gv-mode').select_option('stream')  # streaming, until the Stop button
        widget.locator('.gv-record').click()
        page.wait_for_function("document.querySelectorAll('.gvoice-live .gv-seg').length > 0", timeout=WAIT)
        assert widget.locator('.gv-stop').is_enabled()
        page.wait_for_timeout(2_000)
        widget.locator('.gv-stop').click()
        page.wait_for_function(STATUS_HAS, arg='Stop button', timeout=WAIT)
        assert widget.locator('.gv-seg.gv-female').count() >= 1, widget.locator('.gv-timeline').inner_html()
        widget.screenshot(path=artifacts / 'live-widget-stream.png')


def test_a_refused_microphone_is_explained(chromium, jupyterlab):
    "No permission granted: getUserMedia fails with NotAllowedError, and the status line says what to do."
    with _widget_page(chromium, jupyterlab, 'denied.ipynb', ['--use-fake-device-for-media-stream'], []) as page:
        page.locator('.gvoice-live .gv-record').click()
        page.wait_for_function(STATUS_HAS, arg="the browser's microphone: ", timeout=WAIT)  # as the kernel says it
        said = page.locator('.gvoice-live .gv-status').text_content()
        assert 'permission denied' in said and 'press Record again' in said, said
        assert page.locator('.gvoice-live .gv-record').is_enabled()
