"""The container driver end to end: busybox image, crun, the bridge, published ports.

Every test runs corrald inside a network namespace it creates, so the bridge,
veths and NAT live there and the host's own network is never touched.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from corral_testlib import Api, Daemon, network_namespace, poll, running_daemon

BUSYBOX = "busybox"


def _have(tool: str) -> bool:
    return shutil.which(tool) is not None


pytestmark = pytest.mark.skipif(
    not (_have("crun") and _have("umoci") and _have("skopeo") and Path("/bin/busybox").exists()),
    reason="needs crun, umoci, skopeo and busybox-static (make test installs them)",
)


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace() as name:
        yield name


@pytest.fixture
def cdaemon(netns: str, corral_bins: dict[str, str]) -> Iterator[Daemon]:
    with running_daemon(tcp=False, netns=netns) as d:
        yield d


def run_container(api: Api, name: str, args: list[str], **body: object) -> dict:
    return api.run(name, args, wait_s=60, driver="container", image=BUSYBOX, **body)


def exec_in(api: Api, ident: str, command: list[str], **body: object) -> tuple[int, bytes, bytes]:
    res = api.ok("POST", f"/v1/instances/{ident}/exec", json_body={"command": command, **body}, timeout=60)
    data = res["data"]
    return data["exit_code"], base64.b64decode(data["stdout"]), base64.b64decode(data["stderr"])


def in_netns(netns: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, *args], capture_output=True, text=True, timeout=timeout)


def test_busybox_container_runs_with_args_env_logs_and_exit_code(cdaemon: Daemon) -> None:
    api = cdaemon.api
    inst = api.create(
        name="hello", driver="container", image=BUSYBOX, autostart=True, timeout_s=60,
        args=["sh", "-c", 'echo "hi from $(hostname) $FOO"; exit 3'], env={"FOO": "bar"}, timeout=90,
    )
    assert inst["image"].startswith("busybox:latest@sha256:"), inst
    stopped = api.wait_state(inst["uuid"], "stopped", timeout=30, min_starts=1)
    assert stopped["exit_code"] == 3, stopped
    poll(lambda: b"hi from hello bar" in api.logs(inst["uuid"]), timeout=5, what="the output in the log")


def test_exec_files_stop_grace_and_freeze(cdaemon: Daemon) -> None:
    api = cdaemon.api
    inst = run_container(api, "box", ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"])
    code, out, _ = exec_in(api, "box", ["sh", "-c", 'echo "$GREETING from $(pwd)"; exit 4'], env={"GREETING": "hey"}, cwd="/tmp")
    assert (code, out) == (4, b"hey from /tmp\n")

    api.ok("PUT", "/v1/instances/box/files", json_body={"path": "/tmp/note", "content": base64.b64encode(b"from the host").decode()})
    code, out, _ = exec_in(api, "box", ["cat", "/tmp/note"])
    assert (code, out) == (0, b"from the host")
    res = api.ok("GET", "/v1/instances/box/files", params={"path": "/tmp/note"})
    assert base64.b64decode(res["data"]["content"]) == b"from the host"
    # The container's /etc/passwd, never the host's.
    res = api.ok("GET", "/v1/instances/box/files", params={"path": "/../../etc/passwd"})
    assert base64.b64decode(res["data"]["content"]) == Path(cdaemon.state_dir, "images").glob("rootfs/*/etc/passwd").__next__().read_bytes()

    api.ok("PUT", "/v1/instances/box/suspend")
    assert api.wait_state(inst["uuid"], "standby", timeout=10)["state"] == "standby"
    api.start(inst["uuid"])
    api.wait_state(inst["uuid"], "running", timeout=10)
    assert exec_in(api, "box", ["true"])[0] == 0

    t0 = time.monotonic()
    api.stop("box", drain_timeout_ms=1000)
    stopped = api.wait_state(inst["uuid"], "stopped", timeout=20)
    assert time.monotonic() - t0 >= 0.9
    assert stopped["stop_reason"] == 13, stopped


def test_memory_limit_is_enforced(cdaemon: Daemon) -> None:
    api = cdaemon.api
    hog = 'x=$(head -c 200000000 /dev/zero | tr "\\0" x); sleep 30'
    inst = api.create(name="hog", driver="container", image=BUSYBOX, memory_mb=32, autostart=True, args=["sh", "-c", hog])
    stopped = api.wait_state(inst["uuid"], "stopped", timeout=60, min_starts=1)
    assert "out of memory" in (stopped.get("message") or "").lower(), stopped


def test_two_containers_reach_each_other_and_a_published_port_answers(cdaemon: Daemon, netns: str) -> None:
    api = cdaemon.api
    web = run_container(
        api, "web", ["sh", "-c", "mkdir -p /www && echo hello-web > /www/index.html && httpd -f -p 80 -h /www"],
        ports=["18080:80"],
    )
    assert web.get("private_ip"), web
    run_container(api, "client", ["sleep", "300"])
    code, out, err = exec_in(api, "client", ["wget", "-qO-", f"http://{web['private_ip']}/index.html"])
    assert (code, out) == (0, b"hello-web\n"), err

    res = poll(lambda: (lambda r: r if r.returncode == 0 else None)(
        in_netns(netns, "busybox", "wget", "-qO-", "http://127.0.0.1:18080/index.html")),
        timeout=10, what="the published port to answer")
    assert res.stdout == "hello-web\n"


def test_containers_survive_a_daemon_kill_and_delete_leaves_nothing(cdaemon: Daemon, netns: str) -> None:
    api = cdaemon.api
    inst = run_container(api, "keeper", ["sleep", "300"])
    pid = inst["pid"]
    cdaemon.kill9()
    cdaemon.start()
    api = cdaemon.api
    again = api.wait_state(inst["uuid"], "running", timeout=20)
    assert again["pid"] == pid
    assert exec_in(api, "keeper", ["true"])[0] == 0

    uuid = inst["uuid"]
    api.ok("DELETE", f"/v1/instances/{uuid}", timeout=60)
    assert api.get(uuid) is None
    assert not Path(f"/proc/{pid}").exists()
    assert not cdaemon.instance_dir(uuid).exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert uuid not in mounts
    links = in_netns(netns, "ip", "-o", "link").stdout
    assert uuid[:8] not in links, links
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert uuid[:8] not in namespaces, namespaces
    for controller in ("memory", "pids", "cpu", "freezer"):
        assert not Path(f"/sys/fs/cgroup/{controller}/{cdaemon.cgroup_parent}/{uuid}").exists()


@pytest.fixture
def cdaemon_tcp(netns: str, corral_bins: dict[str, str]) -> Iterator[Daemon]:
    with running_daemon(tcp=True, netns=netns) as d:
        yield d


def test_container_lifecycle_through_the_sdk(cdaemon_tcp: Daemon, netns: str) -> None:
    env = {**os.environ, "UKC_METRO": cdaemon_tcp.tcp_url, "UKC_TOKEN": cdaemon_tcp.token}
    script = Path(__file__).with_name("sdk_image_lifecycle.py")
    res = subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "--", sys.executable, str(script)],
        capture_output=True, text=True, env=env, timeout=180,
    )
    assert res.returncode == 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}\n{cdaemon_tcp.log_tail()}"


@pytest.mark.skipif(not _have("runc"), reason="needs runc (make test installs it)")
def test_runc_can_be_chosen_for_new_containers(netns: str, corral_bins: dict[str, str]) -> None:
    with running_daemon(tcp=False, netns=netns, extra_args=["--container-runtime", "runc"]) as d:
        api = d.api
        drivers = api.ok("GET", "/v1/drivers")["data"]["drivers"]
        container = next(x for x in drivers if x["name"] == "container")
        assert any(n.startswith("runc (new containers)") for n in container["notes"]), container
        run_container(api, "under-runc", ["sh", "-c", "echo hi-from-runc; sleep 300"])
        poll(lambda: b"hi-from-runc" in api.logs("under-runc"), timeout=10, what="the output in the log")
        code, out, _ = exec_in(api, "under-runc", ["cat", "/etc/hostname"])
        assert (code, out) == (0, b"under-runc\n")
        uuid = api.must_get("under-runc")["uuid"]
        assert (d.state_dir / "runc" / uuid).exists()
        api.ok("DELETE", "/v1/instances/under-runc", timeout=60)
        assert not (d.state_dir / "runc" / uuid).exists()
