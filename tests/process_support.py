"""Running the real `resource-engine` command in a subprocess, as a user would, and talking to it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.test_utils import unused_port

ENGINE = (sys.executable, "-m", "engine")
START_TIMEOUT = 90.0  # generous: the machine is shared; a healthy server answers in a few seconds


def engine_env(database_url: str, schema: str, **extra: str) -> dict[str, str]:
    """The environment of a fresh terminal pointed at the test's database schema."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGINE_") and k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=database_url,
        ENGINE_DB_SCHEMA=schema,
        ENGINE_AUTO_MIGRATE="1",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
        **extra,
    )
    return env


@dataclass(frozen=True)
class Completed:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def run_engine(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Completed:
    """Run one command to completion (`stdin`: its whole input, then end of file)."""
    process = await asyncio.create_subprocess_exec(
        *ENGINE,
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout=120)
    return Completed(process.returncode or 0, stdout.decode(), stderr.decode())


class EngineProcess:
    """A long-running command (serve) whose output is collected while it runs."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace"))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def wait_for_output(self, text: str, *, after: int = 0, within: float = START_TIMEOUT) -> None:
        """Wait until `text` appears in the output (from line `after` on); fail with the output if not."""
        deadline = asyncio.get_running_loop().time() + within
        while text not in "".join(self.lines[after:]):
            if asyncio.get_running_loop().time() > deadline or self.process.returncode is not None:
                raise AssertionError(f"{text!r} never appeared in the output:\n{self.output}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)  # the whole group: --reload's child too
            try:
                await asyncio.wait_for(self.process.wait(), timeout=40)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        await self._reader


@contextlib.asynccontextmanager
async def serving(*args: str, cwd: Path, env: dict[str, str]) -> AsyncIterator[tuple[EngineProcess, str]]:
    """`resource-engine serve ARGS --port P` running in `cwd`; yields (process, base URL) once it answers."""
    port = unused_port()
    process = await asyncio.create_subprocess_exec(
        *ENGINE,
        "serve",
        *args,
        "--port",
        str(port),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    server = EngineProcess(process)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_answering(base + "/openapi.json", server)
        yield server, base
    finally:
        await server.stop()


async def wait_until_answering(url: str, server: EngineProcess, within: float = START_TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + within
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            if server.process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the server never answered {url}:\n{server.output}")
            await asyncio.sleep(0.2)


async def http(method: str, url: str, *, token: str | None = None, json: object = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.request(method, url, json=json, headers=headers) as r:
        return r.status, await r.json(content_type=None)
