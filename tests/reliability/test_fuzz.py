"""Fuzzing the parsers and loaders: whatever the input, the outcome is a result or one clean line.

"Clean" means ``ValueError`` (``FitguardError`` is one) or ``FileNotFoundError`` with a non-empty one-line
message — exactly what ``fitguard``'s ``main`` turns into ``error: ...`` and exit code 2. Any other exception
type fails the test, and hypothesis shrinks it to a minimal input.
"""

from __future__ import annotations

import json
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_safetensors

from fitguard.config import TrainConfig, parse_config, read_config_file
from fitguard.data import Dataset, from_csv, load
from fitguard.errors import FitguardError
from fitguard.runs import Predictor
from fitguard.runs import load as load_run
from fitguard.train.state_io import load_state, save_state

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@contextmanager
def clean_outcome():
    """Pass on a clean one-line error; let anything else (another type, a multi-line message) fail the test."""
    try:
        yield
    except (ValueError, FileNotFoundError) as error:
        message = str(error)
        assert message and "\n" not in message.strip(), f"not one line: {message!r}"


# ------------------------------------------------------------------------------------------- configs
SECTIONS = ["data", "model", "train", "early_stopping", "checkpoint", "remedies", "transfer", "tensorboard"]
KEYS = ["source", "target", "val", "test", "seed", "options", "name", "hidden", "dropout", "optimizer", "lr",
        "batch_size", "max_epochs", "loss", "monitor", "mode", "patience", "min_delta", "penalties", "kind", "lam",
        "weight_noise", "sigma", "augment", "backbone", "freeze_all_but", "every_epochs", "keep_last", "precision"]
scalars = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=12)
           | st.sampled_from(["digits", "adam", "l2", "min", "auto", "32", "bf16", "val_loss", "mlp"]))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner,
                                                                  max_size=4),
    max_leaves=12,
)
configs = st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=8), values, max_size=5) | values


@FUZZ
@given(configs)
def test_parse_config_gives_a_config_or_one_clean_line(data):
    with clean_outcome():
        assert isinstance(parse_config(data, "fuzz.yaml"), TrainConfig)


YAML_PIECES = [":", " ", "\n", "  ", "- ", "{", "}", "[", "]", ",", "&a ", "*a", "!!python/object:os.system ", "'",
               '"', "#", "|", ">", "?", "%YAML 1.1\n", "---\n", "...", "data", "train", "lr", "1e-3", "nan", "\t",
               "source: digits", "!!binary ", "~", "@", "`", "\\", "\x00", "\ufeff", "é"]
TOML_PIECES = ["[", "]", "[[", "]]", "=", " ", "\n", '"', "'", "'''", '"""', "data", "train", ".", "lr", "1e-3",
               "nan", "inf", "true", "{", "}", ",", "#", "1979-05-27T07:32:00Z", "0x1F", "\\u00e9", "\\", "\x00"]


def pieces(alphabet: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(alphabet) | st.text(max_size=4), max_size=40).map("".join)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("suffix", ["yaml", "toml"])
@FUZZ
@given(data=st.data())
def test_read_config_file_gives_a_mapping_or_one_clean_line(scratch, suffix, data):
    text = data.draw(pieces(YAML_PIECES if suffix == "yaml" else TOML_PIECES) | st.text(max_size=200))
    path = scratch / f"spec.{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with clean_outcome():
        assert isinstance(read_config_file(path), dict)


# ------------------------------------------------------------------------------------------- CSV files
CELLS = ["0", "1", "2", "-1", "0.5", "1e308", "-1e309", "nan", "NaN", "inf", "-inf", "", " ", "a", "b", "x y",
         '"q"', "1,5", "é", "\x00", "True", "0x10"]
rows = st.lists(st.lists(st.sampled_from(CELLS), min_size=1, max_size=4), max_size=12)


@FUZZ
@given(header=st.lists(st.sampled_from(["a", "b", "y", "", " y", "a"]), min_size=1, max_size=4), body=rows,
       task=st.sampled_from([None, "classification", "regression"]))
def test_from_csv_gives_a_dataset_or_one_clean_line(scratch, header, body, task):
    path = scratch / "table.csv"
    path.write_text("\n".join(",".join(row) for row in [header, *body]) + "\n", encoding="utf-8")
    with clean_outcome():
        assert isinstance(from_csv(path, "y", task=task, val=0.2, test=0.2), Dataset)


@FUZZ
@given(blob=st.binary(max_size=300))
def test_load_of_random_csv_bytes_gives_a_dataset_or_one_clean_line(scratch, blob):
    path = scratch / "random.csv"
    path.write_bytes(blob)
    with clean_outcome():
        assert isinstance(load(str(path), target="y"), Dataset)


# ------------------------------------------------------------------------------------------- checkpoints
def _pair(directory: Path, tensor_bytes: bytes, json_bytes: bytes | None = None) -> Path:
    """A checkpoint pair whose JSON names the CRC-32 of ``tensor_bytes`` (so the safetensors parser sees them)."""
    meta = {"format": "fitguard-state/2", "crc32": f"{zlib.crc32(tensor_bytes):08x}",
            "state": {"model": {"w": {"__tensor__": "state.model.w"}}}}
    (directory / "ckpt.safetensors").write_bytes(tensor_bytes)
    (directory / "ckpt.json").write_bytes(json.dumps(meta).encode() if json_bytes is None else json_bytes)
    return directory / "ckpt.json"


@FUZZ
@given(blob=st.binary(max_size=200), as_json=st.booleans())
def test_load_state_of_random_bytes_is_refused_in_one_line(scratch, blob, as_json):
    path = _pair(scratch, blob) if not as_json else _pair(scratch, b"", json_bytes=blob)
    with clean_outcome():
        load_state(path)


dtypes = st.sampled_from(["F32", "F16", "BF16", "I64", "U8", "BOOL", "F64", "X9", ""])
headers = st.dictionaries(
    st.text(max_size=5),
    st.fixed_dictionaries({"dtype": dtypes, "shape": st.lists(st.integers(-2, 2**40), max_size=3),
                           "data_offsets": st.lists(st.integers(-1, 2**62), min_size=0, max_size=3)}),
    max_size=3,
)


@FUZZ
@given(header=headers, payload=st.binary(max_size=64), declared=st.none() | st.integers(0, 2**64 - 1))
def test_load_state_of_a_hostile_safetensors_header_is_refused_in_one_line(scratch, header, payload, declared):
    text = json.dumps(header).encode()
    blob = struct.pack("<Q", len(text) if declared is None else declared) + text + payload
    with clean_outcome():
        load_state(_pair(scratch, blob))


def test_a_tensor_named_by_a_line_break_is_refused_in_one_line(tmp_path):
    # what hypothesis found (session 24): safetensors quotes the hostile name in its message, line break and all
    text = json.dumps({"\n": {"dtype": "F32", "shape": [], "data_offsets": [1, 0]}}).encode()
    with pytest.raises(FitguardError) as error:
        load_state(_pair(tmp_path, struct.pack("<Q", len(text)) + text))
    assert "\n" not in str(error.value) and str(error.value).endswith("invalid offset for tensor `\\n`")


def test_a_saved_state_still_loads(tmp_path):
    """The fuzzed checks are not so strict that a real checkpoint fails them."""
    path = save_state(tmp_path / "ckpt", {"model": {"w": torch.arange(3.0)}, "epoch": 2})
    assert load_state(path)["epoch"] == 2


# ------------------------------------------------------------------------------------------- saved models
@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> Path:
    from fitguard.data import from_arrays
    from fitguard.models import build
    from fitguard.runs import save_model

    directory = tmp_path_factory.mktemp("run")
    data = from_arrays(np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2)
    save_model(directory, build("mlp", data.input_shape, data.out_features, hidden=[4]), "mlp", {"hidden": [4]}, data)
    return directory


@FUZZ
@given(blob=st.binary(max_size=200) | st.builds(lambda n: save_safetensors({"w": torch.zeros(n)}), st.integers(0, 4)),
       which=st.sampled_from(["model.safetensors", "model.json"]))
def test_runs_load_of_random_model_files_is_refused_in_one_line(saved_run, tmp_path_factory, blob, which):
    directory = tmp_path_factory.mktemp("damaged")
    for name in ("model.safetensors", "model.json"):
        (directory / name).write_bytes(blob if name == which else (saved_run / name).read_bytes())
    with clean_outcome():
        load_run(directory)


@FUZZ
@given(spec=st.dictionaries(st.sampled_from(["model", "input_shape", "out_features", "architecture", "task",
                                             "class_names", "preprocessor", "options"]), values, max_size=5))
def test_runs_load_of_a_damaged_model_description_is_refused_in_one_line(saved_run, tmp_path_factory, spec):
    directory = tmp_path_factory.mktemp("edited")
    good = json.loads((saved_run / "model.json").read_text())
    (directory / "model.json").write_text(json.dumps({**good, **spec}))
    (directory / "model.safetensors").write_bytes((saved_run / "model.safetensors").read_bytes())
    with clean_outcome():
        assert isinstance(load_run(directory), Predictor)
