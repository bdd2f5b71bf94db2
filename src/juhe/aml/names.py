"""Name normalisation for screening: one person or company written many ways gives the same keys.

A name becomes a few *keys*: lower-case Latin tokens without diacritics or punctuation, legal
suffixes (Ltd, Co., GmbH, 有限公司) dropped, Chinese characters written in pinyin. Each key has
its tokens sorted, so word order never matters ("Zhang Wei" = "Wei Zhang"), and a compact key
(tokens joined, in the written order) catches names split or joined differently
("Xiao Ming" / "Xiaoming"). Pure functions; the index in screening.py compares keys.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

HANZI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
NOT_WORD = re.compile(r"[^\w\s]|_")
APOSTROPHES = re.compile(r"['’`ʼ]")
NAME_LENGTH_MAX = 300  # no list or payment name is longer; bounds the work per query

# Legal forms say what kind of company it is, not which one; lists and payers drop or vary them.
LEGAL_SUFFIXES = frozenset({
    "ltd", "limited", "co", "company", "corp", "corporation", "inc", "incorporated", "llc", "plc",
    "llp", "lp", "gmbh", "ag", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as",
    "kg", "kft", "sro", "jsc", "ojsc", "pjsc", "cjsc", "ooo", "oao", "zao", "pte", "pty", "bhd",
    "sdn", "fze", "fzco", "fzc", "fzllc", "kk", "cv", "de", "sab",
})
LEADING_ARTICLES = frozenset({"the"})
HANZI_SUFFIXES = ("股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团公司", "公司")

# Compound surnames are two characters; the given name is what follows.
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "上官", "司徒", "东方", "皇甫", "令狐", "慕容", "尉迟", "公孙", "夏侯",
    "轩辕", "长孙", "宇文", "澹台", "万俟", "闻人", "端木", "独孤", "南宫", "西门", "呼延", "钟离",
})
# Surnames read differently from the character's common reading (pypinyin gives the common one).
SURNAME_READINGS = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "朴": "piao", "查": "zha", "区": "ou",
    "乐": "yue", "盖": "ge", "缪": "miao", "覃": "qin", "召": "shao", "种": "chong", "翟": "zhai",
    "黑": "he", "员": "yun", "繁": "po", "万俟": "moqi", "尉迟": "yuchi", "长孙": "zhangsun",
}
PERSON_NAME_CHARS = (2, 4)  # Chinese personal names are two to four characters


def _pinyin(hanzi: str) -> list[str]:
    # ü is written v by pypinyin, u or yu in passports; u keeps 吕/Lu, 女/Nu together.
    return [syllable.replace("v", "u") for syllable in lazy_pinyin(hanzi, style=Style.NORMAL)]


def _strip_hanzi_suffix(text: str) -> str:
    for suffix in HANZI_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _latin_tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = APOSTROPHES.sub("", text.casefold())  # O'Brien = OBrien
    text = NOT_WORD.sub(" ", text)
    return text.split()


def _drop_legal_forms(tokens: list[str]) -> list[str]:
    kept = list(tokens)
    while len(kept) > 1 and kept[-1] in LEGAL_SUFFIXES:
        kept.pop()
    while len(kept) > 1 and kept[0] in LEADING_ARTICLES:
        kept.pop(0)
    return kept


def _chinese_person_variants(hanzi: str) -> list[list[str]]:
    """Surname + given name joined ("wang xiaoming"), as passports and Latin lists write it."""
    surname_len = 2 if hanzi[:2] in COMPOUND_SURNAMES and len(hanzi) > 2 else 1
    surname, given = hanzi[:surname_len], hanzi[surname_len:]
    readings = {"".join(_pinyin(surname))}
    if surname in SURNAME_READINGS:
        readings.add(SURNAME_READINGS[surname])
    given_joined = "".join(_pinyin(given))
    return [[reading, given_joined] for reading in sorted(readings)]


def token_variants(name: str) -> list[list[str]]:
    """The token lists a name can be written as (usually one; more for Chinese personal names)."""
    text = unicodedata.normalize("NFKC", name)[:NAME_LENGTH_MAX]
    compact_hanzi = "".join(text.split())
    # A name all in characters without a company suffix may be a person's: surname + given name.
    whole_hanzi = HANZI.fullmatch(compact_hanzi) is not None
    company = whole_hanzi and _strip_hanzi_suffix(compact_hanzi) != compact_hanzi
    pieces: list[str] = []
    for part in re.split(f"({HANZI.pattern})", text):
        pieces.extend(_pinyin(_strip_hanzi_suffix(part)) if HANZI.fullmatch(part) else _latin_tokens(part))
    low, high = PERSON_NAME_CHARS
    if whole_hanzi and not company and low <= len(compact_hanzi) <= high:
        # Not syllable by syllable: 张伟强 would then contain 张伟 ("zhang wei") as a subset.
        return _chinese_person_variants(compact_hanzi)
    return [tokens] if (tokens := _drop_legal_forms(pieces)) else []


@lru_cache(maxsize=65536)
def name_keys(name: str) -> tuple[str, ...]:
    """Keys to compare: sorted-token forms ("wei zhang") plus the compact written form ("zhangwei")."""
    keys: list[str] = []
    for tokens in token_variants(name):
        for key in (" ".join(sorted(tokens)), "".join(tokens) if len(tokens) > 1 else ""):
            if key and key not in keys:
                keys.append(key)
    return tuple(keys)


def normalise_country(country: str | None) -> str | None:
    if country is None:
        return None
    tokens = _latin_tokens(country)
    return " ".join(tokens) or None
