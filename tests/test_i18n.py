"""The string catalogs (pages/shared/locales) and the lookup `t()` of pages/shared/i18n.py.

The catalogs must have exactly the same keys, no empty values and the same format placeholders in
every language, and every `t("literal.key")` used in pages/ must exist. A key missing in the active
language falls back to English at run time; these tests are what fails on it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.shared import i18n

PAGES = Path(__file__).resolve().parent.parent / "pages"
LITERAL_KEY = re.compile(r"""\bt\(\s*(["'])([A-Za-z0-9_.\-]+)\1""")  # t("a.b") or t('a.b'), not t(f"...")


@pytest.fixture(scope="module")
def catalogs() -> dict[str, dict[str, str]]:
    return {code: i18n.catalog(code) for code in i18n.LANGUAGES}


def test_languages_are_english_and_chinese():
    assert i18n.LANGUAGES == {"en": "English", "zh": "中文"}
    assert i18n.DEFAULT == "en"


def test_catalogs_have_exactly_the_same_keys(catalogs):
    english = set(catalogs["en"])
    assert len(english) > 100
    for code, catalog in catalogs.items():
        assert set(catalog) == english, (code, sorted(set(catalog) ^ english))


def test_no_empty_or_non_string_values(catalogs):
    for code, catalog in catalogs.items():
        for key, value in catalog.items():
            assert isinstance(value, str) and value.strip(), (code, key)


def test_placeholders_match_and_every_template_formats(catalogs):
    for key, english in catalogs["en"].items():
        wanted = i18n.placeholders(english)
        for code, catalog in catalogs.items():
            fields = i18n.placeholders(catalog[key])  # ValueError on a stray brace
            assert fields == wanted, (code, key, fields, wanted)
            catalog[key].format(**dict.fromkeys(fields, "x"))  # no positional or nested fields


def test_chinese_catalog_is_translated(catalogs):
    """Prose is written in Chinese, not copied: most values contain CJK characters."""
    cjk = re.compile(r"[\u4e00-\u9fff]")
    translated = [key for key, value in catalogs["zh"].items() if cjk.search(value)]
    assert len(translated) >= 0.9 * len(catalogs["zh"])
    for key in ("learn.title", "learn.forgetting.body", "strategy.er.idea", "card.try_it"):
        assert catalogs["zh"][key] != catalogs["en"][key]
    assert "灾难性遗忘" in catalogs["zh"]["learn.forgetting.body"]
    assert "稳定性-可塑性" in catalogs["zh"]["learn.forgetting.heading"]


def test_every_literal_key_used_in_pages_exists(catalogs):
    used = {}
    for path in PAGES.rglob("*.py"):
        for match in LITERAL_KEY.finditer(path.read_text(encoding="utf-8")):
            used.setdefault(match.group(2), path.name)
    assert "learn.title" in used  # the scan finds the Learn page's keys
    for code, catalog in catalogs.items():
        missing = {key: page for key, page in used.items() if key not in catalog}
        assert not missing, (code, missing)


def test_card_texts_exist_for_every_card(catalogs):
    from pages import learn

    for name in learn.CARDS:
        for field in learn.CARD_TEXTS:
            for code, catalog in catalogs.items():
                assert f"strategy.{name}.{field}" in catalog, (code, name, field)


def _lookups():
    """Run inside AppTest: the session's language is Chinese; show what t() returns."""
    import streamlit as st

    from pages.shared import i18n

    st.session_state["_lang"] = "zh"
    st.text(i18n.t("learn.metrics.after_task", i=2))
    st.text(i18n.t("learn.title"))  # removed from the Chinese catalog by the test
    st.text(i18n.t("no.such.key"))
    st.text(i18n.t("learn.metrics.after_task"))  # a value missing: shown unformatted
    st.text(i18n.t("learn.metrics.after_task", i=3, extra="ignored"))


def test_t_formats_falls_back_to_english_and_records_misses():
    chinese = i18n.catalog("zh")
    removed = chinese.pop("learn.title")
    i18n.MISSING.clear()
    try:
        at = AppTest.from_function(_lookups).run()
    finally:
        chinese["learn.title"] = removed
    assert not at.exception, at.exception
    assert [el.value for el in at.text] == [
        "学完任务 2",
        i18n.catalog("en")["learn.title"],
        "no.such.key",
        "学完任务 {i}",
        "学完任务 3",
    ]
    assert {("zh", "learn.title"), ("zh", "no.such.key")} == i18n.MISSING
    i18n.MISSING.clear()
