"""Where the tests find the repository, their data and the workspace's shared data sets."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
"""The tests folder (its layers are folders below it)."""
ROOT = TESTS.parent
"""The repository."""
DATA = TESTS / "data"
"""Conversations the tests send (the brief's, a code review)."""
SHARED = ROOT.parent / "shared"
"""The workspace's shared folder (public data sets), when there is one."""
