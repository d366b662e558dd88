"""Auth on the real daemon: whoami shape, the 401/403 matrix (no, bad, revoked,
expired, read-only and other-namespace tokens), orgs and memberships, token
create/list/revoke, admin-only routes, first-start admin token file."""
import os
import stat
import time

import pytest

from conftest import Daemon, create_body, make_user

BAD_CRED = "Invalid credentials in Authorization header"


@pytest.fixture(scope="module")
def world(daemon):
    alice = make_user(daemon, "alice")
    bob = make_user(daemon, "bob")
    assert daemon.post("/v2/admin/orgs", json={"name": "acme"}).status_code == 201
    assert daemon.post("/v2/admin/orgs/acme/members", json={"user": "alice"}).status_code == 200
    r = daemon.post("/v2/tokens", token=alice, json={"displayName": "ro", "role": "read"})
    assert r.status_code == 201
    ro = r.json()["token"]
    r = daemon.post("/v2/tokens", token=alice, json={"displayName": "short", "role": "write",
                                                      "expiresIn": 1})
    short = r.json()["token"]
    r = daemon.post("/v2/tokens", token=alice, json={"displayName": "gone", "role": "write"})
    gone, gone_id = r.json()["token"], r.json()["id"]
    assert daemon.delete("/v2/tokens/" + gone_id, token=alice).status_code == 200
    assert daemon.post("/v2/endpoint/alice", token=alice, json=create_body("a1")).status_code == 201
    time.sleep(1.05)  # let `short` expire
    return dict(alice=alice, bob=bob, ro=ro, short=short, gone=gone)


def test_whoami_shape(daemon, world):
    r = daemon.get("/api/whoami-v2", token=world["alice"])
    assert r.status_code == 200
    w = r.json()
    assert w["type"] == "user" and w["name"] == "alice"
    assert [o["name"] for o in w["orgs"]] == ["acme"]
    assert w["auth"]["accessToken"]["role"] == "write"
    assert w["auth"]["accessToken"]["displayName"] == "default"
    assert w["auth"]["type"] == "access_token"
    ro = daemon.get("/api/whoami-v2", token=world["ro"]).json()
    assert ro["auth"]["accessToken"] == {"displayName": "ro", "role": "read",
                                         "createdAt": ro["auth"]["accessToken"]["createdAt"]}


@pytest.mark.parametrize("who", ["none", "bad", "gone", "short"])
def test_401(daemon, world, who):
    tok = {"none": None, "bad": "epd_garbage", "gone": world["gone"], "short": world["short"]}[who]
    headers = {"Authorization": "Bearer " + tok} if tok else {"Authorization": ""}
    for method, path in [("GET", "/api/whoami-v2"), ("GET", "/v2/endpoint/alice"),
                         ("POST", "/v2/endpoint/alice"), ("GET", "/v2/endpoint/alice/a1"),
                         ("POST", "/v2/endpoint/alice/a1/pause"), ("GET", "/v2/tokens"),
                         ("GET", "/v2/provider")]:
        r = daemon.request(method, path, headers=dict(headers), json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json() == {"error": BAD_CRED}
        assert r.headers["X-Error-Message"] == BAD_CRED


def test_403_matrix(daemon, world):
    bob, ro, alice = world["bob"], world["ro"], world["alice"]
    # other namespace
    assert daemon.get("/v2/endpoint/alice", token=bob).status_code == 403
    assert daemon.get("/v2/endpoint/alice/a1", token=bob).status_code == 403
    assert daemon.post("/v2/endpoint/alice", token=bob, json=create_body("b1")).status_code == 403
    assert daemon.delete("/v2/endpoint/alice/a1", token=bob).status_code == 403
    assert daemon.get("/v2/endpoint/acme", token=bob).status_code == 403
    # read-only token: reads ok, writes 403
    assert daemon.get("/v2/endpoint/alice", token=ro).status_code == 200
    for method, path in [("POST", "/v2/endpoint/alice/a1/pause"), ("PUT", "/v2/endpoint/alice/a1"),
                         ("DELETE", "/v2/endpoint/alice/a1"), ("POST", "/v2/tokens")]:
        r = daemon.request(method, path, token=ro, json={"displayName": "x"})
        assert r.status_code == 403, (method, path)
    assert daemon.post("/v2/endpoint/alice", token=ro, json=create_body("r1")).status_code == 403
    # org member may use the org namespace
    assert daemon.post("/v2/endpoint/acme", token=alice, json=create_body("o1")).status_code == 201
    assert [e["name"] for e in daemon.get("/v2/endpoint/acme", token=alice).json()["items"]] == ["o1"]
    # admin-only routes
    assert daemon.post("/v2/admin/users", token=alice, json={"name": "carol"}).status_code == 403
    assert daemon.get("/v2/admin/users", token=alice).status_code == 403
    assert daemon.post("/v2/admin/orgs", token=alice, json={"name": "x"}).status_code == 403
    # private endpoint data plane: other namespace's token gets 403
    daemon.post("/v2/endpoint/alice", token=alice, json=create_body("p1", type="private"))
    assert daemon.get("/endpoints/alice/p1", token=bob).status_code == 403
    assert daemon.get("/endpoints/alice/p1", token="nope").status_code == 401
    r = daemon.get("/endpoints/alice/p1", token=alice, headers={"X-Scale-Up-Timeout": "0"})
    assert r.status_code not in (401, 403)


def test_tokens_list_and_revoke(daemon, world):
    alice = world["alice"]
    items = daemon.get("/v2/tokens", token=alice).json()["items"]
    names = [t["displayName"] for t in items]
    assert names == ["default", "ro", "short", "gone"]
    for t in items:
        assert set(t) == {"id", "displayName", "role", "createdAt", "expiresAt", "lastUsedAt", "revoked"}
        assert "token" not in t
    assert [t["revoked"] for t in items] == [False, False, False, True]
    assert items[2]["expiresAt"] is not None and items[0]["expiresAt"] is None
    # bob cannot revoke alice's token
    assert daemon.delete("/v2/tokens/" + items[1]["id"], token=world["bob"]).status_code == 404
    assert daemon.delete("/v2/tokens/999999", token=alice).status_code == 404
    r = daemon.post("/v2/tokens", token=alice, json={"displayName": "x", "role": "admin"})
    assert r.status_code == 400
    r = daemon.post("/v2/tokens", token=alice, json={"displayName": "x", "expiresAt": "2001-01-01T00:00:00.000Z"})
    assert r.status_code == 400
    r = daemon.post("/v2/tokens", token=alice, json={"displayName": "iso", "role": "read",
                                                      "expiresAt": "2099-01-01T00:00:00.000Z"})
    assert r.status_code == 201 and r.json()["expiresAt"] == "2099-01-01T00:00:00.000Z"
    assert r.json()["token"].startswith("epd_")


def test_admin_users(daemon, world):
    r = daemon.post("/v2/admin/users", json={"name": "alice"})
    assert r.status_code == 409
    r = daemon.post("/v2/admin/users", json={"name": "acme"})  # org name taken
    assert r.status_code == 409
    assert daemon.post("/v2/admin/users", json={"name": "Bad Name"}).status_code == 400
    r = daemon.post("/v2/admin/users", json={"name": "dave", "fullname": "Dave", "email": "d@x"})
    assert r.status_code == 201
    j = r.json()
    assert j["user"]["name"] == "dave" and j["user"]["fullname"] == "Dave"
    assert set(j["token"]) == {"id", "displayName", "role", "createdAt", "expiresAt", "token"}
    assert j["token"]["role"] == "write"
    users = [u["name"] for u in daemon.get("/v2/admin/users").json()["items"]]
    assert users[:3] == ["admin", "alice", "bob"] and "dave" in users
    assert daemon.post("/v2/admin/orgs/nope/members", json={"user": "dave"}).status_code == 404
    assert daemon.post("/v2/admin/orgs/acme/members", json={"user": "nope"}).status_code == 404
    assert daemon.post("/v2/admin/orgs/acme/members", json={"user": "dave", "role": "owner"}).status_code == 400


def test_first_start_prints_and_saves_token(tmp_path):
    d = Daemon(home=str(tmp_path), admin_token=None)
    d.env.pop("ENDPOINTD_ADMIN_TOKEN", None)
    d.start()
    try:
        tokfile = os.path.join(str(tmp_path), "admin.token")
        tok = open(tokfile).read().strip()
        assert tok.startswith("epd_") and len(tok) == 68
        assert stat.S_IMODE(os.stat(tokfile).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.join(str(tmp_path), "secret.key")).st_mode) == 0o600
        assert any(tok in l for l in d.stdout_lines)
        assert d.get("/api/whoami-v2", token=tok).json()["name"] == "admin"
        # the database never holds the token text
        db = open(os.path.join(str(tmp_path), "endpointd.db"), "rb").read()
        assert tok.encode() not in db
        d.stop()
        d.stdout_lines = []
        d.start()  # second start: nothing printed
        assert not any("epd_" in l for l in d.stdout_lines)
        assert d.get("/api/whoami-v2", token=tok).status_code == 200
    finally:
        d.cleanup()
