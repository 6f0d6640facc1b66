"""Start a background service in its own process group, wait until it answers, stop it whole."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests

# Ports handed out below the kernel's ephemeral range: a port the OS picked for us with bind(0)
# is also where it places outgoing connections, so between our probe and the service's own bind a
# client socket (hundreds open while a stack starts) could take it. Below that range only
# listeners compete, and a random pick keeps concurrent stacks apart.
_PORTS = range(20000, 32000)
_random = random.SystemRandom()
# Ports this process handed out: a stack asks for forty or so before any service binds its own, and a
# random pick repeated one about once in fifteen stacks (two functions on one port: one of them never served).
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A port free on 127.0.0.1 now, outside the range outgoing connections use, never handed out twice."""
    with _handed_out_lock:
        for _ in range(200):
            port = _random.choice(_PORTS)
            if port in _handed_out:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise ServiceFailed(f"no free port in {_PORTS.start}-{_PORTS.stop - 1} after 200 tries")


class ServiceFailed(RuntimeError):
    pass


class Service:
    """A child process with a readiness URL; its whole process group is stopped on `stop()`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        ready_url: str,
        env: dict | None = None,
        log_dir: Path,
        cwd: Path | None = None,
        ready_timeout: float = 60.0,
    ):
        self.name, self.argv, self.ready_url = name, argv, ready_url
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log_dir) / f"{name}.log"
        self.cwd, self.ready_timeout = cwd, ready_timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child writes to its own copy of the file
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def wait_ready(self) -> Service:
        if self.proc is None:
            raise ServiceFailed(f"{self.name} was not started")
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceFailed(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n" + self.tail()
                )
            try:
                requests.get(self.ready_url, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.2)
        raise ServiceFailed(
            f"{self.name} did not answer at {self.ready_url} within {self.ready_timeout}s;"
            f" see {self.log_path}:\n" + self.tail()
        )

    def exit_code(self) -> int | None:
        """The process's exit code once it has exited; None while it runs."""
        if self.proc is None:
            raise ServiceFailed(f"{self.name} was not started")
        return self.proc.poll()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass
