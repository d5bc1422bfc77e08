"""Fixtures for Corral's system tests.

`daemon` starts a corrald with a fresh temp state dir, a unique cgroup parent
(`corral-test-<random>`), its unix socket and a TCP listener on 127.0.0.1 with a
random token, and waits (bounded) for /v1/healthz. On teardown it deletes every
instance through the API, SIGTERMs the daemon, kills whatever of the test is
left (by cgroup, and by its state dir on a command line), and removes the cgroup
parent in every hierarchy and the temp dir.

The tests skip, with the reason printed, only when not root or when the host
has no cgroups. Missing binaries fail.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator

import pytest

sys.dont_write_bytecode = True

from corral_testlib import Api, Daemon, binary, host_skip_reason  # noqa: E402


def _require_host() -> None:
    reason = host_skip_reason()
    if reason is not None:
        print(f"\nSKIP: {reason}", file=sys.stderr)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def corral_bins() -> dict[str, str]:
    """Paths of the three binaries; fails (never skips) when one is missing."""
    missing = None
    try:
        return {name: str(binary(name)) for name in ("corrald", "corral", "corral-shim")}
    except FileNotFoundError as e:
        missing = str(e)
    pytest.fail(missing, pytrace=False)


@pytest.fixture
def daemon(request: pytest.FixtureRequest, corral_bins: dict[str, str]) -> Iterator[Daemon]:
    """A running corrald, unix socket + TCP 127.0.0.1:<free port> with a random token."""
    _require_host()
    d = Daemon.fresh()
    request.node.corral_daemon = d
    try:
        d.start()
        yield d
    finally:
        notes = d.teardown()
        if notes:
            warnings.warn("corrald teardown: " + " | ".join(notes), stacklevel=1)


@pytest.fixture
def api(daemon: Daemon) -> Api:
    """The API over the daemon's unix socket (no token needed there)."""
    return daemon.api


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    d = getattr(item, "corral_daemon", None)
    if d is not None and report.failed and call.when in ("call", "setup") and d.log_path.exists():
        report.sections.append(("corrald log", d.log_tail(120)))
    return report
