"""Every code sample in README.md and docs/*.md is executed here, page by page, in a fresh temporary project.

The convention (summed up at the end of docs/index.md):

- A fenced block whose first line is a comment naming a file (`# steps/orders_step.py`, `# pyproject.toml`,
  `# .env`) is that file of the page's project, written when the page reaches it; a later block naming the same
  file replaces it (and, while `motia dev` runs, the runner waits for the restart that follows).
- A ```python file block named `tests/.../test_*.py` is also run: each `test_*` function, in this process (async
  ones on a fresh event loop, asserts rewritten as pytest does), with the project as the working directory and on
  `sys.path`. A file whose tests take fixtures is run with `pytest` in a subprocess instead.
- Any other ```python block is a script, run with `python` in the project directory.
- ```bash blocks run line by line, ```console blocks run their `$ ` lines and check that each output line shown
  appears (whitespace-insensitive; `...` matches anything). `cd` moves within the page; `pip install` lines are
  not run (the test environment has motia installed). A command expected to fail says so in a trailing comment:
  `# exit status 1`. `motia emit|state|dlq` get `--url` of the page's app (their default is port 3111).
- `motia run`, `motia dev` and `motia engine` start in the background. Starting one again in the same project
  (or moving to another project) stops the previous one, as a user would; whatever runs at the end of the page
  is stopped too. Every stop is a SIGTERM, and the process must exit 0.
- The ports a page mentions (3111, 3112, 49134, or any `--port N`) are mapped to free ports: in commands, in
  files and scripts, and back in the output before it is compared.
- `<!-- project: NAME -->` on a line of its own starts (or returns to) another project of the page.
  `<!-- not run: REASON -->` right before a block skips it; every other block must be one of the above.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, ReadProcess

DOCS = ROOT / "docs"
DOC_PAGES = sorted(DOCS.glob("*.md"))
PAGES = [ROOT / "README.md", *DOC_PAGES]  # the README's samples run like a page's

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")
FILE_HEADER = re.compile(r"^#\s+(?P<path>(?:[\w.-]+/)*[\w.-]*[./][\w.-]+)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.+?)\s*-->$")
PROJECT = re.compile(r"^<!--\s*project:\s*(?P<name>[\w.-]+)\s*-->$")
EXIT_STATUS = re.compile(r"#\s*exit status (?P<code>\d+)\s*$")
PORT_OPTIONS = ("--port", "-p", "--stream-port", "--engine-port")
DEFAULT_PORTS = (3111, 3112, 49134)
CLIENT_COMMANDS = ("emit", "state", "dlq")  # `motia` commands that talk to a running app
COMMAND_TIMEOUT = 60.0
READY_TIMEOUT = 30.0


# --- reading the pages ----------------------------------------------------------------------------------


@dataclass
class Block:
    page: str
    line: int
    language: str
    text: str
    project: str
    not_run: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def file(self) -> str | None:
        """The project file this block is, when its first line names one."""
        if self.language in ("bash", "sh", "shell", "console"):
            return None
        first = self.text.split("\n", 1)[0]
        found = FILE_HEADER.match(first)
        return found.group("path") if found else None

    @property
    def kind(self) -> str:
        if self.not_run is not None:
            return "not run"
        if self.file is not None:
            return "test file" if re.search(r"(^|/)tests/(.*/)?test_[^/]*\.py$", self.file) else "file"
        if self.language in ("python", "py"):
            return "script"
        if self.language in ("bash", "sh", "shell"):
            return "commands"
        if self.language == "console":
            return "console"
        return "unknown"


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, with the project they belong to and their `not run` reason if any."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    project = "app"
    previous = ""  # the last non-blank line before the current one
    index = 0
    while index < len(lines):
        line = lines[index]
        found_project = PROJECT.match(line.strip())
        if found_project:
            project = found_project.group("name")
        opening = FENCE.match(line)
        if opening is None or not opening.group("info").strip():
            if line.strip():
                previous = line.strip()
            index += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        opened_at = index + 1
        language = opening.group("info").strip().split()[0].lower()
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            text = lines[index]
            body.append(text[len(indent):] if text.startswith(indent) else text.lstrip())
            index += 1
        skipped = NOT_RUN.match(previous)
        blocks.append(Block(page.relative_to(ROOT).as_posix(), opened_at, language, "\n".join(body) + "\n", project,
                            skipped.group("reason") if skipped else None))
        previous = fence
        index += 1
    return blocks


# --- ports ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Ports:
    """The ports a page mentions, each mapped to a free one for this run."""

    def __init__(self) -> None:
        self.mapping: dict[int, int] = {}

    def of(self, port: int) -> int:
        if port not in self.mapping:
            self.mapping[port] = free_port()
        return self.mapping[port]

    def localize(self, text: str) -> str:
        """Documented ports -> this run's ports (`host:3111`, `--port 3111`)."""
        for option in PORT_OPTIONS:
            for found in re.finditer(rf"(?<![\w-]){re.escape(option)}[ =](\d+)\b", text):
                self.of(int(found.group(1)))
        for port in DEFAULT_PORTS:
            self.of(port)
        for original, local in self.mapping.items():
            text = re.sub(rf"(?<=:){original}(?!\d)", str(local), text)
            for option in PORT_OPTIONS:
                text = re.sub(rf"(?<![\w-]){re.escape(option)}([ =]){original}(?!\d)", rf"{option}\g<1>{local}", text)
        return text

    def documented(self, text: str) -> str:
        """This run's ports -> the documented ones, in output before it is compared."""
        for original, local in self.mapping.items():
            text = re.sub(rf"(?<!\w){local}(?!\w)", str(original), text)
        return text


# --- processes ------------------------------------------------------------------------------------------


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("III_URL", "III_TOKEN")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


class Server(ReadProcess):
    """`motia run`, `motia dev` or `motia engine` in the background, its output read continuously."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, kind: str, where: str, project: str) -> None:
        self.kind = kind
        self.where = where
        self.project = project
        super().__init__(argv, cwd=cwd, env=env, start_new_session=True)

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def count(self, pattern: str) -> int:
        with self._changed:
            return sum(1 for line in self.lines if re.search(pattern, line))

    def wait_for(self, pattern: str, *, at_least: int = 1, timeout: float = READY_TIMEOUT) -> bool:
        """True once `pattern` has matched `at_least` lines; False if the process ended before."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if sum(1 for line in self.lines if re.search(pattern, line)) >= at_least:
                    return True
                if self.proc.poll() is not None and not self._reader.is_alive():
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.where}: no {pattern!r} within {timeout}s in:\n{''.join(self.lines)}")
                self._changed.wait(min(remaining, 0.2))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"{self.where}: `{self.kind}` did not stop within 30s of SIGTERM") from None
        finally:
            self._reader.join(5)


LISTENERS = ("run", "dev", "engine")  # the servers that listen on the app's ports
READY = {
    "run": [r"serving HTTP on "],
    "dev": [r"serving HTTP on "],
    "engine": [r"worker port on ", r"serving HTTP on "],
    "worker": [r"worker of the engine at "],
}


def server_kind(words: list[str], env: dict[str, str]) -> str | None:
    """What a `motia ...` command line (with its environment assignments) starts in the background, if anything."""
    if len(words) < 2 or words[0] != "motia":
        return None
    command, options = words[1], words[2:]
    if command == "engine" and "--help" not in options:
        return "engine"
    if command == "dev" and "--help" not in options:
        return "dev"
    if command == "run" and "--help" not in options:
        if "--watch" in options or "-w" in options:
            return "dev"
        remote = "III_URL" in env or any(o == "--engine" or o.startswith("--engine=") for o in options)
        return "worker" if remote else "run"
    return None


# --- running a page -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    output: str
    status: int


@dataclass
class PageRun:
    root: Path
    monkeypatch: pytest.MonkeyPatch
    ports: Ports = field(default_factory=Ports)
    servers: list[Server] = field(default_factory=list)
    projects: dict[str, Path] = field(default_factory=dict)
    cwd: Path | None = None
    project: str | None = None
    scripts: int = 0

    def enter(self, project: str) -> Path:
        if project != self.project:
            self.stop_servers(lambda server: server.project != project)  # another app: the last one stops
            self.project = project
            directory = self.projects.get(project)
            if directory is None:
                directory = self.projects[project] = self.root / project
                directory.mkdir(parents=True)
            self.cwd = directory
        assert self.cwd is not None
        return self.projects[project]

    # files

    def write(self, block: Block) -> None:
        assert block.file is not None
        home = self.enter(block.project)
        path = home / block.file
        path.parent.mkdir(parents=True, exist_ok=True)
        restarts = [(s, s.count(r"serving HTTP on ")) for s in self.servers if s.kind == "dev"]
        path.write_text(self.ports.localize(block.text), encoding="utf-8")
        if path.suffix == ".py" or path.name.startswith(".env"):
            for server, seen in restarts:  # `motia dev` restarts on the change: wait for it to serve again
                assert server.wait_for(r"serving HTTP on ", at_least=seen + 1), server.output
        if block.kind == "test file":
            self.run_tests(block, path, home)

    def run_tests(self, block: Block, path: Path, home: Path) -> None:
        before = set(sys.modules)
        self.monkeypatch.chdir(home)
        self.monkeypatch.syspath_prepend(str(home))
        try:
            namespace = load_test_module(path)
            tests = {name: fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)}
            assert tests, f"{block.where}: a test file with no test_ function"
            if any(inspect.signature(fn).parameters for fn in tests.values()):
                outcome = self.execute([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                        str(path.relative_to(home))], home)
                assert outcome.status == 0, f"{block.where}: pytest failed:\n{outcome.output}"
                return
            for name, fn in tests.items():
                try:
                    if inspect.iscoroutinefunction(fn):
                        asyncio.run(fn())
                    else:
                        fn()
                except BaseException as exc:
                    raise AssertionError(f"{block.where}: {name} failed: {exc!r}") from exc
        finally:
            prefix = str(home) + os.sep
            for name in set(sys.modules) - before:
                module_file = getattr(sys.modules[name], "__file__", None) or ""
                if module_file.startswith(prefix):
                    del sys.modules[name]

    # scripts

    def run_script(self, block: Block) -> None:
        self.enter(block.project)
        assert self.cwd is not None
        self.scripts += 1
        script = self.root / "_scripts" / f"block_{block.line}.py"
        script.parent.mkdir(exist_ok=True)
        script.write_text(self.ports.localize(block.text), encoding="utf-8")
        outcome = self.execute([sys.executable, str(script)], self.cwd)
        assert outcome.status == 0, f"{block.where}: the script failed:\n{outcome.output}"

    # commands

    def execute(self, argv: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> Outcome:
        try:
            done = subprocess.run(argv, cwd=cwd, env={**environment(), **(extra_env or {})}, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{argv} did not finish within {COMMAND_TIMEOUT}s: {exc.output}") from None
        return Outcome(self.ports.documented(done.stdout), done.returncode)

    def command(self, block: Block, line: str, expected: list[str]) -> None:
        """One command line: `cd`, a background server, or a shell command; checks status and output."""
        self.enter(block.project)
        assert self.cwd is not None
        status_comment = EXIT_STATUS.search(line)
        want_status = int(status_comment.group("code")) if status_comment else 0
        words = shlex.split(line, comments=True)
        if not words:
            return
        if words[0] == "cd":
            self.cwd = (self.cwd / words[1]).resolve()
            assert self.cwd.is_dir(), f"{block.where}: no directory {words[1]}"
            return
        if words[0] == "pip" or words[:3] == ["python", "-m", "pip"]:
            return  # the test environment has motia (and its extras) installed already
        assignments = {}
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            key, _, value = words.pop(0).partition("=")
            assignments[key] = self.ports.localize(value)
        kind = server_kind(words, assignments)
        if kind is not None:
            self.start_server(block, kind, words, assignments, expected, want_status)
            return
        if words[0] == "motia":
            args = [self.ports.localize(word) for word in words[1:]]
            if args and args[0] in CLIENT_COMMANDS and not any(a == "--url" or a.startswith("--url=") for a in args):
                args += ["--url", f"http://127.0.0.1:{self.ports.of(3111)}"]  # the CLI's default is :3111
            outcome = self.execute([sys.executable, "-m", "motia.cli", *args], self.cwd, assignments)
        else:
            outcome = self.execute(["bash", "-c", self.ports.localize(line)], self.cwd)
        assert outcome.status == want_status, (
            f"{block.where}: `{line}` exited {outcome.status}, not {want_status}:\n{outcome.output}")
        check_output(block, line, expected, outcome.output)

    def start_server(self, block: Block, kind: str, words: list[str], assignments: dict[str, str],
                     expected: list[str], want_status: int) -> None:
        assert self.cwd is not None
        args = [self.ports.localize(word) for word in words[1:]]
        given = set(args)
        if kind in ("run", "dev", "engine"):
            for option, port in (("--port", 3111), ("--stream-port", 3112)):
                if option not in given and not (option == "--port" and "-p" in given):
                    args += [option, str(self.ports.of(port))]
        if kind == "engine" and "--engine-port" not in given:
            args += ["--engine-port", str(self.ports.of(49134))]
        if kind in LISTENERS:  # running the app again: the one running stops first, as a user would stop it
            self.stop_servers(lambda server: server.kind in LISTENERS and server.project == block.project)
        env = {**environment(), **assignments}
        server = Server([sys.executable, "-m", "motia.cli", *args], env, self.cwd, kind, block.where, block.project)
        self.servers.append(server)
        ready = all(server.wait_for(pattern) for pattern in READY[kind])
        if not ready:  # it stopped: expected only if the page says so (a step that does not load)
            status = server.proc.wait()
            self.servers.remove(server)
            output = self.ports.documented(server.output)
            assert status == want_status, f"{block.where}: `{' '.join(words)}` exited {status}:\n{output}"
            check_output(block, " ".join(words), expected, output)
            return
        assert want_status == 0, f"{block.where}: `{' '.join(words)}` kept running instead of exiting {want_status}"
        deadline = time.monotonic() + 10
        while True:  # the banner may follow the ready line
            try:
                check_output(block, " ".join(words), expected, self.ports.documented(server.output))
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop_servers(self, which: Callable[[Server], bool] = lambda server: True) -> None:
        """SIGTERM to the servers chosen, newest first (workers before their engine); each must exit 0."""
        failures = []
        for server in [s for s in reversed(self.servers) if which(s)]:
            status = server.stop()
            self.servers.remove(server)
            if status != 0:
                failures.append(f"{server.where}: `{server.kind}` exited {status} on SIGTERM:\n{server.output}")
        assert not failures, "\n".join(failures)


def load_test_module(path: Path) -> dict[str, object]:
    """Execute a test file as pytest would import it: with assertion rewriting, so failures explain themselves."""
    from _pytest.assertion.rewrite import rewrite_asserts

    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    rewrite_asserts(tree, source.encode(), str(path))
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}", "__file__": str(path)}
    exec(compile(tree, str(path), "exec"), namespace)
    return namespace


def check_output(block: Block, command: str, expected: list[str], output: str) -> None:
    """Every shown line of output appears in the actual output (whitespace-insensitive; `...` is a wildcard)."""
    actual = [" ".join(line.split()) for line in output.splitlines()]
    for wanted in expected:
        pattern = ".*".join(re.escape(part) for part in " ".join(wanted.split()).split("..."))
        if not any(re.search(pattern, line) for line in actual):
            raise AssertionError(f"{block.where}: `{command}` did not print {wanted!r}; it printed:\n{output}")


def commands_of(block: Block) -> Iterator[tuple[str, list[str]]]:
    """(command line, expected output lines) of a bash or console block; continuation lines joined."""
    lines = block.text.rstrip("\n").split("\n")
    if block.kind == "commands":
        pending = ""
        for line in lines:
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            text = (pending + line).strip()
            pending = ""
            if text and not text.startswith("#"):
                yield text, []
        return
    command: str | None = None
    expected: list[str] = []
    for line in lines:
        if line.startswith("$ "):
            if command is not None:
                yield command, expected
            command, expected = line[2:].strip(), []
        elif command is not None and line.strip() and not line.startswith("# "):
            expected.append(line)
    if command is not None:
        yield command, expected


def run_page(page: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = PageRun(root, monkeypatch)
    try:
        for block in read_blocks(page):
            kind = block.kind
            if kind == "not run":
                continue
            if kind in ("file", "test file"):
                run.write(block)
            elif kind == "script":
                run.run_script(block)
            elif kind in ("commands", "console"):
                for line, expected in commands_of(block):
                    run.command(block, line, expected)
            else:
                raise AssertionError(f"{block.where}: a ```{block.language} block that is neither a file nor "
                                     "runnable; mark it <!-- not run: why -->")
    finally:
        run.stop_servers()


# --- the tests ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_the_samples_of_the_page_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_page(page, tmp_path, monkeypatch)


def test_every_block_runs_or_says_why_not():
    blocks = [block for page in PAGES for block in read_blocks(page)]
    assert blocks
    unknown = [block.where for block in blocks if block.kind == "unknown"]
    assert not unknown, f"blocks that are neither files nor runnable nor marked `not run`: {unknown}"
    skipped = [block for block in blocks if block.kind == "not run"]
    assert len(skipped) <= len(blocks) // 10, "keep `not run` blocks rare: " + ", ".join(b.where for b in skipped)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings (lower case, punctuation dropped, spaces to hyphens)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    headings = re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_links_between_pages_resolve():
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target, anchor in re.findall(r"\]\(([^)#\s]*\.md|)(?:#([^)\s]+))?\)", text):
            if not target and not anchor:
                continue
            linked = (page.parent / target).resolve() if target else page
            assert linked.is_file(), f"{page.name} links to a missing {target}"
            if anchor:
                assert anchor in anchors(linked), f"{page.name} links to a missing #{anchor} of {linked.name}"


def test_the_index_links_every_page_and_the_readme_links_the_index():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in DOC_PAGES:
        if page.name != "index.md":
            assert f"({page.name})" in index, f"docs/index.md does not link {page.name}"
    assert "(docs/index.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
