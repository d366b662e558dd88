"""The gateway caches checked tokens and endpoint types (no database read per
request); these tests check that the cache never serves a stale answer where
it must not: a token revoked through the API is refused on the very next
request, a membership granted through the API opens a private endpoint at
once, a type change (protected -> public -> private) applies to the next
request, and a deleted endpoint answers 404. The replica is the Python
stand-in (fixtures/replica.py)."""
import time

import pytest
import requests

from conftest import Daemon, make_user
from test_serving import FAST_ENV, body, data, ep_path, wait_state


@pytest.fixture(scope="module")
def d():
    dm = Daemon(env=FAST_ENV).start()
    yield dm
    dm.cleanup()


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def test_revoke_membership_type_delete(d):
    bob = make_user(d, "bob")
    r = d.post("/v2/tokens", token=bob, json={"displayName": "t", "role": "read"})
    assert r.status_code == 201, r.text
    tok, tok_id = r.json()["token"], r.json()["id"]
    assert d.post("/v2/endpoint/admin", json=body("cache", typ="protected")).status_code in (200, 201)
    wait_state(d, "cache", "running")

    # warm the cache, then revoke through the API: refused on the next request
    for _ in range(5):
        assert data(d, "cache", headers=bearer(tok), json={}).status_code == 200
    assert d.delete("/v2/tokens/" + tok_id, token=bob).status_code == 200
    assert data(d, "cache", headers=bearer(tok), json={}).status_code == 401

    # type change: protected -> public (no token needed) -> private (bob is no member)
    e = d.get(ep_path("cache")).json()
    assert data(d, "cache", json={}).status_code == 401
    r = d.put(ep_path("cache"), json={"type": "public"})
    assert r.status_code == 200, r.text
    assert data(d, "cache", json={}).status_code == 200
    r = d.put(ep_path("cache"), json={"type": "private"})
    assert r.status_code == 200, r.text
    assert data(d, "cache", json={}).status_code == 401
    assert data(d, "cache", headers=bearer(bob), json={}).status_code == 403
    assert data(d, "cache", headers=d.admin_headers, json={}).status_code == 200
    assert e["type"] == "protected"

    # membership granted through the API: bob's cached 403 does not linger
    d.delete(ep_path("cache"))
    assert d.post("/v2/admin/orgs", json={"name": "acme"}).status_code == 201
    r = d.post("/v2/endpoint/acme", json=body("priv", typ="private"))
    assert r.status_code in (200, 201), r.text
    end = time.time() + 20
    while time.time() < end:
        st = d.get("/v2/endpoint/acme/priv").json()["status"]["state"]
        if st == "running":
            break
        time.sleep(0.1)
    url = d.url + "/endpoints/acme/priv"
    assert requests.post(url, headers=bearer(bob), json={}, timeout=10).status_code == 403
    r = d.post("/v2/admin/orgs/acme/members", json={"user": "bob"})
    assert r.status_code == 200, r.text
    assert requests.post(url, headers=bearer(bob), json={}, timeout=10).status_code == 200

    # deleted endpoint: 404 on the next request
    assert d.delete("/v2/endpoint/acme/priv").status_code in (200, 202, 204)
    assert requests.post(url, headers=bearer(bob), json={}, timeout=10).status_code == 404
    assert data(d, "cache", json={}).status_code == 404
