import pytest

from common.errors import MethodNotAllowed, NotFound
from common.http.routing import Router


async def handler(ctx):
    return None


@pytest.fixture()
def router():
    r = Router("chat")
    r.add("POST", "/", handler)
    r.add("GET", "/threads/{thread_id}/messages", handler)
    return r


@pytest.mark.parametrize("path", ["/chat", "/chat/", "/", ""])
def test_root_matches_with_and_without_prefix(router, path):
    assert router.match("POST", path or "/")[1] == {}


@pytest.mark.parametrize("path", ["/chat/threads/th_1/messages", "/threads/th_1/messages"])
def test_params_are_extracted_with_and_without_prefix(router, path):
    assert router.match("GET", path)[1] == {"thread_id": "th_1"}


def test_wrong_method_is_405_with_allow(router):
    with pytest.raises(MethodNotAllowed) as exc:
        router.match("DELETE", "/chat")
    assert exc.value.headers == {"Allow": "POST"}


def test_unknown_path_is_404(router):
    with pytest.raises(NotFound):
        router.match("GET", "/chat/threads/x/y/z")


def test_prefix_must_be_a_whole_segment(router):
    with pytest.raises(NotFound):
        router.match("GET", "/chatty/threads/x/messages")


async def test_cors_preflight_lists_the_paths_methods():
    from starlette.requests import Request

    r = Router("chat")
    r.add("POST", "/", handler)
    scope = {
        "type": "http",
        "method": "OPTIONS",
        "path": "/chat",
        "headers": [(b"origin", b"https://shop.example"), (b"access-control-request-method", b"POST")],
        "query_string": b"",
    }
    resp = await r(Request(scope))
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == "https://shop.example"
    assert "POST" in resp.headers["access-control-allow-methods"]
    assert "Authorization" in resp.headers["access-control-allow-headers"]
