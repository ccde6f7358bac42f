"""A private Mosquitto broker on a free loopback port, for the demo and the tests.

It listens on 127.0.0.1 only, with a configuration written to its own temporary
directory, and is stopped by its PID. Debian's ``mosquitto`` package provides the binary
(``make demo`` and ``make test`` install it where it is missing).
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

# Where Debian puts the broker; /usr/sbin is often not on a non-root user's PATH.
_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(RuntimeError):
    pass


def find_mosquitto() -> str:
    for c in _CANDIDATES:
        path = shutil.which(c)
        if path:
            return path
    raise BrokerError(
        "mosquitto is not installed: run `make demo` or `make test` (they install Debian's "
        "mosquitto package as root), or `sudo apt-get install mosquitto`"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(port: int, log_path: Path, persistence_dir: Path | None = None) -> str:
    if persistence_dir is None:
        persist = ["persistence false"]
    else:
        persist = [
            "persistence true",
            f"persistence_location {persistence_dir}/",
            # Saved every second rather than only at a clean exit: a broker killed with
            # SIGKILL restarts with the sessions (subscriptions, queued QoS 1 messages) and
            # retained messages of up to a second before.
            "autosave_interval 1",
        ]
    return "\n".join(
        [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            # Started as root, Mosquitto would switch to the user "mosquitto", which cannot
            # write our private (0700) directory: no log, no persistence. Stay who we are
            # (a non-root start ignores the option).
            f"user {getpass.getuser()}",
            *persist,
            # A persistent session (clean session false) whose client never returns would
            # otherwise queue messages for it forever: a service stopped by SIGKILL leaves
            # one (its client id holds its PID).
            "persistent_client_expiration 1h",
            # Without it QoS 1 publishing crawls on loopback (Nagle's algorithm vs
            # delayed ACKs).
            "set_tcp_nodelay true",
            # Queue deep rather than drop for a slow subscriber: alerts are a contract.
            "max_queued_messages 100000",
            f"log_dest file {log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
    )


class LocalBroker:
    """``with LocalBroker() as b: ... b.url``: a running Mosquitto, stopped on exit.

    ``persistence=True`` keeps sessions and retained messages in ``workdir`` across a
    :meth:`kill` and :meth:`restart_same_port` (saved every second).
    """

    def __init__(
        self, workdir: Path | None = None, attempts: int = 5, persistence: bool = False
    ) -> None:
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="fusion-broker-")
            workdir = Path(self._own_dir.name)
        self.workdir = workdir
        self.attempts = attempts
        self.persistence = persistence
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> None:
        exe = find_mosquitto()
        last_err = ""
        for _ in range(self.attempts):
            # The port can be taken between our probe and mosquitto's bind: try another.
            self.port = free_port()
            conf = self.workdir / "mosquitto.conf"
            persist = self.workdir if self.persistence else None
            conf.write_text(_config(self.port, self.log_path, persist), encoding="utf-8")
            self.proc = subprocess.Popen(
                [exe, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
            )
            if self._wait_ready(5.0):
                return
            last_err = self._reap()
        raise BrokerError(f"mosquitto did not start after {self.attempts} attempts: {last_err}")

    def _wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return True
            time.sleep(0.02)
        return False

    def _reap(self) -> str:
        err = ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            _, stderr = self.proc.communicate(timeout=5)
            err = stderr.decode(errors="replace").strip()
            self.proc = None
        with contextlib.suppress(OSError):
            err += " " + self.log_path.read_text(errors="replace").strip()
        return err

    def stop(self) -> None:
        """Stop the broker by its PID: SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def kill(self) -> None:
        """Kill the broker abruptly, SIGKILL to its PID (for fault tests): no will is
        sent, no session saved, the clients' connections just break."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart_same_port(self) -> None:
        """Start again on the port it had (for reconnect tests)."""
        exe = find_mosquitto()
        conf = self.workdir / "mosquitto.conf"
        self.stop()
        self.proc = subprocess.Popen(
            [exe, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if not self._wait_ready(5.0):
            raise BrokerError(f"mosquitto did not restart on port {self.port}: {self._reap()}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._own_dir is not None:
            self._own_dir.cleanup()
