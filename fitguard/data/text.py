"""A small real text classification set: Debian's ``fortunes`` quotes, labelled by the file they are filed in.

``apt-get install fortunes`` puts thousands of quotes under ``/usr/share/games/fortunes``, one file per category
(art, computers, food, law, science, sports, ...), entries separated by lines holding a single ``%``. The
category is the label, so "which file does this quote come from" is a genuine, noisy topic-classification task.
"""

from __future__ import annotations

from pathlib import Path

from fitguard._validation import check_int
from fitguard.errors import FitguardError

FORTUNES_FOLDER = Path("/usr/share/games/fortunes")
DEFAULT_CATEGORIES = ("art", "computers", "food", "law", "science", "sports")


def parse_fortunes(text: str) -> list[str]:
    """Entries of one fortune file: blocks between lines that hold only ``%``, stripped, empty ones dropped.

    Args:
        text: the file's text.

    Example:
        >>> parse_fortunes("A quote.\\n%\\nAnother\\n  -- someone\\n%\\n")
        ['A quote.', 'Another\\n  -- someone']
    """
    entries, current = [], []
    for line in text.splitlines():
        if line.strip() == "%":
            entries.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    entries.append("\n".join(current).strip())
    return [entry for entry in entries if entry]


def read_fortunes(
    categories: tuple[str, ...] | list[str] = DEFAULT_CATEGORIES,
    folder: str | Path = FORTUNES_FOLDER,
    limit_per_class: int | None = None,
    max_chars: int | None = None,
) -> tuple[list[str], list[str]]:
    """``(texts, labels)`` from the fortune files named by ``categories``, in file order.

    ``limit_per_class`` keeps the first N entries of each file; ``max_chars`` drops longer entries (long ones are
    mostly poems and ASCII art, not topical text).

    Args:
        categories: the fortune file names, one class each (default: art, computers, food, law, science, sports).
        folder: the folder holding the files (default ``/usr/share/games/fortunes``).
        limit_per_class: keep the first N entries of each file, >= 1; None (default): all.
        max_chars: drop entries longer than this, >= 1; None (default): keep all.

    Raises:
        ValueError: ``categories`` empty or a single string.

    Example:
        >>> texts, labels = read_fortunes(["food", "law"], limit_per_class=5)  # doctest: +SKIP
        >>> len(texts), sorted(set(labels))                                    # doctest: +SKIP
        (10, ['food', 'law'])
    """
    if isinstance(categories, str) or not categories:
        raise ValueError(f"`categories` must be a non-empty list of fortune file names, got {categories!r}")
    for name, value in (("limit_per_class", limit_per_class), ("max_chars", max_chars)):
        check_int(name, value, low=1, none_ok=True)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"no fortune files in {folder}: install them with `apt-get install fortunes`")
    texts: list[str] = []
    labels: list[str] = []
    for category in categories:
        path = folder / category
        if not path.is_file():
            available = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.suffix and p.name != "README")
            raise FitguardError(f"no fortune file {category!r} in {folder}; available: {', '.join(available)}")
        # a few files hold stray Latin-1 bytes; a replaced character does not change a quote's topic
        entries = parse_fortunes(path.read_text(encoding="utf-8", errors="replace"))
        if max_chars is not None:
            entries = [entry for entry in entries if len(entry) <= max_chars]
        entries = entries[:limit_per_class]
        texts += entries
        labels += [category] * len(entries)
    return texts, labels
