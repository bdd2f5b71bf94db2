"""Screening names against watch lists: true matches hit, ordinary names do not."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rapidfuzz import fuzz

from juhe.aml.errors import AmlError
from juhe.aml.lists import WatchEntry
from juhe.aml.name_index import NameIndex
from juhe.aml.screening import DEFAULT_THRESHOLD, WatchList
from juhe.aml.service import Party, screen_parties

DATA = Path(__file__).parent / "data"
LISTS = [DATA / "ofac" / "sdn.csv", DATA / "eu_consolidated.csv", DATA / "uk_consolidated.csv",
         DATA / "internal_watchlist.csv"]


@pytest.fixture(scope="module")
def watch_list() -> WatchList:
    return WatchList.from_files(LISTS)


def top(result):
    return (result.hits[0].list_name, result.hits[0].entry.entry_id)


@pytest.mark.parametrize("query, expected", [
    ("PETROV Ivan Sergeevich", ("OFAC SDN", "1001")),  # spelling variant of the patronymic
    ("Ivan Petrov", ("OFAC SDN", "1001")),  # reordered, patronymic left out
    ("Golden Harbour Shipping Co Ltd", ("OFAC SDN", "1002")),  # British spelling, legal form
    ("Omar Al Rashid", ("OFAC SDN", "1005")),  # hyphen, middle name left out
    ("Karimov Trading", ("OFAC SDN", "1006")),
    ("Viktor Kovalenko", ("eu_consolidated", "5001")),
    ("Nguyen Van Thang", ("eu_consolidated", "5003")),  # diacritics
    ("Ali Hassan", ("uk_consolidated", "7001")),
    ("Eastern Orchid Holdings Ltd", ("uk_consolidated", "7002")),
    ("Xiaoming Wang", ("Internal watch list", "3")),  # hanzi on the list, pinyin given name first
    ("Wang Xiao Ming", ("Internal watch list", "3")),
    ("Jinhai Trading Company", ("Internal watch list", "4")),
    ("金海贸易", ("Internal watch list", "4")),  # the list has 金海贸易有限公司
    ("Nana Ouyang", ("PEP", "6")),
    ("Jose Alvarez Munoz", ("PEP", "5")),
])
def test_true_matches_hold_for_review(watch_list, query, expected):
    result = watch_list.screen(query)
    assert result.hold_for_review
    assert expected in {(hit.list_name, hit.entry.entry_id) for hit in result.hits}
    assert all(hit.score >= DEFAULT_THRESHOLD for hit in result.hits)


@pytest.mark.parametrize("query", ["张伟", "Zhang Wei", "Wei Zhang", "ZHANG, Wei"])
def test_hanzi_and_pinyin_in_any_order_match_both_lists(watch_list, query):
    found = {(hit.list_name, hit.entry.entry_id): hit.score for hit in watch_list.screen(query).hits}
    assert found == {("OFAC SDN", "1003"): 100.0, ("Internal watch list", "2"): 100.0}


@pytest.mark.parametrize("query, alias", [
    ("Ivan Petroff", "PETROFF, Ivan"),
    ("Wiktor Kowalenko", "Wiktor Kowalenko"),
    ("Aly Hasan", "HASAN Aly"),
    ("Golden Sea Trading", "Golden Sea Trading Limited"),
    ("Abu Khalid al Halabi", "ABU KHALID AL-HALABI"),
])
def test_aliases_match_and_say_which_alias(watch_list, query, alias):
    hit = watch_list.screen(query).hits[0]
    assert hit.matched_alias == alias and hit.matched_name == alias


def test_primary_name_match_has_no_alias(watch_list):
    hit = watch_list.screen("Northern Light").hits[0]
    assert hit.entry.entity_type == "vessel" and hit.matched_alias is None and hit.score == 100.0


ORDINARY_NAMES = [
    "Wang Lei", "Li Na", "Liu Yang", "Chen Jie", "Zhao Min", "Zhang Min", "Zhang Hui", "Wang Wei", "Li Wei",
    "Wei Liang", "王芳", "李娜", "刘洋", "陈静", "张敏", "张伟强", "王小红", "John Smith", "Mary Johnson",
    "Maria Garcia", "Anna Müller", "Peter Schmidt", "Ahmed Hassan", "Ivan Ivanov", "Olga Petrova",
    "Jose Martinez", "Omar Farouk", "Victor Kovacs", "Nguyen Van Minh", "Omar", "Lotus Mart Co., Ltd.",
    "莲花超市有限公司", "Silk Road Online", "丝路商城", "Shanghai Golden Bridge Foods Co., Ltd.", "Golden Sea Foods",
    "Blue Sky Minerals", "Golden Harvest Trading Co Ltd", "Harbor Freight Shipping", "Trading Co Ltd",
]


@pytest.mark.parametrize("query", ORDINARY_NAMES)
def test_ordinary_names_do_not_hit(watch_list, query):
    result = watch_list.screen(query)
    assert not result.hold_for_review, [(h.score, h.matched_name) for h in result.hits]


def test_a_matching_date_of_birth_lifts_a_near_miss_over_the_threshold():
    watch_list = WatchList([WatchEntry("L", "1", "Wang Wei", dobs=("1980-05-06",), countries=("CN",))])
    assert not watch_list.screen("Wang Lei").hold_for_review  # 85.7: another person, as far as the name goes
    boosted = watch_list.screen("Wang Lei", dob="1980-05-06", country="cn")
    assert boosted.hold_for_review
    hit = boosted.hits[0]
    assert hit.dob_match is True and hit.country_match is True and hit.score > hit.name_score


def test_a_differing_date_of_birth_is_shown_not_hidden():
    watch_list = WatchList([WatchEntry("L", "1", "Wang Wei", dobs=("1980",))])
    hit = watch_list.screen("Wang Wei", dob="1991-01-01").hits[0]
    assert hit.dob_match is False and hit.score == hit.name_score == 100.0


def test_year_only_dob_on_the_list_agrees_with_a_full_date(watch_list):
    hits = {hit.entry.entry_id: hit for hit in watch_list.screen("Zhang Wei", dob="1975-04-02").hits}
    assert hits["1003"].dob_match is True  # OFAC knows only 1975
    assert hits["2"].dob_match is True


def test_threshold_decides_hold_for_review(watch_list):
    assert watch_list.screen("Ivan Petrova", threshold=99).hits == ()
    assert watch_list.screen("Ivan Petrova", threshold=80).hold_for_review


def test_hits_are_ordered_by_score_and_json_ready(watch_list):
    result = watch_list.screen("Zhang Wei", dob="1975-04-02")
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True)
    data = result.to_json()
    assert data["hold_for_review"] is True and data["dob"] == "1975-04-02"
    assert data["hits"][0]["entry"]["name"] in {"张伟", "ZHANG, Wei"}


@pytest.mark.parametrize("kwargs, code", [
    ({"name": "   "}, "invalid_name"),
    ({"name": "Zhang Wei", "threshold": 0}, "invalid_threshold"),
    ({"name": "Zhang Wei", "threshold": 101}, "invalid_threshold"),
    ({"name": "Zhang Wei", "dob": "not a date"}, "invalid_dob"),
])
def test_bad_screening_input_is_a_clear_error(watch_list, kwargs, code):
    with pytest.raises(AmlError) as raised:
        watch_list.screen(**kwargs)
    assert raised.value.code == code


def test_no_list_is_an_error():
    with pytest.raises(AmlError) as raised:
        WatchList.from_files([])
    assert raised.value.code == "no_watch_list"


def test_screen_parties_screens_payer_and_payee(watch_list):
    screened = screen_parties(watch_list, [Party("payer", "Lotus Mart Co., Ltd."), Party("payee", "Ivan Petroff")])
    assert [s.hold_for_review for s in screened] == [False, True]
    with pytest.raises(AmlError, match="unknown role"):
        screen_parties(watch_list, [Party("beneficiary", "X")])


def test_prefilters_lose_nothing_against_comparing_every_key():
    # The length and letter prefilters must find exactly what a full scan with ratio finds.
    rng = random.Random(7)
    syllables = ["ka", "ro", "mi", "an", "tel", "so", "vin", "gor", "li", "ber", "xu", "ov", "ich"]

    def word():
        return "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))

    keys = sorted({" ".join(sorted(word() for _ in range(rng.randint(1, 3)))) for _ in range(3000)})
    index = NameIndex((key, key) for key in keys)
    for _ in range(60):
        query = " ".join(sorted(word() for _ in range(rng.randint(1, 3))))
        for cutoff in (70.0, 88.0):
            full_scan = {key for key in keys if fuzz.ratio(query, key) >= cutoff}
            found = index.best([query], cutoff)
            assert full_scan <= set(found)
            assert all(found[key] >= cutoff for key in found)
