"""gvoice.explain: what needs no notebook kernel to check."""

import numpy as np

from gvoice.explain import band_edges, band_stop, occlusion_map


def test_importing_explain_loads_no_deep_learning_framework(imported_by):
    "Grad-CAM imports TensorFlow when it is called; the audio and occlusion tools, used on numpy models, never do."
    assert imported_by('import gvoice.explain', ('tensorflow', 'keras', 'torch')) == []


def test_band_stop_copies_add_up_to_the_signal():
    "Each bin is removed from exactly one copy, so the copies sum to (bands - 1) times the signal: nothing lost between bands, nothing added."
    y = np.random.default_rng(0).normal(size=16000).astype(np.float32)
    for n_bands in (2, 5, 16):
        copies = band_stop(y, 16000, band_edges(n_bands))
        np.testing.assert_allclose(copies.sum(axis=0), (n_bands - 1) * y, atol=1e-4)


def test_band_stop_removes_only_its_band():
    "Bands need not cover the whole axis: a copy without the band 1-2 kHz keeps a 3 kHz tone and loses a 1.5 kHz one."
    t = np.arange(16000) / 16000
    y = (np.sin(2 * np.pi * 1500 * t) + np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    (cut,) = band_stop(y, 16000, np.array([1000.0, 2000.0]))
    spectrum = np.abs(np.fft.rfft(cut[2000:-2000]))
    freqs = np.fft.rfftfreq(12000, 1 / 16000)
    assert spectrum[np.argmin(np.abs(freqs - 3000))] > 1000 * spectrum[np.argmin(np.abs(freqs - 1500))]


def test_occlusion_of_a_numpy_model_is_linear_for_a_linear_model():
    "For a linear score, hiding a region lowers it by the region's weight times (value - fill): the map is exactly that, averaged over the masks."
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 10))
    X = rng.normal(size=(3, 8, 10)).astype(np.float32)
    score = lambda A: (A * w).sum(axis=(1, 2))
    occ = occlusion_map(score, X, band=1, width=1, step=(1, 1))   # one cell per mask: the map is each cell's own contribution
    np.testing.assert_allclose(occ, w * (X - X.mean(axis=(1, 2), keepdims=True)), rtol=1e-4, atol=1e-4)
