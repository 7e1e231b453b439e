"""HEAD on every read route (RFC 9110 9.3.2): the status and headers its GET would answer, no body.

Clients use it to check that a row exists, to read its ETag or a list's size before fetching, and
link checkers send it first; the same access rules, conditional requests and errors apply."""

from __future__ import annotations

from agents_support import an_agent


async def test_head_on_a_row_answers_the_headers_of_its_get_without_a_body(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    got = await alice.get(location)

    head = await alice.head(location)

    assert head.status == 200
    assert head.body == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(got.body))
    assert head.headers["Content-Type"] == got.headers["Content-Type"]


async def test_head_on_a_list_answers_200_without_a_body(api):
    alice = await api.as_user("alice")
    await an_agent(alice)

    head = await alice.head("/api/agents")

    assert head.status == 200
    assert head.body == b""
    assert head.headers["ETag"] == (await alice.get("/api/agents")).headers["ETag"]


async def test_head_on_a_row_the_caller_may_not_see_is_404_like_its_get(api):
    alice, bob = await api.as_user("alice"), await api.as_user("bob")
    location = await an_agent(alice)

    assert (await bob.head(location)).status == 404
    assert (await bob.get(location)).status == 404


async def test_head_with_the_current_etag_is_304(api):
    alice = await api.as_user("alice")
    location = await an_agent(alice)
    etag = (await alice.get(location)).headers["ETag"]

    head = await alice.head(location, headers={"If-None-Match": etag})

    assert head.status == 304
    assert head.headers["ETag"] == etag


async def test_head_without_credentials_is_401_like_its_get(api):
    assert (await api.anonymous.head("/api/agents")).status == 401


async def test_head_with_a_bad_query_is_the_same_400_as_its_get(api):
    alice = await api.as_user("alice")

    head = await alice.head("/api/agents?limit=0")

    assert head.status == 400
    assert head.body == b""


async def test_the_allow_header_of_a_405_lists_head_beside_get(api):
    alice = await api.as_user("alice")

    refused = await alice.put("/api/agents")

    assert refused.status == 405
    assert "HEAD" in [m.strip() for m in refused.headers["Allow"].split(",")]


async def test_head_on_the_openapi_document_answers_200(api):
    assert (await api.anonymous.head("/openapi.json")).status == 200
