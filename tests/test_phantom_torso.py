"""The thorax shared by the 3-D phantoms (covidnb.data.synthetic_ct.torso)."""

import numpy as np

from covidnb.data.synthetic_ct import torso


def test_torso_values_and_shapes():
    (z, y, x), hu, lung = torso(np.random.default_rng(0), (6, 32, 40))
    assert hu.shape == lung.shape == z.shape == (6, 32, 40)
    assert set(np.unique(hu)) == {-1000.0, 40.0, -850.0}
    assert (hu[lung] == -850.0).all() and lung.any()
    assert hu[0, 0, 0] == -1000.0  # a corner is outside the body
    # left and right lungs: lung voxels on both sides of the midline
    assert (lung & (x < 0)).any() and (lung & (x > 0)).any()


def test_no_jitter_draws_only_the_body_axes():
    # without lung jitter exactly two normals are drawn, so phantoms that do not jitter keep
    # their random stream (and their images) unchanged
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    torso(a, (4, 16, 16))
    b.normal(0, 0.03, size=2)
    assert a.random() == b.random()
    c = np.random.default_rng(3)
    torso(c, (4, 16, 16), lung_jitter=0.01)  # two more draws: one half-width per lung
    b2 = np.random.default_rng(3)
    b2.normal(size=4)
    assert c.random() == b2.random()
