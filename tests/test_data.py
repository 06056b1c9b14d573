import pytest
import torch

from mnistsum.data import DataMissingError, batches, data_status, draw_n, load_split, synthetic_split


def test_batches_shapes_and_targets():
    split = synthetic_split(50)
    n = draw_n(50, torch.Generator().manual_seed(0))
    got = list(batches(split, n, 16, torch.Generator().manual_seed(1)))
    assert [len(b[0]) for b in got] == [16, 16, 16, 2]
    images, ns, digits, sums = got[0]
    assert images.shape == (16, 1, 28, 28) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert torch.equal(sums, digits + ns)
    assert sums.min() >= 0 and sums.max() <= 18
    # every image appears exactly once per epoch, paired with its own n
    seen = torch.cat([b[2] for b in got])
    assert sorted(seen.tolist()) == sorted(split.labels.tolist())


def test_n_is_uniform_over_0_to_9():
    n = draw_n(20_000, torch.Generator().manual_seed(0))
    counts = torch.bincount(n, minlength=10)
    assert n.min() == 0 and n.max() == 9
    assert counts.min() > 1800 and counts.max() < 2200


def test_missing_data_error_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(DataMissingError) as err:
        load_split(tmp_path / "nowhere", train=True)
    message = str(err.value)
    assert str((tmp_path / "nowhere").resolve()) in message
    assert "MNIST/raw" in message and "--download" in message and "MNISTSUM_DATA" in message
    assert "not found" in data_status(tmp_path)


def test_load_split_reads_real_mnist(mnist_dir):
    split = load_split(mnist_dir, train=False)
    assert split.images.shape == (10_000, 28, 28) and split.images.dtype == torch.uint8
    assert torch.bincount(split.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "MNIST is on this server" in data_status(mnist_dir)
    assert str(mnist_dir) not in data_status(mnist_dir) and "/" not in data_status(mnist_dir)  # no server paths
