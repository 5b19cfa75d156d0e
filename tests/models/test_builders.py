"""Model builders: layer order, shapes, determinism and every validation message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import rbf_kernel
from torch import nn

from fitguard.models import build, cnn, cnn1d, lint, mlp
from fitguard.models.builders import fourier_features


def _kinds(model: nn.Module) -> list[str]:
    return [type(m).__name__ for m in model.children()]


def test_mlp_orders_linear_norm_activation_dropout() -> None:
    model = mlp(64, 10, hidden=[32, 16], dropout=0.25, batchnorm=True, activation="gelu")
    assert _kinds(model) == [
        "Flatten",
        "Linear", "BatchNorm1d", "GELU", "Dropout",
        "Linear", "BatchNorm1d", "GELU", "Dropout",
        "Linear",
    ]  # fmt: skip
    assert model.linear1.bias is None  # batch norm's shift replaces it
    assert model(torch.zeros(4, 1, 8, 8)).shape == (4, 10)  # images are flattened
    assert lint(model) == []


def test_mlp_without_options_is_linear_activation_blocks() -> None:
    model = mlp(3, 2, hidden=[4])
    assert _kinds(model) == ["Flatten", "Linear", "ReLU", "Linear"]
    assert model.linear1.bias is not None
    assert _kinds(mlp(3, 2, hidden=[])) == ["Flatten", "Linear"]


def test_initialization_follows_the_global_seed() -> None:
    torch.manual_seed(0)
    first = cnn(1, 10, widths=[4, 8]).state_dict()
    torch.manual_seed(0)
    second = cnn(1, 10, widths=[4, 8]).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_cnn_blocks_and_head() -> None:
    model = cnn(3, 10, widths=[8, 16], dropout=0.3, spatial_dropout=0.1, input_size=(32, 32), head_hidden=12)
    assert [name for name, _ in model.named_children()] == [
        "conv1", "norm1", "activation1", "pool1", "spatial_dropout1",
        "conv2", "norm2", "activation2", "pool2", "spatial_dropout2",
        "global_pool", "flatten", "head", "head_activation", "dropout", "output",
    ]  # fmt: skip
    assert isinstance(model.spatial_dropout1, nn.Dropout2d)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert lint(model) == []
    assert model.conv1.bias is None
    assert cnn(1, 2, widths=[4], batchnorm=False).conv1.bias is not None


def test_pool_to_keeps_a_grid_of_the_last_feature_map() -> None:
    x = torch.randn(2, 1, 28, 28)
    torch.manual_seed(0)
    grid = cnn(1, 10, widths=[4, 8], pool_to=4, input_size=(28, 28))
    assert grid.output.in_features == 8 * 4 * 4 and grid(x).shape == (2, 10)
    # the oracle: the same convolutions, then torch's average pooling of the 7x7 map to 4x4 by hand
    features = grid[: list(dict(grid.named_children())).index("global_pool")].eval()(x)
    expected = grid.output(nn.functional.adaptive_avg_pool2d(features, 4).flatten(1))
    assert torch.equal(grid.eval()(x), expected)
    # a grid finer than the map (8x8 digits: 2x2 after two blocks) is capped at the map's side
    assert cnn(1, 10, widths=[4, 8], pool_to=4, input_size=(8, 8)).output.in_features == 8 * 2 * 2
    assert cnn1d(1, 10, widths=[4], pool_to=5, input_size=40).output.in_features == 4 * 5
    assert cnn(1, 10, widths=[4, 8]).output.in_features == 8  # default: global average pooling


def test_vgg_blocks_stack_convs_at_each_resolution_and_keep_the_one_conv_names() -> None:
    torch.manual_seed(0)
    vgg = cnn(3, 10, widths=[8, 16], convs=2, input_size=(32, 32))
    # the oracle: parameters counted by hand (bias-free convs, batch norm's weight and bias, the output layer)
    expected = (3 * 8 * 9 + 2 * 8) + (8 * 8 * 9 + 2 * 8) + (8 * 16 * 9 + 2 * 16) + (16 * 16 * 9 + 2 * 16) + 16 * 10 + 10
    assert sum(p.numel() for p in vgg.parameters()) == expected
    assert [name for name, module in vgg.named_children() if isinstance(module, nn.Conv2d)] == [
        "conv1", "conv1_2", "conv2", "conv2_2"]
    assert vgg(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # a one-conv net's names are what they were, so its saved weights still load
    one = cnn(3, 10, widths=[8, 16])
    assert list(one.state_dict()) == list(cnn(3, 10, widths=[8, 16], convs=1).state_dict())
    assert "conv1_2.weight" not in one.state_dict()
    # skip connections go around each unit: a 1x1 shortcut only where the channels change
    residual = cnn1d(1, 4, widths=[8], convs=2, residual=True)
    assert isinstance(residual.block1.shortcut, nn.Conv1d) and isinstance(residual.block1_2.shortcut, nn.Identity)
    assert residual(torch.zeros(2, 1, 40)).shape == (2, 4)


def test_cnn1d_takes_mnist1d_signals() -> None:
    model = cnn1d(1, 10, widths=[16, 32], spatial_dropout=0.1, input_size=40)
    assert isinstance(model.conv1, nn.Conv1d) and isinstance(model.spatial_dropout1, nn.Dropout1d)
    assert model.conv1.kernel_size == (5,)
    assert model(torch.zeros(3, 1, 40)).shape == (3, 10)


def test_build_dispatches_by_name() -> None:
    assert build("mlp", (1, 8, 8), 10, hidden=[16])(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert build("cnn", (1, 8, 8), 10, widths=[4, 8, 8])(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert build("cnn1d", (1, 40), 10)(torch.zeros(2, 1, 40)).shape == (2, 10)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: build("resnet", (3, 32, 32), 10), "unknown model 'resnet'; available: 'mlp', 'cnn', 'cnn1d'"),
        (
            lambda: build("mlp", (4,), 2, width=3),
            "unknown option 'width' for model 'mlp'; allowed: activation, batchnorm, dropout, fourier, fourier_gamma, "
            "hidden, input_dropout, residual",
        ),
        (
            lambda: build("cnn", (3, 32, 32), 2, input_size=(32, 32)),
            "unknown option 'input_size' for model 'cnn'; allowed: activation, batchnorm, convs, dropout, "
            "head_hidden, kernel_size, pool_to, residual, spatial_dropout, widths",
        ),
        (lambda: build("cnn", (64,), 2), "`input_shape` for 'cnn' must be (channels, height, width), got (64,)"),
        (lambda: build("cnn1d", (1, 8, 8), 2), "`input_shape` for 'cnn1d' must be (channels, length), got (1, 8, 8)"),
        (lambda: build("mlp", (4, 0), 2), "`input_shape[1]` = 0, must be a positive int"),
        (lambda: mlp(0, 2), "`in_features` must be an integer >= 1, got 0"),
        (lambda: mlp(4, 2.5), "`out_features` must be an integer >= 1, got 2.5"),
        (lambda: mlp(4, 2, hidden=[8, 0]), "`hidden[1]` = 0, must be a positive int"),
        (lambda: mlp(4, 2, hidden=64), "`hidden` must be a list of positive ints, got 64"),
        (lambda: mlp(4, 2, dropout=1.0), "`dropout` must be a number in [0, 1), got 1.0"),
        (
            lambda: mlp(4, 2, activation="swish"),
            "`activation` must be one of 'relu', 'gelu', 'silu', 'tanh', 'sigmoid', 'elu', 'leaky_relu', "
            "got 'swish'",
        ),
        (lambda: cnn(1, 2, widths=[]), "`widths` must name at least one convolution block, got []"),
        (lambda: cnn(1, 2, spatial_dropout=-0.1), "`spatial_dropout` must be a number in [0, 1), got -0.1"),
        (lambda: cnn(1, 2, kernel_size=4), "`kernel_size` must be odd (so 'same' padding keeps the size), got 4"),
        (
            lambda: cnn(1, 2, widths=[8, 8, 8, 8], input_size=(8, 8)),
            "`widths` has 4 blocks, each halving the input; `input_size` (8, 8) allows at most 3",
        ),
        (lambda: cnn(1, 2, input_size=(8,)), "`input_size` must be (height, width), got (8,)"),
        (lambda: cnn1d(1, 2, input_size=0), "`input_size` must be an integer >= 1, got 0"),
        (lambda: cnn1d(1, 2, head_hidden=0), "`head_hidden` must be an integer >= 1, got 0"),
        (lambda: cnn(1, 2, pool_to=0), "`pool_to` must be an integer >= 1, got 0"),
        (lambda: cnn(1, 2, convs=0), "`convs` must be an integer >= 1, got 0"),
        (lambda: mlp(4, 2, fourier=-1), "`fourier` must be an integer >= 0, got -1"),
        (lambda: mlp(4, 2, input_dropout=1.0), "`input_dropout` must be a number in [0, 1), got 1.0"),
        (lambda: mlp(4, 2, fourier=8, fourier_gamma=0.0), "`fourier_gamma` must be a finite number > 0, got 0.0"),
        (lambda: mlp(4, 2, fourier_gamma=0.5), "`fourier_gamma` (0.5) needs Fourier features: set `fourier` to their "
                                               "number (e.g. 512)"),
    ],
)
def test_bad_arguments_raise_one_clear_line(make, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        make()
    assert str(raised.value) == message


def test_numpy_integer_shapes_are_accepted() -> None:
    import numpy as np

    shape = tuple(np.array([1, 8, 8]))
    assert build("cnn", shape, np.int64(10), widths=[4])(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def _kernel_of(features: nn.Module, X: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        z = features(X)
    return (z @ z.T).double().numpy()


def test_fourier_features_start_as_the_rbf_kernel_of_scikit_learn() -> None:
    # Rahimi & Recht: z(x) . z(y) -> exp(-gamma |x - y|^2) as D grows; the estimator's sd is about 1 / sqrt(D)
    torch.manual_seed(0)
    X = torch.randn(12, 5)
    linear, cosine = fourier_features(5, 40_000, 0.3)
    kernel = _kernel_of(nn.Sequential(linear, cosine), X)
    assert np.abs(kernel - rbf_kernel(X.numpy(), gamma=0.3)).max() < 0.03
    # a wrong gamma is far off: the test can fail
    assert np.abs(kernel - rbf_kernel(X.numpy(), gamma=0.6)).max() > 0.1


def test_the_mlp_s_fourier_layer_defaults_to_scikit_learn_s_gamma_scale_for_standardized_inputs() -> None:
    torch.manual_seed(1)
    X = torch.randn(3000, 6)
    X = (X - X.mean(0)) / X.std(0)
    model = mlp(6, 2, hidden=[8], fourier=40_000)
    assert [name for name, _ in model.named_children()] == ["flatten", "fourier", "cosine", "linear1", "activation1",
                                                          "output"]
    gamma = 1.0 / (X.shape[1] * X.numpy().var())  # SVC(gamma="scale")
    rows = X[:12]
    kernel = _kernel_of(nn.Sequential(model.flatten, model.fourier, model.cosine), rows)
    assert np.abs(kernel - rbf_kernel(rows.numpy(), gamma=gamma)).max() < 0.03
    assert model(X[:4]).shape == (4, 2)
    assert build("mlp", (2, 3), 2, hidden=[4], fourier=16, fourier_gamma=2.0).fourier.out_features == 16
