"""A real PostgreSQL server for the tests and benchmarks, started here: `pgserver` (PostgreSQL from
the package registry), else the system's ``initdb``/``pg_ctl`` when there is one. Each caller gets
a fresh database on it (`fresh_database`)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

_server: tuple[str, str] | None = None  # (URL of the postgres database, why not) once tried
_why_not = ""


def _with_database(url: str, name: str) -> str:
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def _start_pgserver(folder: Path) -> str:
    import warnings

    import pgserver

    with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR on a bare machine
        warnings.simplefilter("ignore")
        server = pgserver.get_server(folder, cleanup_mode="stop")
    return server.get_uri()


def _start_system(folder: Path) -> str:
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        raise RuntimeError("no initdb/pg_ctl on PATH")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        raise RuntimeError("the system's initdb does not run as root")
    data, sockets = folder / "data", folder / "sock"
    sockets.mkdir(parents=True)
    subprocess.run(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust"], check=True,
                   capture_output=True)
    subprocess.run(["pg_ctl", "-D", str(data), "-w", "-o", f"-k {sockets} -h ''", "start"], check=True,
                   capture_output=True)
    atexit.register(subprocess.run, ["pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)
    return f"postgresql://postgres@/postgres?host={sockets}"


def server_url() -> str | None:
    """The URL of the running server's maintenance database, starting it on first use; None (see
    `why_not`) when no server can start here."""
    global _server, _why_not
    if _server is None:
        folder = Path(tempfile.mkdtemp(prefix="tuilabel-pg-"))
        reasons = []
        for start in (_start_pgserver, _start_system):
            try:
                _server = (start(folder / start.__name__), "")
                break
            except Exception as exc:  # any failure to start is a reason to try the next, then skip
                reasons.append(f"{start.__name__.removeprefix('_start_')}: {str(exc).strip().splitlines()[:1]}")
        if _server is None:
            _server = ("", "; ".join(reasons))
    _why_not = _server[1]
    return _server[0] or None


def why_not() -> str:
    return _why_not


def fresh_database() -> str:
    """A new empty database on the server: its URL."""
    import psycopg

    url = server_url()
    if url is None:
        raise RuntimeError(f"no PostgreSQL server: {why_not()}")
    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return _with_database(url, name)


class OwnServer:
    """A PostgreSQL server of one test's own, to stop (as a crash or a failover does: ``-m immediate``)
    and start again while a store is connected: pgserver's binaries. Skips the caller where they
    cannot start."""

    def __init__(self, folder: Path) -> None:
        import warnings

        import pgserver

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.server = pgserver.get_server(folder, cleanup_mode="stop")
        self.url = self.server.get_uri()

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


def own_server(folder: Path) -> OwnServer:
    """An `OwnServer`, or the calling test skipped where none can start here."""
    import pytest

    try:
        return OwnServer(folder)
    except Exception as exc:  # no binaries, no way to run them
        pytest.skip(f"no PostgreSQL server: {exc}")
