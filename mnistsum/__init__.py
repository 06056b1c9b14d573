"""mnistsum: one network, two inputs (an MNIST image and a number n), two outputs (the digit and digit + n)."""

__version__ = "0.1.0"

from .predictor import BlankDrawingError, Prediction, Predictor  # noqa: E402

__all__ = ["BlankDrawingError", "Prediction", "Predictor", "__version__"]
