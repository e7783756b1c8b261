"""T1 segmentation against the phantom's exact labels, with Rician noise and a bias field."""

from __future__ import annotations

import numpy as np
import pytest

from bmiss_engine.anatomy import AnatomyError, Tissue, Volume, dice, make_phantom, segment_t1


@pytest.mark.parametrize(("noise", "bias", "seed"), [(0.05, 0.3, 1), (0.08, 0.3, 2)])
def test_segmentation_of_noisy_phantom(noise, bias, seed) -> None:
    image, truth = make_phantom((100, 88, 16), (0.8, 0.8, 3.0), noise=noise, bias=bias, seed=seed)
    field_ratio = image.data[truth.labels == Tissue.FAT].max() / image.data[truth.labels == Tissue.FAT].min()
    assert field_ratio > 1.5  # the bias and noise really spread the fat's intensity
    labels = segment_t1(image)
    np.testing.assert_array_equal(labels.affine, image.affine)
    tissues = (Tissue.SKIN, Tissue.FAT, Tissue.MUSCLE, Tissue.BONE)
    scores = {t.name: dice(labels.labels == t, truth.labels == t) for t in tissues}
    assert scores["FAT"] >= 0.9, scores
    assert scores["MUSCLE"] >= 0.9, scores
    assert scores["SKIN"] >= 0.7, scores  # a 1.5 mm shell on 0.8 mm voxels
    assert scores["BONE"] >= 0.8, scores
    assert dice(labels.body, truth.body) >= 0.98


def test_segmentation_of_a_blank_image_is_an_error() -> None:
    with pytest.raises(AnatomyError, match="body"):
        segment_t1(Volume(np.zeros((20, 20, 4), np.float32), np.eye(4), "blank"))
