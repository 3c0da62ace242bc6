"""Settings read from the environment: defaults, overrides and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from memskill.config import Settings
from memskill.errors import InvalidRequest


def test_defaults_and_overrides(tmp_path: Path) -> None:
    default = Settings.from_env(tmp_path, environ={})
    assert (default.workers, default.limits.rate_per_minute, default.api_key) == (1, 3000, None)
    custom = Settings.from_env(
        None,
        environ={
            "MEMSKILL_HOME": str(tmp_path),
            "MEMSKILL_RATE_LIMIT": "0",
            "MEMSKILL_API_KEY": "k",
            "MEMSKILL_PUBLIC_URL": "https://mem.example.com",
            "MEMSKILL_MAX_BODY_BYTES": "1024",
        },
    )
    assert custom.data_dir == tmp_path
    assert (custom.limits.rate_per_minute, custom.limits.max_body_bytes) == (0, 1024)
    assert (custom.api_key, custom.public_url) == ("k", "https://mem.example.com")


@pytest.mark.parametrize("value", ["two", "1.5", "-3"])
def test_a_bad_number_names_the_variable(value: str) -> None:
    with pytest.raises(InvalidRequest, match="MEMSKILL_WORKERS"):
        Settings.from_env(environ={"MEMSKILL_WORKERS": value})
