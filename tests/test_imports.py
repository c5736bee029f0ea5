"""The import rules of architecture.md 4.4, checked over the AST of every monitor/**/*.py.

Each rule is a predicate over (module, imported name). An imported name is the full dotted
target: ``import a.b`` -> ``a.b``; ``from a.b import c`` -> ``a.b.c``; relative imports are
resolved against the importing module's package. Modules that do not exist yet are skipped.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "monitor"

PURE_STAGES = ("parse", "telegram", "extract", "normalize", "dedupe", "diff", "match", "alerting",
               "presets", "gazetteer", "render", "render_parts", "render_slack", "render_html", "opml")
NEVER_IN_PURE = ("asyncio", "httpx", "apprise", "sqlalchemy", "monitor.store", "monitor.context")
OWNERS = {  # third-party library -> the only module (or package) that may import it
    "httpx": "monitor.fetch",
    "feedparser": "monitor.parse",
    "apprise": "monitor.deliver",
    "sqlalchemy": "monitor.store",
    "apscheduler": "monitor.scheduler",
    "yaml": "monitor.config",
    "pydantic": "monitor.config",
}
# The one documented exception: context.py names the engine type it holds.
# context types the engine and turns database errors into StoreError at the one place stores are called.
ALLOWED_EXTRA = {("monitor.context", "sqlalchemy.Engine")} | {
    ("monitor.context", f"sqlalchemy.exc.{name}") for name in ("SQLAlchemyError", "DataError", "IntegrityError")
}


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = {mod: imported_names(path) for mod, path in MODULES.items()}


def own_library_rule(library: str, owner: str) -> Callable[[str, str], bool]:
    return lambda mod, name: not under(name, library) or under(mod, owner) or (mod, name) in ALLOWED_EXTRA


def monitor_only_rule(modules: tuple[str, ...], allowed: tuple[str, ...]) -> Callable[[str, str], bool]:
    def ok(mod: str, name: str) -> bool:
        return mod not in modules or not under(name, "monitor") or any(under(name, a) for a in allowed)

    return ok


def pure_rule(mod: str, name: str) -> bool:
    pure = mod in {f"monitor.{stage}" for stage in PURE_STAGES}
    return not pure or not any(under(name, banned) for banned in NEVER_IN_PURE)


PURE = "pure stages import no asyncio/httpx/apprise/sqlalchemy/store/context"
RULES: dict[str, Callable[[str, str], bool]] = {
    "models and errors import nothing from monitor": monitor_only_rule(
        ("monitor.models", "monitor.errors"), ()),
    "config imports only models and errors": monitor_only_rule(
        ("monitor.config",), ("monitor.models", "monitor.errors", "monitor.config")),  # and its own parts
    PURE: pure_rule,
    **{f"{lib} only in {owner}": own_library_rule(lib, owner) for lib, owner in OWNERS.items()},
}


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_import_rule(rule: Callable[[str, str], bool]) -> None:
    broken = sorted(f"{MODULES[mod].relative_to(ROOT)} imports {name}"
                    for mod, names in IMPORTS.items() for name in names if not rule(mod, name))
    assert not broken, "\n".join(broken)


def test_feedparser_parse_is_called_only_in_the_wrapper() -> None:
    callers = [str(p.relative_to(ROOT)) for mod, p in MODULES.items()
               if mod != "monitor.parse" and "feedparser.parse(" in p.read_text(encoding="utf-8")]
    assert not callers, f"feedparser.parse( outside monitor/parse.py: {callers}"


def test_the_scanner_sees_the_package_and_resolves_imports() -> None:
    assert {"monitor.models", "monitor.errors", "monitor.config"} <= set(MODULES)
    assert "monitor.errors.ConfigError" in IMPORTS["monitor.config.loader"]
    assert "yaml" in IMPORTS["monitor.config.loader"]


def test_relative_imports_resolve_against_the_package(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "monitor" / "store"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import engine\nfrom .. import models\n")
    (pkg / "alerts.py").write_text("from .engine import make_engine\nfrom ..errors import StoreError\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert imported_names(pkg / "__init__.py") == {"monitor.store.engine", "monitor.models"}
    assert imported_names(pkg / "alerts.py") == {"monitor.store.engine.make_engine",
                                                 "monitor.errors.StoreError"}


@pytest.mark.parametrize(("rule", "module", "name"), [
    ("models and errors import nothing from monitor", "monitor.models", "monitor.config.Config"),
    ("config imports only models and errors", "monitor.config", "monitor.match.compile_watches"),
    (PURE, "monitor.dedupe", "asyncio"),
    (PURE, "monitor.match", "monitor.store.stories"),
    (PURE, "monitor.render", "apprise.NotifyFormat"),
    ("httpx only in monitor.fetch", "monitor.parse", "httpx.Response"),
    ("sqlalchemy only in monitor.store", "monitor.context", "sqlalchemy.create_engine"),
    ("sqlalchemy only in monitor.store", "monitor.pipeline", "sqlalchemy.Engine"),
], ids=["models->config", "config->match", "dedupe->asyncio", "match->store", "render->apprise", "parse->httpx",
        "context->create_engine", "pipeline->Engine"])
def test_rules_flag_a_violation(rule: str, module: str, name: str) -> None:
    assert not RULES[rule](module, name)
    assert RULES["sqlalchemy only in monitor.store"]("monitor.context", "sqlalchemy.Engine")
