"""Discovery: step files found under steps/ and src/, imported as real modules, collected once, checked."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from motia import StepError
from motia.discovery import discover, steps_in_module

STYLES = ["underscore", "dot"]


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    """Step modules are named from their path (`steps.x_step`): drop them so one project never shadows the next."""
    modules = set(sys.modules)
    path = list(sys.path)
    yield
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path
    importlib.invalidate_caches()


def write(root: Path, relative: str, source: str = "") -> Path:
    file = root / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(source).lstrip("\n"))
    return file


def step_name(style: str, stem: str) -> str:
    return f"{stem}_step.py" if style == "underscore" else f"{stem}.step.py"


def line_of(file: Path, marker: str) -> int:
    """The 1-based line of `file` on which `marker` first appears."""
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {file}")


def route_step(name: str, path: str, method: str = "GET") -> str:
    return f"""
    from motia import api


    @api({method!r}, {path!r})
    def {name}(req, ctx):
        return {{"step": {name!r}}}
    """


def names(registry) -> list[str]:
    return [step.name for step in registry]


# --- finding step files ------------------------------------------------------------------------------


def test_finds_underscore_and_dot_step_files(tmp_path):
    write(tmp_path, "steps/first_step.py", route_step("first", "/first"))
    write(tmp_path, "steps/second.step.py", route_step("second", "/second"))
    assert sorted(names(discover(tmp_path))) == ["first", "second"]


def test_steps_are_collected_in_sorted_path_order(tmp_path):
    # Written in reverse so that file-system order and sorted order differ.
    write(tmp_path, "steps/zeta_step.py", route_step("zeta", "/zeta"))
    write(tmp_path, "steps/users/b.step.py", route_step("users_b", "/users/b"))
    write(tmp_path, "steps/users/a_step.py", route_step("users_a", "/users/a"))
    write(tmp_path, "steps/alpha_step.py", route_step("alpha", "/alpha"))
    assert names(discover(tmp_path)) == ["alpha", "users_a", "users_b", "zeta"]


def test_steps_of_one_file_are_collected_in_source_order(tmp_path):
    write(
        tmp_path,
        "steps/many_step.py",
        """
        from motia import api, on


        @on("z")
        def zulu(data, ctx):
            return None


        @api("GET", "/a")
        def alpha(req, ctx):
            return None
        """,
    )
    assert names(discover(tmp_path)) == ["zulu", "alpha"]


def test_discovery_order_is_the_same_every_time(tmp_path):
    for stem in ["c", "a", "b"]:
        write(tmp_path, f"steps/{stem}_step.py", route_step(stem, f"/{stem}"))
    first = names(discover(tmp_path))
    for name in [n for n in sys.modules if n == "steps" or n.startswith("steps.")]:
        del sys.modules[name]
    assert names(discover(tmp_path)) == first == ["a", "b", "c"]


@pytest.mark.parametrize("directory", [".hidden", "__pycache__", ".venv", "node_modules"])
def test_hidden_and_tool_directories_are_skipped(tmp_path, directory):
    write(tmp_path, "steps/real_step.py", route_step("real", "/real"))
    write(tmp_path, f"steps/{directory}/ignored_step.py", "raise RuntimeError('must not be imported')\n")
    write(tmp_path, f"steps/{directory}/deeper/ignored.step.py", "raise RuntimeError('must not be imported')\n")
    assert names(discover(tmp_path)) == ["real"]


def test_non_step_python_files_are_not_imported(tmp_path):
    write(tmp_path, "steps/real_step.py", route_step("real", "/real"))
    write(tmp_path, "steps/broken_helper.py", "raise RuntimeError('must not be imported')\n")
    assert names(discover(tmp_path)) == ["real"]
    assert "steps.broken_helper" not in sys.modules


def test_decorated_handlers_in_non_step_files_are_not_steps(tmp_path):
    write(tmp_path, "steps/real_step.py", route_step("real", "/real"))
    write(tmp_path, "steps/routes.py", route_step("hidden_route", "/hidden"))
    assert names(discover(tmp_path)) == ["real"]


def test_src_directory_is_scanned_too(tmp_path):
    write(tmp_path, "steps/from_steps_step.py", route_step("from_steps", "/a"))
    write(tmp_path, "src/billing/from_src_step.py", route_step("from_src", "/b"))
    write(tmp_path, "src/other.step.py", route_step("from_src_dot", "/c"))
    assert names(discover(tmp_path)) == ["from_steps", "from_src", "from_src_dot"]


def test_an_explicit_steps_dir_replaces_steps(tmp_path):
    write(tmp_path, "steps/default_step.py", route_step("default", "/default"))
    write(tmp_path, "flows/chosen_step.py", route_step("chosen", "/chosen"))
    assert names(discover(tmp_path, steps_dir=tmp_path / "flows")) == ["chosen"]


def test_missing_steps_directory_is_a_step_error_with_a_hint(tmp_path):
    with pytest.raises(StepError) as error:
        discover(tmp_path, steps_dir=tmp_path / "flows")
    assert str(tmp_path / "flows") in error.value.message
    assert error.value.hint


def test_a_project_without_steps_uses_src_alone(tmp_path):
    write(tmp_path, "src/billing/from_src_step.py", route_step("from_src", "/b"))
    assert names(discover(tmp_path)) == ["from_src"]


def test_neither_steps_nor_src_is_a_step_error_with_a_hint(tmp_path):
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    assert error.value.message == "no steps/ or src/ directory here to find step files in"
    assert error.value.hint


# --- imports between modules -------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_step_imports_a_sibling_helper_relatively(tmp_path, style):
    write(tmp_path, "steps/users/helpers.py", "GREETING = 'hello'\n")
    write(
        tmp_path,
        f"steps/users/{step_name(style, 'greet')}",
        """
        from motia import api

        from .helpers import GREETING


        @api("GET", "/greet")
        def greet(req, ctx):
            return GREETING
        """,
    )
    (step,) = discover(tmp_path)
    assert step.handler(None, None) == "hello"


@pytest.mark.parametrize("style", STYLES)
def test_nested_step_imports_from_a_parent_package(tmp_path, style):
    write(tmp_path, "steps/shared.py", "PREFIX = 'shared'\n")
    write(
        tmp_path,
        f"steps/orders/{step_name(style, 'notify')}",
        """
        from motia import on

        from ..shared import PREFIX


        @on("order.created")
        def notify(data, ctx):
            return PREFIX
        """,
    )
    (step,) = discover(tmp_path)
    assert step.handler(None, None) == "shared"


def test_step_modules_are_named_from_their_path(tmp_path):
    write(tmp_path, "steps/users/create_step.py", route_step("create", "/create"))
    write(tmp_path, "steps/users/read.step.py", route_step("read", "/read"))
    registry = discover(tmp_path)
    assert [step.handler.__module__ for step in registry] == ["steps.users.create_step", "steps.users.read__step"]


def test_steps_share_one_instance_of_a_helper_module(tmp_path):
    write(tmp_path, "steps/store.py", "ITEMS = []\n")
    for stem, style in [("put", "underscore"), ("take", "dot")]:
        write(
            tmp_path,
            f"steps/{step_name(style, stem)}",
            f"""
            from motia import api

            from .store import ITEMS


            @api("GET", "/{stem}")
            def {stem}(req, ctx):
                return ITEMS
            """,
        )
    first, second = discover(tmp_path)
    assert first.handler(None, None) is second.handler(None, None)


# --- which handlers are steps ------------------------------------------------------------------------


def test_every_decorated_handler_of_a_file_is_a_step(tmp_path):
    write(
        tmp_path,
        "steps/orders_step.py",
        """
        from motia import api, on


        @api("POST", "/orders")
        def create_order(req, ctx):
            return None


        @on("order.created")
        def ship_order(order, ctx):
            return None


        def not_a_step(x):
            return x
        """,
    )
    assert names(discover(tmp_path)) == ["create_order", "ship_order"]


def test_stacked_decorators_are_one_step(tmp_path):
    write(
        tmp_path,
        "steps/multi_step.py",
        """
        from motia import api, cron, on


        @api("POST", "/multi")
        @on("multi")
        @cron("0 9 * * *")
        def multi(data, ctx):
            return None
        """,
    )
    (step,) = discover(tmp_path)
    assert len(step.triggers) == 3


@pytest.mark.parametrize("style", STYLES)
def test_step_wrapper_handler_is_collected_once(tmp_path, style):
    write(
        tmp_path,
        f"steps/{step_name(style, 'hello')}",
        """
        from motia import ApiTrigger, StepConfig, step_wrapper

        config = StepConfig(name="Hello", triggers=[ApiTrigger(path="/hello/:name", method="GET")])


        async def handler(req, ctx):
            return {"message": "hi"}


        step_wrapper(config, __file__, handler)
        """,
    )
    assert names(discover(tmp_path)) == ["Hello"]


@pytest.mark.parametrize("style", STYLES)
def test_config_and_handler_module_is_a_step(tmp_path, style):
    file = write(
        tmp_path,
        f"steps/{step_name(style, 'legacy')}",
        """
        config = {
            "name": "Legacy",
            "triggers": [{"type": "event", "subscribes": ["a", "b"]}],
            "emits": ["c"],
        }


        async def handler(data, ctx):
            return None
        """,
    )
    (step,) = discover(tmp_path)
    assert step.name == "Legacy"
    assert [t.topic for t in step.triggers] == ["a", "b"]
    assert str(step.source) == f"{file}:{line_of(file, 'def handler')}"


def test_config_and_handler_module_is_a_step_once(tmp_path):
    write(
        tmp_path,
        "steps/legacy_step.py",
        """
        config = {"name": "Legacy", "triggers": [{"type": "api", "path": "/legacy"}]}


        def handler(req, ctx):
            return None


        serve = handler
        """,
    )
    assert names(discover(tmp_path)) == ["Legacy"]


def test_module_with_config_but_no_handler_is_not_a_step(tmp_path):
    write(tmp_path, "steps/real_step.py", route_step("real", "/real"))
    write(tmp_path, "steps/half_step.py", 'config = {"name": "Half", "triggers": []}\n')
    assert names(discover(tmp_path)) == ["real"]


def test_handler_imported_from_another_step_module_is_not_collected_twice(tmp_path):
    write(tmp_path, "steps/zoo_step.py", route_step("zoo", "/zoo"))
    write(
        tmp_path,
        "steps/app_step.py",
        """
        from motia import on

        from .zoo_step import zoo


        @on("app")
        def app(data, ctx):
            return zoo
        """,
    )
    registry = discover(tmp_path)
    assert names(registry) == ["app", "zoo"]
    assert names(steps_in_module(sys.modules["steps.app_step"])) == ["app"]


# --- broken step files -------------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_syntax_error_is_a_step_error_at_its_line(tmp_path, style):
    file = write(
        tmp_path,
        f"steps/{step_name(style, 'broken')}",
        """
        from motia import api


        @api("GET", "/broken")
        def broken(req, ctx)
            return None
        """,
    )
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    assert error.value.location == f"{file}:{line_of(file, 'def broken')}"
    assert "syntax" in error.value.message


@pytest.mark.parametrize("style", STYLES)
def test_exception_at_import_is_a_step_error_at_the_raising_line(tmp_path, style):
    file = write(
        tmp_path,
        f"steps/{step_name(style, 'raising')}",
        """
        import os


        def settings():
            return os.environ["MOTIA_TEST_SURELY_UNSET_VARIABLE"]


        SETTINGS = settings()
        """,
    )
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    assert error.value.location == f"{file}:{line_of(file, 'return os.environ')}"
    assert "KeyError" in error.value.message
    assert "MOTIA_TEST_SURELY_UNSET_VARIABLE" in error.value.message


@pytest.mark.parametrize("style", STYLES)
def test_import_of_a_missing_module_is_a_step_error_at_the_import(tmp_path, style):
    file = write(
        tmp_path,
        f"steps/{step_name(style, 'needy')}",
        """
        from motia import api

        import motia_surely_missing_dependency
        """,
    )
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    assert error.value.location == f"{file}:{line_of(file, 'import motia_surely_missing')}"
    assert "motia_surely_missing_dependency" in error.value.message


def test_a_broken_file_stops_discovery(tmp_path):
    write(tmp_path, "steps/a_step.py", "raise RuntimeError('first')\n")
    write(tmp_path, "steps/b_step.py", route_step("b", "/b"))
    with pytest.raises(StepError):
        discover(tmp_path)
    assert "steps.b_step" not in sys.modules


# --- invalid sets of steps ---------------------------------------------------------------------------


def test_duplicate_step_names_in_two_files_name_both_locations(tmp_path):
    first = write(tmp_path, "steps/one_step.py", route_step("same", "/one"))
    second = write(
        tmp_path,
        "steps/two.step.py",
        """
        config = {"name": "same", "triggers": [{"type": "api", "path": "/two"}]}


        def handler(req, ctx):
            return None
        """,
    )
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    text = str(error.value)
    assert f"{first}:{line_of(first, '@api')}" in text
    assert f"{second}:{line_of(second, 'def handler')}" in text
    assert "'same'" in text


def test_duplicate_routes_in_two_steps_name_both_locations(tmp_path):
    first = write(tmp_path, "steps/one_step.py", route_step("one", "/users", "POST"))
    second = write(tmp_path, "steps/two_step.py", route_step("two", "/users/", "post"))
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    text = str(error.value)
    assert f"{first}:{line_of(first, '@api')}" in text
    assert f"{second}:{line_of(second, '@api')}" in text
    assert "POST /users" in text


def test_routes_differing_only_in_parameter_names_are_duplicates(tmp_path):
    first = write(tmp_path, "steps/one_step.py", route_step("one", "/a/:x"))
    second = write(tmp_path, "steps/two_step.py", route_step("two", "/a/:y"))
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    text = str(error.value)
    assert f"{first}:{line_of(first, '@api')}" in text
    assert f"{second}:{line_of(second, '@api')}" in text


def test_same_path_with_different_methods_is_not_a_duplicate(tmp_path):
    write(tmp_path, "steps/one_step.py", route_step("read", "/a/:x", "GET"))
    write(tmp_path, "steps/two_step.py", route_step("remove", "/a/:y", "DELETE"))
    assert names(discover(tmp_path)) == ["read", "remove"]


def test_handler_with_three_required_parameters_is_a_step_error(tmp_path):
    file = write(
        tmp_path,
        "steps/greedy_step.py",
        """
        from motia import on


        @on("greedy")
        def greedy(data, ctx, extra):
            return None
        """,
    )
    with pytest.raises(StepError) as error:
        discover(tmp_path)
    assert error.value.location == f"{file}:{line_of(file, '@on')}"
    assert "'greedy'" in error.value.message
    assert "at most 2" in error.value.message


# --- known gaps --------------------------------------------------------------------------------------


def test_dot_and_underscore_step_files_with_one_stem_are_both_loaded_or_refused(tmp_path):
    write(tmp_path, "steps/create.step.py", route_step("dotted", "/dotted"))
    write(tmp_path, "steps/create_step.py", route_step("underscored", "/underscored"))
    try:
        found = names(discover(tmp_path))
    except StepError as error:
        assert "create.step.py" in str(error.value)
        assert "create_step.py" in str(error.value)
    else:
        assert sorted(found) == ["dotted", "underscored"]


def test_a_second_project_in_the_same_process_loads_its_own_step_files(tmp_path):
    write(tmp_path, "first/steps/hello_step.py", route_step("first", "/first"))
    write(tmp_path, "second/steps/hello_step.py", route_step("second", "/second"))
    assert names(discover(tmp_path / "first")) == ["first"]
    assert names(discover(tmp_path / "second")) == ["second"]
