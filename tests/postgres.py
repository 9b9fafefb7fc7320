"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, a temp dir, 127.0.0.1 and a free port.

Run as root, the cluster belongs to the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port


def server_binaries() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<version>/bin``, or the one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


class Cluster:
    def __init__(self, binaries: Path, port: int, as_user: list[str], root: Path) -> None:
        self._binaries, self.port, self._as_user = binaries, port, as_user
        self._data, self._log = root / "data", root / "server.log"
        self._options = f"-p {port} -k {root} -h 127.0.0.1 -c fsync=off -c max_connections=500"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self._data), "-o", self._options, "-l", str(self._log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected and the server shuts down cleanly, as a restart or failover does."""
        self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        """A new empty database; returns its ``postgresql://`` URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as_user, str(self._binaries / tool), *args], check=True, capture_output=True)


@contextmanager
def postgres_cluster(binaries: Path) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="ocr-gateway-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(binaries, free_port(), as_user, root)
    try:
        cluster._run("initdb", "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # a test may have left it stopped
                cluster.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
