"""A minimal instance of a JSON schema: what the fakes answer a structured request with when no script
says otherwise (the subset of JSON Schema that LLM structured outputs use: objects, arrays, enums,
`anyOf`, `$ref`, string formats)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_MAX_SCHEMA_DEPTH = 64


def schema_instance(schema: Mapping[str, Any]) -> object:
    """A minimal instance valid against `schema` (the JSON Schema subset LLM structured outputs use).

    Objects get every property (`additionalProperties: false` is respected), arrays `minItems` items,
    strings the first `enum` value or a placeholder of at least `minLength`, numbers `minimum` or 0,
    booleans false; `anyOf`/`oneOf` take the first branch, type lists the first non-null type, and
    `$ref`s into `#/$defs` or `#/definitions` are resolved.
    """
    return _instance(schema, schema, 0)


def _resolve(reference: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not reference.startswith("#"):
        raise ValueError(f"only local $refs are supported, not {reference!r}")
    node: Any = root
    for part in reference.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"$ref {reference!r} does not resolve")
        node = node[key]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {reference!r} does not point to a schema")
    return node


def _instance(node: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> object:
    if depth > _MAX_SCHEMA_DEPTH:
        raise ValueError("schema nests too deeply (a recursive $ref that every instance must follow?)")
    if "$ref" in node:
        return _instance(_resolve(node["$ref"], root), root, depth + 1)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    for combinator in ("anyOf", "oneOf"):
        if node.get(combinator):
            return _instance(node[combinator][0], root, depth + 1)
    if node.get("allOf"):
        merged: dict[str, Any] = {key: value for key, value in node.items() if key != "allOf"}
        for branch in node["allOf"]:
            part = _resolve(branch["$ref"], root) if "$ref" in branch else branch
            merged.update(part)
        return _instance(merged, root, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((name for name in kind if name != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in node else "array" if "items" in node else "string"
    if kind == "object":
        return _object_instance(node, root, depth)
    if kind == "array":
        items = [_instance(item, root, depth + 1) for item in node.get("prefixItems", [])]
        while len(items) < node.get("minItems", 0):
            items.append(_instance(node.get("items") or {}, root, depth + 1))
        return items
    if kind == "string":
        return _string_instance(node)
    if kind in ("integer", "number"):
        return _number_instance(node, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    raise ValueError(f"unsupported schema type {kind!r}")


def _object_instance(node: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, object]:
    properties: Mapping[str, Any] = node.get("properties", {})
    instance = {name: _instance(sub, root, depth + 1) for name, sub in properties.items()}
    extra = node.get("additionalProperties", True)
    for name in node.get("required", []):
        if name not in instance and extra is not False:
            instance[name] = _instance(extra, root, depth + 1) if isinstance(extra, Mapping) else ""
    return instance


_STRING_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _string_instance(node: Mapping[str, Any]) -> str:
    text = _STRING_FORMATS.get(node.get("format", ""), "text")
    text = text.ljust(node.get("minLength", 0), "x")
    maximum = node.get("maxLength")
    return text[:maximum] if isinstance(maximum, int) else text


def _number_instance(node: Mapping[str, Any], *, integer: bool) -> int | float:
    value: float = 0
    if "minimum" in node:
        value = node["minimum"]
    elif "exclusiveMinimum" in node:
        value = node["exclusiveMinimum"] + 1
    if "maximum" in node and value > node["maximum"]:
        value = node["maximum"]
    return math.ceil(value) if integer else value
