"""How a saved model's network is rebuilt before its weights are loaded: :class:`ArchitectureSpec`.

:mod:`fitguard.recipe` decides it when it builds a run, :func:`fitguard.runs.save_model` writes it into
``model.json`` (``best.json`` for a doctor run) and :func:`fitguard.load` rebuilds from it. Everything the rebuild
needs is in the spec itself: a model fine-tuned from another run's network reloads after that run's folder is gone.

In the file a network fitguard built itself is described by the ``model`` entry alone (``"architecture": null``);
the other kinds are the ``architecture`` entry, in the same shape run folders have always held.

Example:
    >>> spec = ArchitectureSpec(kind="run", model={"name": "mlp", "options": {"hidden": [8]}},
    ...                         input_shape=[64], out_features=10)
    >>> spec.describe()
    "mlp {'hidden': [8]} pretrained by a fitguard run, with a new head"
    >>> spec.rebuild(input_shape=[64], out_features=3)[-1]
    Linear(in_features=8, out_features=3, bias=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from fitguard.models import build, build_network
from fitguard.transfer import load_backbone, new_head

#: what each kind needs, beside ``kind``
_NEEDS = {"network": ("model",), "named": ("name",), "weights": ("model",),
          "run": ("model", "input_shape", "out_features")}


class NetworkChoice(BaseModel):
    """A network fitguard builds: a builder's name (``mlp``, ``cnn``, a ``module:function`` path) and its options.

    Args:
        name: the builder's name.
        options: the builder's keyword options (default none).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    def describe(self) -> str:
        """The name, followed by the options when there are any."""
        return f"{self.name} {self.options}" if self.options else self.name


class ArchitectureSpec(BaseModel):
    """How to rebuild a network, weights aside.

    Args:
        kind: ``network``: a network fitguard built (``model``); ``named``: a named pretrained backbone (``name``,
            e.g. ``efficientnet_lite0``); ``weights``: ``model`` loaded from a bare weights file, with a new head;
            ``run``: the network another fitguard run saved (``model``, ``input_shape``, ``out_features`` and, when
            that network was itself transferred, its own ``architecture``), with a new head.
        model: the network to build (kinds ``network``, ``weights``, ``run``).
        name: the backbone's name (kind ``named``).
        input_shape: the pretrained network's input shape (kind ``run``).
        out_features: the pretrained network's outputs, before its new head (kind ``run``).
        architecture: how the pretrained network was made, when not by ``model`` alone (kind ``run``).
        image_size: the side images are resized to for a named backbone (None: its own).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["network", "named", "weights", "run"]
    model: NetworkChoice | None = None
    name: str | None = None
    input_shape: list[int] | None = None
    out_features: int | None = None
    architecture: ArchitectureSpec | None = None
    image_size: int | None = None

    @model_validator(mode="after")
    def _has_what_its_kind_needs(self) -> ArchitectureSpec:
        missing = [field for field in _NEEDS[self.kind] if getattr(self, field) is None]
        if missing:
            raise ValueError(f"kind {self.kind!r} needs {' and '.join(missing)}")
        return self

    @classmethod
    def saved(cls, description: dict[str, Any]) -> ArchitectureSpec:
        """The spec a saved model description (``model.json``) holds, in the current or an older run folder.

        Args:
            description: the saved ``<stem>.json`` dict; one without an ``architecture`` entry is a network fitguard
                built (kind ``network``).
        """
        if description.get("architecture"):
            return cls.model_validate(description["architecture"])
        return cls(kind="network", model=description["model"])

    @classmethod
    def pretrained_by_run(cls, description: dict[str, Any]) -> ArchitectureSpec:
        """The network a saved model description names, as the body of a new model (kind ``run``).

        Args:
            description: the saved ``<stem>.json`` dict of the run whose model becomes the backbone.
        """
        source = cls.saved(description)
        return cls(kind="run", model=description["model"], input_shape=description["input_shape"],
                   out_features=description["out_features"],
                   architecture=None if source.kind == "network" else source)

    def to_saved(self) -> dict[str, Any] | None:
        """The ``architecture`` entry of a saved model description (None for a network fitguard built)."""
        return None if self.kind == "network" else self.model_dump(mode="json", exclude_none=True)

    def describe(self) -> str:
        """The architecture in a few words."""
        if self.kind == "named":
            return f"pretrained backbone {self.name}"
        if self.kind == "weights":
            return f"{self.model.describe()} with pretrained weights, with a new head"
        if self.kind == "run":
            return f"{self._pretrained().describe()} pretrained by a fitguard run, with a new head"
        return self.model.describe()

    def rebuild(self, input_shape: Sequence[int], out_features: int,
                embeddings: Sequence[Sequence[int]] = ()) -> nn.Module:
        """The network, with freshly initialized weights (or a named backbone's pretrained ones) to load into.

        Args:
            input_shape: one sample's shape, as the model takes it.
            out_features: the model's outputs (classes, or target columns).
            embeddings: ``(feature index, codes, width)`` per embedded column of a table (kind ``network``), from
                the saved preprocessing.
        """
        if self.kind == "network":
            return build_network(self.model.name, tuple(input_shape), out_features, self.model.options, embeddings)
        if self.kind == "named":
            return load_backbone(self.name, num_classes=out_features, image_size=self.image_size)
        if self.kind == "weights":
            return new_head(build(self.model.name, tuple(input_shape), out_features, **self.model.options),
                            out_features)
        pretrained = self._pretrained().rebuild(self.input_shape, self.out_features)
        return new_head(pretrained, out_features)

    def _pretrained(self) -> ArchitectureSpec:
        return self.architecture or ArchitectureSpec(kind="network", model=self.model)
