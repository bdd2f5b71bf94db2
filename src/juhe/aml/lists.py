"""Sanctions and watch lists from the files they are published in, as plain `WatchEntry` records.

Three formats, told apart by their first line:
- OFAC SDN CSV: `sdn.csv` without a header (ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign,
  Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks; "-0-" is empty), aliases in `alt.csv`
  beside it (ent_num, alt_num, alt_type, alt_name, alt_remarks). DOB and nationality are read
  from Remarks ("DOB 12 Mar 1961; nationality Russia").
- A consolidated list (UN / EU / UK style) as CSV with a header: columns found by their names
  (see HEADER_NAMES); several rows with one id are one entry and its aliases.
- Our own: a header `name,aliases,type,country,dob,list`; aliases, countries and dates of birth
  separated by ";".
A malformed file raises AmlError(code="malformed_list") naming the file and line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

from juhe.aml.dates import parse_dob
from juhe.aml.errors import AmlError

LIST_BYTES_MAX = 200 * 1024 * 1024  # the full OFAC SDN list is ~5 MB; more is not a list
OFAC_NULL = "-0-"
OFAC_SDN_COLUMNS = 12
OFAC_ALT_COLUMNS = 5
OWN_COLUMNS = ("name", "aliases", "type", "country", "dob", "list")
MULTI_SEPARATOR = ";"
HEADER_SCAN_LINES = 5  # UK-style files put a "Last Updated" line above the header

ENTITY_TYPES = {
    "individual": "individual", "person": "individual", "natural person": "individual", "p": "individual",
    "entity": "entity", "enterprise": "entity", "organisation": "entity", "organization": "entity",
    "company": "entity", "e": "entity", "": "entity",  # OFAC leaves entities' type empty (-0-)
    "vessel": "vessel", "ship": "vessel", "aircraft": "aircraft",
}

# Consolidated-list header names (lower case, non-alphanumerics as "_") and the field each fills.
HEADER_NAMES = {
    "id": {"id", "entity_logicalid", "logicalid", "entity_id", "group_id", "dataid", "reference_number",
           "un_reference_number", "reference"},
    "name": {"name", "whole_name", "wholename", "namealias_wholename", "full_name", "fullname"},
    "name_part": {"first_name", "second_name", "third_name", "fourth_name", "given_name", "middle_name",
                  "last_name", "surname", "family_name", "namealias_firstname", "namealias_middlename",
                  "namealias_lastname", *(f"name_{n}" for n in range(1, 7))},
    "alias": {"alias", "aliases", "aka", "name_non_latin_script", "name_original_script"},
    "alias_type": {"alias_type", "namealias_type"},
    "type": {"type", "subject_type", "entity_subjecttype", "group_type", "entity_type"},
    "dob": {"dob", "date_of_birth", "birthdate", "birth_date", "birthdate_birthdate", "individual_date_of_birth"},
    "country": {"country", "nationality", "citizenship", "citizenship_countryiso2code", "country_of_birth"},
    "program": {"program", "programme", "regime", "un_list_type", "list_type", "entity_regulation_programme"},
}

OFAC_DOB = re.compile(r"\bDOB\s+(?:circa\s+)?((?:\d{1,2}\s+)?(?:[A-Za-z]{3}\s+)?\d{4})")
OFAC_NATIONALITY = re.compile(r"\b(?:nationality|citizen)\s+([A-Za-z][A-Za-z .'-]*?)\s*(?:;|\.|\(|$)")


@dataclass(frozen=True, slots=True)
class WatchEntry:
    list_name: str
    entry_id: str
    name: str
    aliases: tuple[str, ...] = ()
    entity_type: str = "entity"  # individual | entity | vessel | aircraft
    countries: tuple[str, ...] = ()
    dobs: tuple[str, ...] = ()  # YYYY-MM-DD, YYYY-MM or YYYY: lists often know only the year
    programs: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"list": self.list_name, "entry_id": self.entry_id, "name": self.name, "aliases": list(self.aliases),
                "type": self.entity_type, "countries": list(self.countries), "dobs": list(self.dobs),
                "programs": list(self.programs)}


def load_list(path: Path, list_name: str | None = None) -> list[WatchEntry]:
    """Every entry of one list file, whichever of the three formats it is in."""
    text = _read_text(path)
    first = next((row for row in csv.reader(io.StringIO(text)) if row), None)
    if first is None:
        raise AmlError("malformed_list", "the file is empty", path=str(path))
    if path.name.lower() == "alt.csv":
        raise AmlError("malformed_list", "alt.csv holds OFAC aliases only; give sdn.csv (alt.csv beside it is read)",
                       path=str(path))
    if first[0].strip().isdigit() and len(first) == OFAC_SDN_COLUMNS:
        return load_ofac(path, list_name=list_name or "OFAC SDN")
    if "name" in _header_cells(first) and set(_header_cells(first)) <= set(OWN_COLUMNS):
        return load_own(path, default_list=list_name or path.stem)
    return load_consolidated(path, list_name=list_name or path.stem)


def load_ofac(sdn_path: Path, alt_path: Path | None = None, list_name: str = "OFAC SDN") -> list[WatchEntry]:
    alt_path = alt_path or _sibling(sdn_path, "alt.csv")
    entries: dict[str, WatchEntry] = {}
    for line, row in _rows(sdn_path, OFAC_SDN_COLUMNS):
        ent_num = _ofac_ent_num(row[0], sdn_path, line)
        if ent_num in entries:
            raise AmlError("malformed_list", f"ent_num {ent_num} appears twice", path=str(sdn_path), line=line)
        name = _ofac(row[1])
        if not name:
            raise AmlError("malformed_list", f"entry {ent_num} has no SDN_Name", path=str(sdn_path), line=line)
        remarks = _ofac(row[11])
        entries[ent_num] = WatchEntry(
            list_name=list_name, entry_id=ent_num, name=name, entity_type=_entity_type(_ofac(row[2]), sdn_path, line),
            countries=tuple(dict.fromkeys(OFAC_NATIONALITY.findall(remarks))),
            dobs=tuple(dict.fromkeys(_dob(found, sdn_path, line) for found in OFAC_DOB.findall(remarks))),
            programs=tuple(p.strip() for p in _ofac(row[3]).strip("[]").split("] [") if p.strip()),
        )
    if alt_path is not None:
        _add_ofac_aliases(entries, alt_path)
    return list(entries.values())


def _add_ofac_aliases(entries: dict[str, WatchEntry], alt_path: Path) -> None:
    for line, row in _rows(alt_path, OFAC_ALT_COLUMNS):
        ent_num = _ofac_ent_num(row[0], alt_path, line)
        if ent_num not in entries:
            raise AmlError("malformed_list", f"alias of entry {ent_num}, which sdn.csv does not have",
                           path=str(alt_path), line=line)
        alias = _ofac(row[3])
        if not alias:
            raise AmlError("malformed_list", "alias without alt_name", path=str(alt_path), line=line)
        entries[ent_num] = _with_aliases(entries[ent_num], (alias,))


def load_own(path: Path, default_list: str) -> list[WatchEntry]:
    header, rows = _table(path, header_line=1)
    unknown = sorted(set(header) - set(OWN_COLUMNS))
    if "name" not in header or unknown:
        raise AmlError("malformed_list", f"header must be {','.join(OWN_COLUMNS)} (unknown: {unknown})",
                       path=str(path), line=1)
    entries = []
    for line, row in rows:
        cells = {key: value.strip() for key, value in zip(header, row)}
        if not cells["name"]:
            raise AmlError("malformed_list", "empty name", path=str(path), line=line)
        entries.append(WatchEntry(
            list_name=cells.get("list") or default_list, entry_id=str(line), name=cells["name"],
            aliases=_split(cells.get("aliases")),
            entity_type=_entity_type(cells["type"], path, line) if cells.get("type") else "individual",
            countries=_split(cells.get("country")),
            dobs=tuple(_dob(value, path, line) for value in _split(cells.get("dob"))),
        ))
    return entries


def load_consolidated(path: Path, list_name: str) -> list[WatchEntry]:
    header, rows = _table(path, header_line=_find_header(path))
    columns = [_field_of(cell) for cell in header]
    grouped: dict[str, list[tuple[int, dict[str, list[str]]]]] = {}
    for line, row in rows:
        fields = _fields(columns, row)
        entry_id = (fields.get("id") or [str(line)])[0]
        grouped.setdefault(entry_id, []).append((line, fields))
    return [_consolidated_entry(list_name, entry_id, found, path) for entry_id, found in grouped.items()]


def _consolidated_entry(list_name: str, entry_id: str, rows: list, path: Path) -> WatchEntry:
    # The row marked primary (UK "Primary name") names the entry; otherwise the first named row does.
    # EU-style files spread an entry over rows that each fill some columns (a name, a birth date, …).
    rows = sorted(rows, key=lambda item: not any(t.lower().startswith("primary") for t in item[1].get("alias_type", [])))
    names, aliases, countries, dobs, programs, types = [], [], [], [], [], []
    for line, fields in rows:
        whole = " ".join(fields.get("name", []) or fields.get("name_part", []))
        if whole:
            names.append(whole)
        aliases.extend(a for value in fields.get("alias", []) for a in _split(value))
        countries.extend(fields.get("country", []))
        dobs.extend(_dob(value, path, line) for value in fields.get("dob", []))
        programs.extend(fields.get("program", []))
        types.extend(_entity_type(value, path, line) for value in fields.get("type", []))
    if not names:
        raise AmlError("malformed_list", f"entry {entry_id} has no name", path=str(path), line=min(line for line, _ in rows))
    entry = WatchEntry(list_name=list_name, entry_id=entry_id, name=names[0], entity_type=(types or ["entity"])[0],
                       countries=tuple(dict.fromkeys(countries)), dobs=tuple(dict.fromkeys(dobs)),
                       programs=tuple(dict.fromkeys(programs)))
    return _with_aliases(entry, (*names[1:], *aliases))


def _find_header(path: Path) -> int:
    for line_no, line in enumerate(_read_text(path).splitlines()[:HEADER_SCAN_LINES], start=1):
        cells = _header_cells(next(csv.reader([line], delimiter=_delimiter(line)), []))
        if {"name", "name_part"} & {_field_of(cell) for cell in cells}:
            return line_no
    raise AmlError("malformed_list", "not an OFAC, consolidated or own-format list: no name column in the header",
                   path=str(path), line=1)


def _field_of(header: str) -> str | None:
    return next((name for name, spellings in HEADER_NAMES.items() if header in spellings), None)


def _fields(columns: list[str | None], cells: list[str]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for column, value in zip(columns, cells):
        if column and value and value.strip():
            fields.setdefault(column, []).append(value.strip())
    return fields


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > LIST_BYTES_MAX:
            raise AmlError("malformed_list", f"{size} bytes is larger than any list ({LIST_BYTES_MAX})", path=str(path))
        raw = path.read_bytes()
    except OSError as error:
        raise AmlError("list_unreadable", f"cannot read the list: {error.strerror}", path=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # OFAC's files are Windows-1252 at times
    return text.replace("\x1a", "")  # OFAC ends its CSV files with a DOS end-of-file mark


def _rows(path: Path, width: int):
    """(line, cells) of a headerless CSV, every record `width` cells wide; blank lines skipped."""
    reader = csv.reader(io.StringIO(_read_text(path)))
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise AmlError("malformed_list", f"expected {width} columns, found {len(row)}", path=str(path),
                           line=reader.line_num)
        yield reader.line_num, row


def _table(path: Path, header_line: int) -> tuple[list[str], object]:
    """The header cells (normalised) at `header_line` and an iterator of (line, cells) below it.

    Line numbers are those of the file (where a record ends, for quoted multi-line cells)."""
    lines = _read_text(path).splitlines()
    delimiter = _delimiter(lines[header_line - 1])
    reader = csv.reader(io.StringIO("\n".join(lines[header_line - 1:])), delimiter=delimiter)
    header = _header_cells(next(reader))

    def rows():
        for row in reader:
            line = reader.line_num + header_line - 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise AmlError("malformed_list", f"expected {len(header)} cells like the header, found {len(row)}",
                               path=str(path), line=line)
            yield line, row
    return header, rows()


def _delimiter(line: str) -> str:
    return max((",", ";", "\t"), key=line.count)


def _header_cells(cells) -> list[str]:
    return [re.sub(r"[^0-9a-z]+", "_", (cell or "").strip().lower()).strip("_") for cell in cells]


def _sibling(path: Path, name: str) -> Path | None:
    found = [p for p in path.parent.iterdir() if p.name.lower() == name] if path.parent.is_dir() else []
    return found[0] if found else None


def _ofac(cell: str) -> str:
    cell = cell.strip()
    return "" if cell == OFAC_NULL else cell


def _ofac_ent_num(cell: str, path: Path, line: int) -> str:
    if not cell.strip().isdigit():
        raise AmlError("malformed_list", f"ent_num {cell!r} is not a number", path=str(path), line=line)
    return cell.strip()


def _entity_type(text: str, path: Path, line: int) -> str:
    kind = ENTITY_TYPES.get(text.strip().lower())
    if kind is None:
        raise AmlError("malformed_list", f"unknown entry type {text!r}", path=str(path), line=line)
    return kind


def _dob(text: str, path: Path, line: int) -> str:
    try:
        return parse_dob(text)
    except ValueError as error:
        raise AmlError("malformed_list", str(error), path=str(path), line=line) from None


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(MULTI_SEPARATOR) if part.strip())


def _with_aliases(entry: WatchEntry, more: tuple[str, ...]) -> WatchEntry:
    known = {entry.name, *entry.aliases}
    return replace(entry, aliases=entry.aliases + tuple(dict.fromkeys(a for a in more if a not in known)))
