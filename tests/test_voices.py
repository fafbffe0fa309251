"""Voice packs: blend arithmetic, blend parsing, catalogue, similarity, voice map, row profile."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import requires_kokoro_assets
from workbench.errors import VoiceError
from workbench.models.voices import Voice, blend, parse_blend


@pytest.mark.parametrize("spec, weights, noted", [
    ("af_bella:0.7,af_sky:0.3", {"af_bella": 0.7, "af_sky": 0.3}, False),
    ("af_bella:2,af_sky:2", {"af_bella": 0.5, "af_sky": 0.5}, True),
    ("af_bella:0.6,af_sky:0.6", {"af_bella": 0.5, "af_sky": 0.5}, True),
    ("af_bella,af_sky", {"af_bella": 0.5, "af_sky": 0.5}, False),  # Kokoro's plain average: no note
    ({"af_bella": 3, "af_sky": 1}, {"af_bella": 0.75, "af_sky": 0.25}, True),
    ("af_bella:1,af_bella:1,af_sky:2", {"af_bella": 0.5, "af_sky": 0.5}, True),  # repeated names add up
])
def test_parse_blend_normalises_and_says_so(spec, weights, noted):
    got, note = parse_blend(spec)
    assert got == pytest.approx(weights)
    assert sum(got.values()) == pytest.approx(1.0)
    assert (note is not None) == noted
    if noted:
        assert "normalised" in note and "not 1" in note


@pytest.mark.parametrize("spec, words", [
    ("af_bella:-1,af_sky:2", "non-negative"),
    ("af_bella:nan,af_sky:1", "finite"),
    ("af_bella:0,af_sky:0", "positive"),
    ("af_bella:x", "not a number"),
    ("", "empty voice blend"),
    (":0.5,af_sky:0.5", "no voice name"),
])
def test_parse_blend_rejects_bad_weights(spec, words):
    with pytest.raises(VoiceError, match=words):
        parse_blend(spec)


def test_blend_is_the_weighted_sum_of_packs():
    rng = np.random.default_rng(0)
    a = Voice("af_x", rng.normal(size=(510, 256)).astype(np.float32), "en-us", "female", "test")
    b = Voice("bm_y", rng.normal(size=(510, 256)).astype(np.float32), "en-gb", "male", "test")
    mixed = blend({"af_x": a, "bm_y": b}, {"af_x": 0.25, "bm_y": 0.75})
    np.testing.assert_allclose(mixed.pack, 0.25 * a.pack + 0.75 * b.pack, rtol=1e-6, atol=1e-6)
    assert mixed.language == "en-gb" and mixed.british  # the heaviest voice decides the G2P
    assert mixed.source == "blend"
    np.testing.assert_array_equal(mixed.timbre, mixed.pack[:, :128])
    np.testing.assert_array_equal(mixed.prosody, mixed.pack[:, 128:])


@requires_kokoro_assets
def test_blend_of_real_packs_through_resolve_voice(shared_registry):
    from workbench.tts.synthesis import resolve_voice

    voice, notes = resolve_voice("af_heart:3,bm_george:1", shared_registry)
    expected = 0.75 * shared_registry.voice("af_heart").pack + 0.25 * shared_registry.voice("bm_george").pack
    np.testing.assert_allclose(voice.pack, expected, rtol=1e-6, atol=1e-7)
    assert any("summed to 4" in n and "af_heart:0.75" in n for n in notes)
    assert any("mixes languages" in n for n in notes)
    assert voice.language == "en-us"


@requires_kokoro_assets
def test_unknown_voice_lists_close_matches(shared_registry):
    with pytest.raises(VoiceError, match="af_heart"):
        shared_registry.voice("af_hart")
    from workbench.tts.synthesis import resolve_voice

    with pytest.raises(VoiceError, match="bf_emma"):
        resolve_voice("af_heart:0.5,bf_emme:0.5", shared_registry)


@requires_kokoro_assets
def test_voice_catalog_lists_the_release(shared_registry):
    from workbench.tts.voice_inspect import voice_catalog

    cat = voice_catalog(registry=shared_registry)
    assert list(cat.columns[:5]) == ["name", "language", "gender", "source", "available"]
    assert len(cat) >= 54 and cat.available.sum() >= 54
    row = cat[cat.name == "bm_george"].iloc[0]
    assert (row.language, row.gender, row.source) == ("en-gb", "male", "asset path")


@requires_kokoro_assets
def test_similarity_matrix_matches_hand_computed_cosine(shared_registry):
    from workbench.tts.voice_inspect import similarity_matrix

    names = ["af_heart", "af_bella", "am_adam", "bf_emma"]
    for part, sl in (("all", slice(0, 256)), ("timbre", slice(0, 128)), ("prosody", slice(128, 256))):
        sim = similarity_matrix(names, row=40, part=part, registry=shared_registry)
        a = shared_registry.voice("af_heart").pack[40, sl].astype(float)
        b = shared_registry.voice("am_adam").pack[40, sl].astype(float)
        assert sim.loc["af_heart", "am_adam"] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-9)
        np.testing.assert_allclose(np.diag(sim.to_numpy()), 1.0, atol=1e-12)
        np.testing.assert_allclose(sim.to_numpy(), sim.to_numpy().T)
    with pytest.raises(VoiceError, match="row=510"):
        similarity_matrix(names, row=510, registry=shared_registry)
    with pytest.raises(VoiceError, match="part="):
        similarity_matrix(names, part="pitch", registry=shared_registry)


@requires_kokoro_assets
def test_pca_voice_map_places_a_blend_at_the_weighted_mean(shared_registry):
    from workbench.tts.voice_inspect import voice_map

    names = ["af_heart", "af_bella", "af_sky", "am_adam", "am_michael", "bf_emma", "bm_george"]
    vmap = voice_map(names, row=60, blends=["af_heart:0.7,am_adam:0.3"], registry=shared_registry)
    c = vmap.coords
    assert list(c.kind) == ["voice"] * 7 + ["blend"]
    heart, adam = np.array(vmap.position("af_heart")), np.array(vmap.position("am_adam"))
    blend_xy = np.array([c.x.iloc[-1], c.y.iloc[-1]])
    np.testing.assert_allclose(blend_xy, 0.7 * heart + 0.3 * adam, atol=1e-6)  # PCA is linear
    assert 0 < sum(vmap.explained) <= 1
    fig = vmap.plot(highlight=c.name.iloc[-1])
    assert fig.axes and fig.axes[0].get_title().startswith("voice map (PCA")


@pytest.mark.slow  # numba compiles UMAP on first use (tens of seconds of CPU)
@requires_kokoro_assets
def test_umap_voice_map_is_seeded(shared_registry):
    from workbench.tts.voice_inspect import available_voices, voice_map

    names = available_voices(language="en-us", registry=shared_registry)[:12]
    a = voice_map(names, method="umap", seed=3, registry=shared_registry, n_neighbors=5)
    b = voice_map(names, method="umap", seed=3, registry=shared_registry, n_neighbors=5)
    np.testing.assert_allclose(a.coords[["x", "y"]].to_numpy(), b.coords[["x", "y"]].to_numpy())
    assert a.method == "umap" and len(a.coords) == 12


@requires_kokoro_assets
def test_row_profile_by_hand(shared_registry):
    from workbench.tts.voice_inspect import row_profile

    prof = row_profile("af_heart", registry=shared_registry)
    f = prof.frame
    assert len(f) == 510 and f.phonemes.iloc[0] == 1 and f.phonemes.iloc[-1] == 510
    pack = shared_registry.voice("af_heart").pack.astype(float)
    assert f.cos0_timbre.iloc[0] == pytest.approx(1.0)
    t0, t300 = pack[0, :128], pack[300, :128]
    assert f.cos0_timbre.iloc[300] == pytest.approx(t0 @ t300 / np.linalg.norm(t0) / np.linalg.norm(t300))
    assert f.norm_prosody.iloc[17] == pytest.approx(np.linalg.norm(pack[17, 128:]))
    p9, p10 = pack[9, 128:], pack[10, 128:]
    assert f.step_prosody.iloc[10] == pytest.approx(p9 @ p10 / np.linalg.norm(p9) / np.linalg.norm(p10))
    summary = prof.summary()
    assert summary["min_cos0_timbre"] == pytest.approx(f.cos0_timbre.min())
    assert prof.plot().axes


@requires_kokoro_assets
def test_similarity_plot_returns_figure(shared_registry):
    import matplotlib.pyplot as plt

    from workbench.plots.voices import plot_similarity
    from workbench.tts.voice_inspect import similarity_matrix

    fig, ax = plt.subplots()
    out = plot_similarity(similarity_matrix(["af_heart", "am_adam", "bf_emma"], registry=shared_registry), ax=ax)
    assert out is fig and "row 99" in ax.get_title()
    plt.close(fig)
