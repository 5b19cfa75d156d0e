"""A small JSON Schema (draft 2020-12 subset) validator, enough for ``summary.schema.json``.

Supported keywords: ``type`` (one or a list), ``properties``, ``required``, ``additionalProperties`` (bool or a
schema), ``items``, ``enum``, ``minimum``, ``minItems``, ``$ref`` to ``#/$defs/...``. The schema file stays a
standard one, so any full validator (``jsonschema``) accepts it too.
"""

from __future__ import annotations

from typing import Any

_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def errors(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$") -> list[str]:
    """Every place ``instance`` breaks ``schema``, as ``"<path>: <problem>"`` lines (empty when valid).

    Example:
        >>> for line in errors({"a": "x"}, {"type": "object", "properties": {"a": {"type": "integer"}},
        ...                                 "required": ["a", "b"]}):
        ...     print(line)
        $: missing required key 'b'
        $.a: must be integer, got str
    """
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return errors(instance, target, root, path)
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(instance, k) for k in kinds):
            return [f"{path}: must be {' or '.join(kinds)}, got {type(instance).__name__}"]
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{path}: must be one of {schema['enum']}, got {instance!r}")
    if "minimum" in schema and _is(instance, "number") and instance < schema["minimum"]:
        found.append(f"{path}: must be >= {schema['minimum']}, got {instance!r}")
    if isinstance(instance, dict):
        found += [f"{path}: missing required key {key!r}" for key in schema.get("required", []) if key not in instance]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            if key in properties:
                found += errors(value, properties[key], root, f"{path}.{key}")
            elif extra is False:
                found.append(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                found += errors(value, extra, root, f"{path}.{key}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            found.append(f"{path}: must hold at least {schema['minItems']} items, got {len(instance)}")
        if "items" in schema:
            for index, item in enumerate(instance):
                found += errors(item, schema["items"], root, f"{path}[{index}]")
    return found
