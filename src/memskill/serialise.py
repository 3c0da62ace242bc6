"""Dataclasses as JSON data and back, by their fields, for files other versions of memskill read.

`encode` writes every field of a dataclass (nested ones too; vectors as base64 float32); `decode`
rebuilds it from the type hints of its fields: a field the data lacks takes its default, a field the
dataclass does not have is left out, and a value of the wrong JSON type is refused with where it was.
So a field added to a dataclass needs no change here, in either direction.
"""

from __future__ import annotations

import base64
import types
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import numpy as np

from memskill.errors import InvalidRequest

T = TypeVar("T")


def encode(value: Any) -> Any:
    """A value as JSON data: dataclasses as objects of their fields, vectors as base64 float32."""
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: encode(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, np.ndarray):
        return base64.b64encode(np.asarray(value, dtype="<f4").tobytes()).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode(kind: type[T], data: Any, where: str) -> T:
    """`data` (from `encode`) as a `kind`; unknown fields are left out, missing ones take the default."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"{where}: expected a JSON object, found {type(data).__name__}.")
    hints = _hints(kind)
    values: dict[str, Any] = {}
    for field in fields(kind):  # type: ignore[arg-type]
        if field.name in data:
            values[field.name] = _convert(hints[field.name], data[field.name], f"{where}, `{field.name}`")
        elif field.default is MISSING and field.default_factory is MISSING:
            raise InvalidRequest(f"{where}: the field `{field.name}` is missing.")
    return kind(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(kind: type) -> dict[str, Any]:
    """The resolved type hints of a dataclass's fields (its annotations are strings), once per class."""
    if kind not in _HINTS:
        _HINTS[kind] = get_type_hints(kind)
    return _HINTS[kind]


def _convert(hint: Any, value: Any, where: str) -> Any:
    """`value` as the type `hint` names: optional values, nested dataclasses, tuples and vectors are
    rebuilt; plain JSON types are checked (an int passes as a float, a bool never as an int); literal
    choices and `Any` are taken as they are."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        return _convert(options[0], value, where) if len(options) == 1 else value
    if hint is Any or origin is Literal:
        return value
    if hint is np.ndarray:
        if not isinstance(value, str):
            raise InvalidRequest(f"{where}: expected a base64 vector.")
        try:
            return np.frombuffer(base64.b64decode(value, validate=True), dtype="<f4").astype(np.float32)
        except ValueError:
            raise InvalidRequest(f"{where}: not a base64 float32 vector.") from None
    if is_dataclass(hint):
        return decode(hint, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            raise InvalidRequest(f"{where}: expected a list.")
        return tuple(_convert(get_args(hint)[0], item, where) for item in value)
    if origin in (dict, list):
        expected = origin
    elif isinstance(hint, type):
        expected = hint
    else:
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise InvalidRequest(f"{where}: expected {expected.__name__}, found {type(value).__name__}.")
    return value
