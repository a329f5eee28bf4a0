"Keras models (notebooks 09a, 10 and 12): training settings, the progress bar, .keras model files loaded in safe mode, every architecture saved and reloaded, augmentation copies."
import hashlib, json, zipfile

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip('keras')
from gvoice.augment import Augment, phone_band
from gvoice.cnn import ARCHITECTURES, PatchCNN, patch_dataset, patches
from gvoice.dense import DenseModel
from gvoice.features import extract, file_features
from gvoice.models import ModelFileError, cross_validate, load_model
from gvoice.nets import TrainConfig, net_from_bytes, net_to_bytes, train_net
from gvoice.synth import make_corpus

QUICK = TrainConfig(epochs=2, batch_size=16, patience=1, progress=False)

@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp('keras')
    manifest = make_corpus(root / 'corpus', n_speakers=12, utterances_per_speaker=2, seed=11, progress=False)
    return manifest, root / 'cache'

@pytest.fixture(scope='module')
def dense(corpus):
    manifest, cache = corpus
    X = extract(manifest, 's2_mel128', cache_dir=cache, progress=False).features
    return DenseModel(batchnorm=True, log_mel=True, train=QUICK).fit(X, manifest.gender, groups=manifest.speaker), X

def _rewrite(src, dst, name, data):
    "Copy a model file with payload `name` replaced by `data`, its digest updated to match (a forged file, not a corrupted one)."
    with zipfile.ZipFile(src) as z: files = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(files['gvoice-model.json']); meta['sha256'][name] = hashlib.sha256(data).hexdigest()
    files['gvoice-model.json'], files[name] = json.dumps(meta).encode(), data
    with zipfile.ZipFile(dst, 'w') as z:
        for n, d in files.items(): z.writestr(n, d)
    return dst

def test_dense_model_file_round_trip_and_metadata(dense, tmp_path):
    model, X = dense
    path = model.save(tmp_path / 'd.gvm', training={'corpus': 'synthetic'}, metrics={'accuracy': 0.5})
    back = load_model(path, features='s2_mel128')
    np.testing.assert_allclose(back.p_female(X), model.p_female(X), atol=1e-6)
    with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read('gvoice-model.json'))
        assert 'net.keras' in z.namelist() and not any(n.endswith(('.h5', '.pkl', '.pickle')) for n in z.namelist())
    assert meta['kind'] == 'keras_dense' and meta['params']['arch']['log_mel'] is True
    assert meta['params']['state']['feature_names'] == list(X.columns) and meta['metrics'] == {'accuracy': 0.5}
    assert set(meta['params']['calibration']) == {'a', 'b'}

def test_keras_payload_needs_safe_mode(dense, tmp_path):
    model, _ = dense
    path = model.save(tmp_path / 'd.gvm')
    evil = keras.Sequential([keras.Input((128,)), keras.layers.Lambda(lambda v: v[:, :1])])
    evil.save(tmp_path / 'evil.keras')                      # Python bytecode inside a .keras file
    with pytest.raises(ModelFileError, match='evil.gvm.*safe mode'):
        load_model(_rewrite(path, tmp_path / 'evil.gvm', 'net.keras', (tmp_path / 'evil.keras').read_bytes()))
    with pytest.raises(ModelFileError, match='junk.gvm'):
        load_model(_rewrite(path, tmp_path / 'junk.gvm', 'net.keras', b'PK\x03\x04 truncated'))
    data = bytearray(path.read_bytes()); data[len(data) // 2] ^= 0xFF   # corrupted, digest not updated
    (tmp_path / 'bad.gvm').write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match='bad.gvm'): load_model(tmp_path / 'bad.gvm')

def test_net_bytes_leave_out_the_optimizer(dense):
    model, X = dense
    data = net_to_bytes(model.net_)
    assert len(data) < 1.5 * 4 * model.net_.count_params() + 100_000
    np.testing.assert_allclose(net_from_bytes(data)(model._matrix(X)).numpy(), model.net_(model._matrix(X)).numpy(), atol=1e-6)

def test_dense_model_refuses_other_columns_and_one_gender(dense):
    model, X = dense
    with pytest.raises(ValueError, match='features differ'): model.p_female(X.iloc[:, :-1])
    y = ['female', 'male'] * (len(X) // 2)
    with pytest.raises(TypeError, match='DataFrame'): DenseModel(train=QUICK).fit(X.to_numpy(), y, groups=np.arange(len(y)))
    with pytest.raises(ValueError, match='both genders'): DenseModel(train=QUICK).fit(X.iloc[:8], ['male'] * 8, groups=np.arange(8))

def test_keras_models_refuse_to_split_without_speakers(dense):
    "No `groups`: no silent random split of validation rows (a speaker would be in training and calibration both)."
    _, X = dense
    y = ['female', 'male'] * (len(X) // 2)
    for model in (DenseModel(train=QUICK), PatchCNN(train=QUICK)):
        with pytest.raises(ValueError, match=f'{type(model).__name__}.fit needs `groups`'): model.fit(X, y)

def test_train_net_writes_checkpoints_and_tensorboard_logs(tmp_path):
    import tensorflow as tf
    x = np.random.default_rng(0).normal(size=(64, 3)).astype('float32'); t = (x[:, 0] > 0).astype('float32')
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    ds = tf.data.Dataset.from_tensor_slices((x, t)).batch(16)
    cfg = TrainConfig(epochs=2, checkpoint_dir=str(tmp_path / 'ckpt'), log_dir=str(tmp_path / 'logs'), progress=False)
    history = train_net(net, ds.repeat(), ds, 4, cfg)
    assert len(history.history['val_loss']) == 2
    assert (tmp_path / 'ckpt' / 'best.keras').exists()
    assert list((tmp_path / 'logs').rglob('events.out.tfevents*'))

def test_progress_bar_counts_the_epochs_trained_and_shows_the_losses(capsys):
    "One bar over epochs (on stderr outside a notebook), ending where early stopping ended, with the losses beside it."
    import tensorflow as tf
    x = np.random.default_rng(0).normal(size=(64, 3)).astype('float32')
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype('float32'))).batch(16)
    history = train_net(net, ds.repeat(), ds, 4, TrainConfig(epochs=3, progress=True))
    bar = capsys.readouterr().err.replace('\r', '\n').strip().splitlines()[-1]
    assert bar.startswith('training: 100%') and f"{len(history.history['loss'])}/3" in bar, bar
    assert f"val_loss={history.history['val_loss'][-1]:.3f}" in bar and 'accuracy' not in bar, bar

@pytest.mark.parametrize('arch', sorted(ARCHITECTURES))
def test_every_architecture_trains_saves_and_reloads_identically(arch, corpus, tmp_path):
    manifest, cache = corpus
    specs = list(extract(manifest, 'logmel64', cache_dir=cache, progress=False).features)
    model = PatchCNN(arch=arch, patches_per_clip=2, train=QUICK).fit(specs, manifest.gender, groups=manifest.speaker)
    back = load_model(model.save(tmp_path / f'{arch}.gvm'))
    np.testing.assert_allclose(back.p_female(specs), model.p_female(specs), atol=1e-6)
    assert back.arch == arch and back.size == 100

def test_patch_cnn_scores_any_length(corpus):
    manifest, cache = corpus
    specs = list(extract(manifest, 'logmel64', cache_dir=cache, progress=False).features)
    model = PatchCNN(train=QUICK).fit(specs, manifest.gender, groups=manifest.speaker)
    from gvoice.audio import load_audio
    y = load_audio(manifest.path[0], sr=16000)
    for n in (1600, 4800, 16000, len(y), 5 * len(y)):
        p = model.p_female_audio(np.resize(y, n), 16000)
        assert 0 <= p <= 1
    with pytest.raises(ValueError, match='unknown architecture'): PatchCNN(arch='resnet')

def test_cross_validated_cnn_never_tests_a_training_speaker(corpus, monkeypatch):
    manifest, cache = corpus
    specs = list(extract(manifest, 'logmel64', cache_dir=cache, progress=False).features)
    seen = []
    fit = PatchCNN.fit
    def spy(self, X, y, groups=None):
        seen.append(set(groups)); return fit(self, X, y, groups)
    monkeypatch.setattr(PatchCNN, 'fit', spy)
    small = TrainConfig(epochs=1, batch_size=16, valid=0.4, progress=False)   # 3 speakers per gender: keep one for validation
    p, folds = cross_validate(lambda: PatchCNN(patches_per_clip=1, train=small), specs, manifest, k=2, seed=0)
    assert len(seen) == 2 and not np.isnan(p).any()
    folds_of = dict(zip(manifest.speaker, __import__('gvoice.data', fromlist=['speaker_folds']).speaker_folds(manifest, 2, 0)))
    for f, trained in enumerate(seen): assert all(folds_of[s] != f for s in trained)

def test_patches_cover_every_frame():
    for frames in (1, 99, 100, 101, 150, 1234):
        a = np.tile(np.arange(frames, dtype=np.float32), (3, 1))
        p = patches(a, 100, 50)
        covered = np.unique(np.concatenate([row[0][row[0] >= 0] for row in p]))
        assert p.shape[1:] == (3, 100) and set(covered.astype(int)) == set(range(frames))

def test_patch_dataset_is_deterministic_and_labels_match():
    views = [[np.full((2, 150), float(c), np.float32)] for c in range(4)]
    t = np.array([1., 0., 1., 0.])
    a = next(iter(patch_dataset(views, t, size=20, batch_size=64, gain_db=0, freq_mask=0, time_mask=0, seed=5)))
    b = next(iter(patch_dataset(views, t, size=20, batch_size=64, gain_db=0, freq_mask=0, time_mask=0, seed=5)))
    c = next(iter(patch_dataset(views, t, size=20, batch_size=64, gain_db=0, freq_mask=0, time_mask=0, seed=6)))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())
    clip = a[0].numpy()[:, 0, 0].astype(int)                       # each patch is filled with its clip's number
    np.testing.assert_array_equal(a[1].numpy(), t[clip])

def test_augmented_copies_are_cached_reproducible_and_distinct(corpus):
    manifest, cache = corpus
    path, aug = manifest.path[0], Augment()
    first = [file_features(path, 'logmel64', cache, augment=aug, copy=k) for k in range(3)]
    again = [file_features(path, 'logmel64', None, augment=aug, copy=k) for k in range(3)]   # recomputed, not from the cache
    for a, b in zip(first, again): np.testing.assert_allclose(a, b, atol=1e-3)
    assert not np.allclose(first[0][:, :50], first[1][:, :50])
    assert list(cache.rglob(f'{aug.key}-2/*/*.npy'))

def test_augment_keeps_audio_valid():
    rng = np.random.default_rng(0)
    y = (0.9 * np.sin(2 * np.pi * 150 * np.arange(16000) / 16000)).astype(np.float32)
    for seed in range(5):
        z = Augment(p=1.0)(y, 16000, np.random.default_rng(seed))
        assert z.dtype == np.float32 and np.abs(z).max() <= 1 and np.isfinite(z).all()
    with pytest.warns(UserWarning, match='returned unchanged'):
        np.testing.assert_array_equal(Augment(p=1.0)(np.zeros(800, np.float32), 16000, rng), np.zeros(800))   # nothing to change
    assert len(phone_band(y, 16000)) == len(y)
