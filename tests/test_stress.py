import numpy as np
import pytest

from mnistsum import Predictor
from mnistsum.preprocess import preprocess
from mnistsum.stress import STRESS_SETS, stress_accuracy


def test_every_stress_set_is_a_different_drawing_of_the_same_digit(mnist_test):
    digit = mnist_test.images[0].numpy()
    reference = preprocess(digit).image
    for name, redraw in STRESS_SETS.items():
        drawing = redraw(digit)
        assert drawing.dtype == np.uint8, name
        prepared = preprocess(drawing)
        assert not prepared.blank, name
        # the preprocessing brings every redrawing back near the original
        assert np.abs(prepared.image - reference).mean() < 0.15, name


@pytest.mark.slow
def test_stress_accuracy_reports_each_set(mnist_test):
    images, labels = mnist_test.images[:50].numpy(), mnist_test.labels[:50].numpy()
    predictor = Predictor.load()
    results = stress_accuracy(predictor, images, labels)
    assert list(results) == list(STRESS_SETS)
    assert all(0.8 <= acc <= 1.0 for acc in results.values())
    wrong_labels = stress_accuracy(predictor, images, (labels + 1) % 10)
    assert all(acc < 0.2 for acc in wrong_labels.values())
