"""A search space over remedies and their strengths, and how a sampled point becomes a TrainConfig.

Written in Python or YAML (a list means choices, a mapping means a range)::

    lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    l2: [0, 1.0e-5, 1.0e-4, 1.0e-3]
    dropout: {low: 0.0, high: 0.5}
    depth: {low: 1, high: 3}
    batchnorm: [true, false]

A penalty can act on one layer group: ``"l2:output.*"`` is λ of an L2 penalty on the parameters matching
``output.*``. Every trial is the recipe with the point applied (:func:`apply_point`), trained through
:func:`fitguard.recipe.build_run`, so a point means the same thing as the spec a user would write.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fitguard._validation import check_type
from fitguard.config import TrainConfig
from fitguard.errors import FitguardError

#: parameter -> (kind, low, high, low_open, high_open); kind "float", "int" or "bool"
PARAMETERS: dict[str, tuple[str, float, float, bool, bool]] = {
    "l1": ("float", 0.0, math.inf, False, True),
    "l2": ("float", 0.0, math.inf, False, True),
    "elastic_net": ("float", 0.0, math.inf, False, True),
    "l1_ratio": ("float", 0.0, 1.0, False, False),
    "proximal": ("bool", 0, 1, False, False),
    "dropout": ("float", 0.0, 1.0, False, True),
    "weight_noise": ("float", 0.0, math.inf, False, True),
    "batchnorm": ("bool", 0, 1, False, False),
    "augment": ("float", 0.0, 1.0, False, False),
    "mixup": ("float", 0.0, math.inf, False, True),
    "width": ("int", 1, math.inf, False, True),
    "depth": ("int", 1, math.inf, False, True),
    "batch_size": ("int", 1, math.inf, False, True),
    "lr": ("float", 0.0, math.inf, True, True),
    "label_smoothing": ("float", 0.0, 1.0, False, True),
}
_PENALTIES = ("l1", "l2", "elastic_net")


@dataclass(frozen=True)
class Float:
    """A real range ``[low, high]``, sampled uniformly or (``log=True``) log-uniformly.

    Args:
        low: Lower bound, within the parameter's allowed values (``PARAMETERS``); > 0 on a log scale.
        high: Upper bound, > ``low``.
        log: Sample log-uniformly (for learning rates and penalty strengths). Default False.
    """

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Int:
    """An integer range ``[low, high]`` (both included).

    Args:
        low: Lower bound, an integer within the parameter's allowed values; > 0 on a log scale.
        high: Upper bound, > ``low``.
        log: Sample log-uniformly. Default False.
    """

    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class Choice:
    """One of ``values``, in the given order (a grid walks them in this order).

    Args:
        values: The non-empty candidate values, each allowed for the parameter (booleans for ``batchnorm``
            and ``proximal``).
    """

    values: tuple[Any, ...]


Param = Float | Int | Choice


def base_name(name: str) -> str:
    """``'l2:output.*'`` -> ``'l2'``; the part after ``:`` selects a layer group for penalties only.

    Args:
        name: a search parameter's name.
    """
    return name.split(":", 1)[0]


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    return f"{left}{low:g}, {high:g}{right}"


def check_value(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is allowed for parameter ``name``.

    Args:
        name: the parameter's name (a layer group after ``:`` allowed).
        value: the value.
    """
    kind, low, high, low_open, high_open = PARAMETERS[base_name(name)]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be true or false, got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}")
    if kind == "int" and not isinstance(value, int):
        raise ValueError(f"`{name}` must be an integer, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise ValueError(f"`{name}` must be in {_interval(low, high, low_open, high_open)}, got {value!r}")


def check_param(name: str, param: Param) -> None:
    """Validate one parameter of a space: a known name, values in range, a valid range or log scale.

    Args:
        name: the parameter's name (a layer group after ``:`` for penalties only).
        param: its :class:`Float`, :class:`Int` or :class:`Choice`.

    Raises:
        ValueError: an unknown name, a layer group on another parameter, or a value or range out of bounds.
    """
    known = base_name(name)
    if known not in PARAMETERS:
        raise ValueError(f"unknown search parameter {name!r}; known: {', '.join(PARAMETERS)}")
    if ":" in name and known not in _PENALTIES:
        raise ValueError(f"only penalties take a layer group after ':' (l1, l2, elastic_net), got {name!r}")
    if isinstance(param, Choice):
        if not param.values:
            raise ValueError(f"`{name}` choices must not be empty")
        for index, value in enumerate(param.values):
            try:
                check_value(name, value)
            except ValueError as error:
                raise ValueError(f"{name}[{index}]: {error}") from None
        return
    kind = PARAMETERS[known][0]
    if kind == "bool":
        raise ValueError(f"`{name}` is true/false: give choices such as [true, false], not a range")
    if isinstance(param, Float) and kind == "int":
        raise ValueError(f"`{name}` takes integers: give an integer range such as {{low: 1, high: 4}}")
    for bound in (param.low, param.high):
        check_value(name, bound)
    if not param.low < param.high:
        raise ValueError(f"`{name}` range needs low < high, got low={param.low!r}, high={param.high!r}")
    if param.log and param.low <= 0:
        raise ValueError(f"`{name}` on a log scale needs low > 0, got low={param.low!r}")


class SearchSpace:
    """Named parameters to search; validated when built.

    The checks (name, range, log scale) run when the space is built, not when a parameter object is made.

    Args:
        params: A non-empty mapping from parameter name (a key of ``PARAMETERS``; a penalty may add a layer
            group, ``"l2:output.*"``) to a :class:`Float`, :class:`Int` or :class:`Choice`.

    Raises:
        ValueError: an unknown name, a value out of the parameter's range, ``low >= high``, a log range with
            ``low <= 0``, or a range for a true/false parameter.

    Example:
        >>> space = SearchSpace({"lr": Float(1e-4, 1e-2, log=True), "dropout": Choice((0.0, 0.25))})
        >>> sorted(space.params)
        ['dropout', 'lr']
    """

    def __init__(self, params: Mapping[str, Param]) -> None:
        if not isinstance(params, Mapping) or not params:
            raise ValueError(f"a search space needs at least one parameter, got {params!r}")
        for name, param in params.items():
            check_type(name, param, (Float, Int, Choice), what="a Float, Int or Choice")
            check_param(name, param)
        self.params = dict(params)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> SearchSpace:
        """Build from YAML-like data: a list is choices, a mapping ``{low, high[, log]}`` a range, a scalar fixed.

        Args:
            mapping: parameter name -> its choices, range or fixed value; not empty.

        Raises:
            FitguardError: when ``mapping`` is not a non-empty mapping or an entry is none of the three forms.
        """
        if not isinstance(mapping, Mapping) or not mapping:
            raise FitguardError(f"search space must be a mapping of parameter -> choices or range, got {mapping!r}")
        params: dict[str, Param] = {}
        for name, spec in mapping.items():
            params[str(name)] = _param_from_data(str(name), spec)
        return cls(params)

    def to_dict(self) -> dict[str, Any]:
        """The YAML-like form; ``SearchSpace.from_dict(space.to_dict())`` rebuilds it."""
        out: dict[str, Any] = {}
        for name, param in self.params.items():
            if isinstance(param, Choice):
                out[name] = list(param.values)
            else:
                out[name] = {"low": param.low, "high": param.high, "log": param.log}
        return out

    def is_grid(self) -> bool:
        """Whether every parameter is a :class:`Choice`, so the space is a finite grid."""
        return all(isinstance(p, Choice) for p in self.params.values())

    def sample(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for one point of the space.

        Args:
            trial: an ``optuna.Trial``; each parameter is suggested under its own name.

        Returns:
            The point, parameter name -> value.
        """
        point: dict[str, Any] = {}
        for name, param in self.params.items():
            if isinstance(param, Float):
                point[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
            elif isinstance(param, Int):
                point[name] = trial.suggest_int(name, param.low, param.high, log=param.log)
            else:
                point[name] = trial.suggest_categorical(name, list(param.values))
        return point

    def __repr__(self) -> str:
        return f"SearchSpace({self.params!r})"


def _param_from_data(name: str, spec: Any) -> Param:
    known = base_name(name)
    kind = PARAMETERS.get(known, ("float",))[0]
    if isinstance(spec, list):
        param: Param = Choice(tuple(spec))
    elif isinstance(spec, Mapping):
        extra = sorted(set(spec) - {"low", "high", "log"})
        if extra or not {"low", "high"} <= set(spec):
            raise FitguardError(f"`{name}` range must be {{low: ..., high: ...[, log: true]}}, got {dict(spec)!r}")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise FitguardError(f"`{name}.log` must be true or false, got {log!r}")
        low, high = spec["low"], spec["high"]
        param = (Int(low, high, log) if kind == "int" and isinstance(low, int) and isinstance(high, int)
                 else Float(low, high, log))
    else:
        param = Choice((spec,))
    try:
        check_param(name, param)
    except ValueError as error:
        raise FitguardError(str(error)) from None
    return param


def apply_point(recipe: TrainConfig, point: Mapping[str, Any], data_kind: str | None = None) -> TrainConfig:
    """The recipe with the remedies of ``point`` applied (the recipe itself is not changed).

    Penalties of the point replace the recipe's penalties of the same kind and layer group; a λ of 0 removes
    that penalty. ``width``/``depth`` set ``hidden`` (MLP) or ``widths`` doubling per block (CNNs);
    ``data_kind`` resolves ``model.name: auto``.

    Args:
        recipe: The base :class:`~fitguard.config.TrainConfig`; not changed.
        point: Parameter name -> value, e.g. one trial's sample of a :class:`SearchSpace`.
        data_kind: The data's kind (``"table"``, ``"image"``, ``"signal"``), needed only when ``width``/``depth``
            meet a recipe whose model name is ``auto``; None (default) otherwise.

    Raises:
        ValueError: an unknown parameter or a value out of range.

    Example:
        >>> config = apply_point(TrainConfig(), {"lr": 0.01, "l2": 1e-4, "dropout": 0.2})
        >>> config.train.lr, config.remedies.penalties[0].lam, config.model.dropout
        (0.01, 0.0001, 0.2)
    """
    for name, value in point.items():
        if base_name(name) not in PARAMETERS:
            raise ValueError(f"unknown search parameter {name!r}; known: {', '.join(PARAMETERS)}")
        check_value(name, value)
    raw = recipe.model_dump()
    train, model, remedies = raw["train"], raw["model"], raw["remedies"]
    for key in ("lr", "batch_size", "label_smoothing"):
        if key in point:
            train[key] = point[key]
    for key in ("dropout", "batchnorm"):
        if key in point:
            model[key] = point[key]
    if "width" in point or "depth" in point:
        _apply_size(model, point, data_kind)
    proximal = bool(point.get("proximal", False))
    for name, lam in point.items():
        kind = base_name(name)
        if kind not in _PENALTIES:
            continue
        layers = name.split(":", 1)[1] if ":" in name else None
        remedies["penalties"] = [p for p in remedies["penalties"] if not (p["kind"] == kind and p["layers"] == layers)]
        if lam > 0:
            entry: dict[str, Any] = {"kind": kind, "lam": lam, "layers": layers}
            if kind == "l1":
                entry["proximal"] = proximal
            if kind == "elastic_net":
                entry["l1_ratio"] = point.get("l1_ratio", 0.5)
            remedies["penalties"].append(entry)
    if "weight_noise" in point:
        remedies["weight_noise"] = {"sigma": point["weight_noise"]} if point["weight_noise"] > 0 else None
    if "mixup" in point:
        remedies["mixup"] = point["mixup"] or None
    if "augment" in point:
        remedies["augment"] = augment_of_strength(point["augment"])
    return TrainConfig.model_validate(raw)


def augment_of_strength(strength: float) -> dict[str, Any] | None:
    """One knob for image augmentation: 1.0 is rotate 15°, shift 10%, scale ±10%; 0 is off.

    Args:
        strength: the knob's value, >= 0.
    """
    if strength == 0:
        return None
    return {"rotate": 15.0 * strength, "shift": 0.1 * strength, "scale": [1 - 0.1 * strength, 1 + 0.1 * strength]}


def _apply_size(model: dict[str, Any], point: Mapping[str, Any], data_kind: str | None) -> None:
    from fitguard.recipe import AUTO_MODEL

    name = model.get("name", "auto")
    if name == "auto":
        if data_kind is None:
            raise ValueError("`width`/`depth` with model name 'auto' need the kind of data; "
                             "name the model in the recipe")
        name = AUTO_MODEL[data_kind]
    key = "hidden" if name == "mlp" else "widths"
    current = model.get(key) or ([256, 256] if name == "mlp" else [32, 64])
    width = point.get("width", current[0])
    depth = point.get("depth", len(current))
    model[key] = [width] * depth if name == "mlp" else [width * 2**i for i in range(depth)]
