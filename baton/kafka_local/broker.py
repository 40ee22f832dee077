"""A single-node Apache Kafka (KRaft) run from its Maven artifacts.

Baton starts this broker when no ``KAFKA_BOOTSTRAP_SERVERS`` is configured
(``baton dev``, ``baton kafka start``, the test suite). Files under
``base_dir`` (default ``~/.cache/baton/kafka``, env ``BATON_LOCAL_KAFKA_DIR``)::

    libs-<version>/     the broker's jars: fetched once by Maven, shared by all instances
    data-<port>/        one instance (``data_dir``):
        server.properties   generated from this package's template at each start
        broker.pid          lets ``baton kafka stop`` find the broker from another shell
        broker.out          the JVM's stdout/stderr: warnings, errors, crashes
        logs/server.log     the broker's full INFO log (rolling)
        kafka-logs/         topics and the KRaft metadata log; delete to reset

Only POSIX systems are supported: the broker runs in its own process group
so that stopping it never signals the Python process that started it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import functools
import logging
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
POM = PACKAGE_DIR / "pom.xml"
SERVER_TEMPLATE = PACKAGE_DIR / "server.properties"
LOG4J_CONFIG = PACKAGE_DIR / "log4j2.properties"
MIN_JAVA = 17
LOOPBACK = "127.0.0.1"
START_MARK = "=== baton: starting Kafka"  # opens each start's section of broker.out


class LocalKafkaError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says why."""


def _pom_property(name: str) -> str:
    # The pom is the one place the version is written: read it rather than repeat it.
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    value = ET.parse(POM).getroot().findtext(f"m:properties/m:{name}", namespaces=ns)
    if not value:
        raise LocalKafkaError(f"{POM} has no <{name}> property")
    return value.strip()


KAFKA_VERSION = _pom_property("kafka.version")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _port_busy(port: int) -> bool:
    """True if something listens on loopback ``port`` (or holds it bound)."""
    with socket.socket() as s:
        # Like the broker's own server socket: TIME_WAIT leftovers of a broker we
        # just stopped do not count, a listening socket does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def default_base_dir() -> Path:
    env = os.environ.get("BATON_LOCAL_KAFKA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "baton" / "kafka"


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True if a Kafka broker at ``bootstrap`` answers a metadata request."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        # A plain connect first: cheap, and spares the client's error logging.
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    from kafka import KafkaAdminClient

    ms = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="baton-local-kafka-probe",
            bootstrap_timeout_ms=ms,
            request_timeout_ms=ms,
        )
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


# --- Java and Maven ---------------------------------------------------------


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise LocalKafkaError(
            f"`java` not found: Apache Kafka {KAFKA_VERSION} needs Java {MIN_JAVA}+ "
            "(Debian: apt-get install openjdk-17-jre-headless), or set KAFKA_BOOTSTRAP_SERVERS to an existing broker"
        )
    return java


@functools.lru_cache(maxsize=None)
def check_java(java: str) -> int:
    """The major version of ``java``; raises if it is too old for Kafka 4."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise LocalKafkaError(f"cannot read the version of {java}: {out.strip()!r}")
    major = int(match[1])
    if major == 1:  # "1.8.0_x" style: Java 8 and older
        major = int(match[2] or 0)
    if major < MIN_JAVA:
        raise LocalKafkaError(
            f"{java} is Java {major}; Apache Kafka {KAFKA_VERSION} needs Java {MIN_JAVA} or newer "
            "(set JAVA_HOME to a newer JDK)"
        )
    return major


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # One fetch at a time across processes (pytest-xdist workers, `baton dev` twice...).
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def fetch_jars(libs_dir: Path) -> Path:
    """Download the broker's runtime jars into ``libs_dir`` unless already there."""
    if libs_dir.is_dir():
        return libs_dir
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(libs_dir.parent / f".{libs_dir.name}.lock"):
        if libs_dir.is_dir():  # another process fetched them while we waited
            return libs_dir
        mvn = shutil.which("mvn")
        if not mvn:
            raise LocalKafkaError(
                f"`mvn` not found: Baton fetches Apache Kafka {KAFKA_VERSION} from Maven Central with Maven "
                "(Debian: apt-get install maven), or set KAFKA_BOOTSTRAP_SERVERS to an existing broker"
            )
        # Fetch beside the final dir, then rename: a crash never leaves a half-filled libs dir.
        work = Path(tempfile.mkdtemp(prefix=f".{libs_dir.name}-", dir=libs_dir.parent))
        try:
            shutil.copy(POM, work / "pom.xml")  # the package dir may be read-only
            log.info("fetching Apache Kafka %s jars with Maven into %s", KAFKA_VERSION, libs_dir)
            result = subprocess.run(
                [
                    mvn, "-B", "-q", "-f", str(work / "pom.xml"),
                    "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
                    f"-DoutputDirectory={work / 'libs'}", "-DincludeScope=runtime",
                ],
                cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            if result.returncode != 0:
                raise LocalKafkaError(
                    f"Maven failed (exit {result.returncode}) fetching Apache Kafka {KAFKA_VERSION}; "
                    f"last lines:\n{_tail(result.stdout)}"
                )
            if not (work / "libs" / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
                raise LocalKafkaError(f"Maven succeeded but fetched no kafka_2.13-{KAFKA_VERSION}.jar into {work}")
            os.rename(work / "libs", libs_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return libs_dir


# --- The broker process -------------------------------------------------------


def _cluster_id() -> str:
    """16 random bytes, base64url without padding, as ``kafka-storage random-uuid`` makes them."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # One in 64 starts with "-", which StorageTool's parser takes for an option (Kafka's Uuid skips those too).
        if not cluster_id.startswith("-"):
            return cluster_id


def _live_threads(pid: int) -> list[Path] | None:
    """The /proc dirs of ``pid``'s threads that have not exited; None without /proc (macOS)."""
    if not Path("/proc/self/task").is_dir():
        return None
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []  # no such process
    live = []
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # this thread exited while we looked
        if state not in ("Z", "X"):
            live.append(task)
    return live


def _pid_alive(pid: int) -> bool:
    # Alive while any thread is: a JVM's main thread can exit (a zombie, its
    # /proc/PID/cmdline empty) while the others still shut down and hold the ports.
    live = _live_threads(pid)
    if live is not None:
        return bool(live)
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _cmdline(pid: int) -> list[bytes] | None:
    """``pid``'s command line, read from any live thread; None if unknown (no /proc)."""
    live = _live_threads(pid)
    if live is None:
        return None
    for task in live:
        with contextlib.suppress(OSError):
            if args := (task / "cmdline").read_bytes():
                return args.split(b"\0")
    return []


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class LocalKafka:
    """One local broker: ``with LocalKafka(port=9092) as kafka: use(kafka.bootstrap)``."""

    def __init__(
        self,
        base_dir: Path | None = None,
        port: int = 9092,
        controller_port: int | None = None,
        heap: str = "1G",
        data_dir: Path | None = None,
    ) -> None:
        # Absolute paths: the pid check matches them against the broker's command line.
        self.base_dir = (Path(base_dir).expanduser() if base_dir else default_base_dir()).resolve()
        self.port = port
        self.heap = heap
        self.data_dir = Path(data_dir).expanduser().resolve() if data_dir else self.base_dir / f"data-{port}"
        self.libs_dir = self.base_dir / f"libs-{KAFKA_VERSION}"
        self._wanted_controller_port = controller_port
        self.controller_port: int | None = controller_port
        self._proc: subprocess.Popen | None = None
        self._started_here = False

    # Files of this instance.
    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def out_file(self) -> Path:
        """The JVM's stdout/stderr: what a broker that failed to start said."""
        return self.data_dir / "broker.out"

    @property
    def server_log(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "kafka-logs"

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def __repr__(self) -> str:
        return f"LocalKafka(bootstrap={self.bootstrap!r}, data_dir={str(self.data_dir)!r})"

    # --- state -------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of this instance's broker if it runs (started here or from another shell)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        pid = _read_int(self.pid_file)
        return pid if pid is not None and self._is_our_broker(pid) else None

    @property
    def is_running(self) -> bool:
        return self.pid is not None

    def port_in_use(self) -> bool:
        """True if anything, this broker included, listens on ``port`` now."""
        return _port_busy(self.port)

    def _is_our_broker(self, pid: int) -> bool:
        # A stale pid file may name a PID the system has since given to another program.
        if not _pid_alive(pid):
            return False
        cmdline = _cmdline(pid)
        if cmdline is None:
            return True  # no /proc to tell: trust the pid file
        return b"kafka.Kafka" in cmdline and str(self.properties_file).encode() in cmdline

    # --- lifecycle ------------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Check Java and fetch the jars (once, into ``libs_dir``); returns ``libs_dir``."""
        check_java(java_executable())
        return fetch_jars(self.libs_dir)

    def start(self, timeout: float = 60, detach: bool = False) -> "LocalKafka":
        """Start the broker and wait until it answers; no-op if it already runs.

        ``detach=True`` leaves it running after this Python process exits
        (``baton kafka start``); otherwise it is stopped at interpreter exit at
        the latest.
        """
        if self.is_running:
            return self
        self._check_ports()
        libs = self.ensure_jars()
        self._write_config()
        self._format_storage(libs)
        self._launch(libs, detach)
        self._wait_ready(timeout)
        return self

    def stop(self, timeout: float = 20) -> None:
        """Shut the broker down cleanly (SIGTERM), SIGKILL if it takes longer than ``timeout``."""
        pid = self.pid
        if pid is not None:
            self._signal(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                log.warning("Kafka (pid %s) ignored SIGTERM for %ss; killing it", pid, timeout)
                self._signal(pid, signal.SIGKILL)
                self._wait_exit(pid, 10)
        self._forget()

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would: for broker-outage tests."""
        pid = self.pid
        if pid is not None:
            self._signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 10)
        self._forget()

    def restart(self, timeout: float = 60) -> "LocalKafka":
        self.stop()
        return self.start(timeout=timeout)

    def __enter__(self) -> "LocalKafka":
        self._started_here = not self.is_running
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._started_here:  # never stop a broker someone else started
            self.stop()

    # --- start, step by step --------------------------------------------------

    def _check_ports(self) -> None:
        if _port_busy(self.port):
            raise LocalKafkaError(
                f"port {self.port} on {LOOPBACK} is already in use by another process, so the local Kafka "
                f"cannot listen there; stop that process or choose another port (baton kafka start --port N, "
                f"BATON_LOCAL_KAFKA_PORT)"
            )
        if self._wanted_controller_port is None:
            # A new one each start is fine: a single-node quorum restarts on a changed controller port.
            self.controller_port = free_port()
        elif _port_busy(self._wanted_controller_port):
            raise LocalKafkaError(f"controller port {self._wanted_controller_port} on {LOOPBACK} is already in use")

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        text = string.Template(SERVER_TEMPLATE.read_text()).substitute(
            port=self.port, controller_port=self.controller_port, log_dirs=self.log_dirs
        )
        self.properties_file.write_text(text)

    def _java_command(self, libs: Path, heap: str, main: str, *args: str) -> list[str]:
        return [
            java_executable(),
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _format_storage(self, libs: Path) -> None:
        if (self.log_dirs / "meta.properties").exists():
            return  # formatted by an earlier run: keep its topics
        cluster_id = _cluster_id()
        cmd = self._java_command(
            libs, "256M", "kafka.tools.StorageTool",
            "format", "--standalone", "--ignore-formatted",
            "-t", cluster_id, "-c", str(self.properties_file),
        )
        result = subprocess.run(cmd, cwd=self.data_dir, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"formatting Kafka storage in {self.log_dirs} failed (exit {result.returncode}):\n"
                f"{_tail(result.stdout + result.stderr)}"
            )

    def _launch(self, libs: Path, detach: bool) -> None:
        cmd = self._java_command(libs, self.heap, "kafka.Kafka", str(self.properties_file))
        with open(self.out_file, "a") as out:
            out.write(f"\n{START_MARK} {KAFKA_VERSION} at {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n")
            out.flush()
            # Own session = own process group: stop() signals the broker, never us,
            # and Ctrl-C in the terminal that ran `baton kafka start` does not reach it.
            self._proc = subprocess.Popen(
                cmd, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        if not detach:
            atexit.register(self._stop_at_exit)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._forget()
                raise LocalKafkaError(
                    f"Kafka exited with code {code} while starting on {self.bootstrap}.\n{self.log_tail()}"
                )
            if broker_answers(self.bootstrap, timeout=1.0):
                return
            if time.monotonic() > deadline:
                tail = self.log_tail(server_log=True)
                self.kill()
                raise LocalKafkaError(f"Kafka did not answer on {self.bootstrap} within {timeout}s.\n{tail}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 30, server_log: bool = False) -> str:
        """What the broker said in its last start (broker.out), for error messages.

        ``server_log=True`` adds the tail of the INFO log too: a broker that hangs
        rather than fails shows no warning, only where it got stuck.
        """
        paths = [self.out_file, self.server_log] if server_log else [self.out_file]
        parts = []
        for path in paths:
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            if path == self.out_file and START_MARK in text:
                text = text[text.rindex(START_MARK):]
            parts.append(f"--- last lines of {path} ---\n{_tail(text, lines)}")
        parts.append(f"(full log: {self.server_log})")
        return "\n".join(parts)

    # --- stop, step by step ---------------------------------------------------

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)  # the broker leads its own process group (start_new_session)
        except ProcessLookupError:
            pass

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        # Started by another process: we cannot wait(), so poll.
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _forget(self) -> None:
        atexit.unregister(self._stop_at_exit)
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    def _stop_at_exit(self) -> None:
        # Safety net for a test run or `baton dev` that ends without calling stop().
        if self._proc is not None and self._proc.poll() is None:
            self.stop(timeout=10)
