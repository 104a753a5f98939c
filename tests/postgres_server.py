"""A throwaway PostgreSQL server for the tests: initdb in a temp folder, one port on 127.0.0.1.

PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the `postgres` user the
Debian package creates, and its programs run through `runuser`.
"""

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.service_process import free_port


def server_program(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Run a server until the block ends; yield the URL of its `postgres` database (user `chat`)."""
    initdb, postgres, pg_ctl = (server_program(name) for name in ("initdb", "postgres", "pg_ctl"))
    if initdb is None or postgres is None or pg_ctl is None:
        raise FileNotFoundError("PostgreSQL is not installed (scripts/install-postgres.sh installs it)")
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="chat-pg-"))
    if as_owner:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    port = free_port()
    try:
        subprocess.run(
            [*as_owner, initdb, "-D", str(data), "-U", "chat", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-k", str(folder)]
        server = subprocess.Popen(
            [*as_owner, postgres, "-D", str(data), "-p", str(port), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"postgresql://chat@127.0.0.1:{port}/postgres"
            _wait_until_ready(url, server)
            yield url
        finally:
            # A fast shutdown (no wait for clients); runuser would not pass a signal on.
            subprocess.run([*as_owner, pg_ctl, "stop", "-D", str(data), "-m", "fast"], capture_output=True)
            server.wait(timeout=20)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(url: str, server: subprocess.Popen[bytes], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def create_database(server_url: str, name: str) -> str:
    """A new empty database on the server; its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
