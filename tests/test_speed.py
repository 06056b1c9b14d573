"""The benchmark's parts measure what they say. Speed is never asserted: a fake clock makes
the arithmetic checkable, and real runs check the counting, not the seconds."""

import itertools
import json

import numpy as np
import pytest

import mnistsum.speed as speed
from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split
from mnistsum.explain import layer_table
from mnistsum.model import DualHeadNet
from mnistsum.speed import (
    _throughput,
    bare_steps,
    exercise_steps,
    format_table,
    ours_steps,
    peak_gflops,
    predict_latency,
    time_to_accuracy,
    train_flop_per_sample,
)
from mnistsum.train import BatchEnd


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


def test_the_bare_step_repeats_one_batch():
    steps = bare_steps(synthetic_split(100), TrainConfig(device="cpu", batch_size=16))
    assert [next(steps) for _ in range(3)] == [16, 16, 16]


def test_a_trained_sample_costs_three_passes_of_two_flop_per_multiply_add():
    cfg = TrainConfig(arch="wide")
    macs = sum(row.macs for row in layer_table(DualHeadNet("wide")))
    assert train_flop_per_sample(cfg) == 6 * macs and macs > 1_000_000


def test_peak_estimate_is_cores_times_clock_times_flop_per_cycle(monkeypatch):
    monkeypatch.setattr(speed.torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(speed, "cpu_flags", lambda: frozenset({"avx512_bf16", "amx_bf16"}))
    assert peak_gflops(2, bf16=False, mhz=2000)["gflops"] == pytest.approx(2 * 2.0 * 64)
    assert peak_gflops(2, bf16=True, mhz=2000)["gflops"] == pytest.approx(2 * 2.0 * 1024)
    assert "AMX bf16" in peak_gflops(2, bf16=True, mhz=2000)["basis"]
    monkeypatch.setattr(speed, "cpu_flags", lambda: frozenset())
    monkeypatch.setattr(speed.torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert peak_gflops(1, bf16=True, mhz=3000)["gflops"] == pytest.approx(3.0 * 32)


def test_json_has_every_field_and_its_arithmetic_on_a_fake_clock(clock, monkeypatch, capsys):
    """Seconds per batch are set by the fake clock, so every rate, ratio and GFLOP/s is known exactly."""

    def paced(seconds_per_batch, size=128):
        while True:
            clock.now += seconds_per_batch
            yield size

    def shipped_loop(cfg, train_set):
        clock.now += 12.0  # the setup: pen drawings
        for batch in itertools.count(1):
            clock.now += 0.1  # 1,280 samples/s: an epoch of 800 batches takes 80 s
            yield BatchEnd(1, batch, 800, 0.0, 0.0, 1.0)

    monkeypatch.setattr(speed, "load_split", lambda data_dir, train: synthetic_split(256))
    monkeypatch.setattr(speed, "ours_steps", lambda train_set, cfg, steps: paced(0.1))  # 1,280 samples/s
    monkeypatch.setattr(speed, "bare_steps", lambda train_set, cfg: paced(0.08))  # 1,600 samples/s
    monkeypatch.setattr(speed, "exercise_steps", lambda data_dir, batch_size: paced(0.5))  # 256 samples/s
    monkeypatch.setattr(
        speed, "time_to_accuracy", lambda cfg, target: {"seconds": 9.5, "epochs": 1, "digit_accuracy": 0.991}
    )
    monkeypatch.setattr(speed, "class_preset_run", lambda *a: {"seconds": 3.5, "digit_accuracy": 0.97})
    monkeypatch.setattr(speed, "train", shipped_loop)
    monkeypatch.setattr(speed, "cpu_mhz", lambda: 2500.0)

    assert speed.main(["--json", "--skip", "predict", "--batches", "4"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"torch_threads", "precision", "hardware", "train_samples_per_s", "train_gflops"} <= set(r)
    assert {"time_to_99", "class_preset", "shipped_epoch"} <= set(r) and "predict_latency" not in r
    t, g = r["train_samples_per_s"], r["train_gflops"]
    assert t["ours"] == pytest.approx(1280) and t["step"] == pytest.approx(1600) and t["exercise"] == pytest.approx(256)
    assert t["ratio"] == pytest.approx(5.0)
    flop = train_flop_per_sample(TrainConfig())
    assert g["flop_per_sample"] == flop
    assert g["loop"] == pytest.approx(1280 * flop / 1e9) and g["step"] == pytest.approx(1600 * flop / 1e9)
    assert g["peak"]["gflops"] == pytest.approx(
        peak_gflops(r["torch_threads"], r["precision"] == "bf16", 2500.0)["gflops"]
    )
    shipped = r["shipped_epoch"]
    assert shipped["samples_per_s"] == pytest.approx(1280) and shipped["epoch_samples"] == 800 * 128
    assert shipped["epoch_seconds"] == pytest.approx(80) and shipped["setup_seconds"] == pytest.approx(12.1)
    minutes = (12.1 + TrainConfig.preset("shipped").epochs * 80) / 60  # the preset's epochs, extrapolated
    assert shipped["recipe_minutes"] == pytest.approx(minutes)
    table = format_table(r)
    assert "5.0x" in table and "class preset, one thread" in table and f"~{minutes:.1f} min" in table


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
            "precision": "fp32",
            "hardware": "CPU AVX2, bf16 flags: none",
            "train_samples_per_s": {"ours": 3000.0, "exercise": 500.0, "ratio": 6.0, "step": 3500.0},
            "train_gflops": {
                "flop_per_sample": 1,
                "loop": 100.0,
                "step": 120.0,
                "peak": {"gflops": 300.0, "basis": "b"},
            },
            "time_to_99": {"seconds": None, "epochs": 1, "digit_accuracy": 0.985},
            "predict_latency": {"drawing_280x280": {"median_ms": 1.5, "p95_ms": 2.25}},
        }
    )
    assert "6.0x" in table and "not reached (best 98.50%)" in table and "fp32 (CPU AVX2" in table
    assert "(100.0 GFLOP/s)" in table and "(120.0 GFLOP/s)" in table and "300.0 GFLOP/s (b)" in table
    assert "drawing_280x280" in table and "median 1.50 ms, p95 2.25 ms" in table
