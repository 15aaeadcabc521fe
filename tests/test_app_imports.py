"""app.py and the pages import like any module: no `sys.path` edits (`streamlit run app.py` puts the repository
root on the import path; pytest.ini does for the tests), no import-order exemptions, and only Streamlit's public
API (`st.*`), never its internals (`streamlit.runtime`, `streamlit.web`, `_`-names), which change without notice."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]
PRIVATE_MODULES = ("streamlit.runtime", "streamlit.web")


def streamlit_uses(tree: ast.AST) -> list[str]:
    """Every Streamlit module imported and every name taken from it (`from streamlit.x import y`, `st.y`)."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            uses += [alias.name for alias in node.names if alias.name.split(".")[0] == "streamlit"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "streamlit":
            uses += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "st":
            uses.append(f"st.{node.attr}")
    return uses


def test_the_app_and_its_pages_use_no_path_tricks_and_no_private_streamlit_api():
    assert len(FILES) > 5, FILES
    found = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        found += [f"{name}: {bad}" for bad in ("sys.path", "noqa: E402", *PRIVATE_MODULES) if bad in text]
        found += [
            f"{name}: {use}"
            for use in streamlit_uses(ast.parse(text))
            if use.startswith(PRIVATE_MODULES) or any(part.startswith("_") for part in use.split("."))
        ]
    assert not found, found
