from __future__ import annotations

import pytest

from juhe.pii import keyring


@pytest.fixture(autouse=True)
def keyring_file(tmp_path):
    """Each test seals under its own keyring file, as a deployment would under its configured one."""
    path = tmp_path / "pii" / "keyring.json"
    keyring.use(path)
    yield path
    keyring.use(None)
