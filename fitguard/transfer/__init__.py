"""Transfer learning: a pretrained backbone, a new head, freezing by layer blocks, fine-tuning, a linear probe.

``backbones`` loads a backbone (a module, a named ImageNet network, a weights file) and gives it a new head;
``blocks`` splits any network into layer blocks and freezes all but the last k; ``training`` fine-tunes with a
lower learning rate for the body and gradual unfreezing; ``probe`` fits ridge on frozen features; ``text`` is a
frozen sentence encoder. A fitguard run folder becomes a module in ``fitguard.runs``, above this package.

Example:
    >>> from fitguard.models import cnn
    >>> from fitguard.transfer import freeze, layer_blocks, load_backbone
    >>> model = freeze(load_backbone(cnn(1, 10, widths=[4, 8]), num_classes=3), trainable_last=1)
    >>> [(b.name, b.trainable) for b in layer_blocks(model)]
    [('conv1', False), ('conv2', False), ('output', True)]
"""

from __future__ import annotations

from fitguard.transfer.backbones import extract_features, load_backbone, new_head
from fitguard.transfer.blocks import LayerBlock, freeze, hold_batchnorm, layer_blocks
from fitguard.transfer.model import ImageAdapter, TransferModel
from fitguard.transfer.probe import ProbeResult, linear_probe
from fitguard.transfer.sources import NAMED_BACKBONES, read_weights
from fitguard.transfer.text import SentenceEncoder, text_dataset
from fitguard.transfer.training import BackboneSetup, UnfreezeSchedule, apply_backbone, discriminative_lr

__all__ = [
    "NAMED_BACKBONES",
    "BackboneSetup",
    "ImageAdapter",
    "LayerBlock",
    "ProbeResult",
    "SentenceEncoder",
    "TransferModel",
    "UnfreezeSchedule",
    "apply_backbone",
    "discriminative_lr",
    "extract_features",
    "freeze",
    "hold_batchnorm",
    "layer_blocks",
    "linear_probe",
    "load_backbone",
    "new_head",
    "read_weights",
    "text_dataset",
]
