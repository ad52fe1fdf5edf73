"""The core stays pure: no I/O libraries, no adapters, no clock, no random ids."""

from __future__ import annotations

import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[3] / "models"
BANNED_MODULES = {
    "faust",
    "aiokafka",
    "kafka",
    "sqlmodel",
    "sqlalchemy",
    "apprise",
    "requests",
    "httpx",
    "aiohttp",
    "socket",
    "subprocess",
    "os",
    "pathlib",
    "io",
    "shutil",
    "urllib",
    "random",
    "uuid",
    "time",
    "asyncio",
    "streams",
    "notifier",
    "ingest",
    "remission_watch",
    "importlib",
}
# Calls on a module or class (`datetime.now()`, `time.time()`) and bare calls (`open()`).
BANNED_METHODS = {"now", "utcnow", "today", "time", "uuid4", "monotonic", "perf_counter"}
BANNED_FUNCTIONS = {"uuid4", "open", "input", "print"}


def _python_files() -> list[Path]:
    files = sorted(MODELS.rglob("*.py"))
    assert len(files) > 10, "the models package was not found"
    return files


def test_models_import_no_io_library() -> None:
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pure_paths = node.module == "pathlib" and all(
                    a.name.startswith("Pure") for a in node.names
                )  # PurePath only computes with names; it never touches the disk
                names = [] if pure_paths else [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in BANNED_MODULES]
    assert offenders == []


def test_models_never_read_the_clock_or_make_random_ids() -> None:
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in BANNED_METHODS:
                offenders.append(f"{path.name}:{node.lineno}: .{func.attr}()")
            elif isinstance(func, ast.Name) and func.id in BANNED_FUNCTIONS:
                offenders.append(f"{path.name}:{node.lineno}: {func.id}()")
    assert offenders == []


def test_the_check_catches_a_violation(tmp_path: Path) -> None:
    sample = "import aiokafka\nfrom datetime import datetime\nx = datetime.now()\n"
    tree = ast.parse(sample)
    calls = [
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    ]
    imports = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert "now" in calls and BANNED_METHODS & set(calls)
    assert BANNED_MODULES & {i.split(".")[0] for i in imports}
