"""The `corral` CLI: the README's first five minutes, exit codes, doctor."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from corral_testlib import (
    Daemon,
    binary,
    clean_env,
    describe,
    free_tcp_port,
    poll,
    run_cli,
    strip_ansi,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5, 6


def host_of(daemon: Daemon) -> str:
    return f"unix://{daemon.sock}"


def corral(daemon: Daemon, *args: str, expect: int | None = EXIT_OK, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    cp = run_cli(args, host=host_of(daemon), timeout=timeout)
    if expect is not None:
        assert cp.returncode == expect, describe(cp)
    return cp


def line_with(text: str, needle: str) -> str:
    for line in strip_ansi(text).splitlines():
        if needle in line.split() or needle in line:
            return line
    raise AssertionError(f"no line mentions {needle!r} in:\n{text}")


def as_instance(doc: Any, name: str) -> dict[str, Any]:
    """An instance from `-o json` output: an object, a one-item list, or an envelope."""
    if isinstance(doc, dict) and "data" in doc:
        doc = (doc.get("data") or {}).get("instances")
    if isinstance(doc, list):
        found = [d for d in doc if isinstance(d, dict) and d.get("name") == name]
        assert len(found) == 1, doc
        return found[0]
    assert isinstance(doc, dict), doc
    return doc


def test_first_five_minutes(daemon: Daemon) -> None:
    api = daemon.api
    corral(daemon, "run", "--name", "hello", "--", "/bin/sh", "-c", "echo hi; sleep 30")
    api.wait_state("hello", "running", timeout=15)

    ps = corral(daemon, "ps")
    row = line_with(ps.stdout, "hello")
    assert "running" in row, ps.stdout

    poll(lambda: "hi" in corral(daemon, "logs", "hello").stdout.split(), timeout=10, what="hi in `corral logs hello`")

    # logs -f follows until the instance stops.
    follower = subprocess.Popen(
        [str(binary("corral")), "logs", "-f", "hello"],
        env=clean_env(CORRAL_HOST=host_of(daemon)),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(follower.stdout.read() if follower.stdout else ""), daemon=True)
    reader.start()
    try:
        time.sleep(1.0)
        assert follower.poll() is None, f"`corral logs -f` ended while the instance runs (exit {follower.returncode})"
        corral(daemon, "stop", "hello")
        try:
            rc = follower.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("`corral logs -f hello` did not end after the instance stopped") from None
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(timeout=5)
    reader.join(timeout=5)
    assert rc == 0, f"logs -f exited {rc}: {follower.stderr.read() if follower.stderr else ''}"
    assert "hi" in "".join(out).split(), out
    api.wait_state("hello", "stopped", timeout=15)

    # `corral stop hello && corral start hello`, as a user types it.
    sh = subprocess.run(
        ["/bin/sh", "-c", f"{binary('corral')} stop hello && {binary('corral')} start hello"],
        env=clean_env(CORRAL_HOST=host_of(daemon)), capture_output=True, text=True, timeout=60,
    )
    assert sh.returncode == 0, sh.stderr
    cur = api.wait_state("hello", "running", timeout=15)
    assert cur["start_count"] >= 2, cur

    doc = json.loads(corral(daemon, "inspect", "hello", "-o", "json").stdout)
    inst = as_instance(doc, "hello")
    assert inst["name"] == "hello" and inst["state"] == "running" and inst["uuid"] == cur["uuid"], inst
    assert inst.get("driver") == "process"

    corral(daemon, "rm", "--force", "hello")
    api.wait_gone("hello", timeout=15)
    corral(daemon, "inspect", "hello", expect=EXIT_NOT_FOUND)


def test_ps_json_and_create_start(daemon: Daemon) -> None:
    corral(daemon, "create", "--name", "made", "--", "/bin/sleep", "300")
    made = daemon.api.must_get("made")
    assert made["state"] == "stopped", made
    doc = json.loads(corral(daemon, "ps", "-o", "json").stdout)
    assert as_instance(doc, "made")["state"] == "stopped"
    corral(daemon, "start", "made")
    daemon.api.wait_state("made", "running")
    assert "running" in line_with(corral(daemon, "ps").stdout, "made")


def test_missing_name_exits_3(daemon: Daemon) -> None:
    for args in (["inspect", "nope"], ["stop", "nope"], ["start", "nope"], ["logs", "nope"], ["rm", "nope"]):
        cp = corral(daemon, *args, expect=None)
        assert cp.returncode == EXIT_NOT_FOUND, describe(cp)
        assert "nope" in cp.stderr, describe(cp)


def test_conflict_exits_4(daemon: Daemon) -> None:
    corral(daemon, "create", "--name", "twice", "--", "/bin/sleep", "300")
    cp = corral(daemon, "create", "--name", "twice", "--", "/bin/sleep", "300", expect=None)
    assert cp.returncode == EXIT_CONFLICT, describe(cp)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    host = f"unix://{tmp_path}/none.sock"
    for args in (["no-such-command"], ["inspect"], ["run", "--no-such-flag", "--", "/bin/true"]):
        cp = run_cli(args, host=host)
        assert cp.returncode == EXIT_USAGE, describe(cp)


def test_unreachable_daemon_exits_5(tmp_path: Path) -> None:
    cp = run_cli(["ps"], host=f"unix://{tmp_path}/nobody-listens.sock")
    assert cp.returncode == EXIT_UNREACHABLE, describe(cp)
    cp = run_cli(["ps"], host=f"http://127.0.0.1:{free_tcp_port()}", token="x")
    assert cp.returncode == EXIT_UNREACHABLE, describe(cp)


def test_tcp_with_token(daemon: Daemon) -> None:
    daemon.api.create(name="over-tcp", args=["/bin/sleep", "300"])
    cp = run_cli(["ps"], host=daemon.tcp_url, token=daemon.token)
    assert cp.returncode == EXIT_OK, describe(cp)
    assert "over-tcp" in cp.stdout
    cp = run_cli(["ps"], host=daemon.tcp_url, token="wrong")
    assert cp.returncode not in (EXIT_OK, EXIT_UNREACHABLE), describe(cp)


def test_doctor_lists_the_process_driver_as_available(daemon: Daemon) -> None:
    cp = corral(daemon, "doctor")
    rows = [ln.split() for ln in strip_ansi(cp.stdout).splitlines() if ln.split()[:1] and ln.split()[0] == "process"]
    assert rows, f"no table row for the process driver:\n{cp.stdout}"
    words = {w.lower().strip(",;:") for w in rows[0][1:]}
    assert words & {"yes", "available", "ok", "✓", "✔"}, cp.stdout
    assert not words & {"no", "unavailable"}, cp.stdout

    doc = json.loads(corral(daemon, "doctor", "-o", "json").stdout)
    drivers = doc.get("drivers") if isinstance(doc, dict) else doc
    process = [d for d in drivers or [] if d.get("name") == "process"]
    assert process and process[0].get("available") is True, doc


def test_wait(daemon: Daemon) -> None:
    daemon.api.run("brief", ["/bin/sh", "-c", "sleep 1; exit 0"])
    corral(daemon, "wait", "--state", "stopped", "--timeout", "15", "brief")
    assert daemon.api.must_get("brief")["state"] == "stopped"

    daemon.api.run("long", ["/bin/sleep", "300"])
    t0 = time.monotonic()
    cp = corral(daemon, "wait", "--state", "stopped", "--timeout", "1", "long", expect=None)
    assert cp.returncode == EXIT_TIMEOUT, describe(cp)
    assert time.monotonic() - t0 < 10


def test_version(daemon: Daemon) -> None:
    cp = corral(daemon, "version")
    assert cp.stdout.strip(), describe(cp)


def test_inspect_json_of_a_stopped_instance(daemon: Daemon) -> None:
    daemon.api.create(name="quiet", args=["/bin/sh", "-c", "exit 5"], autostart=True)
    daemon.api.wait_state("quiet", "stopped", min_starts=1)
    inst = as_instance(json.loads(corral(daemon, "inspect", "quiet", "-o", "json").stdout), "quiet")
    assert inst["state"] == "stopped" and inst["exit_code"] == 5, inst
