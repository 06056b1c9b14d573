import torch

from mnistsum.augment import augment_batch, change_thickness
from mnistsum.data import synthetic_split


def batch(size: int = 256) -> torch.Tensor:
    return synthetic_split(size).images.unsqueeze(1).float() / 255


def test_shape_range_and_seeded_reproducibility():
    x = batch()
    a = augment_batch(x, torch.Generator().manual_seed(0))
    b = augment_batch(x, torch.Generator().manual_seed(0))
    c = augment_batch(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1 + 1e-6
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_thickness_thickens_and_thins():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0  # a bar four pixels wide
    ink = (x[0] > 0.5).sum().item()
    out = change_thickness(x, torch.tensor([1.0, -0.6, 2.0, 0.0]))
    assert (out[0] > 0.5).sum() == 14 * 6  # one dilation: a pixel more on every side
    assert (out[1] > 0.5).sum() < ink and out[1].max() == 1.0  # thinned, yet full-strength ink
    assert (out[2] > 0.5).sum() == 16 * 8  # two dilations
    assert torch.equal(out[3], x[3])  # zero leaves the stroke alone
