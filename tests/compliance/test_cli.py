"""`leadwire dnc import` as a user runs it (in-process `main`, the real test database)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from leadwire.cli import main
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.compliance.records import compliant_tenant


@pytest.fixture
def database_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert settings.database_url
    monkeypatch.setenv("LEADWIRE_DATABASE_URL", settings.database_url)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.fixture
async def acme(clean: AppState) -> Tenant:
    tenant, _ = await compliant_tenant(clean)
    return tenant


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "registry.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_national_import_prints_progress_and_the_result(
    clean: AppState, database_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = [f"512555{n:04d}" for n in range(3000)]
    path = write(tmp_path, ["# registry", *numbers, "bogus", "512,5550001"])
    code = main(["dnc", "import", str(path), "--national", "--as-of", "2026-11-01", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["list"] == {"kind": "national", "name": "national"}
    assert (result["accepted"], result["rejected"], result["skipped"]) == (3001, 1, 1)
    assert result["rejected_lines"] == [3002]
    assert (result["inserted"], result["row_count"]) == (3000, 3000)
    assert result["data_as_of"] == "2026-11-01T00:00:00Z"
    progress = [line for line in captured.err.splitlines() if line.startswith("dnc import:")]
    assert any(": reading: " in line and "(100%)" in line for line in progress), progress
    assert any(": done: " in line and "1 rejected" in line for line in progress), progress


def test_tenant_import_summary_line(
    clean: AppState,
    database_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    acme: Tenant,
) -> None:
    path = write(tmp_path, ["5125550100", "nope", "2145550100"])
    code = main(["dnc", "import", str(path), "--tenant", "acme"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip().startswith("dnc import: tenant acme's list: 2 numbers read, 2 new")
    assert "1 lines rejected (lines 2)" in captured.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tenant", "nobody"], "leadwire: unknown_tenant: no tenant 'nobody'"),
        (["--state", "Texas"], "leadwire: dnc_import_error: 'Texas' is not a two-letter state"),
        (["--state", "ZZ"], "leadwire: dnc_import_error: 'ZZ' is not a two-letter state"),
        (["--national", "--as-of", "soon"], "leadwire: dnc_import_error: --as-of 'soon'"),
    ],
)
def test_bad_options_fail_with_one_line(
    clean: AppState,
    database_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    path = write(tmp_path, ["5125550100"])
    assert main(["dnc", "import", str(path), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(message), err


def test_a_file_without_numbers_loads_nothing(
    clean: AppState, database_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, ["<html>", "not found", "</html>"])
    assert main(["dnc", "import", str(path), "--national", "--replace"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "leadwire: no_numbers: no valid number in 3 lines (3 rejected); nothing was loaded"
    )


def test_a_missing_file_fails_with_one_line(
    database_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dnc", "import", "missing.txt", "--national"]) == 2
    assert (
        capsys.readouterr().err.strip() == "leadwire: dnc_import_error: no such file: missing.txt"
    )


def test_a_target_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dnc", "import", "file.txt"])
    assert "one of the arguments --tenant --national --state is required" in capsys.readouterr().err


def test_the_command_stays_quick_to_start() -> None:
    """Every `leadwire` command builds the `dnc` parser: it must not import the store (and with
    it SQLAlchemy, asyncpg and phonenumbers) before `dnc import` runs."""
    probe = (
        "import sys, leadwire.cli; "
        "print(sorted(m for m in ('sqlalchemy', 'asyncpg', 'phonenumbers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
