"""The interface's languages: one string catalog per language, a `t(key, **values)` lookup and the switch.

Catalogs are TOML files, `pages/shared/locales/<code>.toml` (stdlib tomllib; literal strings keep
LaTeX backslashes readable), nested tables whose leaves are strings; a key is the dotted path to a leaf
("learn.title", "strategy.er.idea"). Values are `str.format`
templates: `t("learn.metrics.after_task", i=2)`; a literal brace is written doubled.

The language lives in the URL (`?lang=zh`, left out for English) and in the session state: a valid URL
value wins (a shared link opens in its language), else the session's choice, else English. An invalid
URL value is reported by `language_switch()` (until a language is picked) and English is used.

A key missing from the active catalog never breaks a page: the English text is shown (or the key itself
when English lacks it too) and the miss is logged and recorded in `MISSING`, which the tests check.
"""

from __future__ import annotations

import logging
import string
import tomllib
from functools import cache
from pathlib import Path

import streamlit as st

LOG = logging.getLogger(__name__)

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT = "en"
URL_PARAM = "lang"
STATE_KEY = "_lang"  # the session's language (not a widget key: widget values vanish on page switches)
SWITCH_KEY = "i18n_switch"  # the switch widget's own key
REJECTED_KEY = "_lang_rejected"  # an invalid ?lang= value, reported until a language is picked
LOCALES = Path(__file__).resolve().parent / "locales"

MISSING: set[tuple[str, str]] = set()  # (language, key) looked up but absent from that catalog


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = value
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """The flat catalog {dotted key: template} of a language (read once per process)."""
    with open(LOCALES / f"{language}.toml", "rb") as f:
        return _flatten(tomllib.load(f))


def placeholders(template: str) -> set[str]:
    """The `str.format` field names in a template ("{i}" -> {"i"}); raises ValueError if malformed."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def valid_language(value) -> bool:
    return isinstance(value, str) and value in LANGUAGES


def language() -> str:
    """The language of this run: the URL's when valid, else the session's, else English. Remembers an
    invalid URL value for `language_switch()` to report."""
    given = st.query_params.get(URL_PARAM)
    if valid_language(given):
        st.session_state[STATE_KEY] = given
    elif given is not None:
        st.session_state[REJECTED_KEY] = given
        st.session_state[STATE_KEY] = DEFAULT
    return st.session_state.get(STATE_KEY, DEFAULT)


def url_params() -> dict[str, str]:
    """The query parameter that keeps the language in a URL ({} for English, the default)."""
    code = st.session_state.get(STATE_KEY, DEFAULT)
    return {} if code == DEFAULT else {URL_PARAM: code}


def _sync_url(code: str) -> None:
    if code == DEFAULT:
        if URL_PARAM in st.query_params:
            del st.query_params[URL_PARAM]
    elif st.query_params.get(URL_PARAM) != code:
        st.query_params[URL_PARAM] = code


def t(key: str, **values) -> str:
    """The active language's text for `key`, formatted with `values`. Falls back to English, then to
    the key itself; a template that does not format is shown unformatted. Never raises."""
    code = st.session_state.get(STATE_KEY, DEFAULT)
    template = catalog(code).get(key)
    if template is None:
        MISSING.add((code, key))
        LOG.warning("i18n: key %r missing in the %s catalog", key, code)
        template = catalog(DEFAULT).get(key, key) if code != DEFAULT else key
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as error:
        LOG.warning("i18n: %s text of %r does not format with %s: %s", code, key, sorted(values), error)
        return template


def _on_switch() -> None:
    chosen = st.session_state.get(SWITCH_KEY)
    if chosen is None:  # clicking the selected option again deselects it: keep the language
        st.session_state[SWITCH_KEY] = st.session_state.get(STATE_KEY, DEFAULT)
        return
    st.session_state[STATE_KEY] = chosen
    st.session_state.pop(REJECTED_KEY, None)
    _sync_url(chosen)


def language_switch() -> str:
    """Resolve the language, draw the English / 中文 switch in the sidebar, keep the URL in step and
    report an invalid `?lang=` (st.warning, where this is called). Call it before any `t()` of a run.
    Returns the language code."""
    code = language()
    st.session_state[SWITCH_KEY] = code
    with st.sidebar:
        st.segmented_control(
            t("i18n.switch_label"), list(LANGUAGES), format_func=LANGUAGES.get, key=SWITCH_KEY, on_change=_on_switch
        )
    _sync_url(code)
    rejected = st.session_state.get(REJECTED_KEY)
    if rejected is not None:
        st.warning(
            t("i18n.invalid_language", value=rejected, choices=", ".join(f"{c} ({n})" for c, n in LANGUAGES.items())),
            icon=":material/translate:",
        )
    return code
