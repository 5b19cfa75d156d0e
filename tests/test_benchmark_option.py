"""``benchmarks/doctor_option.py``: its comparison of stored cells equals what ``keep_rule.py`` (the script it
replaced in session 31) wrote from the same cells, the row test equals scipy's binomial test on hand-made cells,
and the option's values are read as the field's type, an unknown field refused."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from scipy.stats import binomtest

from tests.conftest import BENCHMARKS, close


@pytest.fixture
def option(benchmark_script):
    return benchmark_script("doctor_option")


def test_the_comparison_of_keep_rules_cells_is_what_keep_rule_py_wrote(option):
    stored = json.loads((BENCHMARKS / "reference" / "keep_rule_cpu.json").read_text())
    found = option.compare(stored["cells"], ["ionosphere", "breast_cancer", "digits 10%"], ("best", "simplest"))
    assert found == close(stored["comparison"])


def test_the_one_se_comparison_is_what_its_cells_give(option):
    stored = json.loads((BENCHMARKS / "reference" / "one_se_cpu.json").read_text())
    names = ["vowel", "dna 1000", "ionosphere", "breast_cancer 150", "vowel 200"]
    assert option.compare(stored["cells"], names, tuple(stored["values"])) == close(stored["comparison"])
    pooled = stored["comparison"]["pooled"]
    assert (pooled["only_True"], pooled["only_False"]) == (42, 26)  # as MEASUREMENTS.md cites it


@pytest.mark.parametrize("shared", [True, False])
def test_every_later_value_is_tested_against_the_first_by_row(option, shared):
    right = {3: [1, 1, 0, 0, 1, 0], 5: [1, 0, 1, 1, 1, 1], 7: [0, 1, 0, 0, 1, 0]}
    cells = {f"toy|{seed}|{arm}": {"test": float(np.mean(hits)), "wall": 50.0 + seed, "best": f"kept {arm}",
                                   "right": hits, "test_rows": "fixed" if shared else f"split {seed}"}
             for seed in (0, 1) for arm, hits in right.items()}
    two = option.compare(cells, ["toy"], (3, 5))
    # seed 0 and 1 alike: 5 alone right on rows 3, 4 and 6, 3 alone right on row 2; when both seeds scored the same
    # rows, each row counts once (a sign test of 3 rows against 1), else the seeds' 12 rows are pooled (6 against 2)
    assert (two["toy"]["only_5"], two["toy"]["only_3"]) == ((3, 1) if shared else (6, 2))
    assert two["toy"]["p"] == pytest.approx(binomtest(1, 4).pvalue if shared else binomtest(2, 8).pvalue)
    assert two["toy"]["test_rows"] == ("the same for every seed" if shared else "each seed its own")
    assert two["toy"]["3"] == [0.5, 0.5] and two["toy"]["walls"]["5"] == [50.0, 51.0]
    assert two["pooled"] == {key: two["toy"][key] for key in ("only_5", "only_3", "p")}
    three = option.compare(cells, ["toy", "absent"], (3, 5, 7))
    assert set(three) == {"toy", "pooled"}
    assert three["toy"]["5 vs 3"] == {key: two["toy"][key] for key in ("only_5", "only_3", "p")}
    assert (three["toy"]["7 vs 3"]["only_7"], three["toy"]["7 vs 3"]["only_3"]) == ((0, 1) if shared else (0, 2))


def test_a_row_two_sets_share_counts_once_in_the_pooled_test_and_arms_of_other_rows_are_refused(option):
    # two sets cut from one data set keep its test rows (as digits 10% and digits 100% do): pooled, a row is one row
    right = {"a": [1, 0, 0, 1], "b": [1, 1, 1, 1]}
    cells = {f"{name}|0|{arm}": {"test": 0.5, "wall": 1.0, "best": "x", "right": hits, "test_rows": "digits"}
             for name in ("small", "large") for arm, hits in right.items()}
    pooled = option.compare(cells, ["small", "large"], ("a", "b"))["pooled"]
    assert (pooled["only_b"], pooled["only_a"]) == (2, 0) and pooled["p"] == pytest.approx(0.5)  # margins 2, 2
    cells["small|0|b"]["test_rows"] = "another split"
    with pytest.raises(SystemExit, match=r"^small seed 0: the arms scored different test rows \(\['another split', "
                                         r"'digits'\]\); their cells cannot be compared by row$"):
        option.compare(cells, ["small"], ("a", "b"))


def test_row_ids_number_each_distinct_test_row_once(option):
    ids = option.row_ids(["a", "b", "a"], [np.arange(2), np.arange(3), np.array([1, 0])])
    assert ids.tolist() == [0, 1, 3, 4, 5, 1, 0]
    assert option.row_ids([], []).tolist() == []


def test_values_take_the_fields_type_and_an_unknown_field_is_refused(option):
    assert option.parsed("folds", ["3", "5"]) == (3, 5)
    assert option.parsed("keep", ["best", "simplest"]) == ("best", "simplest")
    assert option.parsed("grouped_folds", ["true", "false"]) == (True, False)
    assert option.parsed("trials", ["none", "40"]) == (None, 40)
    with pytest.raises(SystemExit, match="--option must be a DoctorOptions field the benchmark does not set itself, "
                                         "got 'fold'"):
        option.parsed("fold", ["3"])
    with pytest.raises(SystemExit, match="got 'budget'"):  # doctor() sets it
        option.parsed("budget", ["60"])
    with pytest.raises(SystemExit, match="--option ordinal: a field of type tuple"):
        option.parsed("ordinal", ["a"])


@pytest.mark.parametrize(("reference", "names"), [("recipe_passes_cpu.json", ["digits 10%", "digits 20%"]),
                                                  ("recipe_passes_480_cpu.json", ["digits 30%"])])
def test_recipe_passes_stored_comparison_is_compare_with_the_members(option, reference, names):
    # recipe_passes.py compares its two arms (1 and 2 passes) with this function, the members each run tested beside
    stored = json.loads((BENCHMARKS / "reference" / reference).read_text())
    assert option.compare(stored["cells"], names, (1, 2), also=("members",)) == close(stored["comparison"])
    assert stored["comparison"][names[0]]["members"]["2"] == [stored["cells"][f"{names[0]}|{s}|2"]["members"]
                                                              for s in (0, 1, 2)]


def test_recipe_option_patches_one_key_of_the_built_in_recipe_and_restores_it(benchmark_script):
    recipe_option = benchmark_script("recipe_option")
    from fitguard.doctor import phases

    before = copy.deepcopy(phases.RECIPES["vgg"])
    assert recipe_option.parsed("vgg", "train.label_smoothing", ["0", "0.1", "null"]) == (0, 0.1, None)
    with recipe_option.patched("vgg", "train.label_smoothing", 0.1):
        assert phases.load_recipe("vgg", rows=1000)["train"]["label_smoothing"] == 0.1  # what a run loads
        assert phases.load_recipe("vgg", rows=90)["train"]["repeat"] == 2  # the rest as it was
    def fails() -> None:
        with recipe_option.patched("vgg", "model.dropout", None):
            assert "dropout" not in phases.RECIPES["vgg"]["model"]
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fails()
    assert phases.RECIPES["vgg"] == before
    with pytest.raises(SystemExit, match=r"--key must be section.key of a section the vgg recipe has \(model, train, "
                                         r"remedies\), got 'early_stopping.patience'"):
        recipe_option.parsed("vgg", "early_stopping.patience", ["3"])
    with pytest.raises(SystemExit, match="--values must be JSON"):
        recipe_option.parsed("vgg", "train.label_smoothing", ["x"])
    with pytest.raises(SystemExit, match="--recipe must be one of vgg, got 'resnet'"):
        recipe_option.parsed("resnet", "train.lr", ["0.1"])


@pytest.mark.parametrize(("script", "arguments", "identity", "other"), [
    ("doctor_option", ["--option", "folds", "--values", "3", "5"], {"option": "folds"}, {"option": "keep"}),
    ("recipe_option", ["--key", "train.label_smoothing", "--values", "0", "0.1"],
     {"recipe": "vgg", "key": "train.label_smoothing"}, {"recipe": "vgg", "key": "model.dropout"}),
])
def test_an_out_file_of_another_arm_or_of_none_is_refused_and_one_of_the_same_goes_on(
        benchmark_script, monkeypatch, tmp_path, capsys, script, arguments, identity, other):
    module = benchmark_script(script)
    out = tmp_path / "cells.json"
    monkeypatch.setattr("sys.argv", [script, *arguments, "--out", str(out)])
    named = lambda found: ", ".join(f"{key} {value}" for key, value in found.items())  # noqa: E731
    for stored, held in ((other, other), ({}, dict.fromkeys(identity))):  # another arm; a file that names none
        out.write_text(json.dumps({"budget": 60.0, **stored, "cells": {}}))
        with pytest.raises(SystemExit) as error:
            module.main()
        assert error.value.code == 2
        assert f"holds cells of {named(held)}, not {named(identity)}: another --out" in capsys.readouterr().err

    ran: list[tuple] = []

    def one_cell(*args: object) -> dict:
        if ran:
            raise KeyboardInterrupt  # a crash in the second run
        ran.append(args)
        return {"test": 0.5, "wall": 1.0, "members": 1, "best": "x", "right": [1]}

    out.unlink()
    monkeypatch.setattr(module, "run", one_cell)
    with pytest.raises(KeyboardInterrupt):
        module.main()
    written = json.loads(out.read_text())  # written after the first cell, mid-run: it names its arms
    assert {key: written[key] for key in identity} == identity and len(written["cells"]) == 1
    with pytest.raises(KeyboardInterrupt):
        module.main()  # the same arms: it goes on, to the next cell


def test_the_table_network_comparison_is_what_its_cells_give(benchmark_script):
    networks = benchmark_script("table_networks")
    stored = json.loads((BENCHMARKS / "reference" / "table_networks_cpu.json").read_text())
    names = ["dna 1000", "vowel", "breast_cancer 150", "vowel 200", "ionosphere", "breast_cancer"]
    assert networks.compare(stored["cells"], names, tuple(stored["arms"])) == close(stored["comparison"])
    pooled, dna = stored["comparison"]["pooled"], stored["comparison"]["dna 1000"]
    assert (pooled["only_with"], pooled["only_without"], dna["only_with"], dna["only_without"]) == (37, 40, 35, 34)
    # validation kept the network on DNA's 3 seeds and nowhere else, as the script's docstring says
    assert sorted(k for k, c in stored["cells"].items() if c["network"] == "linear on 2048 Fourier features") == [
        "dna 1000|0|with", "dna 1000|1|with", "dna 1000|2|with"]
    # the "with" arm puts the network after the MLP on Fourier features, where it stood when the cells were measured
    with_it = networks.candidates("with")
    assert with_it[networks.PLACE] == networks.NETWORK and with_it[networks.PLACE - 1].get("fourier") == 512
    assert networks.candidates("without") == [m for m in with_it if m != networks.NETWORK]


def test_the_table_network_alone_is_what_its_cells_give(benchmark_script):
    networks = benchmark_script("table_networks")
    stored = json.loads((BENCHMARKS / "reference" / "table_networks_alone_cpu.json").read_text())
    found = networks.alone_comparison(stored["cells"], ["dna 1000", "vowel", "ionosphere", "breast_cancer"])
    assert found == close(stored["comparison"])
    dna = found["dna 1000"]
    assert np.mean(dna["test"]["linear on 2048 Fourier features"]) == pytest.approx(0.9421, abs=5e-5)
    assert np.mean(dna["test"]["mlp 256 on 512 Fourier features"]) == pytest.approx(0.9222, abs=5e-5)
    assert (dna["vs mlp 256 on 512 Fourier features"]["network_rows"],
            dna["vs mlp 256 on 512 Fourier features"]["other_rows"]) == (68, 18)


def test_the_lambda_split_comparison_is_what_its_cells_give(option):
    stored = json.loads((BENCHMARKS / "reference" / "lambda_split_cpu.json").read_text())
    names = ["vowel", "dna 1000", "digits table", "mnist1d"]
    assert option.compare(stored["cells"], names, tuple(stored["values"])) == close(stored["comparison"])
    pooled = stored["comparison"]["pooled"]
    assert (pooled["only_False"], pooled["only_True"]) == (42, 35)  # as MEASUREMENTS.md cites it
    assert sorted({key.split("|")[1] for key in stored["cells"]}) == [str(seed) for seed in range(6)]
