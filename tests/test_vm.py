"""The vm driver end to end: the busybox image booted as a QEMU microVM with
corral-agent as PID 1.

Boots are expensive where KVM cannot run the guest (software emulation takes
seconds), so one VM serves most assertions, in order, and the module boots only
two more: one whose workload exits and one for the SDK.
corrald runs inside a network namespace the module creates, so the bridge, taps
and NAT never touch the host's own network.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from corral_testlib import Api, Daemon, PtyCli, clean_env, describe, network_namespace, poll, proc_cmdline, run_cli, running_daemon

BUSYBOX = "busybox"
# Generous: under TCG a boot takes 3 to 10 s on two loaded cores.
BOOT_S = 240


def _kernel() -> Path | None:
    kernels = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64")) or sorted(Path("/boot").glob("vmlinuz-*"))
    return kernels[-1] if kernels else None


def _skip_reason() -> str | None:
    if shutil.which("qemu-system-x86_64") is None:
        return "needs qemu-system-x86_64 (make test installs qemu-system-x86)"
    if shutil.which("qemu-img") is None or shutil.which("mkfs.ext4") is None:
        return "needs qemu-img and mkfs.ext4 (make test installs qemu-utils and e2fsprogs)"
    if _kernel() is None:
        return "needs a kernel in /boot (make test installs linux-image-cloud-amd64)"
    if not (shutil.which("crun") and shutil.which("umoci") and Path("/bin/busybox").exists()):
        return "needs crun, umoci and busybox-static (make test installs them)"
    return None


_reason = _skip_reason()
if _reason is not None:
    print(f"\nSKIP test_vm: {_reason}", file=sys.stderr)
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    with network_namespace("corral-v") as name:
        yield name


@pytest.fixture(scope="module")
def vdaemon(netns: str) -> Iterator[Daemon]:
    with running_daemon(tcp=True, netns=netns) as d:
        yield d


def exec_in(api: Api, ident: str, command: list[str], **body: Any) -> tuple[int, bytes, bytes]:
    res = api.ok("POST", f"/v1/instances/{ident}/exec", json_body={"command": command, **body}, timeout=120)
    data = res["data"]
    return data["exit_code"], base64.b64decode(data["stdout"]), base64.b64decode(data["stderr"])


def qemu_pids(uuid: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = proc_cmdline(int(entry.name))
            if argv and "qemu-system" in argv[0] and any(uuid in a for a in argv):
                pids.append(int(entry.name))
    return pids


def links_in(netns: str) -> str:
    return subprocess.run(["ip", "-n", netns, "-o", "link"], capture_output=True, text=True, timeout=20).stdout


WORKLOAD = (
    "mkdir -p /www && echo hello-vm > /www/index.html && httpd -p 80 -h /www; "
    'echo "hello $FOO from $(hostname) as $(id -u)"; '
    "trap 'echo got-term; exit 0' TERM; "
    "while true; do sleep 1; done"
)


def test_doctor_names_the_accelerator(vdaemon: Daemon) -> None:
    drivers = vdaemon.api.ok("GET", "/v1/drivers")["data"]["drivers"]
    vm = next(d for d in drivers if d["name"] == "vm")
    assert vm["available"], vm
    notes = " ".join(vm.get("notes", []))
    assert "kvm" in notes or "tcg" in notes, vm


def test_one_vm_through_its_whole_life(vdaemon: Daemon, netns: str) -> None:
    api = vdaemon.api
    inst = api.create(
        name="vm1", driver="vm", image=BUSYBOX, memory_mb=128, autostart=True, timeout_s=BOOT_S,
        args=["sh", "-c", WORKLOAD], env={"FOO": "bar"}, timeout=BOOT_S + 30,
    )
    uuid = inst["uuid"]
    assert inst["state"] == "running", inst
    assert inst["image"].startswith("busybox:latest@sha256:"), inst
    assert inst.get("boot_time_us", 0) > 0, inst
    assert inst.get("private_ip"), inst
    [qemu] = qemu_pids(uuid)

    # The serial console is the log: the guest kernel's messages and the workload's output.
    poll(lambda: b"hello bar from vm1 as 0" in api.logs(uuid), timeout=30, what="the workload's output in the log")
    assert b"Linux version" in api.logs(uuid)

    code, out, _ = exec_in(api, uuid, ["sh", "-c", 'echo "$GREETING from $(pwd)"; exit 4'], env={"GREETING": "hey"}, cwd="/tmp")
    assert (code, out) == (4, b"hey from /tmp\n")

    api.ok("PUT", f"/v1/instances/{uuid}/files", json_body={"path": "/tmp/note", "content": base64.b64encode(b"from the host").decode()})
    assert exec_in(api, uuid, ["cat", "/tmp/note"])[:2] == (0, b"from the host")
    res = api.ok("GET", f"/v1/instances/{uuid}/files", params={"path": "/etc/hostname"})
    assert base64.b64decode(res["data"]["content"]).strip() == b"vm1"

    # `corral exec -it`: a shell on a terminal in the guest, its exit code the CLI's.
    cli = PtyCli(["exec", "-it", "vm1", "--", "sh"], env=clean_env(CORRAL_HOST=f"unix://{vdaemon.sock}", TERM="xterm"))
    try:
        t0 = time.monotonic()
        cli.type("echo $((6*7))\r")
        cli.expect(rb"\r\n42\r\n", timeout=60)
        first_answer = time.monotonic() - t0
        cli.type("stty size\r")
        cli.expect(rb"\r\n30 100\r\n", timeout=30)
        cli.type("exit 3\r")
        assert cli.wait(timeout=60) == 3, cli.output
        print(f"vm exec -it: first answer after {first_answer * 1000:.0f} ms")
    finally:
        cli.close()

    # Metrics: the guest's memory in use (from the agent) and QEMU's CPU time.
    metrics = api.ok("GET", f"/v1/instances/{uuid}/metrics")["data"]["instances"][0]
    assert 0 < metrics["rss_bytes"] <= 128 << 20, metrics
    assert metrics["cpu_time_ms"] > 0, metrics

    # A container on the same bridge reaches the VM by its private address.
    api.run("client", ["sleep", "300"], wait_s=60, driver="container", image=BUSYBOX)
    code, out, err = exec_in(api, "client", ["wget", "-qO-", f"http://{inst['private_ip']}/index.html"])
    assert (code, out) == (0, b"hello-vm\n"), err
    api.ok("DELETE", "/v1/instances/client", timeout=60)

    # Suspend pauses the VM; start resumes it.
    api.ok("PUT", f"/v1/instances/{uuid}/suspend")
    assert api.wait_state(uuid, "standby", timeout=30)["state"] == "standby"
    api.start(uuid)
    api.wait_state(uuid, "running", timeout=30)
    assert exec_in(api, uuid, ["true"])[0] == 0

    # The VM outlives corrald: a new daemon re-adopts the same QEMU.
    vdaemon.kill9()
    vdaemon.start()
    api = vdaemon.api
    again = api.wait_state(uuid, "running", timeout=60)
    assert qemu_pids(uuid) == [qemu], again
    assert exec_in(api, uuid, ["echo", "still here"])[:2] == (0, b"still here\n")

    # Stop: the workload gets SIGTERM and the VM powers off within the grace.
    t0 = time.monotonic()
    api.stop(uuid, drain_timeout_ms=20_000)
    stopped = api.wait_state(uuid, "stopped", timeout=60)
    assert time.monotonic() - t0 < 20, "the VM should power off as soon as its workload exits"
    assert stopped["exit_code"] == 0, stopped
    assert b"got-term" in api.logs(uuid)
    poll(lambda: not qemu_pids(uuid), timeout=20, what="QEMU to exit")

    # Delete leaves no process, tap, disk, socket or cgroup behind.
    api.ok("DELETE", f"/v1/instances/{uuid}", timeout=60)
    assert api.get(uuid) is None
    assert not vdaemon.instance_dir(uuid).exists()
    assert uuid[:8] not in links_in(netns)
    for controller in ("memory", "pids", "cpu", "freezer"):
        assert not Path(f"/sys/fs/cgroup/{controller}/{vdaemon.cgroup_parent}/{uuid}").exists()


def test_the_workload_exit_code_becomes_the_instance_s(vdaemon: Daemon) -> None:
    api = vdaemon.api
    inst = api.create(
        name="vm-exit", driver="vm", image=BUSYBOX, memory_mb=128, autostart=True,
        args=["sh", "-c", "echo bye; exit 7"], timeout=BOOT_S + 30,
    )
    stopped = api.wait_state(inst["uuid"], "stopped", timeout=BOOT_S, min_starts=1)
    assert stopped["exit_code"] == 7, stopped
    assert b"bye" in api.logs(inst["uuid"])
    poll(lambda: not qemu_pids(inst["uuid"]), timeout=20, what="QEMU to exit")
    api.ok("DELETE", f"/v1/instances/{inst['uuid']}", timeout=60)


def test_the_cli_runs_a_vm(vdaemon: Daemon) -> None:
    """The issue's own example: `corral run --driver vm busybox -- sh -c 'echo hi'`."""
    host = f"unix://{vdaemon.sock}"
    cp = run_cli(["run", "--name", "vm-cli", "--driver", "vm", "busybox", "--", "sh", "-c", "echo hi"], host=host, timeout=BOOT_S)
    assert cp.returncode == 0, describe(cp)
    cp = run_cli(["wait", "--state", "stopped", "--timeout", "60", "vm-cli"], host=host, timeout=90)
    assert cp.returncode == 0, describe(cp)
    cp = run_cli(["logs", "vm-cli"], host=host)
    assert cp.returncode == 0 and "hi" in cp.stdout.splitlines(), describe(cp)
    cp = run_cli(["rm", "vm-cli"], host=host, timeout=60)
    assert cp.returncode == 0, describe(cp)


def test_a_failing_vm_is_restarted_by_its_policy(vdaemon: Daemon) -> None:
    api = vdaemon.api
    inst = api.create(
        name="vm-again", driver="vm", image=BUSYBOX, memory_mb=128, autostart=True, restart_policy="on-failure",
        args=["sh", "-c", "echo vm-again-run; sleep 1; exit 1"], timeout=BOOT_S + 30,
    )
    uuid = inst["uuid"]
    poll(lambda: (api.get(uuid) or {}).get("restart_count", 0) >= 1, timeout=BOOT_S, what="a restart after exit 1")
    poll(lambda: api.logs(uuid).count(b"vm-again-run") >= 2, timeout=BOOT_S,
         what="the workload's second run in the log")
    api.stop(uuid, force=True)
    api.wait_state(uuid, "stopped", timeout=60)
    poll(lambda: not qemu_pids(uuid), timeout=20, what="QEMU to exit")
    api.ok("DELETE", f"/v1/instances/{uuid}", timeout=60)


def test_a_volume_made_with_the_vm_keeps_its_files_across_stop_and_start(vdaemon: Daemon) -> None:
    api = vdaemon.api
    body = {"name": "vm-vol", "driver": "vm", "image": BUSYBOX, "memory_mb": 128, "autostart": True,
            "timeout_s": BOOT_S, "args": ["sleep", "600"],
            "volumes": [{"size_mb": 64, "at": "/data"}, {"size_mb": 16, "at": "/srv/ro", "readonly": True}]}
    inst = api.create(timeout=BOOT_S + 30, **body)
    uuid = inst["uuid"]
    code, out, err = exec_in(api, uuid, ["sh", "-c", "grep ' /data ' /proc/mounts; echo kept > /data/note"])
    assert code == 0 and b"ext4 rw" in out, (out, err)
    code, out, _ = exec_in(api, uuid, ["sh", "-c", "grep ' /srv/ro ' /proc/mounts; touch /srv/ro/x"])
    assert code != 0 and b"ext4 ro" in out, out

    api.stop(uuid, drain_timeout_ms=10_000)
    api.wait_state(uuid, "stopped", timeout=60)
    api.start(uuid)
    api.wait_state(uuid, "running", timeout=BOOT_S)
    assert exec_in(api, uuid, ["cat", "/data/note"])[:2] == (0, b"kept\n")

    api.ok("DELETE", f"/v1/instances/{uuid}", timeout=60)
    assert not vdaemon.instance_dir(uuid).exists(), "the volumes go with their instance"


def test_a_forced_stop_ends_the_vm_at_once(vdaemon: Daemon) -> None:
    api = vdaemon.api
    inst = api.create(
        name="vm-force", driver="vm", image=BUSYBOX, memory_mb=128, autostart=True, timeout_s=BOOT_S,
        args=["sh", "-c", "trap '' TERM; while true; do sleep 1; done"], timeout=BOOT_S + 30,
    )
    assert inst["state"] == "running", inst
    t0 = time.monotonic()
    api.stop(inst["uuid"], force=True)
    stopped = api.wait_state(inst["uuid"], "stopped", timeout=30)
    assert time.monotonic() - t0 < 10
    assert stopped["stop_reason"] == 28, stopped
    assert "signal 9" in (stopped.get("message") or ""), stopped
    poll(lambda: not qemu_pids(inst["uuid"]), timeout=20, what="QEMU to exit")
    api.ok("DELETE", f"/v1/instances/{inst['uuid']}", timeout=60)


def test_bad_vm_requests_are_refused_by_name(vdaemon: Daemon) -> None:
    api = vdaemon.api
    for volume, field in [({"at": "/data"}, ".size_mb"), ({"size_mb": 8, "at": "data"}, ".at"),
                          ({"name": "shared", "at": "/data"}, ".name"), ({"size_mb": 8, "at": "/../x"}, ".at")]:
        r = api.request("POST", "/v1/instances", json_body={
            "name": "badvol", "driver": "vm", "image": BUSYBOX, "args": ["true"], "volumes": [volume]})
        assert r.status_code in (400, 501), r.text
        assert f"'volumes[0]{field}'" in r.text, r.text
    r = api.request("POST", "/v1/instances", json_body={
        "name": "ctrvol", "driver": "container", "image": BUSYBOX, "args": ["true"], "volumes": [{"size_mb": 8, "at": "/d"}]})
    assert r.status_code == 400 and "volumes" in r.text, r.text
    r = api.request("POST", "/v1/instances", json_body={"name": "tiny", "driver": "vm", "image": BUSYBOX, "memory_mb": 16, "args": ["true"]})
    assert r.status_code == 400, r.text
    assert "memory_mb" in r.json().get("message", r.text)
    r = api.request("POST", "/v1/instances", json_body={
        "name": "badarg", "driver": "vm", "image": BUSYBOX, "args": ["true"], "kernel": {"cmdline": {"a b": "c"}},
    })
    assert r.status_code == 400, r.text
    assert "cmdline" in r.json().get("message", r.text)
    r = api.request("POST", "/v1/instances", json_body={
        "name": "nokernel", "driver": "vm", "image": BUSYBOX, "args": ["true"], "kernel": {"path": "/nonexistent/vmlinuz"},
        "autostart": True,
    })
    assert r.status_code in (400, 404), r.text
    assert "/nonexistent/vmlinuz" in r.text


def test_vm_lifecycle_through_the_sdk(vdaemon: Daemon, netns: str) -> None:
    env = {**os.environ, "UKC_METRO": vdaemon.tcp_url, "UKC_TOKEN": vdaemon.token, "CORRAL_SDK_DRIVER": "vm"}
    script = Path(__file__).with_name("sdk_image_lifecycle.py")
    res = subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "--", sys.executable, str(script)],
        capture_output=True, text=True, env=env, timeout=BOOT_S + 180,
    )
    assert res.returncode == 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}\n{vdaemon.log_tail()}"


def test_removing_the_image_removes_its_vm_disk(vdaemon: Daemon) -> None:
    """Last in the module: every VM is gone, so the busybox image can go."""
    api = vdaemon.api
    disks = vdaemon.state_dir / "vm" / "disks"
    assert list(disks.glob("*.ext4")), "the VMs above left a base disk per image"
    api.delete_all(timeout=60)
    api.ok("POST", "/v1/images/prune", json_body={}, timeout=60)
    assert not list(disks.glob("*.ext4")), sorted(p.name for p in disks.iterdir())
