"""End-to-end test of Slurm pools on a real two-node Slurm cluster started
in a temp dir (munged, slurmctld, two slurmds on 127.0.0.1 on non-default
ports, as root; fixtures/slurm_cluster.py): the catalog lists the pool as a region,
an endpoint placed there runs the stand-in replica (fixtures/replica.py) as a
batch job and answers through the gateway, a scancelled job is replaced, the
daemon's kill -9 + restart re-adopts the running job (no duplicate),
scale-to-zero + wake and pause/resume cancel and resubmit jobs, delete leaves
no job, and no token reaches the job; two replicas of 2 CPUs each run on the
two nodes and keep serving while one job is scancelled. Skipped only when Slurm cannot
run here (not root, packages missing)."""
import concurrent.futures
import json
import os
import shutil
import sys
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
REPLICA = os.path.join(HERE, "fixtures", "replica.py")
sys.path.insert(0, os.path.join(HERE, "fixtures"))
from slurm_cluster import Cluster, missing_tools  # noqa: E402

if os.geteuid() != 0:
    pytest.skip("Slurm test needs root (slurmd runs jobs as root here)", allow_module_level=True)
_missing = missing_tools()
if _missing:
    pytest.skip("Slurm not installed (apt-get install slurm-wlm munge): missing %s" % _missing,
                allow_module_level=True)


@pytest.fixture(scope="module")
def cluster():
    # two nodes (two slurmds on 127.0.0.1, 2 CPUs each) for the whole module
    c = Cluster(nodes=2)
    try:
        c.start()
    except Exception:
        c.stop()
        raise
    yield c
    c.stop()


def body(name, region="hpc"):
    return {
        "name": name, "type": "public", "accountId": None,
        "provider": {"vendor": "local", "region": region},
        "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                    "scaling": {"minReplica": 1, "maxReplica": 1, "scaleToZeroTimeout": 0}},
        "model": {"repository": HERE, "task": "custom", "framework": "custom",
                  "env": {"REPLICA_TAG": "on-slurm"},
                  "image": {"custom": {"url": "cmd:%s %s --port {port}" % (sys.executable,
                                                                           REPLICA),
                                       "healthRoute": "/health"}}},
    }


def wait_for(fn, timeout, what):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def state(d, name):
    r = d.get("/v2/endpoint/admin/" + name)
    return r.json()["status"]["state"] if r.status_code == 200 else r.status_code


def call(d, name):
    try:
        return requests.post(d.url + "/endpoints/admin/" + name, json={"x": 1}, timeout=10)
    except requests.RequestException:
        return None


def test_slurm_pool_lifecycle(cluster):
    shared = cluster.path("shared")
    cfg = cluster.path("endpointd.json")
    json.dump({"pools": [{"name": "hpc", "type": "slurm", "partition": "main",
                          "shared_dir": shared, "time": "30",
                          "sizes": {"x1": {"cpus": 1, "mem": "200M"}}, "poll_ms": 200}]},
              open(cfg, "w"))
    env = {"SLURM_CONF": cluster.env["SLURM_CONF"], "ENDPOINTD_CONFIG": cfg,
           "ENDPOINTD_STOP_GRACE_MS": "2000", "ENDPOINTD_REPLICA_START_TIMEOUT_MS": "30000"}
    d = Daemon(env=env).start()
    try:
        # the pool is a region under every vendor
        cat = d.get("/v2/provider").json()
        for v in cat["vendors"]:
            regions = {r["name"]: r for r in v["regions"]}
            assert "hpc" in regions, v
            x1 = [c for c in regions["hpc"]["computes"] if c["instanceSize"] == "x1"][0]
            assert x1["numCpus"] == 1 and x1["id"] == "%s-hpc-cpu-x1" % v["name"]

        t0 = time.time()
        r = d.post("/v2/endpoint/admin", json=body("sl"))
        assert r.status_code in (200, 201, 202), r.text
        wait_for(lambda: state(d, "sl") == "running", 30, "running")
        t_run = time.time() - t0
        jobs = cluster.running("endpointd-admin-sl-")
        assert len(jobs) == 1 and jobs[0][1] == "RUNNING", jobs
        job1 = jobs[0][0]
        rr = call(d, "sl")
        assert rr is not None and rr.status_code == 200, rr and rr.text
        info = requests.get(d.url + "/endpoints/admin/sl/info", timeout=10).json()
        assert info["tag"] == "on-slurm"  # model.env reached the job
        pid = info["pid"]
        # the replica is the job's process (exec'd), and no token reached it
        environ = open("/proc/%d/environ" % pid, "rb").read().decode(errors="replace")
        assert "SLURM_JOB_ID=" + job1 in environ.split("\0")
        assert ADMIN_TOKEN not in environ and "ENDPOINTD_ADMIN_TOKEN" not in environ
        script = cluster.run("scontrol", "write", "batch_script", job1, "-").stdout
        assert "exec" in script and ADMIN_TOKEN not in script
        show = cluster.run("scontrol", "show", "job", job1).stdout
        assert ADMIN_TOKEN not in show
        # the job's output lands in the endpoint log
        logs = wait_for(lambda: (lambda t: t if "access" in t else None)(
            d.get("/v2/endpoint/admin/sl/logs", params={"tail": 200}).text), 10, "job output")
        assert "submitted slurm job " + job1 in logs

        # scancel -> the reconciler replaces the job
        t1 = time.time()
        assert cluster.run("scancel", job1).returncode == 0
        def replaced():
            js = [j for j in cluster.running("endpointd-admin-sl-") if j[0] != job1]
            if js and js[0][1] == "RUNNING" and state(d, "sl") == "running":
                q = call(d, "sl")
                if q is not None and q.status_code == 200:
                    return js
            return None
        jobs = wait_for(replaced, 30, "replacement job")
        t_replace = time.time() - t1
        job2 = jobs[0][0]
        assert len(cluster.running("endpointd-admin-sl-")) == 1

        # kill -9 of the daemon: the job keeps running; restart re-adopts it
        d.kill9()
        assert [j[0] for j in cluster.running("endpointd-admin-sl-")] == [job2]
        d.start()
        wait_for(lambda: state(d, "sl") == "running", 30, "running after restart")
        q = call(d, "sl")
        assert q is not None and q.status_code == 200
        time.sleep(1.0)  # a duplicate submission would show up by now
        assert [j[0] for j in cluster.running("endpointd-admin-sl-")] == [job2]
        assert "re-adopted running slurm job " + job2 in d.get(
            "/v2/endpoint/admin/sl/logs", params={"tail": 200}).text

        # scale to zero cancels the job; a request wakes it (Slurm queue delay included)
        assert d.post("/v2/endpoint/admin/sl/scale-to-zero").status_code == 200
        wait_for(lambda: state(d, "sl") == "scaledToZero", 15, "scaledToZero")
        wait_for(lambda: not cluster.running("endpointd-admin-sl-"), 15, "job gone at zero")
        t2 = time.time()
        q = requests.post(d.url + "/endpoints/admin/sl", json={"w": 1}, timeout=30,
                          headers={"X-Scale-Up-Timeout": "25"})
        t_wake = time.time() - t2
        assert q.status_code == 200, q.text
        jobs = cluster.running("endpointd-admin-sl-")
        assert len(jobs) == 1 and jobs[0][0] not in (job1, job2)
        # pause stops the job, resume submits a new one
        assert d.post("/v2/endpoint/admin/sl/pause").status_code == 200
        wait_for(lambda: not cluster.running("endpointd-admin-sl-"), 15, "job gone when paused")
        assert d.post("/v2/endpoint/admin/sl/resume").status_code == 200
        wait_for(lambda: state(d, "sl") == "running", 30, "running after resume")
        assert len(cluster.running("endpointd-admin-sl-")) == 1

        # delete -> no job left
        assert d.delete("/v2/endpoint/admin/sl").status_code in (200, 202, 204)
        wait_for(lambda: not cluster.running("endpointd-admin-"), 15, "jobs gone after delete")
        sys.stderr.write("slurm: create->running %.2f s, scancel->replaced %.2f s, "
                         "wake from zero %.2f s\n" % (t_run, t_replace, t_wake))
    finally:
        rc = d.cleanup()
        if rc != 0:
            sys.stderr.write(cluster.logs())
    assert rc == 0


def _direct(cluster, job):
    """(pid, SLURMD_NODENAME) of the replica of job, asked directly at the
    address the job wrote (not through the gateway)."""
    try:
        host, port = open(cluster.path("shared", "%s.addr" % job)).read().split()
        pid = requests.get("http://%s:%s/health" % (host, port), timeout=5).json()["pid"]
        env = open("/proc/%d/environ" % pid, "rb").read().decode(errors="replace").split("\0")
    except (OSError, ValueError, requests.RequestException):
        return None
    node = [e.split("=", 1)[1] for e in env if e.startswith("SLURMD_NODENAME=")]
    return (pid, node[0] if node else None)


def test_two_replicas_on_two_nodes(cluster):
    """minReplica=maxReplica=2 of 2 CPUs each on two 2-CPU nodes: Slurm must
    place the jobs on different nodes; the gateway keeps answering while one
    job is scancelled behind the daemon's back (it is replaced); scale to
    zero and wake bring both back; delete leaves no job."""
    cfg = cluster.path("endpointd3.json")
    json.dump({"pools": [{"name": "hpc", "type": "slurm", "partition": "main",
                          "shared_dir": cluster.path("shared"), "poll_ms": 200,
                          "sizes": {"x2": {"cpus": 2, "mem": "200M"}}}]}, open(cfg, "w"))
    env = {"SLURM_CONF": cluster.env["SLURM_CONF"], "ENDPOINTD_CONFIG": cfg,
           "ENDPOINTD_STOP_GRACE_MS": "2000", "ENDPOINTD_REPLICA_START_TIMEOUT_MS": "30000"}
    d = Daemon(env=env).start()
    pre = "endpointd-admin-two-"
    try:
        b = body("two")
        b["compute"]["instanceSize"] = "x2"
        b["compute"]["scaling"] = {"minReplica": 2, "maxReplica": 2, "scaleToZeroTimeout": 0}
        assert d.post("/v2/endpoint/admin", json=b).status_code in (200, 201, 202)

        def both_running():
            js = cluster.running(pre)
            if len(js) == 2 and all(j[1] == "RUNNING" for j in js) and \
                    state(d, "two") == "running":
                return js
            return None

        def on_two_nodes():
            js = both_running()
            if not js:
                return None
            seen = [_direct(cluster, j[0]) for j in js]
            if None in seen:
                return None
            # squeue's node list and the node each replica process runs on agree
            assert sorted(j[3] for j in js) == sorted(s[1] for s in seen), (js, seen)
            return js if sorted(j[3] for j in js) == sorted(cluster.nodes) else None

        jobs = wait_for(on_two_nodes, 40, "two jobs RUNNING on two nodes")
        # both replicas answering directly is not yet both ready in the gateway (its probe)
        wait_for(lambda: d.get("/v2/endpoint/admin/two").json()["status"]["readyReplica"] == 2
                 or None, 20, "readyReplica 2")
        # concurrent slow requests: least-in-flight spreads them over both replicas
        def slow(_):
            return requests.post(d.url + "/endpoints/admin/two/slow", json={"seconds": 0.5},
                                 timeout=10)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(slow, range(4)))
        assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
        pids = {r.json()["pid"] for r in rs}
        assert pids == {_direct(cluster, j[0])[0] for j in jobs}, pids

        # scancel one job behind the daemon's back: requests keep succeeding
        victim, keep = jobs[0][0], jobs[1][0]
        assert cluster.run("scancel", victim).returncode == 0
        t0, codes, replaced = time.time(), [], None
        while time.time() - t0 < 30:
            q = call(d, "two")
            codes.append((q.status_code, q.text[:120]) if q is not None else None)
            js = both_running()
            if js and victim not in [j[0] for j in js] and len(codes) >= 20:
                replaced = js
                break
            time.sleep(0.05)
        assert replaced, cluster.jobs()
        bad = [c for c in codes if not c or c[0] != 200]
        assert not bad, "%d of %d requests failed during the scancel: %r" % (
            len(bad), len(codes), bad)
        assert keep in [j[0] for j in replaced]
        sys.stderr.write("slurm 2 nodes: scancel -> replacement RUNNING %.2f s, %d requests "
                         "all 200\n" % (time.time() - t0, len(codes)))
        jobs = wait_for(on_two_nodes, 20, "replacement on the free node")

        # scale to zero cancels both jobs; a request wakes the endpoint
        assert d.post("/v2/endpoint/admin/two/scale-to-zero").status_code == 200
        wait_for(lambda: state(d, "two") == "scaledToZero", 15, "scaledToZero")
        wait_for(lambda: not cluster.running(pre), 15, "jobs gone at zero")
        q = requests.post(d.url + "/endpoints/admin/two", json={"w": 1}, timeout=30,
                          headers={"X-Scale-Up-Timeout": "25"})
        assert q.status_code == 200, q.text
        woke = wait_for(on_two_nodes, 30, "both replicas back after the wake")
        assert not set(j[0] for j in woke) & set(j[0] for j in jobs)

        # delete -> no job left
        assert d.delete("/v2/endpoint/admin/two").status_code in (200, 202, 204)
        wait_for(lambda: not cluster.running(pre), 15, "jobs gone after delete")
    finally:
        rc = d.cleanup()
        if rc != 0:
            sys.stderr.write(cluster.logs())
    assert rc == 0


def test_bad_pool_config_is_rejected(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"pools": [{"name": "hpc", "type": "slurm", "partiton": "x",
                                          "shared_dir": "/tmp"}]}))
    d = Daemon(env={"ENDPOINTD_CONFIG": str(cfg)})
    with pytest.raises(RuntimeError):
        d.start(timeout=5)
    assert "unknown key 'partiton'" in d.stderr_text()
    shutil.rmtree(d.home, ignore_errors=True)


def test_runtime_on_slurm_and_bad_partition(cluster):
    """The real `endpointd runtime` on models/stories260K as a Slurm job (no
    --parent-pid: the job is not the daemon's child), and sbatch's own error
    (an unknown partition) reaching errorMessage."""
    stories = os.path.join(HERE, "..", "..", "models", "stories260K")
    if not os.path.exists(os.path.join(stories, "model.safetensors")):
        pytest.fail("models/stories260K is missing")
    cfg = cluster.path("endpointd2.json")
    json.dump({"pools": [
        {"name": "hpc", "type": "slurm", "shared_dir": cluster.path("shared"), "poll_ms": 200,
         "sizes": {"x1": {"cpus": 1, "mem": "300M"}}},
        {"name": "badpart", "type": "slurm", "partition": "nosuchpart",
         "shared_dir": cluster.path("shared")}]}, open(cfg, "w"))
    env = {"SLURM_CONF": cluster.env["SLURM_CONF"], "ENDPOINTD_CONFIG": cfg,
           "ENDPOINTD_STOP_GRACE_MS": "2000"}
    d = Daemon(env=env).start()
    try:
        b = body("rt")
        b["model"] = {"repository": os.path.realpath(stories), "task": "text-generation",
                      "framework": "pytorch", "image": {"huggingface": {}}}
        assert d.post("/v2/endpoint/admin", json=b).status_code in (200, 201, 202)
        b2 = body("bp", region="badpart")
        assert d.post("/v2/endpoint/admin", json=b2).status_code in (200, 201, 202)
        wait_for(lambda: state(d, "rt") == "running", 40, "runtime running")
        jobs = cluster.running("endpointd-admin-rt-")
        assert len(jobs) == 1 and jobs[0][1] == "RUNNING"
        script = cluster.run("scontrol", "write", "batch_script", jobs[0][0], "-").stdout
        assert "'runtime'" in script and "--parent-pid" not in script and "--unix" not in script
        g = requests.post(d.url + "/endpoints/admin/rt/generate", timeout=60,
                          json={"inputs": "Once upon a time", "parameters": {"max_new_tokens": 8}})
        assert g.status_code == 200, g.text
        assert isinstance(g.json()["generated_text"], str) and g.json()["generated_text"]
        wait_for(lambda: state(d, "bp") == "failed", 20, "bad partition -> failed")
        msg = d.get("/v2/endpoint/admin/bp").json()["status"]["errorMessage"]
        assert "sbatch failed" in msg and "partition" in msg.lower(), msg
        assert not cluster.running("endpointd-admin-bp-")
    finally:
        rc = d.cleanup()
    assert rc == 0
    # a clean daemon stop cancels its jobs (as local replicas die with it)
    wait_for(lambda: not cluster.running("endpointd-admin-"), 15, "jobs gone after stop")
