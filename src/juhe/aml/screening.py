"""Screening a payer, payee or counterparty against watch lists with fuzzy name matching.

Every name and alias on the lists is turned into keys once (names.py) and indexed
(name_index.py: whole-name token-sort ratio behind lossless length and letter prefilters, plus partial
names through an inverted token index). A matching date of birth or country adds a little to
the score; a hit at or above the threshold means "hold for review".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from juhe.aml.dates import dob_agrees, parse_dob
from juhe.aml.errors import AmlError
from juhe.aml.lists import WatchEntry, load_list
from juhe.aml.name_index import NameIndex
from juhe.aml.names import name_keys, normalise_country

DEFAULT_THRESHOLD = 88.0  # below: 王小红 vs a listed 王小明 (84.6), "Wang Wei" vs "Zhang Wei" (80), other people
DOB_BOOST = 6.0  # a listed date of birth that agrees is strong evidence of the same person
COUNTRY_BOOST = 3.0  # nationality agrees: weaker, many share one
HITS_MAX = 50  # a reviewer reads the top hits; more means the threshold is too low


@dataclass(frozen=True, slots=True)
class Hit:
    entry: WatchEntry
    score: float  # 0-100: name similarity plus boosts, capped at 100
    name_score: float  # the name similarity alone
    matched_name: str  # the list's text that matched
    matched_alias: str | None  # that text when it is an alias; None when the primary name matched
    dob_match: bool | None  # None: no date given or the list has none
    country_match: bool | None

    @property
    def list_name(self) -> str:
        return self.entry.list_name

    def to_json(self) -> dict:
        return {"score": self.score, "name_score": self.name_score, "list": self.list_name,
                "matched_name": self.matched_name, "matched_alias": self.matched_alias,
                "dob_match": self.dob_match, "country_match": self.country_match, "entry": self.entry.to_json()}


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    name: str
    threshold: float
    hits: tuple[Hit, ...]
    country: str | None = None
    dob: str | None = None

    @property
    def hold_for_review(self) -> bool:
        return bool(self.hits)

    def to_json(self) -> dict:
        return {"name": self.name, "country": self.country, "dob": self.dob, "threshold": self.threshold,
                "hold_for_review": self.hold_for_review, "hits": [hit.to_json() for hit in self.hits]}


class WatchList:
    """Entries of one or more lists with every name and alias indexed for fuzzy lookup."""

    def __init__(self, entries: Iterable[WatchEntry]):
        self.entries: tuple[WatchEntry, ...] = tuple(entries)
        self._index = NameIndex(
            (key, (position, text))
            for position, entry in enumerate(self.entries)
            for text in (entry.name, *entry.aliases)
            for key in name_keys(text)
        )

    @classmethod
    def from_files(cls, paths: Sequence[Path]) -> WatchList:
        if not paths:
            raise AmlError("no_watch_list", "give at least one list file")
        return cls(entry for path in paths for entry in load_list(Path(path)))

    def __len__(self) -> int:
        return len(self.entries)

    def screen(self, name: str, *, country: str | None = None, dob: str | date | None = None,
               threshold: float = DEFAULT_THRESHOLD) -> ScreeningResult:
        if not 0 < threshold <= 100:
            raise AmlError("invalid_threshold", f"threshold {threshold} is not in (0, 100]")
        keys = name_keys(name or "")
        if not keys:
            raise AmlError("invalid_name", f"nothing to screen in {name!r}")
        dob_text = _query_dob(dob)
        # Look a little lower when boosters may lift a name over the threshold.
        boost_max = (DOB_BOOST if dob_text else 0.0) + (COUNTRY_BOOST if country else 0.0)
        scores = self._index.best(keys, cutoff=max(threshold - boost_max, 1.0))
        best: dict[int, tuple[float, str]] = {}
        for (position, text), score in scores.items():
            if score > best.get(position, (-1.0, ""))[0]:
                best[position] = (score, text)
        hits = [self._hit(self.entries[pos], text, score, country, dob_text) for pos, (score, text) in best.items()]
        kept = sorted((h for h in hits if h.score >= threshold),
                      key=lambda h: (-h.score, h.list_name, h.entry.entry_id))
        return ScreeningResult(name=name, threshold=threshold, hits=tuple(kept[:HITS_MAX]), country=country, dob=dob_text)

    @staticmethod
    def _hit(entry: WatchEntry, text: str, name_score: float, country: str | None, dob: str | None) -> Hit:
        dob_match = any(dob_agrees(known, dob) for known in entry.dobs) if dob and entry.dobs else None
        wanted = normalise_country(country)
        country_match = (any(normalise_country(c) == wanted for c in entry.countries)
                         if wanted and entry.countries else None)
        score = name_score + (DOB_BOOST if dob_match else 0.0) + (COUNTRY_BOOST if country_match else 0.0)
        return Hit(entry=entry, score=round(min(score, 100.0), 1), name_score=round(name_score, 1), matched_name=text,
                   matched_alias=None if text == entry.name else text, dob_match=dob_match, country_match=country_match)


def _query_dob(dob: str | date | None) -> str | None:
    if dob is None or dob == "":
        return None
    try:
        return parse_dob(dob)
    except ValueError as error:
        raise AmlError("invalid_dob", str(error)) from None
