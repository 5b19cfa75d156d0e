"""``benchmarks/heldout.py``'s ``_later_rows``: the fresh image suite's labelled rows are those past the rows a
development set draws from, of the classes asked for, and a source it cannot serve is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from fitguard.data.source import RawData, RawSource


@pytest.fixture
def heldout(benchmark_script):
    return benchmark_script("heldout")


def _source(per_class: int, names: tuple[str, ...] = ()) -> RawSource:
    labels = np.array(["cat", "dog", "ship"] * per_class)  # interleaved, as files come
    inputs = np.arange(len(labels)).reshape(-1, 1)  # each row's input is its position
    test = RawData(np.arange(6).reshape(-1, 1), np.array(["cat", "dog", "ship", "cat", "dog", "ship"]))
    return RawSource("toy", "image", RawData(inputs, labels), "classification", class_names=names, test=test)


def test_later_rows_drops_each_classs_first_rows_and_keeps_only_the_classes_asked_for(heldout):
    kept = heldout._later_rows(_source(5), skip=2, classes=("cat", "dog"))
    # cat rows are 0, 3, 6, 9, 12 and dog rows 1, 4, 7, 10, 13: the first two of each go
    assert kept.pool.inputs.ravel().tolist() == [6, 7, 9, 10, 12, 13]
    assert kept.pool.labels.tolist() == ["cat", "dog"] * 3
    assert kept.test.labels.tolist() == ["cat", "dog", "cat", "dog"]  # the test rows of those classes only
    every = heldout._later_rows(_source(5), skip=4)
    assert every.pool.inputs.ravel().tolist() == [12, 13, 14] and len(every.test) == 6


@pytest.mark.parametrize(("source", "skip", "classes", "message"), [
    (_source(3), 1, ("cat", "cow"), "'toy' has no class ['cow']; it has ['cat', 'dog', 'ship']"),
    (_source(3), 3, None, "'toy' has a class with at most 3 rows: none is left past them"),
    (_source(3, ("cat", "dog", "ship")), 1, ("cat",), "'toy' names its classes: keep them by index, not by label"),
])
def test_later_rows_refuses_what_it_cannot_serve(heldout, source, skip, classes, message):
    with pytest.raises(ValueError) as error:
        heldout._later_rows(source, skip=skip, classes=classes)
    assert str(error.value) == message
