"""The official Unikraft Cloud Python SDK (unikraft-cloud 0.3.0) against a live
corrald on loopback TCP.

The idiomatic layer (`ukc.instances`) is used wherever it covers the operation;
the raw plumbing layer (`ukc.api.platform.instances`) only where it does not:
`stop` with `drain_timeout_ms` (the idiomatic `stop()` takes no options) and
`create` with `replicas` (the idiomatic `create()` refuses it).

Pointed at a URL, the SDK pins itself to that endpoint: it makes no metro
discovery request and nothing else before an operation.
"""

from __future__ import annotations

import asyncio
import base64
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from unikraft_cloud import (
    AlreadyExistsError,
    AuthenticationError,
    Instance,
    InstanceStoppedError,
    NotFoundError,
    UnikraftCloud,
    UnikraftCloudError,
    WaitTimeoutError,
)
from unikraft_cloud.api.platform import models

from corral_testlib import Daemon, pid_alive

T = TypeVar("T")

HELLO = ["/bin/sh", "-c", "echo hello-sdk; sleep 30"]
SLEEP = ["/bin/sleep", "300"]
SDK_DEADLINE_S = 90


def run(daemon: Daemon, body: Callable[[UnikraftCloud], Awaitable[T]], *, via_env: bool = False,
        monkeypatch: pytest.MonkeyPatch | None = None) -> T:
    """Run `body` with a fresh SDK client pointed at the daemon's TCP listener.

    With `via_env`, the client is configured the way users do it: UKC_METRO set
    to the daemon's URL and UKC_TOKEN to its token. Otherwise through the
    equivalent constructor arguments.
    """

    async def main() -> T:
        timeout = httpx.Timeout(30.0, connect=5.0)
        if via_env:
            assert monkeypatch is not None
            monkeypatch.setenv("UKC_METRO", daemon.tcp_url)
            monkeypatch.setenv("UKC_TOKEN", daemon.token)
            client = UnikraftCloud(trust_env=False, timeout=timeout)
        else:
            client = UnikraftCloud(metro=daemon.tcp_url, token=daemon.token, trust_env=False, timeout=timeout)
        async with client as ukc:
            return await asyncio.wait_for(body(ukc), SDK_DEADLINE_S)

    return asyncio.run(main())


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float, what: str) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    for _ in range(int(timeout / 0.1) + 2):
        last = await probe()
        if last:
            return last
        if loop.time() >= deadline:
            break
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def extra(model: Any, key: str) -> Any:
    """A field the SDK's model does not describe (Corral's `driver`, `pid`)."""
    return (model.model_extra or {}).get(key)


# --------------------------------------------------------------------------- #
# The whole lifecycle, idiomatic layer first
# --------------------------------------------------------------------------- #


def test_lifecycle(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        inst = await ukc.instances.create(
            name="sdk-hello", args=HELLO, memory_mb=64, autostart=True, timeout_s=15,
        )
        assert isinstance(inst, Instance)
        assert inst.state == "running", inst
        assert inst.name == "sdk-hello"
        uuid = inst.uuid
        assert uuid and uuidlib.UUID(uuid)
        assert inst.memory_mb == 64
        assert inst.args == HELLO
        assert extra(inst, "driver") == "process"
        pid = extra(inst, "pid")
        assert isinstance(pid, int) and pid_alive(pid), inst

        # get by name and by uuid
        by_name = await ukc.instances.get(name="sdk-hello")
        by_uuid = await ukc.instances.get(uuid=uuid)
        assert by_name.uuid == by_uuid.uuid == uuid
        assert by_name.state == by_uuid.state == "running"
        assert by_name.created_at is not None and by_name.started_at is not None
        assert by_name.start_count == 1

        # list, with and without details
        listed = await ukc.instances.list()
        assert [i.uuid for i in listed] == [uuid]
        detailed = await ukc.instances.list(details=True)
        assert [(i.uuid, i.name, i.state) for i in detailed] == [(uuid, "sdk-hello", "running")]

        # logs: `output` is base64, as the SDK documents
        async def hello_in_logs() -> bytes | None:
            logs = await ukc.instances.get(name="sdk-hello").logs()
            out = base64.b64decode(logs.output or "")
            return out if b"hello-sdk\n" in out else None

        out = await eventually(hello_in_logs, timeout=10, what="hello-sdk in the log")
        assert out.startswith(b"hello-sdk\n")
        tail = await ukc.instances.get(uuid=uuid).logs(offset=-4)
        assert base64.b64decode(tail.output or "") == b"sdk\n"
        head = await ukc.instances.get(uuid=uuid).logs(offset=0, limit=5)
        assert base64.b64decode(head.output or "") == b"hello"

        # metrics
        metrics = await ukc.instances.get(uuid=uuid).metrics()
        assert metrics.uuid == uuid
        assert isinstance(metrics.rss_bytes, int) and metrics.rss_bytes > 0, metrics
        assert isinstance(metrics.cpu_time_ms, int) and metrics.cpu_time_ms >= 0, metrics

        # stop with a drain timeout: plumbing (the idiomatic stop() takes no options)
        res = await ukc.api.platform.instances.stop_instances(
            body=[models.StopInstancesRequestItem(uuid=uuid, drain_timeout_ms=2000)]
        )
        assert res.status == "success", res
        assert res.data and res.data.instances and res.data.instances[0].uuid == uuid
        assert res.data.instances[0].state in ("draining", "stopping", "stopped"), res

        waited = await ukc.instances.get(uuid=uuid).wait(state="stopped", timeout_seconds=15)
        assert waited.state == "stopped"
        stopped = await ukc.instances.get(uuid=uuid)
        assert stopped.state == "stopped"
        assert stopped.stop_reason == 15, stopped
        assert stopped.stop is not None
        assert not pid_alive(pid)

        # start, then wait for running (chained on the handle)
        started = await ukc.instances.get(name="sdk-hello").start()
        assert started.uuid == uuid
        assert started.state in ("starting", "running"), started
        waited = await ukc.instances.get(name="sdk-hello").wait(state="running", timeout_seconds=15)
        assert waited.state == "running"
        again = await ukc.instances.get(uuid=uuid)
        assert again.state == "running" and again.start_count == 2, again
        new_pid = extra(again, "pid")
        assert isinstance(new_pid, int) and new_pid != pid and pid_alive(new_pid)

        # delete
        deleted = await ukc.instances.get(uuid=uuid).delete()
        assert deleted.uuid == uuid
        with pytest.raises(NotFoundError):
            await ukc.instances.get(uuid=uuid)
        assert await ukc.instances.list() == []
        return None

    run(daemon, body, via_env=True, monkeypatch=monkeypatch)


def test_env_configuration_makes_no_other_request(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """UKC_METRO as a URL pins the client: its first request is the operation itself."""
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    async def main() -> None:
        monkeypatch.setenv("UKC_METRO", daemon.tcp_url + "/v1")
        monkeypatch.setenv("UKC_TOKEN", daemon.token)
        http = httpx.AsyncClient(trust_env=False, timeout=30.0, event_hooks={"request": [record]})
        async with http:
            ukc = UnikraftCloud(http=http)
            assert await ukc.instances.list() == []
            await ukc.aclose()

    asyncio.run(asyncio.wait_for(main(), SDK_DEADLINE_S))
    assert seen == ["GET /v1/instances"], seen


def test_wrong_token_raises_authentication_error(daemon: Daemon) -> None:
    async def main() -> None:
        async with UnikraftCloud(metro=daemon.tcp_url, token="wrong", trust_env=False) as ukc:
            with pytest.raises(AuthenticationError):
                await ukc.instances.list()

    asyncio.run(asyncio.wait_for(main(), SDK_DEADLINE_S))


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


def test_not_found_raises_the_sdk_error(daemon: Daemon) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        with pytest.raises(NotFoundError) as err:
            await ukc.instances.get(name="no-such-instance")
        assert isinstance(err.value, UnikraftCloudError) and err.value.status == 404
        with pytest.raises(NotFoundError):
            await ukc.instances.get(uuid=str(uuidlib.uuid4()))
        with pytest.raises(NotFoundError):
            await ukc.instances.get(name="no-such-instance").stop()
        with pytest.raises(NotFoundError):
            await ukc.instances.get(name="no-such-instance").logs()
        with pytest.raises(NotFoundError):
            await ukc.instances.get(name="no-such-instance").delete()
        with pytest.raises(NotFoundError):
            await ukc.instances.stop(["no-such-instance"])

    run(daemon, body)


def test_delete_missing_ok(daemon: Daemon) -> None:
    """`delete(missing_ok=True)` forgives only what the API reports as absent:
    a 2xx envelope whose failed item carries the not-found code 8."""

    async def body(ukc: UnikraftCloud) -> None:
        assert await ukc.instances.get(name="never-was").delete(missing_ok=True) is None

    run(daemon, body)


def test_duplicate_name_raises_already_exists(daemon: Daemon) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        await ukc.instances.create(name="twice", args=SLEEP)
        with pytest.raises(AlreadyExistsError):
            await ukc.instances.create(name="twice", args=SLEEP)
        assert len(await ukc.instances.list()) == 1

    run(daemon, body)


def test_bulk_stop_with_a_missing_name_reports_what_succeeded(daemon: Daemon) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        a = await ukc.instances.create(name="bulk-a", args=SLEEP, autostart=True, timeout_s=15)
        with pytest.raises(UnikraftCloudError) as err:
            await ukc.instances.stop(["bulk-a", "bulk-missing"])
        assert [r.uuid for r in err.value.results] == [a.uuid], err.value.results
        assert any(e.code == 8 for e in err.value.errors or ()), err.value.errors
        waited = await ukc.instances.get(uuid=a.uuid).wait(state="stopped", timeout_seconds=15)
        assert waited.state == "stopped"

    run(daemon, body)


def test_wait_timeout_raises_wait_timeout_error(daemon: Daemon) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        await ukc.instances.create(name="forever", args=SLEEP, autostart=True, timeout_s=15)
        with pytest.raises(WaitTimeoutError) as err:
            await ukc.instances.get(name="forever").wait(state="stopped", timeout_seconds=1)
        assert isinstance(err.value, TimeoutError)
        assert err.value.state == "running"

    run(daemon, body)


def test_create_whose_start_fails_raises_instance_stopped(daemon: Daemon, tmp_path) -> None:
    """A create that waits for running, of an instance that cannot start (its
    program cannot be executed), raises InstanceStoppedError carrying the instance."""
    program = tmp_path / "not-a-program"
    program.write_bytes(b"\x7fELF but not really")
    program.chmod(0o755)

    async def body(ukc: UnikraftCloud) -> None:
        with pytest.raises(InstanceStoppedError) as err:
            await ukc.instances.create(name="cannot", args=[str(program)], autostart=True, timeout_s=10)
        inst = err.value.instance
        assert inst.state == "stopped", inst
        assert inst.name == "cannot"
        assert inst.message, inst

    run(daemon, body)


# --------------------------------------------------------------------------- #
# Batch create with replicas, tags, pagination
# --------------------------------------------------------------------------- #


def test_batch_create_with_replicas(daemon: Daemon) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        # The idiomatic create() refuses replicas; the plumbing sends them.
        with pytest.raises(TypeError):
            ukc.instances.create(name="rep", args=SLEEP, replicas=2)
        res = await ukc.api.platform.instances.create_instance(
            body=models.CreateInstanceRequest(name="rep", args=SLEEP, replicas=2, autostart=True, timeout_s=15),
            timeout=60,
        )
        assert res.status == "success", res
        created = res.data.instances if res.data else None
        assert created and len(created) == 3, res
        uuids = {i.uuid for i in created}
        names = {i.name for i in created}
        assert len(uuids) == 3 and len(names) == 3
        assert "rep" in names or all(n and n.startswith("rep") for n in names), names

        listed = await ukc.instances.list(details=True)
        assert {i.uuid for i in listed} == uuids
        assert all(i.state == "running" for i in listed), [(i.name, i.state) for i in listed]
        pids = [extra(i, "pid") for i in listed]
        assert len(set(pids)) == 3 and all(isinstance(p, int) and pid_alive(p) for p in pids), pids

        deleted = await ukc.instances.delete([{"uuid": u} for u in uuids])
        assert {d.uuid for d in deleted} == uuids
        assert await ukc.instances.list() == []

    run(daemon, body)


def test_list_filters_by_tags_and_paginates(daemon: Daemon) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        made = []
        for i in range(5):
            tags = ["team-a", "web"] if i % 2 == 0 else ["team-b"]
            made.append(await ukc.instances.create(name=f"page-{i}", args=SLEEP, tags=tags))
        every = await ukc.instances.list(page_size=2)
        assert sorted(i.uuid for i in every) == sorted(m.uuid for m in made)
        assert len(every) == 5, "a page boundary duplicated or lost an instance"

        team_a = await ukc.instances.list(tags=["team-a"], details=True)
        assert sorted(i.name for i in team_a) == ["page-0", "page-2", "page-4"]
        both = await ukc.instances.list(tags=["team-a", "web"])
        assert len(both) == 3
        none = await ukc.instances.list(tags=["team-a", "team-b"])
        assert none == []

        gone = await ukc.instances.each(tags=["team-b"]).delete()
        assert len(gone) == 2
        assert sorted(i.name for i in await ukc.instances.list(details=True)) == ["page-0", "page-2", "page-4"]

    run(daemon, body)


def test_update_through_the_sdk(daemon: Daemon) -> None:
    async def body(ukc: UnikraftCloud) -> None:
        await ukc.instances.create(name="upd", args=SLEEP, tags=["a"])
        updated = await ukc.instances.get(name="upd").update(tags=["b", "c"], env={"K": "V"})
        assert updated.name == "upd" or updated.uuid
        cur = await ukc.instances.get(name="upd")
        assert sorted(cur.tags or []) == ["b", "c"]
        assert cur.env == {"K": "V"}

    run(daemon, body)
