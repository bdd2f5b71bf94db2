"""The master keys of personal data: one file named by configuration (`JUHE_PII_KEYRING_FILE`;
unset: generated into data_dir/pii/keyring.json, mode 0600), read by every process.

    {"key_id": "juhe-pii", "primary": 2, "versions": {"1": "<base64 32 bytes>", "2": "…"},
     "index_key": "<base64 32 bytes>"}

New values are sealed under the primary version; every version listed still opens what it
sealed, so rotation is: add a version and make it primary (processes notice the file changed
and seal under it from then on), then re-wrap the old values in batches (juhe.pii.rotation).
The blind-index key is separate from the master keys: knowing one reveals nothing of the other."""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from juhe.config import get_settings

KEY_ID = "juhe-pii"
KEY_BYTES = 32


class KeyringError(Exception):
    pass


@dataclass(frozen=True)
class Keyring:
    key_id: str
    primary: int
    versions: dict[int, bytes] = field(repr=False)
    index_key: bytes = field(repr=False)

    def master(self, version: int) -> bytes:
        try:
            return self.versions[version]
        except KeyError:
            raise KeyringError(f"the keyring holds no master key {self.key_id} v{version}") from None

    def with_new_version(self) -> Keyring:
        version = max(self.versions) + 1
        return Keyring(self.key_id, version, {**self.versions, version: os.urandom(KEY_BYTES)}, self.index_key)

    def to_json(self) -> str:
        return json.dumps({"key_id": self.key_id, "primary": self.primary,
                           "versions": {str(v): _b64(k) for v, k in sorted(self.versions.items())},
                           "index_key": _b64(self.index_key)}, indent=2)


def default_path() -> Path:
    settings = get_settings()
    return settings.pii_keyring_file or settings.data_dir / "pii" / "keyring.json"


def load_or_create(path: Path) -> Keyring:
    if not path.exists():
        save(path, Keyring(KEY_ID, 1, {1: os.urandom(KEY_BYTES)}, os.urandom(KEY_BYTES)))
    return load(path)


def load(path: Path) -> Keyring:
    try:
        raw = json.loads(path.read_text())
        versions = {int(v): base64.b64decode(k) for v, k in raw["versions"].items()}
        ring = Keyring(raw["key_id"], int(raw["primary"]), versions, base64.b64decode(raw["index_key"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KeyringError(f"{path} is not a readable keyring: {error}") from None
    if ring.primary not in versions or any(len(k) != KEY_BYTES for k in (*versions.values(), ring.index_key)):
        raise KeyringError(f"{path}: the primary version must be listed and every key be {KEY_BYTES} bytes")
    return ring


def save(path: Path, ring: Keyring) -> None:
    """Written beside and renamed over, so a reading process sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(ring.to_json())
    partial.chmod(0o600)
    partial.replace(path)


class _Active:
    """The keyring of this process, re-read when its file changes (another process rotated)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._stamp: tuple | None = None
        self._ring: Keyring | None = None

    def use(self, path: Path | None) -> None:
        """Pin the keyring file (tests, `juhe keys --keyring`); None: back to the configured one."""
        with self._lock:
            self._path, self._stamp, self._ring = path, None, None

    def get(self) -> Keyring:
        with self._lock:
            path = self._path or default_path()
            if self._ring is None or not path.exists() or _stamp(path) != self._stamp:
                self._ring = load_or_create(path)
                self._stamp = _stamp(path)
            return self._ring


_active = _Active()
use = _active.use
active = _active.get


def _stamp(path: Path) -> tuple:
    # save() renames a new file over the old one: a new inode even when the clock did not tick.
    stat = path.stat()
    return path, stat.st_ino, stat.st_mtime_ns


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
