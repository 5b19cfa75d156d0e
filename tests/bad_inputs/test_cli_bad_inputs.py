"""The bad-input corpus: every case runs the real ``fitguard`` command in a subprocess and must end with exit
code 2 and exactly one line on stderr, ``error: <what is wrong and what would be right>`` — never a traceback.
A ``train`` that fails this way must also leave no run folder behind (it would block the corrected rerun).

Each subprocess costs ~2 s (importing torch), so the cases run two at a time in a module fixture and the
parametrized test only checks the collected results.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from bad_files import png, two_classes, zip_bomb, zip_declaring_huge_sizes, zip_of, zip_with_damaged_entry

Content = str | bytes | Callable[[], bytes]
TABLE = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,1,0\n2,3,1\n"
SEARCH = "data: {source: wine}\ntrain: {max_epochs: 1}\nsearch:\n  lr: [0.001, 0.01]\n"
SPACE_HINT = "see `fitguard train --help` for the sections and keys"
MISSING_REFUSED = ("with missing='error' every value must be filled in "
                   "(missing='impute' fills gaps from the training rows)")


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    message: str
    files: dict[str, Content] = field(default_factory=dict)


def _images(entries: dict[str, bytes]) -> dict[str, Content]:
    return {f"images/{name}": data for name, data in entries.items()}


CASES = [
    # ------------------------------------------------------------------ CSV files
    Case("csv_empty", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "CSV file t.csv is empty; expected a header row and data rows", {"t.csv": ""}),
    Case("csv_ragged_row", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "line 3 of t.csv has 2 fields, but the header has 3", {"t.csv": "a,b,y\n1,2,0\n3,4\n"}),
    Case("csv_missing_value", ("train", "--data", "t.csv", "--target", "y", "--missing", "error", "--out", "run"),
         f"column 'b' has no value at line 3 of t.csv; {MISSING_REFUSED}", {"t.csv": "a,b,y\n1,2,0\n3,,1\n"}),
    Case("csv_missing_value_doctor",
         ("doctor", "--data", "t.csv", "--target", "y", "--missing", "error", "--out", "run"),
         f"column 'b' has no value at line 3 of t.csv; {MISSING_REFUSED}", {"t.csv": TABLE.replace("3,4,1", "3,NA,1")}),
    Case("csv_missing_target", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "target has no value at line 3 of t.csv; every row needs one: fill it in or remove the row",
         {"t.csv": TABLE.replace("3,4,1", "3,4,")}),
    Case("missing_unknown_choice", ("train", "--data", "t.csv", "--target", "y", "--missing", "drop", "--out", "run"),
         "options: data.missing: must be 'impute' or 'error', got 'drop'", {"t.csv": TABLE}),
    Case("missing_unknown_choice_doctor", ("doctor", "--data", "t.csv", "--target", "y", "--missing", "drop"),
         "`--missing` must be one of impute, error, got 'drop'", {"t.csv": TABLE}),
    Case("csv_not_utf8", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "CSV file t.csv is not UTF-8 text (byte 0xff at offset 0); save it as UTF-8",
         {"t.csv": b"\xff\xfea,y\n1,0\n"}),
    Case("csv_field_too_large", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "CSV file t.csv cannot be parsed: field larger than field limit (131072)",
         {"t.csv": "a,y\n" + "x" * 200_000 + ",1\n"}),
    Case("csv_missing_target_column", ("train", "--data", "t.csv", "--target", "label", "--out", "run"),
         "column 'label' not found in t.csv; available columns: 'a', 'b', 'y'", {"t.csv": TABLE}),
    Case("csv_target_not_given", ("train", "--data", "t.csv", "--out", "run"),
         "`target` (`--target` on the command line) is required for CSV files; available columns: 'a', 'b', 'y'",
         {"t.csv": TABLE}),
    Case("csv_nan", ("train", "--data", "t.csv", "--target", "y", "--missing", "error", "--out", "run"),
         f"column 'b' has no value at line 3 of t.csv; {MISSING_REFUSED}",
         {"t.csv": TABLE.replace("3,4,1", "3,nan,1")}),
    Case("csv_inf", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "column 'a' has -inf at line 2 of t.csv; every value must be a finite number",
         {"t.csv": TABLE.replace("1,2,0", "-inf,2,0")}),
    Case("csv_single_class", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "target has a single class ('0'); classification needs at least 2 classes",
         {"t.csv": "a,y\n1,0\n2,0\n3,0\n4,0\n"}),
    Case("csv_more_classes_than_samples", ("train", "--data", "t.csv", "--target", "y", "--out", "run"),
         "a stratified split needs at least 2 samples of every class, but class 'a' has 1; add samples or pass "
         "stratify=False", {"t.csv": "x,y\n1,a\n2,b\n3,c\n4,d\n5,e\n"}),
    # ------------------------------------------------------------------ image folders and zips
    Case("images_mixed_sizes", ("train", "--data", "images", "--out", "run"),
         "images differ in size: images/a/0.png is 8x8 but images/b/0.png is 9x9 (height x width); "
         "pass image_size=(height, width) to resize all",
         _images({"a/0.png": png(), "a/1.png": png(), "b/0.png": png(9, 9), "b/1.png": png()})),
    Case("images_corrupt_file", ("train", "--data", "images", "--out", "run"),
         "images/b/1.png is not a readable PNG or JPEG image; remove or replace it",
         _images(two_classes({"b/1.png": b"\x89PNG\r\n\x1a\n truncated"}))),
    Case("images_non_image_file", ("train", "--data", "images", "--out", "run"),
         "b/notes.txt in images is not an image; only .png, .jpg and .jpeg files may be there",
         _images(two_classes({"b/notes.txt": b"hello"}))),
    Case("zip_flat_layout", ("train", "--data", "d.zip", "--out", "run"),
         "unexpected path '0.png' in d.zip; expected <class>/<image> or <split>/<class>/<image> with split in "
         "train/val/test", {"d.zip": lambda: zip_of({"0.png": png(), "1.png": png()})}),
    Case("zip_not_a_zip", ("train", "--data", "d.zip", "--out", "run"),
         "d.zip is not a readable zip archive", {"d.zip": b"PK but not really"}),
    Case("zip_damaged_entry", ("train", "--data", "d.zip", "--out", "run"),
         "d.zip:b/zz.png is damaged (Error -3 while decompressing data: invalid distance too far back); repair or "
         "re-create the archive", {"d.zip": zip_with_damaged_entry}),
    # ------------------------------------------------------------------ names: dataset, model, optimizer, metric
    Case("unknown_dataset", ("train", "--data", "digitz", "--out", "run"),
         "unknown dataset 'digitz'; built-in datasets: digits, breast_cancer, wine, diabetes, mnist1d, "
         "fashion_mnist, synthetic_regression (or give a path to a .csv, .npz, image folder or .zip)"),
    Case("unknown_model", ("train", "--data", "wine", "--model", "resnet", "--out", "run"),
         "unknown model 'resnet'; available: 'mlp', 'cnn', 'cnn1d'"),
    Case("unknown_optimizer", ("train", "--data", "wine", "--optimizer", "lbfgs", "--out", "run"),
         "options: train.optimizer: must be 'adam', 'adamw' or 'sgd', got 'lbfgs'"),
    Case("unknown_monitor", ("train", "spec.yaml", "--out", "run"),
         "EarlyStopping cannot monitor 'val_f1': it is not logged; available metrics: loss, accuracy, val_loss, "
         "val_accuracy, lr", {"spec.yaml": "data: {source: wine}\nearly_stopping: {monitor: val_f1}\n"}),
    # ------------------------------------------------------------------ numbers out of range
    Case("negative_lambda", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: remedies.penalties[0].lam: must be greater than or equal to 0, got -0.1",
         {"spec.yaml": "data: {source: wine}\nremedies:\n  penalties: [{kind: l2, lam: -0.1}]\n"}),
    Case("dropout_one", ("train", "--data", "wine", "--dropout", "1.0", "--out", "run"),
         "`dropout` must be a number in [0, 1), got 1.0"),
    Case("patience_negative", ("train", "--data", "wine", "--patience", "-1", "--out", "run"),
         "options: early_stopping.patience: must be greater than or equal to 0, got -1"),
    Case("lr_negative", ("train", "--data", "wine", "--lr", "-0.1", "--out", "run"),
         "options: train.lr: must be greater than 0, got -0.1"),
    Case("repeat_zero", ("train", "--data", "wine", "--repeat", "0", "--out", "run"),
         "options: train.repeat: must be greater than or equal to 1, got 0"),
    Case("epochs_zero", ("train", "--data", "wine", "--epochs", "0", "--out", "run"),
         "options: train.max_epochs: must be greater than or equal to 1, got 0"),
    Case("hidden_not_integers", ("train", "--data", "wine", "--hidden", "16,x", "--out", "run"),
         "`--hidden` must be comma-separated integers such as 256,256, got '16,x'"),
    Case("epochs_not_a_number", ("train", "--data", "wine", "--epochs", "many", "--out", "run"),
         "Invalid value for '--epochs': Input should be a valid integer, unable to parse string as an integer "
         "(see `fitguard train --help`)"),
    Case("augment_unknown_option", ("train", "spec.yaml", "--out", "run"),
         "`remedies.augment` has unknown option 'hflip'; allowed: brightness, contrast, crop, erase, flip, noise, p, "
         "rotate, scale, shift, vflip",
         {"spec.yaml": "data: {source: digits}\nremedies: {augment: {hflip: true}}\n"}),
    Case("transfer_batchnorm_unknown", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: transfer.batchnorm: must be 'eval' or 'train', got 'frozen'",
         {"spec.yaml": "data: {source: digits}\ntransfer: {backbone: x, batchnorm: frozen}\n"}),
    Case("freeze_without_backbone", ("train", "--data", "wine", "--freeze-all-but", "1", "--out", "run"),
         "`freeze_all_but` and `unfreeze_every` need a `backbone` (--backbone NAME|PATH)"),
    # ------------------------------------------------------------------ spec files
    Case("yaml_syntax", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: YAML syntax error at line 2, column 6: expected ',' or '}', but got ':'",
         {"spec.yaml": "data: {source: wine\nmodel: mlp\n"}),
    Case("toml_syntax", ("train", "spec.toml", "--out", "run"),
         "spec.toml: TOML syntax error: Expected ']' at the end of a table declaration (at line 1, column 6)",
         {"spec.toml": '[data\nsource = "wine"\n'}),
    Case("yaml_wrong_type", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: train.lr: must be a valid number, unable to parse string as a number, got 'fast'",
         {"spec.yaml": "data: {source: wine}\ntrain: {lr: fast}\n"}),
    Case("toml_wrong_type", ("train", "spec.toml", "--out", "run"),
         "spec.toml: train.batch_size: must be a valid integer, unable to parse string as an integer, got 'big'",
         {"spec.toml": '[data]\nsource = "wine"\n[train]\nbatch_size = "big"\n'}),
    Case("yaml_section_not_mapping", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: train: must be a valid dictionary or instance of TrainSpec, got 5",
         {"spec.yaml": "data: {source: wine}\ntrain: 5\n"}),
    Case("yaml_top_level_list", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: the top level must be a mapping of sections (data, model, train, ...), got list",
         {"spec.yaml": "- data\n- model\n"}),
    Case("yaml_unknown_key", ("train", "spec.yaml", "--out", "run"),
         f"spec.yaml: trian: unknown key (check the spelling; {SPACE_HINT})", {"spec.yaml": "trian: {lr: 0.1}\n"}),
    Case("yaml_billion_laughs", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: expands to more than 100000 values (YAML aliases of aliases?); a fitguard spec is far smaller",
         {"spec.yaml": "data: {source: wine}\nmodel:\n  name: mlp\n  x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
          + "".join(f"  x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))}),
    Case("yaml_nested_too_deep", ("train", "spec.yaml", "--out", "run"),
         "spec.yaml: nested too deeply to be a fitguard spec", {"spec.yaml": "data: " + "[" * 5000 + "]" * 5000}),
    Case("toml_nested_too_deep", ("train", "spec.toml", "--out", "run"),
         "spec.toml: nested too deeply to be a fitguard spec", {"spec.toml": "a = " + "[" * 5000 + "]" * 5000}),
    Case("config_wrong_suffix", ("train", "spec.json", "--out", "run"),
         "config file 'spec.json' must end in .yaml, .yml or .toml", {"spec.json": "{}"}),
    # ------------------------------------------------------------------ paths and folders
    Case("config_missing", ("train", "nowhere.yaml", "--out", "run"), "config file 'nowhere.yaml' does not exist"),
    Case("data_path_missing", ("train", "--data", "nowhere/t.csv", "--target", "y", "--out", "run"),
         "nowhere/t.csv does not exist"),
    Case("out_under_a_file", ("train", "--data", "wine", "--out", "file/run"),
         "cannot write to run folder 'file/run': Not a directory; choose a writable --out", {"file": "x"}),
    Case("out_in_proc", ("train", "--data", "wine", "--out", "/proc/fitguard-run"),
         "cannot write to run folder '/proc/fitguard-run': No such file or directory; choose a writable --out"),
    Case("existing_run_folder", ("train", "--data", "wine", "--out", "old"),
         "run folder 'old' already exists; pass --overwrite to replace it or --resume to continue it",
         {"old/run.json": "{}", "old/metrics.jsonl": ""}),
    Case("overwrite_foreign_folder", ("train", "--data", "wine", "--out", "mine", "--overwrite"),
         "refusing to overwrite 'mine': it is not a fitguard run folder (no run.json); choose another --out",
         {"mine/thesis.tex": "precious"}),
    # ------------------------------------------------------------------ fitguard search
    Case("search_unreachable_storage",
         ("search", "s.yaml", "--storage", "postgresql+psycopg://nobody@127.0.0.1:1/x", "--quiet", "--out", "so"),
         "cannot open the study storage postgresql+psycopg://nobody@127.0.0.1:1/x (connection failed: connection "
         'to server at "127.0.0.1", port 1 failed: Connection refused); check that the database server is '
         "running and the URL is right", {"s.yaml": SEARCH}),
    Case("search_resume_missing", ("search", "s.yaml", "--resume", "--quiet", "--out", "so"),
         "cannot resume: no study named 'fitguard' in sqlite:///{cwd}/so/study.db", {"s.yaml": SEARCH}),
    Case("search_out_under_a_file", ("search", "s.yaml", "--quiet", "--out", "file/so"),
         "cannot create the run folder 'file/so': Not a directory; choose a writable --out",
         {"s.yaml": SEARCH, "file": "x"}),
]

# a doctor's shared storage (--storage, --join URL): refused before any run folder is made or database written
CASES += [
    Case("doctor_storage_not_a_url", ("doctor", "--storage", "db.example/runs", "--out", "run"),
         "`--storage` must be a database URL such as postgresql+psycopg://user@host/db or sqlite:///path/study.db, "
         "got 'db.example/runs'"),
    Case("doctor_storage_unreachable",
         ("doctor", "--storage", "postgresql+psycopg://fit:hush@127.0.0.1:1/none", "--out", "run"),
         "cannot open the run's trial storage postgresql+psycopg://fit:***@127.0.0.1:1/none: connection failed: "
         'connection to server at "127.0.0.1", port 1 failed: Connection refused; check that the database server is '
         "running and the URL is right"),
    Case("doctor_join_storage_without_run", ("doctor", "--join", "sqlite:///none.db"),
         "cannot join 'sqlite:///none.db': it holds no doctor run; start one with `fitguard doctor --storage URL`"),
    Case("doctor_join_with_storage", ("doctor", "--join", "sqlite:///a.db", "--storage", "sqlite:///a.db"),
         "`--join` finds the run's storage itself: give `--join URL`, not `--storage`"),
]

# zip bombs and unsafe entries also run here, through the whole command (tests/reliability/ holds the rest)
CASES += [
    Case("zip_path_traversal", ("train", "--data", "d.zip", "--out", "run"),
         "unsafe entry '../evil.png' in d.zip: zip entries must be relative paths without '..'; refusing to read it",
         {"d.zip": lambda: zip_of(two_classes({"../evil.png": png()}))}),
    Case("zip_absolute_path", ("train", "--data", "d.zip", "--out", "run"),
         "unsafe entry '/tmp/evil.png' in d.zip: zip entries must be relative paths without '..'; refusing to "
         "read it", {"d.zip": lambda: zip_of(two_classes({"/tmp/evil.png": png()}))}),
    Case("zip_declared_huge", ("train", "--data", "d.zip", "--out", "run"),
         "d.zip would expand to 25769803680 bytes, more than max_uncompressed_bytes=4294967296; refusing to read "
         "it (raise max_uncompressed_bytes if you trust this archive)", {"d.zip": zip_declaring_huge_sizes}),
    Case("zip_bomb", ("train", "spec.yaml", "--out", "run"),
         "d.zip would expand to 16777630 bytes, more than max_uncompressed_bytes=1000000; refusing to read it "
         "(raise max_uncompressed_bytes if you trust this archive)",
         {"d.zip": zip_bomb, "spec.yaml": "data: {source: d.zip, options: {max_uncompressed_bytes: 1000000}}\n"}),
]


def _run(case: Case, root: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = root / case.id
    cwd.mkdir()
    for name, content in case.files.items():
        path = cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = content() if callable(content) else content
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    env = {**os.environ, "FITGUARD_CACHE": str(root / ".cache"), "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "fitguard.cli", *case.argv], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    return cwd, result


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    root = tmp_path_factory.mktemp("bad_inputs")
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip([c.id for c in CASES], pool.map(lambda case: _run(case, root), CASES)))
    return done


def test_the_corpus_is_big_and_its_ids_unique():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_line_and_exit_code_2(case, results):
    cwd, result = results[case.id]
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == ["error: " + case.message.replace("{cwd}", str(cwd.resolve()))]
    assert result.returncode == 2
    if case.argv[0] in ("train", "doctor") and "--out" in case.argv:
        out = case.argv[case.argv.index("--out") + 1]
        if out == "run":  # a fresh folder: the failed run must not leave it behind
            assert not (cwd / "run").exists()
    if case.id == "doctor_join_storage_without_run":
        assert not (cwd / "none.db").exists()  # only read
    if case.id == "existing_run_folder":
        assert sorted(p.name for p in (cwd / "old").iterdir()) == ["metrics.jsonl", "run.json"]
    if case.id == "overwrite_foreign_folder":
        assert (cwd / "mine" / "thesis.tex").read_text() == "precious"
