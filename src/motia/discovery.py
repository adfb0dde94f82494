"""Finding and importing step files: `*_step.py`/`*.step.py` (steps) and `*_stream.py`/`*.stream.py` (streams)
under the steps directory and `src/`, collected into a Registry with any stream authentication they declare.

Step files are imported as real modules named after their path (`steps/users/create_step.py` is
`steps.users.create_step`), so relative imports and shared helper modules work. `*.step.py` files, whose
names are not importable, are loaded by path under the same kind of name (`steps.users.create_step`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from .checks import skipped_step_files, topic_warnings
from .dsl import step_of
from .errors import StepError
from .legacy import compile_step
from .model import SourceLocation, Step
from .registry import Registry
from .step import StepDefinition
from .streams import STREAM_AUTH_ATTRIBUTE, Stream, stream_from_config

SKIP_DIRS = frozenset({"__pycache__", ".venv", "venv", "node_modules", "dist", "build", ".motia"})


def is_step_file(path: Path) -> bool:
    """Step files, and stream files (`*_stream.py`, `*.stream.py`) that declare streams."""
    name = path.name
    return path.suffix == ".py" and name.endswith(("_step.py", ".step.py", "_stream.py", ".stream.py"))


def find_step_files(directory: Path) -> list[Path]:
    """Every step file below `directory`, sorted, skipping hidden and tool directories."""
    return [path for path in _python_files(directory) if is_step_file(path)]


def _python_files(directory: Path) -> list[Path]:
    """Every `.py` file below `directory`, sorted, skipping hidden and tool directories."""
    if not directory.is_dir():
        return []
    return [path for path in sorted(directory.rglob("*.py"))
            if not any(part.startswith(".") or part in SKIP_DIRS
                       for part in path.relative_to(directory).parts[:-1])]


def step_dirs(root: Path, steps_dir: Path | None = None) -> list[Path]:
    """The directories to scan: the steps directory (default `<root>/steps`) and `<root>/src` if present."""
    primary = (steps_dir if steps_dir is not None else root / "steps").resolve()
    dirs = [primary]
    src = (root / "src").resolve()
    if src.is_dir() and src != primary and primary not in src.parents and src not in primary.parents:
        dirs.append(src)
    return dirs


def discover(root: Path | str = ".", steps_dir: Path | str | None = None) -> Registry:
    """Import every step file of a project and collect its steps into a Registry.

    Raises StepError naming the file and line of the first broken step file, duplicate or invalid step; what
    loads but looks like a mistake is in `registry.warnings` (`motia.checks`).
    """
    root = Path(root).resolve()
    dirs = step_dirs(root, Path(steps_dir) if steps_dir is not None else None)
    if not dirs[0].is_dir():
        if steps_dir is not None:
            raise StepError(f"the steps directory {dirs[0]} does not exist",
                            hint="name an existing directory with --dir, relative to where you run motia")
        if not dirs[1:]:
            raise StepError("no steps/ or src/ directory here to find step files in",
                            hint="run motia from your project's root, or name the steps directory with --dir")
        dirs = dirs[1:]  # a project that keeps its steps in `src/` only (README: both are scanned)
    registry = Registry()
    roots = [directory if directory.name == "src" and directory.parent == root else directory.parent
             for directory in dirs]
    _forget_other_projects(roots)
    skipped: list[Path] = []
    for directory, import_root in zip(dirs, roots, strict=True):
        for file in _python_files(directory):
            if not is_step_file(file):
                skipped.append(file)
                continue
            module = load_step_file(file, import_root)
            collect(registry, module, file)
    registry.name = project_name(root)
    registry.warnings.extend(skipped_step_files(skipped))
    registry.warnings.extend(topic_warnings(registry))
    return registry


def project_name(root: Path) -> str:
    """`[project] name` of the project's pyproject.toml, else the name of its directory."""
    import tomllib

    try:
        name = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {}).get("name")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        name = None
    return name if isinstance(name, str) and name.strip() else root.name or "motia"


def collect(registry: Registry, module: ModuleType, file: Path | None = None) -> None:
    """Add a module's steps, streams and stream authentication to a registry."""
    location = str(file) if file is not None else str(getattr(module, "__file__", None) or module.__name__)
    for value in list(vars(module).values()):
        if isinstance(value, Stream):
            registry.add_stream(value, location)
        elif callable(value) and getattr(value, STREAM_AUTH_ATTRIBUTE, False):
            registry.set_stream_auth(value, location)
    if file is not None and file.name.endswith(("_stream.py", ".stream.py")):
        config = getattr(module, "config", None)
        if config is not None and not any(isinstance(v, Stream) for v in vars(module).values()):
            try:
                registry.add_stream(stream_from_config(config), location)
            except (KeyError, TypeError, ValueError) as exc:
                raise StepError(f"invalid stream config: {exc}", f"{file}:1") from None
        return
    for step in steps_in_module(module, file):
        registry.add(step)


def module_name(file: Path, import_root: Path) -> str:
    relative = file.relative_to(import_root)
    parts = list(relative.parts)
    stem = parts[-1][: -len(".py")]
    # `hello.step.py` -> `hello__step`, distinct from a `hello_step.py` beside it.
    parts[-1] = stem.replace(".", "__")
    return ".".join(parts)


def load_step_file(file: Path, import_root: Path) -> ModuleType:
    """Import one step file as `<package path>.<name>`; errors become StepError with file and line."""
    root = str(import_root)
    if root not in sys.path:
        sys.path.insert(0, root)
    name = module_name(file, import_root)
    existing = sys.modules.get(name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() == file:
        return existing
    _evict_foreign(name, import_root)
    try:
        if "." in file.name[: -len(".py")]:  # `x.step.py`, `x.stream.py`: not importable by name
            _import_parents(name)
            spec = importlib.util.spec_from_file_location(name, file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module
        return importlib.import_module(name)
    except SyntaxError as exc:
        location = f"{exc.filename or file}:{exc.lineno or 1}"
        raise StepError(f"syntax error: {exc.msg}", location) from None
    except Exception as exc:
        line = _error_line(exc, file)
        raise StepError(
            f"cannot import step file: {type(exc).__name__}: {exc}", f"{file}:{line}"
        ) from exc


_project_roots: list[str] = []


def _forget_other_projects(roots: list[Path]) -> None:
    """One process discovering a second project (a reloader, a test suite): drop the first project's import
    roots from sys.path and its modules from sys.modules, so that same-named packages (`steps`) resolve to
    the new project's files."""
    current = [str(r) for r in roots]
    stale = [r for r in _project_roots if r not in current]
    for root in stale:
        prefix = root.rstrip("/") + "/"
        # Decide before changing sys.path or sys.modules: a namespace package (a step folder without
        # `__init__.py`) recomputes its `__path__` from both, and fails once its parent is gone.
        doomed = [key for key, module in list(sys.modules.items()) if _located_under(module, prefix)]
        for key in doomed:
            sys.modules.pop(key, None)
        while root in sys.path:
            sys.path.remove(root)
        _project_roots.remove(root)
    for root in current:
        if root not in _project_roots:
            _project_roots.append(root)
    if stale:
        importlib.invalidate_caches()


def _located_under(module: ModuleType, prefix: str) -> bool:
    location = getattr(module, "__file__", None) or ""
    try:
        paths = list(getattr(module, "__path__", []) or [])
    except KeyError:  # a namespace package whose parent package was already forgotten
        return True
    return location.startswith(prefix) or (bool(paths) and all(str(p).startswith(prefix) for p in paths))


def _evict_foreign(name: str, import_root: Path) -> None:
    """Forget cached modules of that name (and their parent packages) that come from another project,
    so that a second project in the same process (a reloader, a test) imports its own files."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        module = sys.modules.get(prefix)
        if module is None:
            continue
        expected = import_root.joinpath(*parts[:i])
        if i < len(parts):
            locations = [Path(p).resolve() for p in getattr(module, "__path__", [])]
            foreign = expected.resolve() not in locations
        else:
            foreign = True  # only called when the cached module is not this file
        if foreign:
            for key in [k for k in sys.modules if k == prefix or k.startswith(prefix + ".")]:
                del sys.modules[key]
            importlib.invalidate_caches()
            return


def _import_parents(name: str) -> None:
    parts = name.split(".")[:-1]
    for i in range(1, len(parts) + 1):
        importlib.import_module(".".join(parts[:i]))


def _error_line(exc: BaseException, file: Path) -> int:
    """The line of `file` nearest to where `exc` was raised (1 when the file is not on the stack)."""
    line = 1
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == file:
            line = frame.lineno or 1
    return line


def steps_in_module(module: ModuleType, file: Path | None = None) -> list[Step]:
    """The steps a module defines: decorated handlers, `step_wrapper`ed ones, and `config` + `handler`."""
    steps: list[Step] = []
    seen: set[int] = set()
    for value in list(vars(module).values()):
        step = step_of(value)
        if step is not None and getattr(value, "__module__", None) == module.__name__ and id(step) not in seen:
            seen.add(id(step))
            steps.append(step)
    defined_here = str(file) if file is not None else str(getattr(module, "__file__", "") or "")
    handlers_done: set[int] = set()
    for value in list(vars(module).values()):
        # `my_step = step(config, handler)` / `multi_trigger_step(...)`, written in this file (not imported).
        if isinstance(value, StepDefinition) and value.source is not None and id(value) not in seen \
                and _same_file(value.source.file, defined_here):
            seen.add(id(value))
            handlers_done.add(id(value.handler))
            steps.append(compile_step(value.config, value.handler, source=SourceLocation(defined_here,
                                                                                         value.source.line)))
    config: Any = getattr(module, "config", None)
    handler = getattr(module, "handler", None)
    if config is not None and callable(handler) and step_of(handler) is None and id(handler) not in handlers_done:
        source = SourceLocation(str(file or module.__file__), _line_of(handler))
        steps.append(compile_step(config, handler, source=source))
    steps.sort(key=lambda s: s.source.line if s.source else 0)
    return steps


def _same_file(a: str, b: str) -> bool:
    return bool(a) and bool(b) and Path(a).resolve() == Path(b).resolve()


def _line_of(fn: Any) -> int:
    code = getattr(fn, "__code__", None)
    return code.co_firstlineno if code is not None else 1


def registry_from_modules(modules: Iterable[ModuleType]) -> Registry:
    """A Registry from already-imported modules (tests, programmatic apps)."""
    registry = Registry()
    for module in modules:
        collect(registry, module)
    return registry
