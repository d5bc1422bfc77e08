"""Interactive exec (`corral exec -it` / `-i`) against real containers under crun.

corrald runs inside a network namespace this module creates (as in
test_container.py); the CLI runs under a pseudo-terminal made here, so raw
mode, the terminal size and SIGWINCH are exercised for real.
"""

from __future__ import annotations

import base64
import os
import select
import shutil
import signal
import subprocess
import termios
import time
from pathlib import Path
from typing import Iterator

import pytest

from corral_testlib import Api, Daemon, PtyCli, binary, clean_env, network_namespace, poll, running_daemon

BUSYBOX = "busybox"

pytestmark = pytest.mark.skipif(
    not (shutil.which("crun") and shutil.which("umoci") and shutil.which("skopeo") and Path("/bin/busybox").exists()),
    reason="needs crun, umoci, skopeo and busybox-static (make test installs them)",
)


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace("corral-x") as name:
        yield name


@pytest.fixture
def cdaemon(netns: str, corral_bins: dict[str, str]) -> Iterator[Daemon]:
    with running_daemon(tcp=True, netns=netns) as d:
        yield d


def run_box(api: Api, name: str = "box") -> dict:
    return api.run(name, ["sleep", "600"], wait_s=60, driver="container", image=BUSYBOX)


def unix_env(d: Daemon) -> dict[str, str]:
    return clean_env(CORRAL_HOST=f"unix://{d.sock}", TERM="xterm")


def test_exec_it_runs_a_shell_on_a_terminal_that_follows_resizes(cdaemon: Daemon) -> None:
    run_box(cdaemon.api)
    cli = PtyCli(["exec", "-it", "box", "--", "sh"], env=unix_env(cdaemon))
    try:
        before = cli.terminal_settings()
        assert before[3] & termios.ICANON and before[3] & termios.ECHO
        t0 = time.monotonic()
        cli.type("echo $((6*7))\r")
        # The remote terminal echoes the line, then the shell prints the sum.
        cli.expect(rb"\r\n42\r\n")
        first_answer = time.monotonic() - t0
        # Raw mode here while the command runs: no local echo or line editing.
        assert not cli.terminal_settings()[3] & termios.ICANON
        round_trips = []
        for i in range(20):
            t = time.monotonic()
            cli.type(f"echo r{i}-$(({i}*3))\r")
            cli.expect(f"r{i}-{i * 3}\r\n".encode())
            round_trips.append(time.monotonic() - t)
        round_trips.sort()

        cli.type("stty size\r")
        cli.expect(rb"\r\n30 100\r\n")
        cli.resize(40, 120)

        seen: list[bytes] = []

        def probe() -> bool:
            cli.type("stty size\r")
            m = cli.expect(rb"\r\n(\d+ \d+)\r\n", timeout=3)
            seen.append(m.group(1))
            return m.group(1) == b"40 120"

        poll(probe, timeout=10, interval=0.3, what="the remote terminal to take the new size")

        cli.type("exit 3\r")
        assert cli.wait() == 3, cli.output
        after = cli.terminal_settings()
        assert after[3] == before[3], "the local terminal was not restored"
        print(f"first answer through the terminal after {first_answer * 1000:.0f} ms; "
              f"a command line's round trip: median {round_trips[10] * 1000:.1f} ms, worst {round_trips[-1] * 1000:.1f} ms")
    finally:
        cli.close()


def test_exec_it_over_tcp_with_the_token(cdaemon: Daemon, netns: str) -> None:
    run_box(cdaemon.api)
    env = clean_env(CORRAL_HOST=cdaemon.tcp_url, CORRAL_TOKEN=cdaemon.token, TERM="xterm")
    cli = PtyCli(["exec", "-it", "box", "--", "sh"], env=env, prefix=["nsenter", f"--net=/run/netns/{netns}", "--"])
    try:
        cli.type("echo $((6*7)); exit 5\r")
        cli.expect(rb"\r\n42\r\n")
        assert cli.wait() == 5, cli.output
    finally:
        cli.close()

    bad = PtyCli(["exec", "-it", "box", "--", "sh"], env={**env, "CORRAL_TOKEN": "wrong"},
                 prefix=["nsenter", f"--net=/run/netns/{netns}", "--"])
    try:
        assert bad.wait() != 0
        assert b"authenticate" in bad.output, bad.output
    finally:
        bad.close()


def cli(d: Daemon, args: list[str], *, data: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(binary("corral")), *args], env=unix_env(d), input=data,
        stdin=None if data is not None else subprocess.DEVNULL, capture_output=True, timeout=timeout,
    )


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def no_session_files(d: Daemon, uuid: str) -> bool:
    return not list(d.instance_dir(uuid).glob("exec-*"))


def test_exec_i_streams_stdin_without_a_terminal(cdaemon: Daemon) -> None:
    box = run_box(cdaemon.api)
    assert cdaemon.pid is not None
    warm = cli(cdaemon, ["exec", "-i", "box", "--", "true"], data=b"")
    assert warm.returncode == 0, warm.stderr
    poll(lambda: no_session_files(cdaemon, box["uuid"]), timeout=5, what="the session's files to go")
    descriptors = open_descriptors(cdaemon.pid)
    data = os.urandom(3 << 20)
    t0 = time.monotonic()
    res = cli(cdaemon, ["exec", "-i", "box", "--", "cat"], data=data)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert res.stdout == data
    print(f"3 MiB through cat in {elapsed * 1000:.0f} ms")

    res = cli(cdaemon, ["exec", "-i", "box", "--", "sh", "-c", "cat; echo oops >&2; exit 7"], data=b"line\n")
    assert (res.returncode, res.stdout, res.stderr) == (7, b"line\n", b"oops\n")

    res = cli(cdaemon, ["exec", "-i", "box", "--", "no-such-program"], data=b"")
    assert res.returncode != 0 and b"no-such-program" in res.stderr, res

    # Every session gave back its descriptors, threads' files and crun's files.
    poll(lambda: no_session_files(cdaemon, box["uuid"]), timeout=5, what="the sessions' files to go")
    poll(lambda: open_descriptors(cdaemon.pid) <= descriptors, timeout=5,
         what=f"corrald's descriptors to return to {descriptors}")


def test_exec_t_needs_a_terminal(cdaemon: Daemon) -> None:
    run_box(cdaemon.api)
    res = cli(cdaemon, ["exec", "-t", "box", "--", "sh"], data=b"echo hi\n")
    assert res.returncode == 2, res
    assert b"not a TTY" in res.stderr, res.stderr


def test_attach_errors_before_the_stream_are_json(cdaemon: Daemon) -> None:
    api = cdaemon.api
    run_box(api)
    path = "/v1/instances/{}/exec/attach"
    r = api.request("POST", path.format("nope"), params={"command": "sh"})
    assert r.status_code == 404, r.text
    r = api.request("POST", path.format("box"), params={"command": "sh", "tty": "1", "cols": "0", "rows": "3"})
    assert r.status_code == 400 and "'cols'" in r.json()["message"], r.text
    r = api.request("POST", path.format("box"), params={"tty": "1"})
    assert r.status_code == 400 and "'command'" in r.json()["message"], r.text
    r = api.request("POST", path.format("box"), params={"command": "sh", "colour": "1"})
    assert r.status_code == 400 and "'colour'" in r.json()["message"], r.text

    api.create(name="idle", driver="container", image=BUSYBOX, args=["sleep", "1"])
    r = api.request("POST", path.format("idle"), params={"command": "sh"})
    assert r.status_code == 409, r.text

    api.run("proc", ["/bin/sleep", "300"], wait_s=30, driver="process")
    r = api.request("POST", path.format("proc"), params={"command": "true"})
    assert r.status_code == 501, r.text


def test_the_command_dies_when_the_client_goes_away(cdaemon: Daemon) -> None:
    api = cdaemon.api
    box = run_box(api)
    marker = "4242"
    proc = subprocess.Popen(
        [str(binary("corral")), "exec", "-i", "box", "--", "sh", "-c", f"echo started; exec sleep {marker}"],
        env=unix_env(cdaemon), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.readline() == b"started\n"
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def gone() -> bool:
        res = api.ok("POST", "/v1/instances/box/exec", json_body={"command": ["ps", "-o", "args"]}, timeout=30)
        return f"sleep {marker}" not in base64.b64decode(res["data"]["stdout"]).decode()

    poll(gone, timeout=10, interval=0.3, what="the command of a vanished client to be killed")
    poll(lambda: no_session_files(cdaemon, box["uuid"]), timeout=5, what="the session's files to go")


def test_sigterm_restores_the_terminal_and_ends_the_remote_shell(cdaemon: Daemon) -> None:
    api = cdaemon.api
    box = run_box(api)
    cli = PtyCli(["exec", "-it", "box", "--", "sh"], env=unix_env(cdaemon))
    try:
        before = cli.terminal_settings()
        cli.type("echo ready-$((1+1))\r")
        cli.expect(rb"ready-2\r\n")
        os.kill(cli.pid, signal.SIGTERM)
        assert cli.wait() == 128 + signal.SIGTERM, cli.output
        assert cli.terminal_settings()[3] == before[3], "the local terminal was not restored"
    finally:
        cli.close()

    def shells() -> int:
        res = api.ok("POST", "/v1/instances/box/exec", json_body={"command": ["ps", "-o", "args"]}, timeout=30)
        return sum(1 for line in base64.b64decode(res["data"]["stdout"]).decode().splitlines() if line.strip() == "sh")

    poll(lambda: shells() == 0, timeout=10, interval=0.3, what="the remote shell of a terminated client to end")
    poll(lambda: no_session_files(cdaemon, box["uuid"]), timeout=5, what="the session's files to go")
