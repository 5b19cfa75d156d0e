"""What a user would do instead of ``fitguard doctor``: the benchmark's peer methods, each on a fitguard ``Dataset``.

Every peer gets the same rows as doctor: ``data.train`` + ``data.val`` are the labelled rows (the preprocessing was
fitted on ``data.train``, as doctor's is), ``data.test`` is only scored. Peers that need a validation split (the Keras
recipe, the CNN) use ``data.val``, as doctor does; the others train on all labelled rows. ``seed`` seeds every
random choice (initial weights, batch order, augmentation draws). The caller sets torch's and BLAS's thread counts
once, the same for every method.

Each returns ``{"test": accuracy, "seconds": wall seconds, "predictions": predicted class codes in test-row order,
...}`` plus what it chose.

  plain_mlp      the issue's peer: MLP 256x256, Adam 1e-3, batch 32, 100 epochs on all labelled rows, no
                 regularization and no early stopping
  sklearn_mlp    scikit-learn MLPClassifier 256x256, alpha by 5-fold GridSearchCV, refit on all labelled rows
  sklearn_svc    RBF SVC, C and gamma by 5-fold GridSearchCV, refit on all labelled rows
  keras_recipe   the source article's recipe: MLP 256x256, L2 0.01 on every weight, dropout 0.25, Adam, early
                 stopping on val loss (patience 50), best weights restored
  small_cnn      images only: two plain conv layers (32, 64), Adam 1e-3, batch 32, at most 60 epochs with
                 flip-free shift/rotate augmentation (kornia RandomAffine(degrees=10, translate=(0.1, 0.1))),
                 early stopping on val loss (patience 15), best weights restored
  vgg_recipe     images only: the CIFAR-style recipe a practitioner writes from memory -- a VGG net (two
                 conv-BN-ReLU layers at 32 and 64 channels, one at 128, max pools, global max pool, dropout 0.3),
                 SGD with Nesterov momentum, weight decay 5e-4 and a one-cycle schedule (peak 0.1) over a fixed 60
                 epochs of batch 64 on all labelled rows, label smoothing 0.1; augmentation by shifts of up to 10%
                 and random erasing (p = 0.5), plus horizontal flips where mirrored images keep their class
                 (photos of clothes and objects: Fashion-MNIST, CIFAR-10; not digits)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from fitguard.data import Dataset


def flat(part) -> tuple[np.ndarray, np.ndarray]:
    """Inputs as (N, features) float32 and class codes of one split."""
    return part.X.reshape(len(part), -1).numpy(), part.y.numpy()


def labelled(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """All labelled rows (train then validation), flattened."""
    (X, y), (Xv, yv) = flat(data.train), flat(data.val)
    return np.concatenate([X, Xv]), np.concatenate([y, yv])


def plain_mlp(data: Dataset, seed: int, epochs: int = 100) -> dict:
    """The unregularized MLP a user trains first: every labelled row, a fixed number of epochs, the last weights."""
    torch.manual_seed(seed)
    X, y = (torch.as_tensor(a) for a in labelled(data))
    model = _mlp(X.shape[1], data.num_classes, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(seed)

    def step(batch: torch.Tensor) -> None:
        loss = loss_fn(model(X[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    _train_fixed_epochs(model, step, len(X), epochs, batch_size=32, order=order)
    return _scored(model, data, started, epochs=epochs)


def sklearn_mlp(data: Dataset, seed: int) -> dict:
    """scikit-learn's MLPClassifier with alpha (its L2 strength) by 5-fold cross-validation."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.neural_network import MLPClassifier

    X, y = labelled(data)
    started = time.perf_counter()
    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=seed),
                          {"alpha": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]}, cv=5, n_jobs=1)
    with warnings.catch_warnings():  # "maximum iterations reached" on every fold: as a user would see it, once
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return _scored_sklearn(search, data, started, alpha=search.best_params_["alpha"])


def sklearn_svc(data: Dataset, seed: int) -> dict:
    """An RBF support vector machine with C and gamma by 5-fold cross-validation (deterministic: ``seed`` unused)."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    X, y = labelled(data)
    started = time.perf_counter()
    search = GridSearchCV(SVC(kernel="rbf"), {"C": [0.1, 1, 10, 100], "gamma": ["scale", 1e-3, 1e-2, 1e-1]}, cv=5,
                          n_jobs=1)
    search.fit(X, y)
    return _scored_sklearn(search, data, started, **search.best_params_)


def keras_recipe(data: Dataset, seed: int, max_epochs: int = 500) -> dict:
    """The article's recipe, written as a user would in plain PyTorch: trains on train, stops on val."""
    torch.manual_seed(seed)
    (X, y), (Xv, yv) = (tuple(map(torch.as_tensor, flat(p))) for p in (data.train, data.val))
    model = _mlp(X.shape[1], data.num_classes, dropout=0.25)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(seed)

    def step(batch: torch.Tensor) -> None:
        loss = loss_fn(model(X[batch]), y[batch]) + 0.01 * sum((w**2).sum() for w in weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    best_epoch = _train_with_early_stopping(model, step, len(X), Xv, yv, max_epochs, patience=50, order=order)
    return _scored(model, data, started, best_epoch=best_epoch)


def small_cnn(data: Dataset, seed: int, max_epochs: int = 60, patience: int = 15) -> dict:
    """A plain two-layer CNN with shift/rotate augmentation, early stopping on val loss; images only."""
    import kornia.augmentation

    if data.kind != "image":
        raise ValueError(f"`small_cnn` needs image data, got {data.kind!r} data {data.name!r}")
    torch.manual_seed(seed)  # kornia draws its augmentation parameters from torch's global generator
    X, y, Xv, yv = data.train.X, data.train.y, data.val.X, data.val.y
    channels, height, width = data.input_shape
    model = torch.nn.Sequential(
        torch.nn.Conv2d(channels, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * (height // 4) * (width // 4), 128), torch.nn.ReLU(),
        torch.nn.Linear(128, data.num_classes),
    )
    augment = kornia.augmentation.RandomAffine(degrees=10, translate=(0.1, 0.1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(seed)

    def step(batch: torch.Tensor) -> None:
        loss = loss_fn(model(augment(X[batch])), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    best_epoch = _train_with_early_stopping(model, step, len(X), Xv, yv, max_epochs, patience=patience, order=order)
    return _scored(model, data, started, best_epoch=best_epoch)


MIRRORED = frozenset({"fashion_mnist", "cifar10"})  # sources whose mirrored images keep their class


def vgg_recipe(data: Dataset, seed: int, epochs: int = 60, *, pool: str = "max", third_block_convs: int = 1,
               schedule: str = "one cycle", label_smoothing: float = 0.1, flips: bool = True,
               erase: float = 0.15) -> dict:
    """The fixed VGG recipe (no validation: a fixed schedule on every labelled row); images only.

    The keywords change one ingredient at a time (``benchmarks/peer_ablation.py``); their defaults are the peer:
    global ``pool`` "max" (or "avg"), one conv at 128 channels (``third_block_convs``), ``schedule`` "one cycle"
    (SGD with Nesterov momentum, a warm-up to 0.1 over the first quarter of the steps) or "cosine from 0.05" (the
    schedule fitguard's ``vgg`` recipe had until session 19: momentum SGD, a cosine decay from 0.05 from the first
    step, stepped every batch here), label smoothing, flips where mirroring keeps the class, erasing up to ``erase``
    of an image.
    """
    import kornia.augmentation

    if data.kind != "image":
        raise ValueError(f"`vgg_recipe` needs image data, got {data.kind!r} data {data.name!r}")
    torch.manual_seed(seed)  # initial weights and kornia's augmentation draws
    X, y = torch.cat([data.train.X, data.val.X]), torch.cat([data.train.y, data.val.y])
    channels = data.input_shape[0]

    def conv(inputs: int, outputs: int) -> list[torch.nn.Module]:
        return [torch.nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), torch.nn.BatchNorm2d(outputs),
                torch.nn.ReLU()]

    third = conv(64, 128) + [layer for _ in range(third_block_convs - 1) for layer in conv(128, 128)]
    head = {"max": torch.nn.AdaptiveMaxPool2d(1), "avg": torch.nn.AdaptiveAvgPool2d(1)}[pool]
    model = torch.nn.Sequential(
        *conv(channels, 32), *conv(32, 32), torch.nn.MaxPool2d(2), *conv(32, 64), *conv(64, 64), torch.nn.MaxPool2d(2),
        *third, torch.nn.MaxPool2d(2), head, torch.nn.Flatten(), torch.nn.Dropout(0.3),
        torch.nn.Linear(128, data.num_classes))
    mirrored = [kornia.augmentation.RandomHorizontalFlip()] if flips and data.name in MIRRORED else []
    augment = torch.nn.Sequential(*mirrored, kornia.augmentation.RandomAffine(degrees=0, translate=(0.1, 0.1)),
                                  kornia.augmentation.RandomErasing(p=0.5, scale=(0.02, erase)))
    batch_size = 64
    total_steps = epochs * -(-len(X) // batch_size)
    if schedule == "one cycle":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        cycle: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=0.1, pct_start=0.25, total_steps=total_steps)
    elif schedule == "cosine from 0.05":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        cycle = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    else:
        raise ValueError(f"`schedule` must be 'one cycle' or 'cosine from 0.05', got {schedule!r}")
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    order = torch.Generator().manual_seed(seed)

    def step(batch: torch.Tensor) -> None:
        loss = loss_fn(model(augment(X[batch])), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        cycle.step()

    started = time.perf_counter()
    _train_fixed_epochs(model, step, len(X), epochs, batch_size=batch_size, order=order)
    return _scored(model, data, started, epochs=epochs, flips=bool(mirrored))


PEERS: dict[str, Callable[[Dataset, int], dict]] = {
    "plain MLP": plain_mlp,
    "sklearn MLP+CV": sklearn_mlp,
    "RBF SVC+CV": sklearn_svc,
    "Keras recipe": keras_recipe,
    "CNN+augment": small_cnn,
    "VGG recipe": vgg_recipe,
}
IMAGE_ONLY = frozenset({"CNN+augment", "VGG recipe"})


def _mlp(inputs: int, classes: int, dropout: float) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    for size_in in (inputs, 256):
        layers += [torch.nn.Linear(size_in, 256), torch.nn.ReLU()] + ([torch.nn.Dropout(dropout)] if dropout else [])
    return torch.nn.Sequential(*layers, torch.nn.Linear(256, classes))


def _train_fixed_epochs(model, step, rows: int, epochs: int, *, batch_size: int, order: torch.Generator) -> None:
    """``epochs`` epochs of ``step`` over shuffled batches of ``batch_size``; keeps the last weights."""
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(rows, generator=order).split(batch_size):
            step(batch)


def _train_with_early_stopping(model, step, rows: int, Xv, yv, max_epochs: int, *, patience: int,
                               order: torch.Generator) -> int:
    """Epochs of ``step`` over shuffled batches of 32; keeps (restores) the weights of the lowest val loss."""
    loss_fn = torch.nn.CrossEntropyLoss()
    best, best_state, best_epoch = float("inf"), None, 0
    for epoch in range(1, max_epochs + 1):
        _train_fixed_epochs(model, step, rows, 1, batch_size=32, order=order)
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model(Xv), yv))
        if val_loss < best:
            best, best_state, best_epoch = val_loss, {k: v.clone() for k, v in model.state_dict().items()}, epoch
        elif epoch - best_epoch > patience:
            break
    model.load_state_dict(best_state)
    return best_epoch


def _scored(model: torch.nn.Module, data: Dataset, started: float, **chosen) -> dict:
    model.eval()
    with torch.no_grad():
        X = data.test.X if isinstance(model[0], torch.nn.Conv2d) else data.test.X.reshape(len(data.test), -1)
        predictions = torch.cat([model(chunk).argmax(1) for chunk in X.split(1024)]).numpy()
    seconds = time.perf_counter() - started
    return {"test": float(np.mean(predictions == data.test.y.numpy())), "seconds": seconds,
            "predictions": predictions.astype(np.int64), **chosen}


def _scored_sklearn(search, data: Dataset, started: float, **chosen) -> dict:
    Xt, yt = flat(data.test)
    predictions = np.asarray(search.predict(Xt), dtype=np.int64)
    return {"test": float(np.mean(predictions == yt)), "seconds": time.perf_counter() - started,
            "predictions": predictions, "cv_accuracy": float(search.best_score_), **chosen}
