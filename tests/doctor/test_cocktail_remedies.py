"""The regularization cocktail's remedies in the doctor's ablation: cutout for images, mixup for class tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fitguard.config import parse_config
from fitguard.data import load
from fitguard.data.dataset import build_dataset
from fitguard.data.encoding import infer_columns
from fitguard.data.source import RawData, RawSource
from fitguard.doctor.phases import combine, remedies_for
from fitguard.doctor.plan import plan_for
from fitguard.recipe import build_run

NETWORK = {"model": {"name": "mlp", "hidden": [16]}}


def test_images_get_cutout_and_classes_get_mixup_in_the_order_the_plan_names():
    digits = load("digits", seed=0)
    changes = dict(remedies_for(digits, {"model": {"name": "cnn", "widths": [8]}}, 1e-3))
    assert changes["augmentation with cutout"] == {"remedies": {"augment": {"rotate": 10.0, "shift": 0.1,
                                                                            "scale": 0.1, "erase": 0.25}}}
    assert changes["mixup α=0.2"] == {"remedies": {"mixup": 0.2}}
    # the usual remedies end with mixup; the cocktail's (tests/doctor/test_cocktail_search.py) follow
    assert list(changes)[-5:] == ["weight noise σ=0.01·|w|", "mixup α=0.2", "skip connections", "cutmix α=1",
                                  "FGSM ε=0.05"]
    assert not any("mixup" in name for name, _ in remedies_for(load("diabetes", seed=0), NETWORK, 1e-3))
    # an underfit model gets no regularizer: cutout adds data like the other augmentations, mixup regularizes
    assert "augmentation with cutout" in plan_for("underfit").remedies and "mixup" not in plan_for("underfit").remedies
    assert "mixup" in plan_for("overfit").remedies


def test_no_mixup_over_embedding_codes():
    rng = np.random.default_rng(0)
    cells = np.array([[f"town{rng.integers(0, 30)}", f"{rng.normal():.2f}"] for _ in range(200)], dtype=object)
    source = RawSource("towns", "table", RawData(cells, rng.integers(0, 2, 200).astype(str)), "classification",
                       columns=infer_columns(["town", "x"], cells))
    data = build_dataset(source, seed=0)
    assert data.preprocessor.embeddings
    assert not any("mixup" in name for name, _ in remedies_for(data, NETWORK, 1e-3))


def test_the_cutout_and_mixup_recipes_build_and_train():
    digits = load("digits", seed=0, val=0.2, test=0.2)
    network = {"model": {"name": "cnn", "widths": [4]}}
    for name, change in remedies_for(digits, network, None, ("augmentation with cutout", "mixup")):
        recipe = combine({"model": {"name": "cnn", "widths": [4]}}, [change])
        config = parse_config({"data": {"source": "digits"}, "model": recipe["model"], "remedies": recipe["remedies"],
                               "train": {"max_epochs": 1, "batch_size": 64}}, name)
        run = build_run(config, data=digits)
        history = run.trainer.fit(digits.train, digits.val)
        assert np.isfinite(history.epochs[-1]["val_loss"]), name
        assert run.trainer.augment is not None
        x = digits.train.X[:8]
        out, _ = run.trainer.augment(x, digits.train.y[:8], torch.Generator().manual_seed(0))
        assert out.shape == x.shape and not torch.equal(out, x), name


def test_the_mixup_recipe_trains_on_a_table_and_cutmix_is_refused_there():
    table = load("breast_cancer", seed=0)
    change = dict(remedies_for(table, NETWORK, None, ("mixup",)))["mixup α=0.2"]
    recipe = combine(NETWORK, [change])
    config = parse_config({"data": {"source": "breast_cancer"}, "model": recipe["model"],
                           "remedies": recipe["remedies"],
                           "train": {"max_epochs": 2}}, "mixup")
    run = build_run(config, data=table)
    assert np.isfinite(run.trainer.fit(table.train, table.val).epochs[-1]["val_loss"])
    cutmix = parse_config({"data": {"source": "breast_cancer"}, "remedies": {"cutmix": 1.0}}, "cutmix")
    with pytest.raises(ValueError) as error:
        build_run(cutmix, data=table)
    assert str(error.value) == ("`remedies.cutmix` pastes a box of one image into another, so it applies to image "
                                "data, but 'breast_cancer' is table data (mixup blends any rows)")
