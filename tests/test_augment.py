import torch

from mnistsum.augment import augment_batch, change_thickness
from mnistsum.config import TrainConfig
from mnistsum.data import synthetic_split

STILL = TrainConfig(  # every augmentation off
    aug_rotation_deg=0,
    aug_scale_min=1,
    aug_scale_max=1,
    aug_aspect=0,
    aug_shear=0,
    aug_shift_px=0,
    aug_thickness_min=0,
    aug_thickness_max=0,
)


def batch(size: int = 256) -> torch.Tensor:
    return synthetic_split(size).images.unsqueeze(1).float() / 255


def test_shape_range_and_seeded_reproducibility():
    x = batch()
    cfg = TrainConfig(augment=True)
    a = augment_batch(x, torch.Generator().manual_seed(0), cfg)
    b = augment_batch(x, torch.Generator().manual_seed(0), cfg)
    c = augment_batch(x, torch.Generator().manual_seed(1), cfg)
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


def test_the_recipe_sets_the_augmentation():
    """The aug_* settings of the config are what augment_batch applies: none at all leaves the batch alone."""
    x = batch(16)
    assert torch.allclose(augment_batch(x, torch.Generator().manual_seed(0), STILL), x, atol=1e-5)
    thick = STILL.replace(aug_thickness_min=2.0, aug_thickness_max=2.0)
    assert (augment_batch(x, torch.Generator().manual_seed(0), thick) > 0.5).sum() > (x > 0.5).sum()


def test_refit_shrinks_a_thickened_digit_back_into_its_box():
    """With aug_thickness_refit, two dilations no longer grow the ink box (preprocessing
    would fit a thick pen's drawing into 20 px too); without it, they do."""
    x = torch.zeros(1, 1, 28, 28)
    x[:, :, 4:24, 10:18] = 1.0  # a 20 px tall block
    thick = STILL.replace(aug_thickness_min=2.0, aug_thickness_max=2.0)

    def rows(cfg):
        return int(((augment_batch(x, torch.Generator().manual_seed(0), cfg) > 0.5).any(3)).sum())

    assert rows(thick) == 24
    assert rows(thick.replace(aug_thickness_refit=True)) <= 21
