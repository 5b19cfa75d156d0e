import pytest
import torch

from fitguard.data.tensors import TensorData, batch_bounds


def _brute_force_bounds(rows: int, batch_size: int) -> list[tuple[int, int]]:
    """The oracle: plain chunks, then a lone last row handed to the chunk before it (when there is one)."""
    chunks = [list(range(rows))[start : start + batch_size] for start in range(0, rows, batch_size)]
    if batch_size > 1 and len(chunks) > 1 and len(chunks[-1]) == 1:
        last = chunks.pop()
        chunks[-1] += last
    return [(chunk[0], chunk[-1] + 1) for chunk in chunks]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 32])
def test_batch_bounds_cover_every_row_once_and_never_leave_a_lone_row(batch_size):
    for rows in range(100):
        bounds = batch_bounds(rows, batch_size)
        assert bounds == _brute_force_bounds(rows, batch_size)
        covered = [i for start, stop in bounds for i in range(start, stop)]
        assert covered == list(range(rows))
        sizes = [stop - start for start, stop in bounds]
        if batch_size > 1 and rows > 1:
            assert min(sizes) >= 2 and max(sizes) <= batch_size + 1


def test_a_last_row_joins_the_batch_before_it_in_every_path():
    data = TensorData(torch.arange(33.0)[:, None], torch.arange(33))
    assert [len(x) for x, _ in data.batches(32)] == [33]
    assert [len(x) for x, _ in data.batches(32, repeat=2)] == [33, 33]  # each ordered pass on its own
    batches = list(data.batches(32, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [len(x) for x, _ in batches] == [33]
    assert sorted(batches[0][1].tolist()) == list(range(33))
    # shuffled passes make one stream: 11 rows x 3 passes = 33 rows, one batch holding each row three times
    small = TensorData(torch.arange(11.0)[:, None], torch.arange(11))
    (x, y), = small.batches(32, shuffle=True, generator=torch.Generator().manual_seed(0), repeat=3)
    assert sorted(y.tolist()) == sorted(list(range(11)) * 3) and torch.equal(x[:, 0].long(), y)
