"""What the README and docs/ say about the code stays true: the files they name exist, the
``bot.`` names they write resolve, the settings they name are settings, the list of modules that
import the database libraries (docs/STORE.md) is the list, and the README names every folder of
tests/."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Paths are checked when they start with one of these (not data/, ../shared/, https://...).
PROJECT_DIRS = ("bot", "tests", "docs", "flows", "locales", "bench", ".ci")
PATH = re.compile(r"(?<![\w./-])((?:%s)/[\w.*<>/-]*)" % "|".join(re.escape(d) for d in PROJECT_DIRS))
NAME = re.compile(r"`(bot(?:\.\w+)+)")
SETTING = re.compile(r"\b(BOT_[A-Z_]+|LINE_[A-Z_]+|DISCORD_[A-Z_]+|DATABASE_URL)\b")
# Variables the docs name that are not settings of the bot: the settings file itself and the tests'.
NOT_SETTINGS = {"BOT_ENV_FILE", "BOT_LANG", "BOT_TEST_PG_URL", "BOT_TEST_REQUIRE_SHARED"}  # BOT_LANG: settings.message_language()
DATABASE_LIBRARIES = {"sqlalchemy", "alembic", "sqlite3", "asyncpg", "aiosqlite"}


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_the_files_the_docs_name_exist(doc):
    missing = []
    for match in PATH.finditer(doc.read_text(encoding="utf-8")):
        named = match.group(1).rstrip(".")
        pattern = re.sub(r"<[^<>/]*>", "*", named).rstrip("/")
        if not list(ROOT.glob(pattern)):
            missing.append(named)
    assert not missing, f"{doc.name} names files that do not exist: {sorted(set(missing))}"


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_the_bot_names_the_docs_write_exist(doc):
    missing = []
    for dotted in sorted(set(NAME.findall(doc.read_text(encoding="utf-8")))):
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            missing.append(dotted)
    assert not missing, f"{doc.name} writes names that do not exist: {missing}"


@pytest.mark.parametrize("doc", [*DOCS, ROOT / ".env.example"], ids=_doc_id)
def test_the_settings_the_docs_name_are_settings(doc):
    settings = {f.alias for f in Settings.model_fields.values()}
    unknown = set(SETTING.findall(doc.read_text(encoding="utf-8"))) - settings - NOT_SETTINGS
    assert not unknown, f"{doc.name} names variables no setting reads: {sorted(unknown)}"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & DATABASE_LIBRARIES


def test_docs_store_lists_every_module_that_imports_a_database_library():
    text = (ROOT / "docs" / "STORE.md").read_text(encoding="utf-8")
    section = text.split("## Who imports the database libraries", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[str]] = {}  # library -> the paths listed for it
    for item in re.split(r"\n- ", section)[1:]:
        head, _, rest = item.partition(":")
        libraries = set(re.findall(r"`(\w+)`", head))
        assert libraries <= DATABASE_LIBRARIES, head
        for library in libraries:
            listed[library] = set(re.findall(r"`(bot/[\w/.]+)`", rest))
    assert set(listed) == DATABASE_LIBRARIES

    def covered(module: str, paths: set[str]) -> bool:
        return any(module == p or (p.endswith("/") and module.startswith(p)) for p in paths)

    modules = {str(p.relative_to(ROOT)): _imports(p) for p in sorted((ROOT / "bot").rglob("*.py"))}
    for library, paths in listed.items():
        importers = {m for m, libs in modules.items() if library in libs}
        assert {m for m in importers if not covered(m, paths)} == set(), f"not listed under `{library}`"
        assert {p for p in paths if not any(covered(m, {p}) for m in importers)} == set(), \
            f"listed under `{library}` but importing none"


def test_the_readme_names_every_folder_of_tests():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    folders = [p.name for p in sorted((ROOT / "tests").iterdir()) if p.is_dir() and p.name != "__pycache__"]
    assert [f for f in folders if f"tests/{f}/" not in readme] == []
