"""A container's lifecycle through the official SDK. Run by test_container.py inside
the daemon's network namespace, with UKC_METRO and UKC_TOKEN set; exits non-zero
with the failed assertion on stderr."""

from __future__ import annotations

import asyncio
import base64

from unikraft_cloud import NotFoundError, UnikraftCloud

ARGS = ["sh", "-c", "echo hello-sdk-container; sleep 300"]


async def main() -> None:
    async with UnikraftCloud(trust_env=False) as ukc:
        # The idiomatic create takes no extra fields: the driver goes as an annotation.
        inst = await ukc.instances.create(
            name="sdk-box", image="busybox", args=ARGS, annotations={"corral/driver": "container"},
            memory_mb=64, autostart=True, timeout_s=60,
        )
        assert inst.state == "running", inst
        assert (inst.image or "").startswith("busybox:latest@sha256:"), inst
        assert (inst.model_extra or {}).get("driver") == "container", inst
        assert inst.private_ip, inst

        for _ in range(100):
            logs = await ukc.instances.get(name="sdk-box").logs()
            if b"hello-sdk-container" in base64.b64decode(logs.output or ""):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("hello-sdk-container never reached the log")

        await ukc.instances.get(name="sdk-box").stop()
        waited = await ukc.instances.get(name="sdk-box").wait(state="stopped", timeout_seconds=30)
        assert waited.state == "stopped", waited

        await ukc.instances.get(name="sdk-box").delete()
        try:
            await ukc.instances.get(name="sdk-box")
        except NotFoundError:
            pass
        else:
            raise AssertionError("sdk-box still exists after delete")


asyncio.run(asyncio.wait_for(main(), 120))
