"""mixup / cutmix: soft targets sum to 1, λ matches what was mixed, soft cross-entropy equals torch's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fitguard.augment import CutMix, MixUp, cutmix, mixup, soft_cross_entropy
from fitguard.augment.mixing import cutmix_box

Y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])


@pytest.mark.parametrize("make", [mixup, cutmix])
def test_targets_are_soft_and_sum_to_one(make) -> None:
    _, y = make(0.4, num_classes=5)(torch.rand(8, 3, 8, 8), Y, torch.Generator().manual_seed(0))
    assert y.dtype == torch.float32 and tuple(y.shape) == (8, 5)
    torch.testing.assert_close(y.sum(1), torch.ones(8))
    assert bool((y >= 0).all())


def test_mixup_blends_images_and_targets_with_the_same_lambda() -> None:
    # image i is filled with the value i, so each output pixel reveals λ and the partner
    x = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 1, 4, 4).clone()
    aug = mixup(0.4, num_classes=5)
    out, y = aug(x, Y, torch.Generator().manual_seed(3))
    lam = aug.last_lambda_
    assert 0 < lam < 1
    partner = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out[:, 0, 0, 0], lam * torch.arange(8.0) + (1 - lam) * partner.float())
    expected = lam * F.one_hot(Y, 5).float() + (1 - lam) * F.one_hot(Y[partner], 5).float()
    torch.testing.assert_close(y, expected)


def test_cutmix_lambda_is_the_area_not_pasted() -> None:
    # first half of the batch all zeros, second half all ones: pasted pixels are visible in every image
    x = torch.cat([torch.zeros(4, 1, 10, 10), torch.ones(4, 1, 10, 10)])
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    checked = 0
    for seed in range(20):
        aug = cutmix(1.0, num_classes=2)
        out, soft = aug(x, y, torch.Generator().manual_seed(seed))
        changed = (out != x).flatten(1).float().mean(1)  # share of each image taken from a different-class partner
        for i in range(8):
            if changed[i] > 0:
                assert 1 - aug.last_lambda_ == pytest.approx(changed[i].item())
                assert soft[i, 1 - y[i]].item() == pytest.approx(changed[i].item())
                checked += 1
    assert checked > 20


def test_cutmix_box_area_follows_lambda_and_clips_at_the_border() -> None:
    assert cutmix_box(10, 10, 0.75, (0.5, 0.5)) == (3, 8, 3, 8)
    assert cutmix_box(10, 10, 0.75, (0.0, 1.0)) == (0, 3, 8, 10)
    assert cutmix_box(10, 10, 1.0, (0.5, 0.5))[0:2] == (5, 5)


def test_soft_cross_entropy_equals_torch_with_probability_targets() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 5, generator=g)
    probs = torch.softmax(torch.randn(16, 5, generator=g), dim=1)
    torch.testing.assert_close(soft_cross_entropy(logits, probs), F.cross_entropy(logits, probs))
    hard = torch.randint(0, 5, (16,), generator=g)
    torch.testing.assert_close(soft_cross_entropy(logits, hard), F.cross_entropy(logits, hard))


def test_same_generator_state_same_mix() -> None:
    x = torch.rand(8, 3, 8, 8)
    a = cutmix(1.0, num_classes=5)(x, Y, torch.Generator().manual_seed(1))
    b = cutmix(1.0, num_classes=5)(x, Y, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_num_classes_from_the_attribute_or_from_soft_targets() -> None:
    aug = mixup(0.2)
    aug.num_classes = 5  # what the Trainer does
    _, soft = aug(torch.rand(8, 1, 4, 4), Y, torch.Generator().manual_seed(0))
    # already-soft targets carry their width: chaining needs no num_classes
    _, again = cutmix(1.0)(torch.rand(8, 1, 4, 4), soft, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again.sum(1), torch.ones(8))


def test_get_config_round_trips() -> None:
    for aug in (mixup(0.3, num_classes=4, seed=2), cutmix(0.7)):
        assert type(aug)(**aug.get_config()).get_config() == aug.get_config()
    assert repr(mixup(0.3)) == "mixup(alpha=0.3, num_classes=None, seed=None)"


def test_errors_are_named() -> None:
    cases = [
        (lambda: MixUp(0), "`alpha` must be a number > 0, got 0"),
        (lambda: CutMix(1.0, num_classes=1), "`num_classes` must be None or an integer >= 2, got 1"),
        (lambda: mixup(0.2)(torch.rand(2, 1, 4, 4), torch.tensor([0, 1])),
         "`num_classes` is not set: pass it to mixup()/cutmix() or let the Trainer set it"),
        (lambda: soft_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 4)),
         "`y_soft` must have the shape of `logits` (2, 3), got (2, 4)"),
        (lambda: mixup(0.2, num_classes=2)(torch.rand(2, 1, 4, 4), torch.zeros(2, 2, 2, dtype=torch.long)),
         "`y` must be class indices (B,) or soft targets (B, K), got shape (2, 2, 2) and dtype torch.int64"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value) == message


@pytest.mark.parametrize("shape", [(6, 5), (6, 1, 40)])
def test_mixup_blends_table_rows_and_signals_with_a_permutation_of_partners(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3))
    mixer = MixUp(0.4, num_classes=3, seed=0)
    out, y = mixer(x, torch.tensor([0, 1, 2, 0, 1, 2]))
    lam = mixer.last_lambda_
    partners = (out - lam * x) / (1 - lam)  # what each row was blended with
    found = [int(torch.cdist(p.reshape(1, -1), x.reshape(len(x), -1)).argmin()) for p in partners]
    assert sorted(found) == list(range(len(x)))
    torch.testing.assert_close(out, lam * x + (1 - lam) * x[found])
    assert torch.allclose(y.sum(1), torch.ones(len(x)))


def test_cutmix_still_needs_images():
    with pytest.raises(ValueError, match=r"^`x` must be a floating-point tensor of shape \(B, C, H, W\)"):
        CutMix(1.0, num_classes=2, seed=0)(torch.randn(4, 5), torch.tensor([0, 1, 1, 0]))
