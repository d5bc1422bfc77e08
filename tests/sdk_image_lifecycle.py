"""A busybox instance's lifecycle through the official SDK, on the driver named by
CORRAL_SDK_DRIVER (container by default). Run by test_container.py and test_vm.py
inside the daemon's network namespace, with UKC_METRO and UKC_TOKEN set; exits
non-zero with the failed assertion on stderr."""

from __future__ import annotations

import asyncio
import base64
import os
import time

from unikraft_cloud import NotFoundError, UnikraftCloud

DRIVER = os.environ.get("CORRAL_SDK_DRIVER", "container")
NAME = f"sdk-{DRIVER}"
MARKER = f"hello-sdk-{DRIVER}"
ARGS = ["sh", "-c", f"echo {MARKER}; sleep 300"]
# A microVM under software emulation takes seconds to boot.
BOOT_S = 240 if DRIVER == "vm" else 60


async def main() -> None:
    async with UnikraftCloud(trust_env=False) as ukc:
        # The idiomatic create takes no extra fields: the driver goes as an annotation.
        inst = await ukc.instances.create(
            name=NAME, image="busybox", args=ARGS, annotations={"corral/driver": DRIVER},
            memory_mb=128, autostart=True, timeout_s=BOOT_S,
        )
        assert inst.state == "running", inst
        assert (inst.image or "").startswith("busybox:latest@sha256:"), inst
        assert (inst.model_extra or {}).get("driver") == DRIVER, inst
        assert inst.private_ip, inst

        deadline = time.monotonic() + 30
        while True:
            logs = await ukc.instances.get(name=NAME).logs()
            if MARKER.encode() in base64.b64decode(logs.output or ""):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{MARKER} never reached the log")
            await asyncio.sleep(0.1)

        await ukc.instances.get(name=NAME).stop()
        waited = await ukc.instances.get(name=NAME).wait(state="stopped", timeout_seconds=60)
        assert waited.state == "stopped", waited

        await ukc.instances.get(name=NAME).delete()
        try:
            await ukc.instances.get(name=NAME)
        except NotFoundError:
            pass
        else:
            raise AssertionError(f"{NAME} still exists after delete")


asyncio.run(asyncio.wait_for(main(), BOOT_S + 120))
