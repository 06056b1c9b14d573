"""The benchmark's parts run and measure what they say (numbers are printed, never asserted on speed)."""

import numpy as np

from mnistsum import Predictor
from mnistsum.bench import _throughput, drawing_280, exercise_steps, format_table, ours_steps, predict_latency, time_to_accuracy
from mnistsum.config import TrainConfig


def test_both_pipelines_train_and_report_a_rate(mnist_dir, mnist_train):
    cfg = TrainConfig(device="cpu", batch_size=32)
    assert _throughput(ours_steps(mnist_train, cfg, 4), 1, 3) > 0
    assert _throughput(exercise_steps(str(mnist_dir), 32), 1, 3) > 0


def test_time_to_accuracy_stops_at_the_target(mnist_dir):
    cfg = TrainConfig.preset("class", epochs=2, limit=2000, data_dir=str(mnist_dir), device="cpu")
    reached = time_to_accuracy(cfg, 0.5)
    assert reached["epochs"] == 1 and reached["digit_accuracy"] >= 0.5 and reached["seconds"] > 0
    missed = time_to_accuracy(cfg, 1.01)
    assert missed["seconds"] is None and missed["epochs"] == 2


def test_predict_latency_and_table(mnist_test):
    image = drawing_280(mnist_test)
    assert image.shape == (280, 280) and image[0, 0] == 255  # dark ink on white, as the Sketchpad sends
    latency = predict_latency(Predictor.load(), image, 20)
    assert 0 < latency["median_ms"] <= latency["p95_ms"]
    table = format_table({
        "torch_threads": 2,
        "train_samples_per_s": {"ours": 3000.0, "exercise": 500.0, "ratio": 6.0},
        "time_to_99": {"seconds": None, "epochs": 1, "digit_accuracy": 0.985},
        "predict_latency": {"drawing_280x280": latency},
    })
    assert "6.0x" in table and "not reached (best 98.50%)" in table and "drawing_280x280" in table
