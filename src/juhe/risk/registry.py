"""Versioned models and rule sets on disk, and which of each is active.

    <root>/models/<version>/model.txt        the LightGBM booster (text format)
    <root>/models/<version>/metadata.json    version, features, thresholds, currency, training and validation figures
    <root>/models/ACTIVE                     the active model's version
    <root>/rules/<version>.json              a validated rule set
    <root>/rules/ACTIVE                      the active rule set's version

Versions are immutable: saving another model or rule set under an existing version is an
error (code version_exists). Activation rewrites the ACTIVE file atomically (write a
temporary file, then rename over), so a reader sees the old version or the new one, never half.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import lightgbm as lgb

from juhe.risk.facts import RiskError
from juhe.risk.model import RiskModel, Thresholds
from juhe.risk.rules import RuleSet, parse_rules

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ACTIVE = "ACTIVE"


class RiskRegistry:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.models = self.root / "models"
        self.rules = self.root / "rules"

    def save_model(self, model: RiskModel) -> Path:
        folder = self.models / _checked(model.version)
        if folder.exists():
            raise RiskError("version_exists", f"model {model.version} is already saved")
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=_made(self.models)))
        model.booster.save_model(str(staging / "model.txt"))
        (staging / "metadata.json").write_text(json.dumps(model.metadata, indent=2, sort_keys=True), encoding="utf-8")
        staging.rename(folder)  # a model folder appears complete or not at all
        return folder

    def load_model(self, version: str) -> RiskModel:
        folder = self.models / _checked(version)
        if not (folder / "model.txt").is_file():
            raise RiskError("unknown_version", f"no model {version} under {self.models}")
        metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        booster = lgb.Booster(model_file=str(folder / "model.txt"))
        thresholds = Thresholds(**metadata["thresholds"])
        return RiskModel(version, booster, tuple(metadata["features"]), thresholds, metadata["currency"], metadata)

    def model_versions(self) -> list[str]:
        if not self.models.is_dir():
            return []
        return sorted(p.name for p in self.models.iterdir() if p.is_dir() and not p.name.startswith("."))

    def activate_model(self, version: str) -> None:
        self.load_model(version)  # only a model that loads and fits this code's features becomes active
        _write_atomically(self.models / ACTIVE, version)

    def active_model(self) -> RiskModel | None:
        version = _read_pointer(self.models / ACTIVE)
        return self.load_model(version) if version else None

    def save_rules(self, rules: RuleSet) -> Path:
        path = self.rules / f"{_checked(rules.version)}.json"
        text = json.dumps(rules.to_json(), indent=2, ensure_ascii=False, sort_keys=True)
        if path.exists():
            if path.read_text(encoding="utf-8") != text:
                raise RiskError("version_exists", f"rule set {rules.version} is already saved with other rules")
            return path
        _write_atomically(path, text)
        return path

    def load_rules(self, version: str) -> RuleSet:
        path = self.rules / f"{_checked(version)}.json"
        if not path.is_file():
            raise RiskError("unknown_version", f"no rule set {version} under {self.rules}")
        return parse_rules(json.loads(path.read_text(encoding="utf-8")))

    def activate_rules(self, rules: RuleSet) -> Path:
        path = self.save_rules(rules)
        _write_atomically(self.rules / ACTIVE, rules.version)
        return path

    def active_rules(self) -> RuleSet | None:
        version = _read_pointer(self.rules / ACTIVE)
        return self.load_rules(version) if version else None


def _checked(version: str) -> str:
    if not isinstance(version, str) or not VERSION_PATTERN.match(version):
        raise RiskError("bad_version", f"version {version!r}: letters, digits, '.', '_' and '-', at most 64")
    return version


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read_pointer(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() or None if path.is_file() else None


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", dir=_made(path.parent))
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
