"""The ablation's second dropout for MLPs, Srivastava et al.'s 20% of the inputs and 50% of the hidden units: offered
for built-in MLPs only and never to an underfit model, an alternative to ``dropout 0.25`` in a combination, and the
network it builds drops its inputs as dropout does (checked against the same network computed by hand)."""

import pytest
import torch

from fitguard.data import load
from fitguard.doctor.phases import INPUT_DROPOUT_MODEL, _group, remedies_for
from fitguard.doctor.plan import INPUT_DROPOUT, REMEDIES, plan_for
from fitguard.models import build
from fitguard.models.grouped import GroupedNet, groupable
from tests.doctor.test_cocktail_search import ablated


@pytest.fixture(scope="module")
def wine():
    return load("wine", val=0.2, test=0.2, seed=0)


def test_it_is_offered_after_dropout_0_25_for_built_in_mlps_only(wine):
    network = {"model": {"name": "mlp", "hidden": [16]}}
    found = dict(remedies_for(wine, network, 1e-3))
    names = list(found)
    assert names.index(INPUT_DROPOUT) == names.index("dropout 0.25") + 1
    assert found[INPUT_DROPOUT] == {"model": {"name": "mlp", "hidden": [16], "dropout": 0.5, "input_dropout": 0.2}}
    assert INPUT_DROPOUT_MODEL == {"dropout": 0.5, "input_dropout": 0.2}
    fourier = {"model": {"name": "mlp", "hidden": [256], "fourier": 512}}
    assert INPUT_DROPOUT in dict(remedies_for(wine, fourier, None))
    digits = load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.1)
    assert INPUT_DROPOUT not in dict(remedies_for(digits, {"model": {"name": "cnn", "widths": [4, 8]}}, None))
    assert INPUT_DROPOUT not in dict(remedies_for(digits, {"model": {"name": "my.nets:net"}}, None))
    # a regularizer: never given to an underfit model; the others try it right after dropout 0.25
    assert INPUT_DROPOUT not in plan_for("underfit").remedies
    for kind in ("overfit", "good"):
        remedies = plan_for(kind).remedies
        assert remedies.index(INPUT_DROPOUT) == remedies.index("dropout 0.25") + 1
    assert REMEDIES.index(INPUT_DROPOUT) == REMEDIES.index("dropout 0.25") + 1
    # the verdict's "dropout" moves both forward
    assert plan_for("overfit", recommended=["dropout"]).remedies[:2] == ("dropout 0.25", INPUT_DROPOUT)


def test_a_combination_takes_one_of_the_two_dropouts(wine):
    named = dict(remedies_for(wine, {"model": {"name": "mlp", "hidden": [16]}}, 1e-3,
                              ("L2", "dropout 0.25", INPUT_DROPOUT)))
    assert _group(named["dropout 0.25"]) == _group(named[INPUT_DROPOUT]) != _group(named["L2 λ=0.001"])
    asked, rows = ablated(named, {("L2 λ=0.001",): 0.82, ("dropout 0.25",): 0.81, (INPUT_DROPOUT,): 0.85})
    assert [r.details["helped"] for r in rows[1:4]] == [True] * 3
    # the better-ranked dropout of the two, with L2: never both dropouts
    assert set(asked[-1]) == {INPUT_DROPOUT, "L2 λ=0.001"} and rows[-1].details["stage"] == "combined"


def summing(features):
    """The recipe's network with no hidden layer, whose output is the sum of its (dropped and scaled) inputs."""
    model = build("mlp", (features,), 1, hidden=[], **INPUT_DROPOUT_MODEL)
    with torch.no_grad():
        model.output.weight.fill_(1.0)
        model.output.bias.zero_()
    return model


def test_the_network_drops_a_fifth_of_its_inputs_and_none_when_evaluated():
    torch.manual_seed(0)
    model = summing(50)
    assert [name for name, _ in model.named_children()] == ["flatten", "input_dropout", "output"]
    x = torch.ones(4000, 50)
    # evaluated: the linear model by hand, every input kept
    assert torch.equal(model.eval()(x), x @ model.output.weight.T + model.output.bias)
    # trained: each input kept with probability 0.8 and scaled by 1 / 0.8, so a row's sum is 1.25 x (kept inputs)
    kept = model.train()(x).squeeze(1) * 0.8
    assert torch.allclose(kept, kept.round(), atol=1e-4)
    assert kept.mean().item() / 50 == pytest.approx(0.8, abs=0.01)  # 200,000 draws: sd of the share 0.0009


def test_grouped_members_predict_as_alone_and_drop_their_own_inputs_in_training():
    members = [build("mlp", (6,), 3, hidden=[8], **INPUT_DROPOUT_MODEL) for _ in range(3)]
    assert groupable(members[0])
    net = GroupedNet.from_members(members).eval()
    x = torch.randn(5, 3, 6)
    out = net(x.flatten(1, 2)).view(5, 3, 3)
    for m, member in enumerate(members):
        assert torch.allclose(out[:, m], member.eval()(x[:, m]), atol=1e-6)
    # training: each member's inputs are dropped with its own draws (the linear models by hand: a row's output is
    # 1.25 x the inputs it kept), a fifth of them in each member
    grouped = GroupedNet.from_members([summing(50), summing(50)]).train()
    kept = (grouped(torch.ones(2000, 100)) * 0.8).view(2000, 2)
    assert torch.allclose(kept, kept.round(), atol=1e-4)
    assert kept.mean(0).div(50).tolist() == pytest.approx([0.8, 0.8], abs=0.015)
    assert (kept[:, 0] != kept[:, 1]).float().mean() > 0.5  # not one mask shared by both members
