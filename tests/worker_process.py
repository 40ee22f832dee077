"""Run `baton worker` as a real subprocess for end-to-end tests and benches."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BATON = [sys.executable, "-m", "baton"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    """One `baton worker` with its own topic prefix, consumer group, data dir and port."""

    def __init__(self, bootstrap: str, prefix: str, workdir: Path, extra_env: dict[str, str] | None = None,
                 app_id: str | None = None) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.workdir = workdir
        self.web_port = free_port()
        self.app_id = app_id or f"baton-{prefix.rstrip('.')}"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "worker.log"
        self.starts = 0

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "BATON_TOPIC_PREFIX": self.prefix,
            "BATON_APP_ID": self.app_id,
            "BATON_WEB_PORT": str(self.web_port),
            "BATON_DATA_DIR": str(self.workdir / "data"),
            "BATON_FLUSH_INTERVAL_SECONDS": "0.3",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> "WorkerProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen([*BATON, "worker"], cwd=self.workdir, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        mark = f"===== start #{self.starts} ====="
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            text = self.log_path.read_text(errors="replace")
            if "Worker]: Ready" in text.split(mark, 1)[-1]:
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def http_json(self, path: str):
        import json

        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self, timeout: float = 30.0) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
