"""The `filter` parameter of search, get and delete: parse once, then test items against it.

Grammar (JSON):

    filter     := {"and": [filter, ...]} | {"or": [filter, ...]} | {field: value} | {field: {op: value, ...}}
    op         := eq | ne | in | nin | contains | gt | gte | lt | lte
    field      := id | conversation_id | agent_id | app_id | memory_type | memory_key | status | tags
                  | create_time | update_time | preference_type | kind

Several fields in one object must all hold. `tags` with a plain value or `contains` matches when the item
has that tag; with `in`, when it has any of them. Times are millisecond epochs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from memskill.errors import InvalidRequest
from memskill.models import MemoryItem

FIELDS = (
    "id",
    "conversation_id",
    "agent_id",
    "app_id",
    "memory_type",
    "memory_key",
    "status",
    "tags",
    "create_time",
    "update_time",
    "preference_type",
    "kind",
    "user_id",
)
OPERATORS = ("eq", "ne", "in", "nin", "contains", "gt", "gte", "lt", "lte")

Predicate = Callable[[MemoryItem], bool]


def _value(item: MemoryItem, field: str) -> Any:
    if field == "memory_key":
        return item.key
    if field in ("memory_type", "preference_type"):
        return item.payload.get(field)
    if field == "tags":
        return list(item.tags)
    return getattr(item, field)


def _compare(actual: Any, operator: str, expected: Any, field: str) -> bool:
    if field == "tags" and operator in ("eq", "contains"):
        return expected in actual
    if field == "tags" and operator in ("in", "nin"):
        hit = any(tag in actual for tag in expected)
        return hit if operator == "in" else not hit
    if operator == "eq":
        return bool(actual == expected)
    if operator == "ne":
        return bool(actual != expected)
    if operator == "in":
        return actual in expected
    if operator == "nin":
        return actual not in expected
    if operator == "contains":
        return isinstance(actual, str) and isinstance(expected, str) and expected in actual
    if actual is None:
        return False
    if operator == "gt":
        return bool(actual > expected)
    if operator == "gte":
        return bool(actual >= expected)
    if operator == "lt":
        return bool(actual < expected)
    return bool(actual <= expected)


def _check_operand(field: str, operator: str, expected: Any) -> None:
    if operator in ("in", "nin") and not isinstance(expected, list):
        raise InvalidRequest(f"filter: `{field}.{operator}` needs a list.")
    if operator in ("gt", "gte", "lt", "lte") and (
        not isinstance(expected, (int, float)) or isinstance(expected, bool)
    ):
        raise InvalidRequest(f"filter: `{field}.{operator}` needs a number (a millisecond time).")


def _combine(how: str, children: list[Predicate]) -> Predicate:
    def combined(item: MemoryItem) -> bool:
        results = (child(item) for child in children)
        return all(results) if how == "and" else any(results)

    return combined


def _condition(field: str, operator: str, expected: Any) -> Predicate:
    def condition(item: MemoryItem) -> bool:
        return _compare(_value(item, field), operator, expected, field)

    return condition


def compile_filter(spec: object) -> Predicate:
    """A predicate for `spec`; raises InvalidRequest saying what is wrong with it."""
    if spec is None:
        return lambda item: True
    if not isinstance(spec, Mapping):
        raise InvalidRequest('`filter` must be an object, e.g. {"tags": "travel"}.')
    parts: list[Predicate] = []
    for key, value in spec.items():
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise InvalidRequest(f"filter: `{key}` needs a non-empty list of filters.")
            parts.append(_combine(key, [compile_filter(child) for child in value]))
            continue
        if key not in FIELDS:
            raise InvalidRequest(f"filter: unknown field {key!r}; use one of {', '.join(FIELDS)}.")
        conditions = value if isinstance(value, Mapping) else {"eq": value}
        for operator, expected in conditions.items():
            if operator not in OPERATORS:
                raise InvalidRequest(
                    f"filter: unknown operator {operator!r}; use one of {', '.join(OPERATORS)}."
                )
            _check_operand(key, operator, expected)
            parts.append(_condition(key, operator, expected))
    return lambda item: all(part(item) for part in parts)
