"""The public surface: exactly the names in `__all__`, each importable and documented."""

from __future__ import annotations

import memskill


def test_all_names_are_exported_and_nothing_else_public() -> None:
    public = {name for name in dir(memskill) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(memskill, name)).__name__ == "module"}
    assert set(memskill.__all__) - {"__version__"} == public - modules
    assert memskill.__all__ == sorted(memskill.__all__, key=lambda name: (name.startswith("_"), name))


def test_every_export_has_a_docstring() -> None:
    for name in memskill.__all__:
        if name != "__version__":
            assert getattr(memskill, name).__doc__, f"memskill.{name} has no docstring"
