"""corrald's REST API over raw HTTP: validation, auth, stop semantics, limits,
restart policy, delete-on-stop, logs ranges, updates and batch answers."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import time
import uuid as uuidlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from corral_testlib import (
    CGROUP_ROOT,
    V1_CONTROLLERS,
    Api,
    Daemon,
    parse_time,
    pid_alive,
    poll,
    proc_cgroups,
    uds_client,
)

SLEEP = ["/bin/sleep", "300"]
SH = "/bin/sh"

# stop_reason bits (UKC): forced 16, user 8, platform 4, app 2, kernel 1.
REASON_GRACEFUL_USER = 15
REASON_KILLED_AFTER_GRACE = 13
REASON_FORCED = 28
REASON_APP_EXIT = 3


def message_of(r: Any) -> str:
    """Everything a client could show of an error answer."""
    return r.text


def envelope(r: Any) -> dict[str, Any]:
    body = r.json()
    assert isinstance(body, dict), body
    return body


def items(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list((body.get("data") or {}).get("instances") or [])


# --------------------------------------------------------------------------- #
# Envelope, health, drivers
# --------------------------------------------------------------------------- #


def test_healthz_and_envelope(api: Api) -> None:
    r = api.request("GET", "/v1/healthz")
    assert r.status_code == 200, r.text
    r = api.request("GET", "/v1/instances")
    assert r.status_code == 200, r.text
    body = envelope(r)
    assert body["status"] == "success"
    assert isinstance(body.get("op_time_us"), int) and body["op_time_us"] >= 0, body
    assert items(body) == []


def test_drivers_lists_process_available(api: Api) -> None:
    body = api.ok("GET", "/v1/drivers")
    drivers = (body.get("data") or {}).get("drivers")
    assert isinstance(drivers, list), body
    process = [d for d in drivers if d.get("name") == "process"]
    assert process, f"no process driver in {drivers}"
    assert process[0].get("available") is True, process[0]


# --------------------------------------------------------------------------- #
# Request validation
# --------------------------------------------------------------------------- #


def test_unknown_field_is_rejected_by_name(api: Api) -> None:
    r = api.request("POST", "/v1/instances", json_body={"name": "u1", "args": SLEEP, "bogus_field_xyz": 1})
    assert r.status_code == 400, r.text
    assert "bogus_field_xyz" in message_of(r)
    assert api.get("u1") is None, "a rejected create must not leave an instance"

    # Unknown fields in batch items too.
    api.create(name="u2", args=SLEEP)
    r = api.request("PUT", "/v1/instances/stop", json_body=[{"name": "u2", "drain_timeout_msec": 5}])
    assert r.status_code == 400, r.text
    assert "drain_timeout_msec" in message_of(r)


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"", b'{"name": "x", "args": ["a"]', b"[1, 2", b'"just a string"'],
    ids=["garbage", "empty", "truncated", "truncated-array", "wrong-type"],
)
def test_bad_json_is_400(api: Api, payload: bytes) -> None:
    r = api.request("POST", "/v1/instances", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert envelope(r)["status"] == "error"


def test_wrong_type_is_400_naming_the_field(api: Api) -> None:
    r = api.request("POST", "/v1/instances", json_body={"name": "t1", "args": SLEEP, "memory_mb": "lots"})
    assert r.status_code == 400, r.text
    assert "memory_mb" in message_of(r)


@pytest.mark.parametrize(
    "name",
    ["Hello", "UPPER", "a" * 64, "-leading", "trailing-", "with_underscore", "with space", "dot.ted"],
    ids=["uppercase", "all-upper", "too-long-64", "leading-dash", "trailing-dash", "underscore", "space", "dot"],
)
def test_invalid_names_are_400_naming_the_field(api: Api, name: str) -> None:
    r = api.request("POST", "/v1/instances", json_body={"name": name, "args": SLEEP})
    assert r.status_code == 400, r.text
    assert "name" in message_of(r).lower()
    assert all(i.get("name") != name for i in api.list())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"driver": "process", "kernel": {"cmdline": {"quiet": ""}}}, "kernel"),
        ({"driver": "vm", "kernel": {"path": "vmlinuz"}}, "kernel.path"),
        ({"driver": "vm", "kernel": {"initrd": "../initrd.img"}}, "kernel.initrd"),
        ({"driver": "vm", "kernel": {"cmdline": {"quiet": 1}}}, "kernel.cmdline"),
    ],
    ids=["not-a-vm", "relative-kernel", "relative-initrd", "cmdline-not-string"],
)
def test_bad_kernel_field_is_400_naming_it(api: Api, body: dict[str, Any], field: str) -> None:
    r = api.request("POST", "/v1/instances", json_body={"name": "kern", "args": SLEEP, **body})
    assert r.status_code == 400, r.text
    assert field in message_of(r)
    assert api.get("kern") is None


def test_name_of_63_chars_is_accepted(api: Api) -> None:
    name = "a" * 63
    inst = api.create(name=name, args=SLEEP)
    assert inst["name"] == name


@pytest.mark.parametrize("memory_mb", [0, 1, 3, 65_537, 10_000_000, -5])
def test_memory_out_of_range_is_400(api: Api, memory_mb: int) -> None:
    r = api.request("POST", "/v1/instances", json_body={"name": "mem", "args": SLEEP, "memory_mb": memory_mb})
    assert r.status_code == 400, r.text
    assert "memory_mb" in message_of(r)
    assert api.get("mem") is None


def test_duplicate_name_is_409(api: Api) -> None:
    first = api.create(name="dup", args=SLEEP)
    r = api.request("POST", "/v1/instances", json_body={"name": "dup", "args": SLEEP})
    assert r.status_code == 409, r.text
    assert "dup" in message_of(r)
    listed = [i for i in api.list() if i.get("name") == "dup"]
    assert [i["uuid"] for i in listed] == [first["uuid"]]


def test_unknown_name_and_uuid_are_404(api: Api) -> None:
    r = api.request("GET", "/v1/instances/no-such-instance")
    assert r.status_code == 404, r.text
    assert envelope(r)["status"] == "error"
    r = api.request("GET", f"/v1/instances/{uuidlib.uuid4()}")
    assert r.status_code == 404, r.text
    r = api.request("PUT", "/v1/instances/no-such-instance/stop", json_body={})
    assert r.status_code == 404, r.text
    r = api.request("DELETE", "/v1/instances/no-such-instance")
    assert r.status_code == 404, r.text


def test_delete_on_stop_with_restart_policy_is_400(api: Api) -> None:
    r = api.request(
        "POST", "/v1/instances",
        json_body={"name": "dos", "args": SLEEP, "features": ["delete-on-stop"], "restart_policy": "always"},
    )
    assert r.status_code == 400, r.text
    assert "delete-on-stop" in message_of(r) or "restart_policy" in message_of(r)


# --------------------------------------------------------------------------- #
# Authentication
# --------------------------------------------------------------------------- #


def test_tcp_requires_the_token_unix_socket_does_not(daemon: Daemon) -> None:
    with daemon.tcp_client(token=None) as c:
        r = c.get("/v1/instances")
        assert r.status_code == 401, r.text
    with daemon.tcp_client(token="not-the-token") as c:
        r = c.get("/v1/instances")
        assert r.status_code == 401, r.text
        r = c.post("/v1/instances", json={"name": "sneaky", "args": SLEEP})
        assert r.status_code == 401, r.text
    with daemon.tcp_client(token=None) as c:
        r = c.get("/v1/instances", headers={"authorization": f"Basic {daemon.token}"})
        assert r.status_code == 401, r.text
    with daemon.tcp_client() as c:
        r = c.get("/v1/instances")
        assert r.status_code == 200, r.text
    with uds_client(daemon.sock) as c:
        r = c.get("/v1/instances")
        assert r.status_code == 200, r.text
    assert daemon.api.get("sneaky") is None


# --------------------------------------------------------------------------- #
# The instance record, cgroup placement, driver selection
# --------------------------------------------------------------------------- #


def test_running_instance_record_pid_and_cgroups(daemon: Daemon, api: Api) -> None:
    inst = api.run("rec", SLEEP, memory_mb=64, tags=["t1"], env={"A": "1"})
    assert inst["state"] == "running"
    assert inst["name"] == "rec"
    assert uuidlib.UUID(inst["uuid"])
    assert inst.get("driver") == "process"
    assert inst.get("memory_mb") == 64
    assert inst.get("args") == SLEEP
    assert inst.get("env") == {"A": "1"}
    assert inst.get("tags") == ["t1"]
    assert inst.get("start_count") == 1
    parse_time(inst["created_at"])
    pid = inst.get("pid")
    assert isinstance(pid, int) and pid > 0, inst
    assert pid_alive(pid)

    # The workload sits in <controller>/<cgroup-parent>/<uuid> in every v1 controller.
    expected = f"/{daemon.cgroup_parent}/{inst['uuid']}"
    cgroups = proc_cgroups(pid)
    for ctrl in V1_CONTROLLERS:
        assert cgroups.get(ctrl) == expected, f"{ctrl}: {cgroups}"
    limit = int((CGROUP_ROOT / "memory" / daemon.cgroup_parent / inst["uuid"] / "memory.limit_in_bytes").read_text())
    assert limit == 64 * 1024 * 1024

    # The by-path and the filtered list forms agree.
    by_name = api.ok("GET", "/v1/instances", params={"name": "rec", "details": "true"})
    by_uuid = api.ok("GET", "/v1/instances", params={"uuid": inst["uuid"]})
    assert [i["uuid"] for i in items(by_name)] == [inst["uuid"]]
    assert [i["uuid"] for i in items(by_uuid)] == [inst["uuid"]]


def test_driver_selected_by_field_and_annotation(api: Api) -> None:
    a = api.create(name="drv-field", args=SLEEP, driver="process")
    b = api.create(name="drv-annot", args=SLEEP, annotations={"corral/driver": "process"})
    assert api.must_get(a["uuid"]).get("driver") == "process"
    assert api.must_get(b["uuid"]).get("driver") == "process"
    r = api.request("POST", "/v1/instances", json_body={"name": "drv-bad", "args": SLEEP, "driver": "no-such-driver"})
    assert 400 <= r.status_code < 600 and r.status_code != 500, r.text
    assert "no-such-driver" in message_of(r)


# --------------------------------------------------------------------------- #
# Stop semantics
# --------------------------------------------------------------------------- #


def _timed_stop(api: Api, uuid: str, **opts: Any) -> tuple[float, dict[str, Any]]:
    t0 = time.monotonic()
    body = api.stop(uuid, **opts)
    assert body["status"] == "success", body
    inst = api.wait_state(uuid, "stopped", timeout=15)
    return time.monotonic() - t0, inst


def test_stop_kills_a_term_ignoring_workload_after_the_drain_timeout(api: Api) -> None:
    inst = api.run("stubborn", [SH, "-c", 'trap "" TERM; sleep 60'])
    pid = inst["pid"]
    elapsed, stopped = _timed_stop(api, inst["uuid"], drain_timeout_ms=500)
    assert 0.4 <= elapsed < 5.0, f"stopped after {elapsed:.2f}s, expected ~0.5s"
    assert stopped["stop_reason"] == REASON_KILLED_AFTER_GRACE, stopped
    assert not pid_alive(pid)


def test_stop_of_a_normal_workload_is_graceful(api: Api) -> None:
    inst = api.run("polite", SLEEP)
    elapsed, stopped = _timed_stop(api, inst["uuid"], drain_timeout_ms=5000)
    assert elapsed < 4.0, f"a workload that obeys SIGTERM took {elapsed:.2f}s"
    assert stopped["stop_reason"] == REASON_GRACEFUL_USER, stopped
    assert not pid_alive(inst["pid"])


def test_forced_stop(api: Api) -> None:
    inst = api.run("forced", [SH, "-c", 'trap "" TERM; sleep 60'])
    elapsed, stopped = _timed_stop(api, inst["uuid"], force=True)
    assert elapsed < 3.0, f"a forced stop took {elapsed:.2f}s"
    assert stopped["stop_reason"] == REASON_FORCED, stopped
    assert not pid_alive(inst["pid"])


def test_stop_by_uuid_path(api: Api) -> None:
    inst = api.run("bypath", SLEEP)
    r = api.request("PUT", f"/v1/instances/{inst['uuid']}/stop", json_body={"drain_timeout_ms": 2000})
    assert r.status_code == 200, r.text
    stopped = api.wait_state(inst["uuid"], "stopped")
    assert stopped["stop_reason"] == REASON_GRACEFUL_USER


def test_exit_code_is_reported(api: Api) -> None:
    inst = api.create(name="exit3", args=[SH, "-c", "exit 3"], autostart=True)
    stopped = api.wait_state(inst["uuid"], "stopped", min_starts=1)
    assert stopped["exit_code"] == 3, stopped
    assert stopped["stop_reason"] == REASON_APP_EXIT, stopped


def test_missing_command_is_refused_at_create_naming_args(api: Api) -> None:
    r = api.request("POST", "/v1/instances", json_body={"name": "nocmd", "args": ["/nonexistent/program"]})
    assert r.status_code == 400, r.text
    assert "args" in r.json()["message"] and "/nonexistent/program" in r.json()["message"], r.text
    assert api.request("GET", "/v1/instances?name=nocmd").json()["status"] == "error"


def test_exec_failure_is_reported(api: Api, tmp_path) -> None:
    # An executable file the kernel cannot load passes validation and fails at exec.
    program = tmp_path / "not-a-program"
    program.write_bytes(b"\x7fELF but not really")
    program.chmod(0o755)
    inst = api.create(name="noexec", args=[str(program)], autostart=True)
    cur = poll(
        lambda: (lambda c: c if c and c.get("state") == "stopped" and c.get("message") else None)(api.get(inst["uuid"])),
        timeout=10, what="the failed start to be reported",
    )
    assert "failed to start" in cur["message"].lower(), cur
    assert "exec format error" in cur["message"].lower(), cur
    assert not cur.get("pid"), cur


def test_memory_limit_stops_the_instance_with_out_of_memory(api: Api) -> None:
    hog = "b = b'x' * (200 * 1024 * 1024); import time; time.sleep(30)"
    inst = api.create(name="hog", args=[sys.executable, "-c", hog], memory_mb=32, autostart=True)
    stopped = api.wait_state(inst["uuid"], "stopped", timeout=30, min_starts=1)
    assert "out of memory" in (stopped.get("message") or "").lower(), stopped
    reason = stopped.get("stop_reason")
    assert isinstance(reason, int) and reason & 1 and not reason & (4 | 8 | 16), stopped


def test_autostart_create_reports_starting_or_running(api: Api) -> None:
    item = api.create(name="auto", args=SLEEP, autostart=True)
    assert item["state"] in ("starting", "running"), item
    api.wait_state(item["uuid"], "running")


def test_wait_endpoint_waits_for_the_state(api: Api) -> None:
    inst = api.run("waiter", [SH, "-c", "sleep 1.5; exit 0"])
    t0 = time.monotonic()
    r = api.request(
        "GET", "/v1/instances/wait",
        json_body=[{"uuid": inst["uuid"], "state": "stopped", "timeout_s": 10}], timeout=20,
    )
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert items(envelope(r))[0]["state"] == "stopped", r.text
    assert 0.5 <= elapsed < 10, f"wait answered after {elapsed:.2f}s for a 1.5s workload"
    cur = api.must_get(inst["uuid"])
    assert cur["state"] == "stopped" and cur["exit_code"] == 0, cur


def test_wait_timeout_is_an_error_naming_the_state(api: Api) -> None:
    inst = api.run("sleeper", SLEEP)
    t0 = time.monotonic()
    r = api.request(
        "GET", "/v1/instances/wait",
        json_body=[{"uuid": inst["uuid"], "state": "stopped", "timeout_s": 1}], timeout=20,
    )
    elapsed = time.monotonic() - t0
    assert 0.8 <= elapsed < 6, f"a 1s wait answered after {elapsed:.2f}s"
    body = envelope(r)
    assert body["status"] == "error", r.text
    assert "timed out" in r.text.lower(), r.text
    assert items(body) and items(body)[0].get("state") == "running", r.text


# --------------------------------------------------------------------------- #
# Restart policy and delete-on-stop
# --------------------------------------------------------------------------- #


def test_restart_on_failure_restarts_once_then_backs_off(api: Api) -> None:
    inst = api.create(
        name="crashy", args=[SH, "-c", "echo run; exit 1"], restart_policy="on-failure", autostart=True,
    )
    uuid = inst["uuid"]

    def in_backoff() -> dict[str, Any] | None:
        cur = api.get(uuid)
        if cur is None or cur.get("state") != "stopped":
            return None
        nxt = (cur.get("restart") or {}).get("next_at")
        if (cur.get("restart_count") or 0) >= 1 and nxt:
            if (parse_time(nxt) - datetime.now(timezone.utc)).total_seconds() > 2:
                return cur
        return None

    # First restart is immediate; the second waits 5 s, and next_at says when.
    cur = poll(in_backoff, timeout=6, what="the first restart and a 5 s back-off")
    assert cur["restart_count"] == 1, cur
    assert (cur["restart"].get("attempt") or 0) >= 1, cur
    delay = (parse_time(cur["restart"]["next_at"]) - datetime.now(timezone.utc)).total_seconds()
    assert 2 < delay <= 6, f"next restart in {delay:.1f}s, expected about 5s"
    assert cur["exit_code"] == 1

    time.sleep(1.0)
    assert api.must_get(uuid)["restart_count"] == 1, "a second restart came before the back-off"

    # A manual stop ends the sequence.
    api.stop(uuid)
    after = poll(
        lambda: (lambda c: c if c and not (c.get("restart") or {}).get("next_at") else None)(api.get(uuid)),
        timeout=3, what="the restart sequence to end after a manual stop",
    )
    assert after["state"] == "stopped"


def test_restart_on_failure_leaves_a_clean_exit_alone(api: Api) -> None:
    inst = api.create(name="clean", args=[SH, "-c", "exit 0"], restart_policy="on-failure", autostart=True)
    stopped = api.wait_state(inst["uuid"], "stopped", min_starts=1)
    time.sleep(0.5)
    cur = api.must_get(inst["uuid"])
    assert cur["state"] == "stopped" and (cur.get("restart_count") or 0) == 0, cur
    assert stopped["exit_code"] == 0


def test_delete_on_stop_removes_the_instance(daemon: Daemon, api: Api) -> None:
    inst = api.create(name="ephemeral", args=[SH, "-c", "exit 0"], features=["delete-on-stop"], autostart=True)
    api.wait_gone(inst["uuid"], timeout=10)
    assert all(i["uuid"] != inst["uuid"] for i in api.list())
    poll(lambda: not daemon.instance_dir(inst["uuid"]).exists(), timeout=10, what="its state dir to go")
    poll(
        lambda: not any((CGROUP_ROOT / c / daemon.cgroup_parent / inst["uuid"]).exists() for c in V1_CONTROLLERS),
        timeout=10, what="its cgroups to go",
    )


# --------------------------------------------------------------------------- #
# Logs
# --------------------------------------------------------------------------- #


def _logs_item(api: Api, item: dict[str, Any]) -> dict[str, Any]:
    body = api.ok("GET", "/v1/instances/log", json_body=[item])
    return items(body)[0]


def test_logs_offset_and_limit(api: Api) -> None:
    inst = api.create(name="counter", args=[SH, "-c", "printf 0123456789"], autostart=True)
    uuid = inst["uuid"]
    api.wait_state(uuid, "stopped", min_starts=1)
    poll(lambda: api.logs(uuid) == b"0123456789", timeout=5, what="the whole log")

    assert api.logs(uuid, offset=0) == b"0123456789"
    assert api.logs(uuid, offset=2, limit=3) == b"234"
    assert api.logs(uuid, offset=-4) == b"6789"
    assert api.logs(uuid, offset=-4, limit=2) == b"67"
    assert api.logs(uuid, limit=4) == b"0123"
    assert api.logs("counter", offset=8) == b"89"

    entry = _logs_item(api, {"uuid": uuid, "offset": 2, "limit": 3})
    assert base64.b64decode(entry["output"]) == b"234"
    assert entry.get("uuid") == uuid
    assert (entry.get("available") or {}).get("start") == 0, entry
    assert (entry.get("range") or {}).get("start") == 2, entry

    # By-UUID path with a JSON body, as the spec has it.
    r = api.request("GET", f"/v1/instances/{uuid}/log", json_body={"offset": 2, "limit": 3})
    assert r.status_code == 200, r.text
    assert base64.b64decode(items(envelope(r))[0]["output"]) == b"234"

    # The query form of the batch endpoint.
    r = api.request("GET", "/v1/instances/log", params={"uuid": uuid, "offset": -3})
    assert r.status_code == 200, r.text
    assert base64.b64decode(items(envelope(r))[0]["output"]) == b"789"


def test_logs_of_a_running_instance_grow(api: Api) -> None:
    inst = api.run("ticker", [SH, "-c", "echo first; sleep 1; echo second; sleep 60"])
    poll(lambda: b"first\n" in api.logs(inst["uuid"]), timeout=5, what="first line")
    poll(lambda: api.logs(inst["uuid"]) == b"first\nsecond\n", timeout=5, what="second line")


# --------------------------------------------------------------------------- #
# Updates
# --------------------------------------------------------------------------- #


def test_patch_tags_and_env_while_stopped(api: Api) -> None:
    inst = api.create(name="patchme", args=[SH, "-c", 'echo "FOO=$FOO"'], tags=["old"])
    assert inst.get("state", "stopped") == "stopped"
    r = api.request(
        "PATCH", "/v1/instances",
        json_body=[
            {"name": "patchme", "prop": "tags", "op": "set", "value": ["x", "y"]},
            {"name": "patchme", "prop": "env", "op": "set", "value": {"FOO": "bar"}},
        ],
    )
    assert r.status_code == 200, r.text
    assert envelope(r)["status"] == "success", r.text
    cur = api.must_get(inst["uuid"])
    assert sorted(cur["tags"]) == ["x", "y"]
    assert cur["env"] == {"FOO": "bar"}

    # The new env reaches the workload on its next start.
    api.start(inst["uuid"])
    api.wait_state(inst["uuid"], "stopped", timeout=15, min_starts=1)
    poll(lambda: b"FOO=bar" in api.logs(inst["uuid"]), timeout=5, what="FOO=bar in the log")


def test_patch_env_while_running_is_409(api: Api) -> None:
    inst = api.run("busy", SLEEP, env={"A": "1"})
    r = api.request("PATCH", f"/v1/instances/{inst['uuid']}", json_body={"prop": "env", "op": "set", "value": {"A": "2"}})
    assert r.status_code == 409, r.text
    cur = api.must_get(inst["uuid"])
    assert cur["env"] == {"A": "1"}
    assert cur["state"] == "running"


def test_patch_unknown_property_is_400(api: Api) -> None:
    api.create(name="patchbad", args=SLEEP)
    r = api.request("PATCH", "/v1/instances", json_body=[{"name": "patchbad", "prop": "colour", "op": "set", "value": 1}])
    assert r.status_code == 400, r.text
    assert "colour" in message_of(r) or "prop" in message_of(r)


# --------------------------------------------------------------------------- #
# Batch answers
# --------------------------------------------------------------------------- #


def _split(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    its = items(body)
    bad = [i for i in its if i.get("status") == "error"]
    good = [i for i in its if i.get("status") != "error"]
    return good, bad


def test_batch_start_and_stop_with_one_bad_name_is_partial_success(api: Api) -> None:
    a = api.create(name="batch-a", args=SLEEP)
    b = api.create(name="batch-b", args=SLEEP)

    r = api.batch("PUT", "/v1/instances/start", [{"name": "batch-a"}, {"name": "batch-missing"}, {"uuid": b["uuid"]}])
    assert r.status_code == 200, r.text
    body = envelope(r)
    assert body["status"] == "partial_success", body
    good, bad = _split(body)
    assert len(good) == 2 and len(bad) == 1, body
    assert bad[0].get("name") == "batch-missing", bad
    assert bad[0].get("message"), bad
    assert bad[0].get("error") == 8, bad  # the SDK's not-found code
    assert {g.get("uuid") for g in good} == {a["uuid"], b["uuid"]}
    api.wait_state(a["uuid"], "running")
    api.wait_state(b["uuid"], "running")

    r = api.batch("PUT", "/v1/instances/stop", [{"name": "batch-missing"}, {"name": "batch-a"}])
    assert r.status_code == 200, r.text
    body = envelope(r)
    assert body["status"] == "partial_success", body
    good, bad = _split(body)
    assert [g.get("uuid") for g in good] == [a["uuid"]]
    assert bad[0].get("name") == "batch-missing"
    api.wait_state(a["uuid"], "stopped")
    assert api.must_get(b["uuid"])["state"] == "running"


def test_batch_all_bad_is_error(api: Api) -> None:
    r = api.batch("PUT", "/v1/instances/stop", [{"name": "nope-1"}, {"name": "nope-2"}])
    body = envelope(r)
    assert body["status"] == "error", body
    assert r.status_code in (200, 404), r.text
    its = items(body)
    assert {i.get("name") for i in its} == {"nope-1", "nope-2"}
    assert all(i.get("status") == "error" and i.get("error") == 8 for i in its), its


def test_batch_delete(daemon: Daemon, api: Api) -> None:
    insts = [api.run(f"del-{i}", SLEEP) for i in range(3)]
    r = api.batch("DELETE", "/v1/instances", [{"uuid": i["uuid"]} for i in insts])
    assert r.status_code == 200, r.text
    assert envelope(r)["status"] == "success"
    for i in insts:
        api.wait_gone(i["uuid"], timeout=10)
        poll(lambda: not pid_alive(i["pid"]), timeout=5, what=f"pid {i['pid']} to die")
    poll(lambda: not any(daemon.instance_dir(i["uuid"]).exists() for i in insts), timeout=10, what="state dirs to go")


def test_create_replicas(api: Api) -> None:
    body = api.ok(
        "POST", "/v1/instances",
        json_body={"name": "rep", "args": SLEEP, "replicas": 2, "autostart": True, "timeout_s": 15}, timeout=40,
    )
    its = items(body)
    assert len(its) == 3, body
    assert len({i["uuid"] for i in its}) == 3
    assert len({i["name"] for i in its}) == 3
    assert all(i["state"] == "running" for i in its), its
    assert len(api.list()) == 3


def test_create_with_wait_returns_running(api: Api) -> None:
    t0 = time.monotonic()
    item = api.create(name="waited", args=SLEEP, autostart=True, wait_timeout_ms=10_000)
    assert item["state"] == "running", item
    assert time.monotonic() - t0 < 10
    assert isinstance(item.get("pid"), int) and pid_alive(item["pid"]), item


def _host_network() -> tuple[list[str], str, str]:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line)
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout if shutil.which("nft") else ""
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    return names, tables, forward


def test_a_daemon_in_the_host_namespace_leaves_the_host_network_alone(corral_bins: dict[str, str]) -> None:
    """The bridge, forwarding and NAT appear with the first container, never at
    start-up or recovery, so a daemon that runs processes touches no interface,
    nft table or sysctl of the host."""
    before = _host_network()
    d = Daemon.fresh(tcp=False)
    try:
        d.start()
        d.api.run("netcheck", SLEEP)
        d.restart()
        d.api.wait_state(d.api.must_get("netcheck")["uuid"], "running", timeout=20)
        assert _host_network() == before
    finally:
        d.teardown()
    assert _host_network() == before
