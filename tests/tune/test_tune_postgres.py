"""Two `recdoc tune` processes share one study on a real PostgreSQL server started here (Optuna's RDB storage):
every trial runs in exactly one process, none is lost, none runs twice.

The server is the Debian `postgresql` binaries (`/usr/lib/postgresql/<version>/bin`, or initdb on PATH), started in a
temporary folder on a free localhost port with trust authentication, as the `postgres` user when the test runs as
root (initdb refuses root), and stopped at the end. `.ci/run` installs the package where it is missing.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tune_resume import finish, recdoc


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(re.findall(r"/(\d+)/", p)[0]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or initdb on PATH); "
                    "install the Debian package `postgresql` (.ci/run does)")
    root = Path(tempfile.mkdtemp(prefix="recdoc-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root: run them as the postgres user
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(root, user=user)
        prefix = ["runuser", "-u", user, "--"]
    data, port = root / "data", free_port()
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=localhost -c max_connections=50"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                    "-t", "60", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@localhost:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.mark.slow
def test_two_processes_share_one_study_without_losing_or_repeating_a_trial(postgres_url: str,
                                                                          tmp_path: Path) -> None:
    import optuna

    from recdoc.trainer.data.synth import synthesize

    synthesize("syn", items=400, users=500, interests=4, seed=5, data_dir=str(tmp_path / "data"))
    common = ["--dataset", "syn", "--model_type", "DNN", "--data_dir", str(tmp_path / "data"), "--trials", "3",
              "--seeds", "0", "--max_iter", "1", "--test_iter", "500", "--space", "learning_rate",
              "--storage", postgres_url, "--study", "shared"]
    # Two "machines": each has its own study folder for its trials' run folders.
    first = recdoc("tune", *common, "--out", str(tmp_path / "a"))
    time.sleep(1.0)
    second = recdoc("tune", *common, "--out", str(tmp_path / "b"))
    logs = [finish(first), finish(second)]
    assert any("Joining study shared" in log for log in logs)

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    trials = optuna.load_study(study_name="shared", storage=postgres_url).trials
    states = [t.state.name for t in trials]
    assert "FAIL" not in states and "RUNNING" not in states and "WAITING" not in states
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 3 <= len(done) <= 4  # the budget; a process that starts as the other finishes the last may add one
    ran = {name: {int(p.name.rsplit("_t", 1)[1]) for p in (tmp_path / name / "shared" / "runs").glob("*_shared_t*")}
           for name in ("a", "b")}
    assert ran["a"] and ran["b"], f"one process ran every trial: {ran}"
    assert not ran["a"] & ran["b"], f"trials run twice: {ran['a'] & ran['b']}"
    assert ran["a"] | ran["b"] == {t.number for t in trials}, "a trial without a run folder, or a stray folder"
    for trial in trials:
        where = "a" if trial.number in ran["a"] else "b"
        assert trial.user_attrs["run"].startswith(str(tmp_path / where))
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == len(params)
