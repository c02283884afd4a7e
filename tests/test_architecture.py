"""The shape of bot/, read from the source (ast), not from what happens to be imported in this process.

- No import cycle among bot's modules. An import inside a function counts: it runs as soon as the
  function does, so a cycle that needs one to load is still a cycle. Only imports under
  ``if TYPE_CHECKING:`` are left out (they never run).
- Only bot/adapters/ imports a platform SDK (DESIGN.md: "knows no platform SDK outside bot/adapters/").
- The adapters' contract (bot/adapters/base.py) is a leaf: it imports nothing of bot's but bot.model,
  so whatever needs the contract (the outbox, replay, plugins) never pulls in an adapter or the engine.
- Reading config.toml reaches nothing of the engine side; adapters, outbox and stats are handed what
  they need and never name the engine.
Imports by ``importlib`` are not seen; bot/ uses it only for plugins/, which is outside it.
"""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"

# Import names of the platform SDKs the project depends on (pyproject.toml) and of the ones an adapter
# would be likely to reach for. A module matches a name or anything below it ("telegram.ext").
PLATFORM_SDKS = (
    "telegram", "httpx", "tornado",  # python-telegram-bot[webhooks]: the SDK, its HTTP client, its web server
    "websockets",  # OneBot v11 over WebSocket (QQ)
    "grpc", "google.protobuf",  # grpcio and protobuf: the Wechaty puppet-service protocol (WeChat)
    "aiohttp", "httpcore", "aiogram", "telethon", "pyrogram",  # other HTTP clients and Telegram SDKs
    "wechaty", "wechaty_puppet", "wechaty_puppet_service", "wechaty_grpc",  # Wechaty's Python packages
    "ncatbot", "nonebot", "aiocqhttp", "botpy",  # QQ: NapCat, NoneBot, CQHTTP and the official QQ SDK
)


def module_name(path: Path, root: Path = BOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(tree: ast.AST, module: str, is_package: bool,
                   type_checking: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """Every import that runs (anywhere but under ``if TYPE_CHECKING:``, unless ``type_checking``) as
    ``(module, names)``: the module named, and for ``from M import a, b`` the names taken from it (which
    may be submodules)."""
    found: list[tuple[str, tuple[str, ...]]] = []

    def visit(node: ast.AST) -> None:
        if not type_checking and isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the importing package upwards
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, tuple(alias.name for alias in node.names)))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(root: Path = BOT) -> dict[str, set[str]]:
    """``{module: the modules of root's package that importing it runs}``. Importing ``a.b.c`` runs the
    packages ``a`` and ``a.b`` first, so they count too, except a module's own packages: they are always
    loaded before it, so importing them implicitly cannot start a cycle (a package that imports its own
    submodule is the usual re-export). Naming one's own package explicitly still counts."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, names in imported_names(tree, module, path.name == "__init__.py"):
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in files]
            # ``from P import m`` with m a submodule needs P only as m's package; any other name is P's own.
            named = submodules if names and len(submodules) == len(names) else [target, *submodules]
            for name in named:
                if name in files:
                    edges.add(name)
                edges.update(a for a in _ancestors(name) if a in files and a not in _ancestors(module))
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or None when it has none (depth-first search; the
    lowest-named start and neighbours first, so the cycle reported is the same on every run)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done (no cycle through it)
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def sdk_imports(root: Path = BOT) -> list[str]:
    """``module imports sdk`` for each platform SDK imported outside bot/adapters/, for type checking too."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        if module == "bot.adapters" or module.startswith("bot.adapters."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, _names in imported_names(tree, module, path.name == "__init__.py", type_checking=True):
            if any(target == sdk or target.startswith(sdk + ".") for sdk in PLATFORM_SDKS):
                found.append(f"{module} imports {target}")
    return found


# ---------------------------------------------------------------------------------------- the checks


def test_bot_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in bot/: " + " -> ".join(cycle)


def test_only_adapters_import_a_platform_sdk():
    assert sdk_imports() == []


def test_the_adapter_contract_is_a_leaf():
    graph = import_graph()
    assert graph["bot.adapters.base"] <= {"bot.model"}
    assert graph["bot.adapters"] == set()  # so importing the contract runs nothing else of bot's


def test_reading_config_reaches_nothing_of_the_engine_side():
    # config.py names the adapters and reads their sections; none of that may lead back to the engine,
    # even through the registry's lazy imports of the adapters themselves.
    engine_side = {"bot.engine", "bot.bus", "bot.scheduler", "bot.outbox", "bot.stats", "bot.cli", "bot.replay"}
    assert reachable(import_graph(), "bot.config") & engine_side == set()


def test_adapters_outbox_and_stats_know_no_engine_even_for_type_checking():
    # They are handed what they need (an EventSink; the adapters, templates, limits and report; the
    # store and the zones), so the engine can change without them.
    users = []
    for path in sorted(BOT.rglob("*.py")):
        module = module_name(path)
        if not (module.startswith("bot.adapters") or module in ("bot.outbox", "bot.stats")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        if any(t == "bot.engine" for t, _ in imported_names(tree, module, path.name == "__init__.py", True)):
            users.append(module)
    assert users == []


# ------------------------------------------------------------------- the checker checks what it claims


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / "bot" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root / "bot"


def test_the_cycle_finder_reports_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "d"}, "b": {"c"}, "c": {"d"}, "d": set()}) is None  # a diamond is no cycle
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y2"}, "y2": {"y"}}) == ["y", "y2", "y"]


def test_the_graph_sees_function_imports_and_packages_but_not_type_checking(tmp_path):
    root = _write(tmp_path, {
        "engine.py": "from bot.adapters.registry import build\n",
        "adapters/__init__.py": "",
        "adapters/registry.py": "def build():\n    from bot.adapters.qq.adapter import QQ\n    return QQ\n",
        "adapters/qq/__init__.py": "",
        "adapters/qq/adapter.py": (
            "from typing import TYPE_CHECKING\nfrom ..base import Error\nfrom . import events\n"
            "if TYPE_CHECKING:\n    from bot.engine import Engine\n"),
        "adapters/qq/events.py": "",
        "adapters/base.py": "import bot.model\n",
        "model.py": "",
    })
    graph = import_graph(root)
    assert graph["bot.adapters.registry"] == {"bot.adapters.qq", "bot.adapters.qq.adapter"}
    assert graph["bot.adapters.qq.adapter"] == {"bot.adapters.base", "bot.adapters.qq.events"}
    assert graph["bot.engine"] == {"bot.adapters", "bot.adapters.registry"}
    assert find_cycle(graph) is None
    # The same import outside TYPE_CHECKING closes a circle, and the failure names it.
    (root / "adapters" / "qq" / "adapter.py").write_text("def f():\n    import bot.engine\n", encoding="utf-8")
    assert find_cycle(import_graph(root)) == [
        "bot.adapters.qq.adapter", "bot.engine", "bot.adapters.registry", "bot.adapters.qq.adapter"]


def test_a_package_that_runs_its_submodules_is_in_the_cycle_they_close(tmp_path):
    # bot/store/__init__.py importing bot.store.insights, which imports bot.stats, which imports
    # bot.store.repos: loading bot.stats first runs bot/store/__init__.py, which needs bot.stats.
    root = _write(tmp_path, {
        "store/__init__.py": "from bot.store import insights\n",
        "store/insights.py": "from bot.stats import table\n",
        "store/repos.py": "",
        "stats.py": "from bot.store.repos import counters\n",
    })
    cycle = find_cycle(import_graph(root))
    assert cycle is not None and "bot.stats" in cycle and "bot.store" in cycle


def test_sdk_imports_outside_adapters_are_found(tmp_path):
    root = _write(tmp_path, {
        "outbox.py": "def f():\n    import telegram.error\n",
        "model.py": "from google.protobuf import message\nimport googleapis_common\n",
        "bus.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from grpc import aio\n",
        "adapters/__init__.py": "", "adapters/qq.py": "import websockets\n",
    })
    assert sdk_imports(root) == [
        "bot.bus imports grpc", "bot.model imports google.protobuf", "bot.outbox imports telegram.error"]
