"""Each journal target gets a journal of its own: the SQLite default in its own directory, or a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import journal_targets, targets
from bench.journals import PostgresDatabases
from bench.service import ServiceProcess, ServiceUnavailable
from bench.targets import LiveKitAccess, Target, service_environment
from voicecore_http.container import ServiceContainer

LIVEKIT = LiveKitAccess("ws://127.0.0.1:7880", "APIbench", "a-livekit-secret-long-enough-for-tests")
AUTH_SECRET = "an-auth-secret-of-at-least-thirty-two-characters"
REPO = Path(__file__).resolve().parents[2]


def test_a_postgres_target_reads_its_own_database_and_migrates_it_at_start() -> None:
    url = "postgresql://voicecore@127.0.0.1:5999/bench_3_journal_postgres"
    target = Target("journal_postgres", "", journal="postgres")
    settings = ServiceContainer.from_environment(
        service_environment(target, LIVEKIT, AUTH_SECRET, journal_url=url)
    ).settings()
    assert settings.journal_location() == url
    assert settings.journal_migrate_on_start is True


def test_a_postgres_target_without_a_database_is_refused() -> None:
    with pytest.raises(ValueError, match="database URL"):
        service_environment(Target("journal_postgres", "", journal="postgres"), LIVEKIT, AUTH_SECRET)


def test_a_sqlite_target_keeps_the_default_file_in_its_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_environment(Target("api", ""), LIVEKIT, AUTH_SECRET)
    assert "JOURNAL_URL" not in env
    monkeypatch.chdir(tmp_path)
    location = ServiceContainer.from_environment(env).settings().journal_location()
    assert location == f"sqlite:///{tmp_path / 'voicecore-journal.sqlite3'}"


def test_every_journal_and_history_target_is_a_user_of_its_own() -> None:
    served = [
        *targets.standard_targets(REPO),
        *journal_targets.journal_targets(REPO),
        *(t for pair in journal_targets.history_targets().values() for t in pair),
    ]
    users = [t.user_id for t in served]
    assert len(set(users)) == len(users)
    assert len({t.name for t in served}) == len(served)


def test_each_service_process_runs_in_a_fresh_directory_removed_when_it_stops(tmp_path: Path) -> None:
    # Any module will do: the working directory is made before the process starts.
    processes = [
        ServiceProcess(f"s{i}", {}, tmp_path / f"s{i}.log", module="this_module_does_not_exist")
        for i in (1, 2)
    ]
    with pytest.raises(ServiceUnavailable):
        _ = processes[0].workdir
    for process in processes:
        process.start()
    workdirs = [p.workdir for p in processes]
    try:
        assert all(d.is_dir() and not any(d.iterdir()) for d in workdirs)
        assert len(set(workdirs)) == 2
        assert tmp_path not in workdirs
    finally:
        for process in processes:
            process.stop()
    assert not any(d.exists() for d in workdirs)


def test_each_postgres_target_gets_a_new_empty_database(bench_postgres: PostgresDatabases) -> None:
    first, second = bench_postgres.allocate("journal_postgres"), bench_postgres.allocate("journal_postgres")
    assert first != second
    for url in (first, second):
        name = url.rsplit("/", 1)[1]
        tables = bench_postgres.server.psql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name
        )
        assert tables == "0"
    assert bench_postgres.settings()["fsync"] == "off"
