"""The benchmark's parts measure what they say. Speed is never asserted: a fake clock makes
the arithmetic checkable, and real runs check the counting, not the seconds."""

import itertools

import numpy as np
import pytest

import mnistsum.speed as speed
from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.speed import _throughput, exercise_steps, format_table, ours_steps, predict_latency, time_to_accuracy


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(speed.time, "perf_counter", fake)
    return fake


def test_throughput_counts_only_the_measured_steps(clock):
    def steps():
        for size in itertools.cycle([32, 16]):
            clock.now += 0.5 if size == 32 else 0.25  # 64 samples per second, warm-up or not
            yield size

    # 3 warm-up steps are skipped; then 4 steps: 32 + 16 + 32 + 16 = 96 samples in 1.5 s.
    assert _throughput(steps(), warmup=3, measured=4) == pytest.approx(96 / 1.5)


def test_our_pipeline_steps_through_the_real_loop():
    cfg = TrainConfig(device="cpu", batch_size=32)
    assert list(ours_steps(synthetic_split(500), cfg, 4)) == [32, 32, 32, 32]


def test_exercise_pipeline_yields_its_batches(mnist_dir):
    steps = exercise_steps(str(mnist_dir), 32)
    assert [next(steps) for _ in range(3)] == [32, 32, 32]


def test_time_to_accuracy_stops_at_the_target():
    cfg = TrainConfig.preset("class", epochs=2, batch_size=32, device="cpu", val_size=0)  # the test set every epoch
    data = {"train_set": synthetic_split(256, seed=1), "test_set": synthetic_split(100, seed=2)}
    reached = time_to_accuracy(cfg, 0.5, **data)
    assert reached["epochs"] == 1 and reached["digit_accuracy"] >= 0.5 and reached["seconds"] is not None
    missed = time_to_accuracy(cfg, 1.01, **data)
    assert missed["seconds"] is None and missed["epochs"] == 2 and missed["digit_accuracy"] <= 1


class TimedPredictor:
    """Takes 1, 2, ..., k ms per call after the warm-up, and remembers each n it was given."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.calls = clock, []

    def predict(self, image, n):
        self.calls.append(n)
        self.clock.now += max(len(self.calls) - 10, 0) / 1000  # the 10 warm-up calls take no time


def test_predict_latency_median_and_p95(clock):
    predictor = TimedPredictor(clock)
    latency = predict_latency(predictor, np.zeros((28, 28), np.uint8), repeats=20)
    assert latency["median_ms"] == pytest.approx(10.5)  # of 1..20 ms
    assert latency["p95_ms"] == pytest.approx(19.0)  # the 95th percentile of 20 sorted values: index 18
    assert predictor.calls[10:] == [i % 10 for i in range(20)]  # every n, in turn


def test_the_table_says_what_was_measured():
    table = format_table(
        {
            "torch_threads": 2,
            "train_samples_per_s": {"ours": 3000.0, "exercise": 500.0, "ratio": 6.0},
            "time_to_99": {"seconds": None, "epochs": 1, "digit_accuracy": 0.985},
            "predict_latency": {"drawing_280x280": {"median_ms": 1.5, "p95_ms": 2.25}},
        }
    )
    assert "6.0x" in table and "not reached (best 98.50%)" in table
    assert "drawing_280x280" in table and "median 1.50 ms, p95 2.25 ms" in table
