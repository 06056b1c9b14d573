import numpy as np
import pytest

from mnistsum import BlankDrawingError, Predictor
from mnistsum.checkpoint import CheckpointError, save_checkpoint
from mnistsum.model import DualHeadNet
from mnistsum.predictor import analytic_sum, check_n


@pytest.fixture(scope="module")
def predictor():
    return Predictor.load()


@pytest.mark.parametrize("n", [0, 9, 3.0, np.int64(4)])
def test_check_n_accepts_whole_numbers(n):
    assert check_n(n) == int(n)


@pytest.mark.parametrize("n", [-1, 10, 3.5, True, "3", None, float("nan")])
def test_check_n_rejects_everything_else(n):
    with pytest.raises(ValueError, match="n must be a whole number from 0 to 9"):
        check_n(n)


def test_analytic_sum_shifts_digit_probabilities_by_n():
    probs = np.linspace(1, 10, 10) / 55
    out = analytic_sum(probs, 4)
    assert out.shape == (19,) and np.isclose(out.sum(), 1)
    assert np.array_equal(out[4:14], probs) and not out[:4].any() and not out[14:].any()


def test_predict_on_an_mnist_digit(predictor, mnist_test):
    image, label = mnist_test.images[0].numpy(), int(mnist_test.labels[0])
    r = predictor.predict(image, 6)
    assert r.digit_probs.shape == (10,) and np.isclose(r.digit_probs.sum(), 1, atol=1e-5)
    assert r.sum_probs.shape == (19,) and np.isclose(r.sum_probs.sum(), 1, atol=1e-5)
    assert r.model_input.shape == (28, 28) and r.model_input.dtype == np.float32
    assert r.digit == label and r.sum == label + 6 and r.consistent
    assert list(r.stages)[0] == "raw" and list(r.stages)[-1] == "28x28"


def test_predict_handles_other_sizes_and_polarity(predictor, mnist_test):
    image, label = mnist_test.images[1].numpy(), int(mnist_test.labels[1])
    big = np.kron(255 - image, np.ones((10, 10), dtype=np.uint8))  # 280x280, dark ink on white
    rgb = np.repeat(big[..., None], 3, axis=2)
    assert predictor.predict(big, 2).digit == label
    assert predictor.predict(rgb, 2).digit == label


def test_blank_drawing_is_reported_not_guessed(predictor):
    with pytest.raises(BlankDrawingError, match="nothing drawn"):
        predictor.predict(np.full((280, 280), 255, np.uint8), 3)


@pytest.mark.parametrize("image", [None, [[0, 1], [1, 0]], np.zeros((0, 0), np.uint8), np.zeros((4, 4, 4, 4))])
def test_unusable_images_raise_value_error(predictor, image):
    with pytest.raises(ValueError):
        predictor.predict(image, 1)


def test_bad_n_raises_before_any_work(predictor):
    with pytest.raises(ValueError, match="n must be"):
        predictor.predict(np.zeros((28, 28), np.uint8), 12)


def test_sum_table_rows_are_distributions(predictor, mnist_test):
    r = predictor.predict(mnist_test.images[0].numpy(), 0)
    table = predictor.sum_table(r.model_input)
    assert table.shape == (10, 19) and np.allclose(table.sum(1), 1, atol=1e-5)
    assert [int(row.argmax()) - n for n, row in enumerate(table)] == [r.digit] * 10  # the shifted diagonal


def test_load_errors_are_value_errors(tmp_path):
    with pytest.raises(CheckpointError):
        Predictor.load(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "ok.pt", DualHeadNet("exercise"))
    assert Predictor.load(tmp_path / "ok.pt").model.arch == "exercise"


def test_sum_table_matches_predicting_each_n(predictor, mnist_test):
    """The table runs the backbone once; each row must equal a full prediction with that n."""
    prediction = predictor.predict(mnist_test.images[1].numpy(), 0)
    model_input = prediction.model_input
    batch = np.repeat(model_input[None], 10, axis=0)
    _, expected = predictor.probabilities(batch, np.arange(10))
    np.testing.assert_allclose(predictor.sum_table(model_input), expected, atol=1e-6)
    np.testing.assert_allclose(predictor.sum_table(prediction), expected, atol=1e-6)  # from its logits
