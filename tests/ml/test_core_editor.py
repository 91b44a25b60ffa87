"""The editor contract's shared pieces: laying a model-size edit on the full-size photo."""
from __future__ import annotations

import numpy as np

from ml.methods.base import lay_change_on


def test_a_change_is_upsampled_onto_the_photo_and_only_the_change():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 200, (128, 128, 3), dtype=np.uint8)  # fine detail no 32 px copy keeps
    before = rng.integers(0, 200, (32, 32, 3), dtype=np.uint8)
    after = before.copy()
    after[:16] += 40  # the model brightened the top half of its copy
    edited = lay_change_on(photo, before, after)
    assert edited.shape == photo.shape
    assert np.array_equal(edited[72:].astype(int), photo[72:])  # untouched well away from the change
    assert np.array_equal(edited[:56].astype(int), photo[:56].astype(int) + 40)  # the change, exactly
    # out-of-range sums clip; a photo already at the model's size gets the render itself
    assert lay_change_on(np.full((64, 64, 3), 250, np.uint8), before, after)[:8].max() == 255
    assert lay_change_on(before, before, after) is after
