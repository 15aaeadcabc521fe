"""No page shows a hard-coded text: every string a user can read comes from the catalogs through t().

Each checked file is parsed with `ast`. A string literal containing letters fails when it is passed, as a
positional argument or as one of the TEXT_KEYWORDS, to a Streamlit call (`st.*`, or an element method on
a container: `col.metric(...)`, `left.plotly_chart(...)`) or to a chart builder (`charts.*`). Literals
inside a `t(...)` call are catalog keys, not texts; what is not text (keys, format specs, icons such as
":material/link:", CSS, URLs, Markdown punctuation) is allowed by NOT_TEXT.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every page and shared page module, and the app's entry point (its navigation titles).
CHECKED = ["app.py", "pages"]

# Streamlit calls whose positional arguments are shown as text (st.code / st.latex show code and formulas).
ELEMENTS = {
    "title",
    "header",
    "subheader",
    "markdown",
    "caption",
    "text",
    "write",
    "info",
    "warning",
    "error",
    "success",
    "toast",
    "button",
    "download_button",
    "link_button",
    "page_link",
    "form_submit_button",
    "selectbox",
    "radio",
    "toggle",
    "checkbox",
    "number_input",
    "text_input",
    "text_area",
    "slider",
    "select_slider",
    "multiselect",
    "segmented_control",
    "pills",
    "metric",
    "expander",
    "popover",
    "tabs",
    "image",
    "progress",
    "spinner",
    "status",
    "Page",
    "set_page_config",
    "dialog",
    "badge",
}
TEXT_KEYWORDS = {"label", "help", "placeholder", "caption", "title", "text", "page_title", "y_title", "x_title", "body"}
LETTERS = re.compile(r"[^\W\d_]")
NOT_TEXT = re.compile(
    r"^(:material/[a-z_]+:|https?://\S+|%[-+0-9.]*[dfgesx]|\]\(#[a-z-]*|"  # icon, URL, format, anchor
    r"\s*[·:,;|()\[\]\-–—*#%]*\s*)$"
)  # Markdown punctuation
# Widgets whose options are internal values when a format_func labels them (only the label is checked).
OPTION_WIDGETS = {"selectbox", "radio", "segmented_control", "pills", "multiselect", "select_slider"}
NOT_STREAMLIT = {"LOG", "log", "logger", "logging", "warnings"}  # warning / error of loggers: not on the page


def _is_translation(node: ast.AST) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Name) and func.id == "t") or (isinstance(func, ast.Attribute) and func.attr == "t")


def _literal_texts(node: ast.AST) -> list[str]:
    """The literal pieces of text in an argument expression, skipping whatever t() produces."""
    if isinstance(node, ast.Call) and _is_translation(node):
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Call):  # another function's result: only what its arguments spell out is checked
        return []
    if isinstance(node, ast.FormattedValue):  # {value:.1f}: the format spec is not text
        return _literal_texts(node.value)
    if isinstance(node, (ast.Subscript, ast.Attribute)):  # mapping["key"], obj.attr: keys are not texts
        return []
    found = []
    for child in ast.iter_child_nodes(node):
        found += _literal_texts(child)
    return found


def _is_text(literal: str) -> bool:
    return bool(LETTERS.search(literal)) and not NOT_TEXT.match(literal)


def _shown_call(call: ast.Call) -> str | None:
    """The name of a call that shows its arguments (Streamlit element or chart builder), else None."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    root = func.value
    while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
        root = root.func if isinstance(root, ast.Call) else root.value
    if isinstance(root, ast.Name) and root.id == "charts":
        return f"charts.{func.attr}"
    if func.attr in ELEMENTS and getattr(root, "id", None) not in NOT_STREAMLIT:
        return f"{getattr(root, 'id', '?')}.{func.attr}"
    return None


def hard_coded_texts(path: Path) -> list[str]:
    """'file:line call: literal' for each visible literal text passed to a Streamlit element or chart."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = _shown_call(call)
        if name is None:
            continue
        positional = list(call.args)
        if name.endswith(".Page"):  # st.Page(path, title=...): the path is not text
            positional = []
        elif name.split(".")[-1] in OPTION_WIDGETS and any(k.arg == "format_func" for k in call.keywords):
            positional = positional[:1]
        arguments = positional + [k.value for k in call.keywords if k.arg in TEXT_KEYWORDS]
        for argument in arguments:
            for literal in _literal_texts(argument):
                if _is_text(literal):
                    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                    problems.append(f"{where}:{call.lineno} {name}: {literal!r}")
    return problems


def _files(entries) -> list[Path]:
    out = []
    for entry in entries:
        path = ROOT / entry
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


@pytest.mark.parametrize("path", _files(CHECKED), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hard_coded_text(path):
    assert not hard_coded_texts(path)


def test_the_check_finds_hard_coded_texts(tmp_path):
    """The checker itself: each of these shows English to a Chinese reader and must be caught."""
    page = tmp_path / "page.py"
    page.write_text(
        "\n".join(
            [
                "import streamlit as st",
                "from pages.shared import charts",
                "from pages.shared.i18n import t",
                'st.title("Hello")',
                'st.sidebar.button(f"Step {unit}", key="pg_x")',
                'col.metric("Average accuracy", value)',
                'st.selectbox(t("a.b"), [1], help="Pick one")',
                'charts.loss_curve(x, y, title="Training loss")',
                'st.tabs(["Overview", t("a.c")])',
                'st.caption(t("a.d") + " (more)")',
                # allowed: catalog texts, keys, icons, formats, punctuation, numbers
                'st.button(t("a.e"), key="pg_play", icon=":material/play_arrow:")',
                'st.number_input(t("a.f"), key="pg_lr", format="%g")',
                "st.markdown(f\"{t('a.g')} · {value:.1f}\")",
                'st.plotly_chart(fig, key="pg_heatmap", config={"displayModeBar": False})',
                'st.radio(t("a.h"), ["task", "class"], format_func=lambda g: t(f"a.{g}"))',
                'st.Page("pages/learn.py", title=t("nav.learn"))',
                'LOG.warning("not on the page: %s", key)',
                'st.success(st.session_state["cmp_msg"])',
            ]
        ),
        encoding="utf-8",
    )
    problems = hard_coded_texts(page)
    caught = [p.split(": ", 1)[1] for p in problems]
    assert caught == [
        "'Hello'",
        "'Step '",
        "'Average accuracy'",
        "'Pick one'",
        "'Training loss'",
        "'Overview'",
        "' (more)'",
    ], problems
