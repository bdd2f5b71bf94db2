"""Loading sanctions and watch lists from OFAC, consolidated and our own CSV formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from juhe.aml.dates import parse_dob
from juhe.aml.errors import AmlError
from juhe.aml.lists import load_list, load_ofac

DATA = Path(__file__).parent / "data"


def by_id(entries):
    return {entry.entry_id: entry for entry in entries}


def test_ofac_sdn_with_aliases_from_alt_csv_beside_it():
    entries = by_id(load_list(DATA / "ofac" / "sdn.csv"))
    assert len(entries) == 6  # the trailing DOS end-of-file mark is not an entry
    petrov = entries["1001"]
    assert petrov.name == "PETROV, Ivan Sergeyevich" and petrov.list_name == "OFAC SDN"
    assert petrov.aliases == ("PETROFF, Ivan", "PETROV, Ivan S.")
    assert petrov.entity_type == "individual" and petrov.dobs == ("1961-03-12",) and petrov.countries == ("Russia",)
    assert entries["1005"].dobs == ("1970-01-01", "1971")  # "DOB ...; alt. DOB 1971"
    assert entries["1002"].entity_type == "entity" and entries["1002"].programs == ("SDGT", "IRAN")
    assert entries["1004"].entity_type == "vessel"
    assert entries["1006"].aliases == ("KARIMOFF IMPEX",)


def test_eu_style_consolidated_list_groups_alias_rows_by_id():
    entries = by_id(load_list(DATA / "eu_consolidated.csv"))
    assert set(entries) == {"5001", "5002", "5003"}
    kovalenko = entries["5001"]
    assert kovalenko.name == "Viktor Andreevich KOVALENKO" and kovalenko.aliases == ("Wiktor Kowalenko",)
    assert kovalenko.entity_type == "individual" and kovalenko.dobs == ("1968-07-21",) and kovalenko.countries == ("UA",)
    assert entries["5002"].entity_type == "entity" and entries["5002"].list_name == "eu_consolidated"


def test_eu_style_rows_that_carry_only_a_birth_date_or_citizenship(tmp_path):
    path = write(tmp_path, "eu.csv", "Entity_LogicalId;NameAlias_WholeName;BirthDate_BirthDate;Citizenship_CountryIso2Code\n"
                                     "9;Ivan PETROV;;\n9;;1961-03-12;\n9;;;RU\n9;Iwan Petrow;;\n")
    [entry] = load_list(path)
    assert (entry.name, entry.aliases, entry.dobs, entry.countries) == ("Ivan PETROV", ("Iwan Petrow",), ("1961-03-12",), ("RU",))


def test_uk_style_list_finds_its_header_below_a_title_line_and_joins_name_parts():
    entries = by_id(load_list(DATA / "uk_consolidated.csv", list_name="UK sanctions"))
    hassan = entries["7001"]
    assert hassan.name == "HASSAN Ali Mahmoud"  # the "Primary name" row, though it is not first
    assert hassan.aliases == ("HASAN Aly",) and hassan.dobs == ("1965-04-03",)  # dd/mm/yyyy
    assert hassan.list_name == "UK sanctions" and entries["7002"].entity_type == "entity"


def test_own_format_with_chinese_names_aliases_and_lists():
    entries = by_id(load_list(DATA / "internal_watchlist.csv"))
    assert entries["2"].name == "张伟" and entries["2"].dobs == ("1975-04-02",) and entries["2"].countries == ("CN",)
    assert entries["4"].aliases == ("Jinhai Trading Co. Ltd", "Golden Sea Trading Limited")
    assert {e.list_name for e in entries.values()} == {"Internal watch list", "PEP"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name, text, line, words", [
    ("sdn.csv", '1,"A B","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n'
                'x2,"C D","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n', 2, "ent_num"),
    ("sdn.csv", '1,"A B","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n'
                '2,"C D","individual"\n', 2, "expected 12 columns"),
    ("sdn.csv", '1,"-0-","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n', 1, "no SDN_Name"),
    ("sdn.csv", '1,"A B","robot","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n', 1, "unknown entry type"),
    ("own.csv", "name,aliases,type,country,dob,list\nA B,,individual,CN,1970-13-01,L\n", 2, "not a date of birth"),
    ("own.csv", "name,aliases,type,country,dob,list\nA B,,individual,CN,1970,L\n,,individual,CN,,L\n", 3, "empty name"),
    ("own.csv", "name,aliases,type,country,dob,list\nA B,,individual,CN,1970,L,extra\n", 2, "expected 6 cells"),
    ("cons.csv", "id;whole_name;dob\n1;A B;1970\n2;C D\n", 3, "expected 3 cells"),
    ("cons.csv", "id,whole_name,dob\n1,A B,\n2,,1970\n2,,1971\n", 3, "entry 2 has no name"),
    ("sdn.csv", '1,"A B","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n'
                '1,"C D","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n', 2, "appears twice"),
    ("cons.csv", "id,amount,currency\n1,10,CNY\n", 1, "no name column"),
])
def test_malformed_list_names_the_line(tmp_path, name, text, line, words):
    path = write(tmp_path, name, text)
    with pytest.raises(AmlError) as raised:
        load_list(path)
    assert raised.value.code == "malformed_list" and raised.value.line == line
    assert words in str(raised.value) and f"line {line}" in str(raised.value)


def test_alias_of_an_unknown_ofac_entry_is_an_error(tmp_path):
    sdn = write(tmp_path, "sdn.csv", '1,"A B","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n')
    write(tmp_path, "alt.csv", '1,10,"aka","A. B.","-0-"\n9,11,"aka","Z","-0-"\n')
    with pytest.raises(AmlError, match="entry 9") as raised:
        load_ofac(sdn)
    assert raised.value.line == 2


def test_alt_csv_alone_is_refused_with_a_hint(tmp_path):
    alt = write(tmp_path, "alt.csv", '1,10,"aka","A. B.","-0-"\n')
    with pytest.raises(AmlError, match="give sdn.csv"):
        load_list(alt)


def test_empty_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(AmlError, match="empty"):
        load_list(write(tmp_path, "empty.csv", "\n\n"))
    with pytest.raises(AmlError) as raised:
        load_list(tmp_path / "nowhere.csv")
    assert raised.value.code == "list_unreadable"


def test_windows_1252_ofac_file_is_read(tmp_path):
    path = tmp_path / "sdn.csv"
    path.write_bytes('1,"MÜLLER, Hans","individual","X","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\r\n'.encode("cp1252"))
    assert load_list(path)[0].name == "MÜLLER, Hans"


@pytest.mark.parametrize("text, expected", [
    ("1961-03-12", "1961-03-12"), ("12 Mar 1961", "1961-03-12"), ("Mar 1961", "1961-03"), ("1961", "1961"),
    ("12/03/1961", "1961-03-12"), ("1961-03", "1961-03"),
])
def test_dates_of_birth_keep_the_precision_the_list_has(text, expected):
    assert parse_dob(text) == expected


@pytest.mark.parametrize("text", ["31 Feb 1961", "1961-00", "sometime", "12 Foo 1961", "32/01/1961"])
def test_impossible_dates_of_birth_are_rejected(text):
    with pytest.raises(ValueError):
        parse_dob(text)
