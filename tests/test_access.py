"""Who may train what, as library checks: the page's limits for every caller (deployment caps only
tighten), the class code, the per-address bound, and which address a request counts against."""

from __future__ import annotations

import threading

import pytest

from mnistsum.config import TrainConfig
from mnistsum.jobs import (
    PAGE_LIMITS,
    AddressBusyError,
    ClassCodeError,
    JobQueue,
    OwnerBusyError,
    PolicyError,
    TrainingPolicy,
    client_address,
    start_training,
    submit_run,
)
from mnistsum.leaderboard import Leaderboard

CLASS = TrainConfig.preset("class", device="cpu")
CODE = "owl-42"


def token(k: int) -> str:
    return f"visitor-token-{k:06d}"


@pytest.fixture
def queue():
    q = JobQueue(workers=1, max_queue=200)
    yield q
    q.close()


def held(
    queue: JobQueue, count: int, policy: TrainingPolicy, address: str, code: str | None = None, first: int = 0
) -> int:
    """Submit `count` runs from `count` fresh tokens (numbered from `first`) at one address; how many the queue took."""
    taken = 0
    for k in range(first, first + count):
        try:
            start_training(queue, token(k), CLASS, policy, class_code=code, address=address)
        except (AddressBusyError, ClassCodeError):
            continue
        taken += 1
    return taken


@pytest.fixture(autouse=True)
def _never_train(monkeypatch):
    """Runs here only wait in the queue: the worker is kept busy by one that never ends."""
    import mnistsum.jobs.progress as progress

    release = threading.Event()

    def idle(cfg, train_set=None, test_set=None):
        def events(stop):
            yield None
            while not (release.wait(0.01) or stop.is_set()):
                pass

        return events

    monkeypatch.setattr(progress, "training_job", idle)
    yield
    release.set()


# --- the page's limits for every caller -----------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 1_000_000}, "epochs 1,000,000 is above the limit of 30"),
        ({"limit": 70_000}, "training subset size 70,000 is above the limit of 60,000"),
        ({"batch_size": 4096}, "batch size 4,096 is above the limit of 1,024"),
        ({"lr": float("inf")}, "learning rate inf is outside"),
        ({"lr": float("nan")}, "lr must be > 0"),  # TrainConfig itself refuses NaN
        ({"lr": 5.0}, "learning rate 5.0 is outside the range"),
        ({"lr": 1e-9}, "learning rate 1e-09 is outside"),
    ],
)
def test_the_api_keeps_the_pages_limits_by_default(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainingPolicy().check(CLASS.replace(**changes))


def test_the_pages_own_settings_all_pass():
    policy = TrainingPolicy()
    for batch in PAGE_LIMITS.batch_sizes:
        policy.check(CLASS.replace(epochs=PAGE_LIMITS.max_epochs, limit=PAGE_LIMITS.max_images, batch_size=batch))
    policy.check(CLASS.replace(limit=None, lr=PAGE_LIMITS.max_lr))  # None: the whole set, the page's largest


def test_a_long_nickname_is_refused_not_stored(queue, tmp_path):
    board = Leaderboard(tmp_path / "lb.sqlite3")
    with pytest.raises(PolicyError, match="at most 32 characters, got 10,000"):
        submit_run(queue, board, token(1), CLASS, "x" * 10_000)
    assert queue.latest(token(1)) is None
    submit_run(queue, board, token(1), CLASS, "  " + "x" * 32 + "  ")  # what the page's box takes


def test_deployment_caps_only_tighten():
    tight = TrainingPolicy.from_env({"MNISTSUM_MAX_EPOCHS": "5", "MNISTSUM_MAX_BATCH_SIZE": "256"})
    with pytest.raises(PolicyError, match="epochs 6 is above this deployment's cap of 5 .MNISTSUM_MAX_EPOCHS"):
        tight.check(CLASS.replace(epochs=6))
    for name, value in (("MNISTSUM_MAX_EPOCHS", "31"), ("MNISTSUM_MAX_LIMIT", "100000")):
        with pytest.raises(ValueError, match=f"{name}={value} is above the page's own limit"):
            TrainingPolicy.from_env({name: value})
    with pytest.raises(ValueError, match="max_epochs"):
        TrainingPolicy(max_epochs=1000)


# --- the class code -----------------------------------------------------------------------


def test_without_a_class_code_training_is_open():
    assert not TrainingPolicy().needs_class_code
    assert TrainingPolicy().check_class_code(None) is False
    assert TrainingPolicy().check_class_code("anything") is False


@pytest.mark.parametrize("given, message", [(None, "enter the class code"), ("", "enter"), ("owl-43", "not this")])
def test_a_missing_or_wrong_class_code_is_refused_with_how_to_train_locally(queue, given, message):
    policy = TrainingPolicy(class_code=CODE)
    with pytest.raises(ClassCodeError, match=message) as refused:
        start_training(queue, token(1), CLASS, policy, class_code=given)
    assert "python -m mnistsum.train --preset class" in str(refused.value)
    assert "draw and predict" in str(refused.value)
    assert queue.latest(token(1)) is None


def test_the_right_class_code_trains_whatever_its_case_and_spaces(queue):
    policy = TrainingPolicy(class_code=CODE)
    assert start_training(queue, token(1), CLASS, policy, class_code="  OWL-42 ").state in ("queued", "running")


def test_the_class_code_comes_from_the_environment_and_is_never_printed():
    policy = TrainingPolicy.from_env({"MNISTSUM_CLASS_CODE": CODE})
    assert policy.class_code == CODE and CODE not in repr(policy)
    with pytest.raises(ValueError, match="at least 4 characters"):
        TrainingPolicy.from_env({"MNISTSUM_CLASS_CODE": "abc"})


# --- the per-address bound ------------------------------------------------------------------


def test_one_address_holds_a_bounded_number_of_runs(queue):
    assert held(queue, 100, TrainingPolicy(), "203.0.113.7") == 3
    with pytest.raises(AddressBusyError, match="3 runs queued or running"):
        start_training(queue, token(500), CLASS, TrainingPolicy(), address="203.0.113.7")
    assert held(queue, 1, TrainingPolicy(), "198.51.100.1", first=1000) == 1  # another address is not affected
    queue.stop(token(1))  # one ends (cancelled while queued): the address may queue one more
    start_training(queue, token(600), CLASS, TrainingPolicy(), address="203.0.113.7")


def test_a_class_of_thirty_behind_one_address_passes_with_the_code_and_a_flood_does_not(queue):
    policy = TrainingPolicy(class_code=CODE)
    assert held(queue, 100, policy, "192.0.2.10") == 0  # no code: no runs at all
    assert held(queue, 30, policy, "192.0.2.10", CODE) == 30  # the class
    flood = JobQueue(workers=1, max_queue=200)
    try:
        assert held(flood, 100, policy, "192.0.2.99", CODE) == policy.runs_per_address_with_code == 40
    finally:
        flood.close()


def test_one_run_per_token_still_holds(queue):
    start_training(queue, token(1), CLASS, address="192.0.2.1")
    with pytest.raises(OwnerBusyError):
        start_training(queue, token(1), CLASS, address="192.0.2.2")


def test_the_bounds_come_from_the_environment():
    policy = TrainingPolicy.from_env({"MNISTSUM_RUNS_PER_ADDRESS": "1", "MNISTSUM_RUNS_PER_ADDRESS_WITH_CODE": "70"})
    assert (policy.address_limit(False), policy.address_limit(True)) == (1, 70)
    with pytest.raises(ValueError, match="MNISTSUM_PROXY_HOPS"):
        TrainingPolicy.from_env({"MNISTSUM_PROXY_HOPS": "yes"})


# --- which address --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "peer, forwarded, hops, address",
    [
        ("203.0.113.7", None, 0, "203.0.113.7"),
        ("127.0.0.1", "6.6.6.6", 0, "127.0.0.1"),  # no trusted proxy: the header is the client's to forge
        ("10.0.0.2", "198.51.100.4", 1, "198.51.100.4"),  # one proxy: the address it saw
        ("10.0.0.2", "6.6.6.6, 198.51.100.4", 1, "198.51.100.4"),  # a forged entry stays to the left, unread
        ("10.0.0.2", "198.51.100.4, 10.0.0.9", 2, "198.51.100.4"),  # two proxies
        ("10.0.0.2", "198.51.100.4", 2, "10.0.0.2"),  # came around a proxy: the peer
        ("10.0.0.2", "", 1, "10.0.0.2"),
        ("2001:db8:1:2:3:4:5:6", None, 0, "2001:db8:1:2::/64"),  # a home or school gets a /64
        ("::ffff:192.0.2.5", None, 0, "192.0.2.5"),
        ("10.0.0.2", "198.51.100.4:5123", 1, "198.51.100.4"),
        (None, None, 0, "unknown"),
    ],
)
def test_client_address(peer, forwarded, hops, address):
    assert client_address(peer, forwarded, hops) == address
