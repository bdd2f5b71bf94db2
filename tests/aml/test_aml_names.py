"""Name keys: one person or company written many ways gives the same keys."""

from __future__ import annotations

import pytest

from juhe.aml.names import name_keys, normalise_country


def shares_key(a: str, b: str) -> bool:
    return bool(set(name_keys(a)) & set(name_keys(b)))


@pytest.mark.parametrize("a, b", [
    ("Zhang Wei", "Wei Zhang"),  # word order
    ("ZHANG, Wei", "zhang wei"),  # case and punctuation
    ("张伟", "Zhang Wei"),  # characters to pinyin
    ("王小明", "Xiaoming Wang"),  # given name written as one word
    ("王小明", "Wang Xiao Ming"),  # or syllable by syllable
    ("José Álvarez Muñoz", "Jose Alvarez Munoz"),  # diacritics
    ("Nguyễn Văn Thắng", "Nguyen Van Thang"),
    ("Golden Sea Trading Co., Ltd.", "The Golden-Sea Trading Company Limited"),  # legal forms and articles
    ("金海贸易有限公司", "Jinhai Maoyi"),  # 有限公司 is a legal form too
    ("O'Brien Holdings GmbH", "OBrien Holdings"),
    ("欧阳娜娜", "Ouyang Nana"),  # compound surname
    ("吕布", "Lu Bu"),  # ü is written u in passports
])
def test_spellings_of_one_name_share_a_key(a, b):
    assert shares_key(a, b)


def test_polyphonic_surname_is_also_read_as_a_surname():
    # 曾 is "ceng" in everyday words but "Zeng" as a surname; both readings are kept.
    keys = name_keys("曾国藩")
    assert "guofan zeng" in keys and "ceng guofan" in keys


def test_a_longer_chinese_name_does_not_contain_a_shorter_one():
    # 张伟强 is not 张伟: the given name stays one token, so no key of one is a subset of the other.
    tokens = {token for key in name_keys("张伟强") for token in key.split()}
    assert "wei" not in tokens and "weiqiang" in tokens


def test_legal_form_alone_is_kept_rather_than_emptied():
    assert name_keys("Limited") == ("limited",)


def test_nothing_to_screen_gives_no_keys():
    assert name_keys("  ,.;  ") == ()
    assert name_keys("") == ()


def test_country_comparison_ignores_case_and_punctuation():
    assert normalise_country("United  Kingdom.") == normalise_country("united kingdom")
    assert normalise_country(None) is None
