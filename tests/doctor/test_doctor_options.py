import pytest

from fitguard.doctor import DoctorOptions, parse_budget
from fitguard.doctor.options import parse_data_options
from fitguard.doctor.pipeline import base_config


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0)])
def test_budget_units(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "-5m", "0s", "5d"])
def test_bad_budget_names_the_option(text):
    with pytest.raises(ValueError) as error:
        parse_budget(text)
    assert str(error.value) == f"`--budget` must be a duration > 0 such as 90s, 10m or 1h, or none, got {text!r}"


@pytest.mark.parametrize(("options", "message"), [
    ({"model": "resnet"}, "`--model` must be one of mlp, cnn, cnn1d or package.module:function, got 'resnet'"),
    ({"model": "my nets:net"}, "`--model` 'my nets:net' must look like package.module:function"),
    ({"freeze_all_but": 1}, "`--freeze-all-but` needs `--backbone NAME|PATH`"),
    ({"image_size": 32}, "`--image-size` needs `--backbone NAME|PATH`"),
    ({"backbone": "runs/pre", "image_size": 4}, "`--image-size` must be >= 8 pixels, got 4"),
    ({"backbone": "runs/pre", "freeze_all_but": -1}, "`--freeze-all-but` must be >= 0, got -1"),
    ({"backbone": "runs/pre", "unfreeze_every": 2},
     "`--unfreeze-every` needs `--freeze-all-but K`: with nothing frozen there is nothing to unfreeze"),
    ({"trials": 0}, "`--trials` must be >= 1, got 0"),
    ({"folds": 1}, "`--folds` must be >= 2, got 1"),
    ({"rounds": 1}, "`--rounds` must be 0 (skip bias-variance) or >= 2, got 1"),
    ({"train_fraction": 0.0}, "`--train-fraction` must be in (0, 1], got 0.0"),
    ({"keep": "all"}, "`--keep` must be one of best, simplest, got 'all'"),
    ({"min_steps": -1}, "`--min-steps` must be >= 0, got -1"),
    ({"cv_max_rows": -5}, "`--cv-max-rows` must be >= 0, got -5"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError) as error:
        DoctorOptions(**options)
    assert str(error.value) == message


def test_command_reruns_only_what_differs_from_the_defaults():
    assert DoctorOptions().command() == "fitguard doctor"
    assert DoctorOptions(data="my data.csv", target="y", budget=600.0, seed=3).command() == (
        "fitguard doctor --data 'my data.csv' --target y --budget 600s --seed 3")
    options = DoctorOptions(data="fashion_mnist", data_options={"limit_per_class": 100, "image_size": [16, 16]},
                            backbone="runs/pre", freeze_all_but=1, refit="none")
    assert options.command() == ("fitguard doctor --data fashion_mnist --data-option limit_per_class=100 "
                                 "--data-option 'image_size=[16, 16]' --backbone runs/pre --freeze-all-but 1 "
                                 "--refit none")


def test_data_options_are_yaml_scalars_and_reach_the_loader_spec():
    assert parse_data_options(["limit_per_class=100", "cache=false", "path=/data/fm", "image_size=[16, 16]"]) == {
        "limit_per_class": 100, "cache": False, "path": "/data/fm", "image_size": [16, 16]}
    config = base_config(DoctorOptions(data="fashion_mnist", data_options={"limit_per_class": 100}))
    assert config.data.source == "fashion_mnist" and config.data.options == {"limit_per_class": 100}


@pytest.mark.parametrize("item", ["limit_per_class", "=3", "two words=1"])
def test_bad_data_option(item):
    with pytest.raises(ValueError) as error:
        parse_data_options([item])
    assert str(error.value) == f"`--data-option` must be KEY=VALUE (e.g. limit_per_class=100), got {item!r}"


def test_monitor_reaches_early_stopping_and_accuracy_needs_classes():
    from fitguard.doctor.pipeline import check_monitor

    assert base_config(DoctorOptions()).early_stopping.monitor == "val_loss"
    assert base_config(DoctorOptions(monitor="val_accuracy")).early_stopping.monitor == "val_accuracy"
    check_monitor(DoctorOptions(monitor="val_accuracy"), "classification")
    with pytest.raises(ValueError) as error:
        check_monitor(DoctorOptions(monitor="val_accuracy"), "regression")
    assert str(error.value) == ("`--monitor val_accuracy` needs a classification target; this data is a regression: "
                                "use val_loss")


def _parse(command: str) -> DoctorOptions:
    import shlex

    import typer

    from fitguard.commands.doctor import options_from_cli, register

    app = typer.Typer()
    register(app)
    group = typer.main.get_command(app)
    context = group.commands["doctor"].make_context("doctor", shlex.split(command)[2:])
    return options_from_cli(**context.params)


def test_every_option_round_trips_through_the_command_line():
    from dataclasses import fields

    changed = DoctorOptions(
        data="my data.csv", target="y", test_data="test.csv", config="spec.yaml", model="cnn",
        data_options={"limit_per_class": 100, "image_size": [16, 16]}, missing="error", embed=False,
        ordinal=("grade=low,mid,high", "size=S,M"), backbone="runs/pre", freeze_all_but=1, unfreeze_every=2,
        image_size=32, recipe=("vgg", "vgg"),
        budget=None, trials=7, device="cpu", seed=3, epochs=20, search_epochs=10, patience=4, monitor="val_accuracy",
        baseline_patience=9, folds=4, lambda_cv=True, cv_max_rows=100, min_steps=0, keep="simplest", confirm=2,
        epsilon=0.01, rounds=0, one_se=False, train_fraction=0.5, refit="trainval", ensemble=2, references=False,
        grouped_folds=False, out="runs/x")
    defaults = DoctorOptions()
    unchanged = [f.name for f in fields(DoctorOptions)
                 if getattr(changed, f.name) == getattr(defaults, f.name)
                 and f.name not in ("overwrite", "quiet", "resume", "storage", "workers", "join")]
    assert unchanged == []  # the test covers every option that a rerun command repeats
    assert _parse(changed.command()) == changed
    assert _parse(DoctorOptions().command()) == DoctorOptions()
    assert _parse("fitguard doctor --budget 10m --overwrite --quiet") == DoctorOptions(budget=600.0, overwrite=True,
                                                                                      quiet=True)
    assert _parse("fitguard doctor --resume") == DoctorOptions(resume=True)
    # not repeated by a rerun: which processes train the folds does not change the run
    assert _parse("fitguard doctor --workers 3") == DoctorOptions(workers=3)
    assert DoctorOptions(workers=3).command() == DoctorOptions().command() == "fitguard doctor"
    assert _parse("fitguard doctor --join runs/x") == DoctorOptions(join="runs/x")
    # nor where the trials are kept; a password in the URL is masked in what a run folder records
    url = "postgresql+psycopg://fit:secret@db.example/runs"
    assert _parse(f"fitguard doctor --storage {url}") == DoctorOptions(storage=url)
    assert DoctorOptions(storage=url).command() == "fitguard doctor"
    assert DoctorOptions(storage=url).to_dict()["storage"] == "postgresql+psycopg://fit:***@db.example/runs"


def test_the_command_line_options_are_the_dataclass_fields_with_their_help():
    from dataclasses import fields

    from fitguard.doctor.options import cli_options

    parameters = cli_options()
    flags = [f.metadata["flag"] or f.name for f in fields(DoctorOptions)]
    assert [p.name for p in parameters] == flags
    assert all(f.metadata["help"].endswith(".") for f in fields(DoctorOptions))
    budget = next(p for p in parameters if p.name == "budget")
    assert budget.default == "180s"


def test_image_size_reaches_the_backbones_recipe_only_when_given():
    from fitguard.doctor.pipeline import candidates

    sized = candidates(DoctorOptions(backbone="efficientnet_lite0", image_size=32), "image")[0]
    assert sized["transfer"] == {"backbone": "efficientnet_lite0", "freeze_all_but": None, "unfreeze_every": None,
                                 "image_size": 32}
    assert "image_size" not in candidates(DoctorOptions(backbone="efficientnet_lite0"), "image")[0]["transfer"]
