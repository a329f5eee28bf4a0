"""Tests for gvoice.download: downloads against a local HTTP server (resuming, servers that ignore Range, interrupted
transfers, size and checksum mismatches, offline), safe extraction of tar archives, and the LibriSpeech and AudioMNIST
downloaders, whose results gvoice.data's loaders must read."""
import hashlib
import io
import json
import socket
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from gvoice.data import ManifestWarning, load_audiomnist, load_librispeech
from gvoice.download import DownloadError, download_audiomnist, download_file, download_librispeech, safe_extract
from test_data import SPEAKERS_TXT, audiomnist_meta_text  # the corpora's metadata files, as the loaders' tests write them


# ---------------------------------------------------------------- safe extraction

def make_tar(path: Path, members) -> Path:
    "A .tar.gz of (TarInfo, bytes or None) pairs."
    with tarfile.open(path, 'w:gz') as tar:
        for info, data in members:
            if data is not None: info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name, type=tarfile.REGTYPE, linkname='', data=None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = type, linkname
    return info, (b'hello' if data is None and type == tarfile.REGTYPE else data)


def test_safe_extract_ok(tmp_path):
    archive = make_tar(tmp_path / 'ok.tar.gz', [
        member('LibriSpeech', tarfile.DIRTYPE), member('LibriSpeech/SPEAKERS.TXT'),
        member('LibriSpeech/dev/a.txt'), member('LibriSpeech/latest', tarfile.SYMTYPE, 'dev'),
        member('LibriSpeech/copy.txt', tarfile.LNKTYPE, 'LibriSpeech/dev/a.txt')])
    dest = tmp_path / 'out'
    (dest / 'LibriSpeech/other').mkdir(parents=True)  # existing folders are merged, not replaced
    safe_extract(archive, dest)
    assert (dest / 'LibriSpeech/dev/a.txt').read_bytes() == b'hello'
    assert (dest / 'LibriSpeech/latest/a.txt').is_file() and (dest / 'LibriSpeech/copy.txt').is_file()
    assert (dest / 'LibriSpeech/other').is_dir()
    assert sorted(p.name for p in dest.iterdir()) == ['LibriSpeech']  # no temporary folder left


@pytest.mark.parametrize('bad, reason', [
    (member('../evil.txt'), 'outside the destination'),
    (member('a/../../evil.txt'), 'outside the destination'),
    (member('/tmp/evil.txt'), 'absolute path'),
    (member('link', tarfile.SYMTYPE, '../../etc/passwd'), 'link pointing outside'),
    (member('sub/link', tarfile.SYMTYPE, '../..'), 'link pointing outside'),
    (member('abs_link', tarfile.SYMTYPE, '/etc/passwd'), 'absolute path'),
    (member('hard', tarfile.LNKTYPE, '../evil.txt'), 'link pointing outside'),
    (member('dev/null', tarfile.CHRTYPE), 'device'),
    (member('fifo', tarfile.FIFOTYPE), 'device'),
])
def test_safe_extract_refuses(tmp_path, bad, reason):
    archive = make_tar(tmp_path / 'bad.tar.gz', [member('good.txt'), bad, member('after.txt')])
    dest = tmp_path / 'out'
    with pytest.raises(ValueError, match=reason) as e:
        safe_extract(archive, dest)
    assert 'bad.tar.gz' in str(e.value) and repr(bad[0].name) in str(e.value)
    assert list(dest.iterdir()) == []  # nothing extracted, not even the good members
    assert not (tmp_path / 'evil.txt').exists()


def test_safe_extract_not_a_tar(tmp_path):
    (tmp_path / 'x.tar.gz').write_bytes(b'<html>an error page</html>')
    with pytest.raises(ValueError, match='x.tar.gz: not a tar archive'):
        safe_extract(tmp_path / 'x.tar.gz', tmp_path / 'out')
    assert list((tmp_path / 'out').iterdir()) == []


# ---------------------------------------------------------------- downloads against a local server

@pytest.fixture
def server(monkeypatch):
    "A local HTTP server with Range support; `files` maps paths to bytes, `log` records (path, Range) requests."
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')
    state = SimpleNamespace(files={}, log=[], truncate={}, ignore_range=set())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args): pass

        def do_GET(self):
            rng = self.headers.get('Range')
            state.log.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None: return self.send_error(404)
            start = int(rng.removeprefix('bytes=').rstrip('-')) if rng and self.path not in state.ignore_range else 0
            if start >= len(body) > 0:
                self.send_response(416)
                self.send_header('Content-Range', f'bytes */{len(body)}')
                self.send_header('Content-Length', '0')
                return self.end_headers()
            self.send_response(206 if start else 200)
            if start: self.send_header('Content-Range', f'bytes {start}-{len(body) - 1}/{len(body)}')
            self.send_header('Content-Length', str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:][:state.truncate.get(self.path, len(body))])

    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f'http://127.0.0.1:{httpd.server_port}'
    yield state
    httpd.shutdown()
    httpd.server_close()


BODY = bytes(range(256)) * 40  # 10240 bytes


def test_download_file(server, tmp_path):
    server.files['/f.bin'] = BODY
    dest = download_file(server.url + '/f.bin', tmp_path / 'sub/f.bin', size=len(BODY), progress=False)
    assert dest.read_bytes() == BODY and not (tmp_path / 'sub/f.bin.part').exists()
    download_file(server.url + '/f.bin', dest, size=len(BODY), progress=False)  # complete: no request
    assert server.log == [('/f.bin', None)]


def test_download_resumes_part_file(server, tmp_path):
    server.files['/f.bin'] = BODY
    dest = tmp_path / 'f.bin'
    (tmp_path / 'f.bin.part').write_bytes(BODY[:4000])
    download_file(server.url + '/f.bin', dest, size=len(BODY), checksum='md5:' + hashlib.md5(BODY).hexdigest(),
                  progress=False)
    assert dest.read_bytes() == BODY and server.log == [('/f.bin', 'bytes=4000-')]


def test_download_restarts_when_range_is_ignored(server, tmp_path):
    server.files['/f.bin'], server.ignore_range = BODY, {'/f.bin'}
    (tmp_path / 'f.bin.part').write_bytes(b'garbage that must not stay')
    download_file(server.url + '/f.bin', tmp_path / 'f.bin', progress=False)
    assert (tmp_path / 'f.bin').read_bytes() == BODY


def test_download_interrupted_then_resumed(server, tmp_path):
    big = np.random.default_rng(0).bytes(300_000)
    server.files['/f.bin'], server.truncate['/f.bin'] = big, 200_000  # the connection drops after 200 kB
    dest = tmp_path / 'f.bin'
    with pytest.raises(DownloadError, match='run it again to resume') as e:
        download_file(server.url + '/f.bin', dest, progress=False)
    assert str(dest.absolute()) in str(e.value)
    got = (tmp_path / 'f.bin.part').stat().st_size
    assert not dest.exists() and 0 < got <= 200_000  # atomic: only the .part file holds what arrived
    del server.truncate['/f.bin']
    download_file(server.url + '/f.bin', dest, progress=False)
    assert dest.read_bytes() == big and server.log[-1] == ('/f.bin', f'bytes={got}-')


def test_download_size_mismatch_leaves_nothing(server, tmp_path):
    server.files['/f.bin'] = BODY
    dest = tmp_path / 'f.bin'
    with pytest.raises(DownloadError, match='size mismatch'):
        download_file(server.url + '/f.bin', dest, size=len(BODY) + 10, progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / 'f.bin.part').write_bytes(BODY + b'extra')  # a part file longer than the file
    with pytest.raises(DownloadError, match='size mismatch'):
        download_file(server.url + '/f.bin', dest, size=len(BODY) + 3, progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / 'f.bin.part').write_bytes(BODY + b'extra')  # the server's file is shorter than the part file
    with pytest.raises(DownloadError, match='size mismatch'):
        download_file(server.url + '/f.bin', dest, size=2 * len(BODY), progress=False)
    assert list(tmp_path.iterdir()) == [] and server.log[-1] == ('/f.bin', f'bytes={len(BODY) + 5}-')


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    server.files['/f.bin'] = BODY
    with pytest.raises(DownloadError, match='sha256 mismatch'):
        download_file(server.url + '/f.bin', tmp_path / 'f.bin', checksum='sha256:' + '0' * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_replaces_a_wrong_complete_file(server, tmp_path):
    server.files['/f.bin'] = BODY
    dest = tmp_path / 'f.bin'
    dest.write_bytes(b'x' * len(BODY))  # right size, wrong content
    download_file(server.url + '/f.bin', dest, checksum='sha256:' + hashlib.sha256(BODY).hexdigest(), progress=False)
    assert dest.read_bytes() == BODY and len(server.log) == 1
    download_file(server.url + '/f.bin', dest, checksum='sha256:' + hashlib.sha256(BODY).hexdigest(), progress=False)
    assert len(server.log) == 1  # now complete and correct: skipped


def test_download_http_error(server, tmp_path):
    with pytest.raises(DownloadError, match='HTTP 404'):
        download_file(server.url + '/missing.bin', tmp_path / 'm.bin', progress=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_offline_fails_fast_with_instructions(tmp_path):
    url = f'http://127.0.0.1:{closed_port()}/resources/12/dev-clean.tar.gz'
    start = time.monotonic()
    with pytest.raises(DownloadError) as e:
        download_librispeech(tmp_path, 'dev-clean', base_url=url.rsplit('/', 1)[0])
    assert time.monotonic() - start < 5
    msg = str(e.value)
    assert url in msg and str((tmp_path / 'dev-clean.tar.gz').absolute()) in msg and 'by hand' in msg
    assert list(tmp_path.iterdir()) == []


def test_unroutable_address_times_out_quickly(tmp_path):
    start = time.monotonic()
    with pytest.raises(DownloadError, match='by hand'):
        download_file('http://10.255.255.1/file.bin', tmp_path / 'file.bin', timeout=(1, 1), progress=False)
    assert time.monotonic() - start < 5


def test_download_audiomnist(server, tmp_path):
    wavs = {}
    for s in ['01', '12', '45']:
        for d in range(2):
            buf = io.BytesIO()
            sf.write(buf, np.full(4800, 0.1, np.float32), 48000, format='WAV')
            wavs[f'data/{s}/{d}_{s}_0.wav'] = buf.getvalue()
    files = {'data/audioMNIST_meta.txt': audiomnist_meta_text().encode(), 'README.md': b'# AudioMNIST', **wavs}
    tree = [{'path': 'data', 'type': 'tree'}] + [{'path': p, 'type': 'blob', 'size': len(b)} for p, b in files.items()]
    server.files['/repos/soerenab/AudioMNIST/git/trees/master?recursive=1'] = json.dumps({'tree': tree, 'truncated': False}).encode()
    server.files.update({f'/soerenab/AudioMNIST/master/{p}': b for p, b in files.items()})
    kw = dict(api_url=server.url, raw_url=server.url)
    root = download_audiomnist(tmp_path / 'am', speakers=[1, '12'], **kw)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file()) == [
        'data/01/0_01_0.wav', 'data/01/1_01_0.wav', 'data/12/0_12_0.wav', 'data/12/1_12_0.wav', 'data/audioMNIST_meta.txt']
    df = load_audiomnist(root)
    assert sorted(df.speaker.unique()) == ['audiomnist:01', 'audiomnist:12'] and df.duration.eq(0.1).all()
    # complete files are skipped; a partial one is resumed with a Range request
    (root / 'data/12/1_12_0.wav').unlink()
    (root / 'data/12/1_12_0.wav.part').write_bytes(wavs['data/12/1_12_0.wav'][:1000])
    server.log.clear()
    download_audiomnist(root, speakers=[1, 12], **kw)
    assert [entry for entry in server.log if 'trees' not in entry[0]] == [
        ('/soerenab/AudioMNIST/master/data/12/1_12_0.wav', 'bytes=1000-')]
    assert (root / 'data/12/1_12_0.wav').read_bytes() == wavs['data/12/1_12_0.wav']
    with pytest.raises(DownloadError, match=r"speaker\(s\) \['60'\]") as e:
        download_audiomnist(root, speakers=[60], **kw)
    assert 'git clone' in str(e.value) and str((root / 'data').absolute()) in str(e.value)


def test_download_librispeech(server, tmp_path):
    buf = io.BytesIO()
    sf.write(buf, np.full(1600, 0.1, np.float32), 16000, format='FLAC')
    flac = buf.getvalue()
    make_tar(tmp_path / 'test-tiny.tar.gz', [member('LibriSpeech/SPEAKERS.TXT', data=SPEAKERS_TXT.encode()),
                                             member('LibriSpeech/test-tiny/19/198/19-198-0000.flac', data=flac)])
    server.files['/12/test-tiny.tar.gz'] = (tmp_path / 'test-tiny.tar.gz').read_bytes()
    root = tmp_path / 'corpora'
    base = download_librispeech(root, 'test-tiny', base_url=server.url + '/12')
    assert base == root / 'LibriSpeech' and not (root / 'test-tiny.tar.gz').exists()
    with pytest.warns(ManifestWarning):
        df = load_librispeech(root)
    assert df.speaker.tolist() == ['librispeech:19'] and df.duration.tolist() == [0.1]
    download_librispeech(root, 'test-tiny', base_url=server.url + '/12')  # present: no second download
    assert len(server.log) == 1
