"""Instances outlive corrald: kill -9 the daemon, restart it on the same state
dir, and everything is re-adopted as it was; what ended meanwhile is reported;
half-done operations are finished; deleting leaves nothing behind."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from corral_testlib import (
    CGROUP_ROOT,
    V1_CONTROLLERS,
    Daemon,
    WaitTimeout,
    cgroup_dirs_under,
    pid_alive,
    pids_in_cgroup_parent,
    poll,
    proc_cmdline,
    proc_start_time,
)

COUNT = 20
SLEEP = ["/bin/sleep", "300"]


def _identity(inst: dict[str, Any]) -> tuple[int, int]:
    pid = inst.get("pid")
    assert isinstance(pid, int) and pid > 0, inst
    start = proc_start_time(pid)
    assert start is not None, f"pid {pid} of {inst['name']} is not alive"
    return pid, start


def _sleepers_under(parent: str, argv: list[str]) -> list[int]:
    return [pid for pid in pids_in_cgroup_parent(parent) if proc_cmdline(pid) == argv]


def _assert_nothing_left(daemon: Daemon, pids: dict[str, tuple[int, int]]) -> None:
    for name, (pid, start) in pids.items():
        poll(lambda: not pid_alive(pid, start), timeout=10, what=f"pid {pid} of {name} to be gone")
    leftover = pids_in_cgroup_parent(daemon.cgroup_parent)
    assert not leftover, {p: proc_cmdline(p) for p in leftover}
    try:
        poll(lambda: not cgroup_dirs_under(daemon.cgroup_parent), timeout=10, what="the instance cgroups to go")
    except WaitTimeout:
        raise AssertionError(f"cgroups left: {cgroup_dirs_under(daemon.cgroup_parent)}") from None
    for ctrl in V1_CONTROLLERS:
        base = CGROUP_ROOT / ctrl / daemon.cgroup_parent
        assert not base.exists() or not any(p.is_dir() for p in base.iterdir()), f"{base}: {list(base.iterdir())}"
    inst_root = daemon.state_dir / "instances"
    poll(lambda: not inst_root.exists() or not any(inst_root.iterdir()), timeout=10,
         what=f"{inst_root} to be empty")
    # No shim (or anything else) of this daemon is left: the only process that
    # mentions the state dir on its command line is the daemon itself.
    others = [
        pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if pid != daemon.pid and pid_alive(pid) and str(daemon.state_dir) in "\0".join(proc_cmdline(pid))
    ]
    assert not others, {p: proc_cmdline(p) for p in others}


def test_kill9_restart_readopts_everything(daemon: Daemon) -> None:
    api = daemon.api
    flag = daemon.workdir / "exit-now"
    before: dict[str, dict[str, Any]] = {}
    for i in range(COUNT):
        inst = api.run(f"keep-{i:02d}", SLEEP)
        before[inst["uuid"]] = inst
    exiter = api.run(
        "exiter", ["/bin/sh", "-c", f"while [ ! -e {flag} ]; do sleep 0.05; done; exit 7"],
    )
    pids = {inst["name"]: _identity(inst) for inst in before.values()}
    exiter_pid = _identity(exiter)

    daemon.kill9()

    # The instances outlive the daemon.
    for name, (pid, start) in pids.items():
        assert pid_alive(pid, start), f"{name} (pid {pid}) died with the daemon"
    # One of them ends while the daemon is down.
    flag.touch()
    poll(lambda: not pid_alive(*exiter_pid), timeout=10, what="the exiter to exit while the daemon is down")

    daemon.start()
    api = daemon.api
    listed = api.list()
    uuids = [i["uuid"] for i in listed]
    assert len(uuids) == len(set(uuids)) == COUNT + 1, [(i["name"], i["uuid"]) for i in listed]
    assert len({i["name"] for i in listed}) == COUNT + 1

    for uuid, old in before.items():
        cur = api.must_get(uuid)
        assert cur["name"] == old["name"]
        assert cur["state"] == "running", cur
        assert cur.get("pid") == old["pid"], f"{cur['name']}: pid {old['pid']} -> {cur.get('pid')}"
        assert pid_alive(*pids[cur["name"]])
    # No instance was started twice: exactly one workload each.
    sleepers = _sleepers_under(daemon.cgroup_parent, SLEEP)
    assert sorted(sleepers) == sorted(p for p, _ in pids.values()), sleepers

    ended = api.wait_state(exiter["uuid"], "stopped", timeout=10)
    assert ended["exit_code"] == 7, ended
    assert ended["stop_reason"] == 3, ended

    # The re-adopted instances are fully controllable: stop one, then delete all.
    some = next(iter(before))
    api.stop(some, drain_timeout_ms=2000)
    assert api.wait_state(some, "stopped")["stop_reason"] == 15
    assert not pid_alive(*pids[before[some]["name"]])

    r = api.batch("DELETE", "/v1/instances", [{"uuid": u} for u in uuids], timeout=60)
    assert r.status_code == 200, r.text
    poll(lambda: api.list() == [], timeout=30, what="every instance to be deleted")
    _assert_nothing_left(daemon, {**pids, "exiter": exiter_pid})


def test_sigterm_leaves_instances_running(daemon: Daemon) -> None:
    insts = [daemon.api.run(f"calm-{i}", SLEEP) for i in range(3)]
    ids = {i["uuid"]: _identity(i) for i in insts}
    rc = daemon.terminate()
    assert rc == 0, f"corrald exited with {rc} on SIGTERM"
    for uuid, ident in ids.items():
        assert pid_alive(*ident), f"{uuid} died with a SIGTERMed daemon"
    daemon.start()
    for uuid, (pid, _) in ids.items():
        cur = daemon.api.must_get(uuid)
        assert cur["state"] == "running" and cur["pid"] == pid, cur


def test_stop_in_flight_is_finished_after_a_kill9(daemon: Daemon) -> None:
    """A stop with a long grace on a TERM-ignoring workload, interrupted by
    kill -9 of the daemon, ends with the workload killed after the grace."""
    api = daemon.api
    inst = api.run("slowstop", ["/bin/sh", "-c", 'trap "" TERM; sleep 120'])
    ident = _identity(inst)
    grace_ms = 3000
    t0 = time.monotonic()
    api.stop(inst["uuid"], drain_timeout_ms=grace_ms)
    time.sleep(0.3)
    daemon.kill9()
    assert pid_alive(*ident), "the TERM-ignoring workload died before its grace ran out"

    daemon.start()
    api = daemon.api
    cur = api.must_get(inst["uuid"])
    assert cur["state"] in ("draining", "stopping", "stopped"), cur
    stopped = api.wait_state(inst["uuid"], "stopped", timeout=20)
    elapsed = time.monotonic() - t0
    assert elapsed >= grace_ms / 1000 - 0.2, f"killed after {elapsed:.2f}s, before the {grace_ms} ms grace"
    assert elapsed < grace_ms / 1000 + 15, f"took {elapsed:.2f}s"
    assert stopped["stop_reason"] == 13, stopped
    poll(lambda: not pid_alive(*ident), timeout=5, what="the workload to be killed")


def test_start_in_flight_is_finished_after_a_kill9(daemon: Daemon) -> None:
    """Best effort: kill -9 right after an autostart create; after the restart the
    instance runs, exactly once."""
    api = daemon.api
    argv = ["/bin/sleep", "3217"]
    item = api.create(name="racy", args=argv, autostart=True)
    daemon.kill9()
    daemon.start()
    api = daemon.api
    cur = api.wait_state(item["uuid"], "running", timeout=20)
    assert pid_alive(cur["pid"]), cur
    poll(lambda: len(_sleepers_under(daemon.cgroup_parent, argv)) == 1, timeout=5,
         what="exactly one workload of the interrupted start")
    time.sleep(0.5)
    assert _sleepers_under(daemon.cgroup_parent, argv) == [cur["pid"]]


def test_delete_leaves_nothing_behind(daemon: Daemon) -> None:
    api = daemon.api
    insts = [api.run(f"gone-{i}", SLEEP) for i in range(3)]
    stopped = api.create(name="gone-stopped", args=SLEEP)
    pids = {i["name"]: _identity(i) for i in insts}
    for inst in insts:
        assert daemon.instance_dir(inst["uuid"]).is_dir()
        for ctrl in V1_CONTROLLERS:
            assert (CGROUP_ROOT / ctrl / daemon.cgroup_parent / inst["uuid"]).is_dir(), ctrl
    for inst in [*insts, stopped]:
        api.delete(inst["uuid"])
    poll(lambda: api.list() == [], timeout=20, what="every instance to be deleted")
    _assert_nothing_left(daemon, pids)
    assert not any(Path(daemon.state_dir / "instances").glob("*"))
