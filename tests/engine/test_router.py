"""The router: static before parameters, per-route parameter names, 404 vs 405, conflicts."""

import pytest

from motia.engine.router import RouteConflict, Router


def build(*routes: tuple[str, str]) -> Router[str]:
    router: Router[str] = Router()
    for method, path in routes:
        router.add(method, path, f"{method} {path}")
    return router


def test_static_route_is_one_lookup_with_no_params():
    router = build(("GET", "/health"))
    assert router.match("GET", "/health") == ("GET /health", {}, [])


def test_static_segment_beats_parameter_at_any_depth():
    router = build(("GET", "/a/:x/c"), ("GET", "/a/b/c"), ("GET", "/a/:x/:y"))
    assert router.match("GET", "/a/b/c")[0] == "GET /a/b/c"
    assert router.match("GET", "/a/z/c") == ("GET /a/:x/c", {"x": "z"}, [])
    assert router.match("GET", "/a/b/d") == ("GET /a/:x/:y", {"x": "b", "y": "d"}, [])


def test_backtracks_from_a_static_branch_that_dead_ends():
    router = build(("GET", "/files/latest/meta"), ("GET", "/files/:id"))
    assert router.match("GET", "/files/latest") == ("GET /files/:id", {"id": "latest"}, [])


def test_parameter_names_belong_to_each_route():
    router = build(("GET", "/users/:id"), ("GET", "/users/:user_id/posts"))
    assert router.match("GET", "/users/7")[1] == {"id": "7"}
    assert router.match("GET", "/users/7/posts")[1] == {"user_id": "7"}


def test_same_shape_with_other_parameter_names_conflicts():
    router = build(("GET", "/a/:x/:y"))
    with pytest.raises(RouteConflict, match="conflicts with already-registered route 'GET /a/:x/:y'"):
        router.add("GET", "/a/:y/:x", "other")


def test_same_shape_on_another_method_does_not_conflict():
    router = build(("GET", "/a/:x"))
    router.add("POST", "/a/:y", "POST /a/:y")
    assert router.match("POST", "/a/1") == ("POST /a/:y", {"y": "1"}, [])


def test_unknown_path_has_no_allowed_methods():
    assert build(("GET", "/a")).match("GET", "/b") == (None, {}, [])


def test_known_path_with_other_method_lists_allowed_methods():
    router = build(("GET", "/a/:id"), ("PUT", "/a/:id"))
    route, _params, allowed = router.match("DELETE", "/a/1")
    assert route is None and sorted(allowed) == ["GET", "PUT"]


def test_trailing_slash_matches():
    router = build(("GET", "/a/b"), ("GET", "/c/:d"))
    assert router.match("GET", "/a/b/")[0] == "GET /a/b"
    assert router.match("GET", "/c/1/")[1] == {"d": "1"}


def test_root_route():
    assert build(("GET", "/")).match("GET", "/")[0] == "GET /"


def test_remove_only_removes_the_given_route():
    router = build(("GET", "/a/:x"))
    router.remove("GET", "/a/:x", "someone else")
    assert router.match("GET", "/a/1")[0] == "GET /a/:x"
    route = router.match("GET", "/a/1")[0]
    router.remove("GET", "/a/:x", route)
    assert router.match("GET", "/a/1") == (None, {}, [])
