"""The DNC store on the real database: bulk loads, single numbers, the one-query lookup."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import text

from leadwire.compliance import dnc_store, service
from leadwire.compliance.dnc_store import DncTarget, ImportPhase, ImportProgress
from leadwire.compliance.errors import NoNumbers
from leadwire.compliance.facts import DncHit, DncListKind, DncSource
from leadwire.platform.db import session_scope
from leadwire.platform.state import AppState
from tests.compliance.records import compliant_tenant, statements, utc

NOW = utc(2026, 6, 10, 15, 0)
AUSTIN = 15125550100
DALLAS = 12145550100
MIAMI = 13055550100


async def load(
    state: AppState,
    target: DncTarget,
    lines: list[str],
    *,
    replace: bool = False,
    as_of: dt.datetime | None = None,
    batch_size: int = dnc_store.BATCH_SIZE,
    progress: list[ImportProgress] | None = None,
) -> dnc_store.ImportResult:
    async with session_scope(state.sessions) as session:
        return await dnc_store.import_numbers(
            session,
            target=target,
            lines=lines,
            source="test.txt",
            now=NOW,
            data_as_of=as_of,
            replace=replace,
            batch_size=batch_size,
            progress=progress.append if progress is not None else None,
        )


async def lookup(
    state: AppState, phone: int, tenant_id: object, *, cross_tenant: bool = False
) -> dnc_store.DncLookup:
    async with state.sessions() as session:
        return await dnc_store.lookup(
            session,
            phone=phone,
            tenant_id=tenant_id,  # type: ignore[arg-type]
            cross_tenant=cross_tenant,
            now=NOW,
        )


async def test_import_reports_progress_and_bad_lines(clean: AppState) -> None:
    lines = [
        "# national registry extract",
        "5125550100",
        "512,5550101",
        "+1 (512) 555-0102",
        "",
        "not a number",
        "5125550100",  # duplicate: read twice, stored once
        "0125550100",  # area code cannot start with 0
        '"214-555-0100",Dallas',
    ]
    seen: list[ImportProgress] = []
    result = await load(clean, DncTarget.national(), lines, batch_size=2, progress=seen)
    assert (result.lines, result.accepted, result.rejected, result.skipped) == (9, 5, 2, 2)
    assert result.rejected_lines == (6, 8)
    assert (result.inserted, result.removed, result.row_count) == (4, 0, 4)
    assert result.to_json()["list"] == {"kind": "national", "name": "national"}
    reading = [p for p in seen if p.phase is ImportPhase.READING]
    assert len(reading) == 3  # batches of 2 numbers: 2 + 2 + 1
    assert [p.accepted for p in reading] == sorted(p.accepted for p in reading)
    assert seen[-1].phase is ImportPhase.DONE
    assert seen[-1].rejected == 2
    tenant, _ = await compliant_tenant(clean)
    assert (await lookup(clean, DALLAS, tenant.id)).hits == (
        DncHit(DncListKind.NATIONAL, "national", 0),
    )
    assert (await lookup(clean, 15125550103, tenant.id)).hits == ()


async def test_merge_adds_and_replace_swaps_the_list(clean: AppState) -> None:
    target = DncTarget.state("tx")
    first = await load(clean, target, ["5125550100", "5125550101"])
    second = await load(clean, target, ["5125550101", "5125550102"])
    assert (second.inserted, second.row_count) == (1, 3)
    third = await load(clean, target, ["5125550102", "5125550103"], replace=True)
    assert (third.inserted, third.removed, third.row_count) == (1, 2, 2)
    assert first.list_name == "TX"
    async with clean.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT e.phone FROM dnc_entries e JOIN dnc_lists l ON l.id = e.list_id ORDER BY 1"
            )
        )
        assert [r[0] for r in rows] == [15125550102, 15125550103]


async def test_one_query_finds_every_applicable_list(clean: AppState) -> None:
    acme, _ = await compliant_tenant(clean, slug="acme")
    other, _ = await compliant_tenant(clean, slug="other")
    await load(clean, DncTarget.national(), ["5125550100"], as_of=NOW - dt.timedelta(days=40))
    await load(clean, DncTarget.state("TX"), ["5125550100"])
    await load(clean, DncTarget.state("FL"), ["3055550100"])
    await load(clean, DncTarget.tenant(acme.id), ["5125550100"])
    await load(clean, DncTarget.tenant(other.id), ["2145550100"])
    async with session_scope(clean.sessions) as session:
        await dnc_store.add_number(session, target=DncTarget.platform_optout(), phone=AUSTIN)

    with statements(clean) as sent:
        found = await lookup(clean, AUSTIN, acme.id)
    assert len(sent) == 1
    assert found.hits == (
        DncHit(DncListKind.TENANT, "tenant", None),
        DncHit(DncListKind.NATIONAL, "national", 40),
        DncHit(DncListKind.STATE, "TX", 0),
    )
    assert found.sources == (
        DncSource(DncListKind.NATIONAL, "national", 40),
        DncSource(DncListKind.STATE, "FL", 0),
        DncSource(DncListKind.STATE, "TX", 0),
    )
    shared = await lookup(clean, AUSTIN, acme.id, cross_tenant=True)
    assert DncHit(DncListKind.PLATFORM_OPTOUT, "platform_optout", None) in shared.hits
    # Another tenant's list never applies.
    assert (await lookup(clean, DALLAS, acme.id)).hits == ()
    assert (await lookup(clean, DALLAS, other.id)).hits == (
        DncHit(DncListKind.TENANT, "tenant", None),
    )


async def test_lookup_uses_the_primary_key_index(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    await load(clean, DncTarget.national(), [f"512555{n:04d}" for n in range(2000)])
    await dnc_store.vacuum(clean.engine)
    async with clean.sessions() as session:
        raw = await dnc_store.driver_connection(session)
        plan = await raw.fetch("EXPLAIN " + dnc_store.LOOKUP_SQL, AUSTIN, tenant.id, False)
        lines = "\n".join(row[0] for row in plan)
    assert "pk_dnc_entries" in lines
    assert "Seq Scan on dnc_entries" not in lines


async def test_single_numbers_add_and_remove(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    target = DncTarget.tenant(tenant.id)
    async with session_scope(clean.sessions) as session:
        assert await dnc_store.add_number(session, target=target, phone=AUSTIN) is True
        assert await dnc_store.add_number(session, target=target, phone=AUSTIN) is False
        assert await dnc_store.remove_number(session, target=target, phone=DALLAS) is False
    async with session_scope(clean.sessions) as session:
        assert await dnc_store.remove_number(session, target=target, phone=AUSTIN) is True
        count = await session.execute(text("SELECT row_count FROM dnc_lists"))
        assert count.scalar_one() == 0


async def test_a_number_added_during_a_load_does_not_fail_it(clean: AppState) -> None:
    """The fast plain INSERT meets a concurrently committed opt-out: the load falls back to
    ON CONFLICT DO NOTHING instead of failing."""
    tenant, _ = await compliant_tenant(clean)
    target = DncTarget.tenant(tenant.id)
    async with session_scope(clean.sessions) as session:
        list_id = await dnc_store.ensure_list(session, target)
    async with clean.sessions() as loader, clean.sessions() as opt_out:
        await loader.execute(
            text(f"CREATE TEMP TABLE {dnc_store._STAGING} (phone bigint) ON COMMIT DROP")
        )
        await loader.execute(
            text(f"INSERT INTO {dnc_store._STAGING} VALUES (:a), (:b)"),
            {"a": AUSTIN, "b": DALLAS},
        )
        await dnc_store.add_number(opt_out, target=target, phone=AUSTIN)  # not committed yet
        raw = await dnc_store.driver_connection(loader)
        insert = asyncio.create_task(dnc_store._insert_new(raw, list_id))
        async with clean.sessions() as probe:
            blocked = False
            for _ in range(500):  # until the loader waits on the opt-out's row
                waiting = await probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                blocked = bool(waiting.scalar_one())
                if blocked:
                    break
                await asyncio.sleep(0.01)
        assert blocked
        await opt_out.commit()
        assert await insert == 1  # only Dallas was new
        await loader.commit()
    found = await lookup(clean, DALLAS, tenant.id)
    assert found.hits == (DncHit(DncListKind.TENANT, "tenant", None),)


async def test_health_reports_age_and_staleness(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    await load(clean, DncTarget.national(), ["5125550100"], as_of=NOW - dt.timedelta(days=32))
    await load(clean, DncTarget.state("TX"), ["5125550100"], as_of=NOW - dt.timedelta(days=31))
    await load(clean, DncTarget.tenant(tenant.id), ["5125550100", "5125550101"])
    async with clean.sessions() as session:
        health = await service.dnc_health(session, now=NOW)
    assert health["stale"] is True
    assert health["national_registry_loaded"] is True
    assert health["max_age_days"] == 31
    by_name = {entry["name"]: entry for entry in health["lists"]}
    assert by_name["national"]["age_days"] == 32
    assert by_name["national"]["stale"] is True
    assert by_name["TX"]["age_days"] == 31
    assert by_name["TX"]["stale"] is False
    assert by_name["national"]["source"] == "test.txt"
    assert by_name["national"]["numbers"] == 1
    assert health["tenant_lists"] == {"lists": 1, "numbers": 2}


async def test_health_without_a_registry(clean: AppState) -> None:
    async with clean.sessions() as session:
        health = await service.dnc_health(session, now=NOW)
    assert health == {
        "max_age_days": 31,
        "national_registry_loaded": False,
        "stale": False,
        "lists": [],
        "tenant_lists": {"lists": 0, "numbers": 0},
    }


async def test_a_file_without_numbers_changes_nothing(clean: AppState) -> None:
    await load(clean, DncTarget.national(), ["5125550100"], as_of=NOW - dt.timedelta(days=40))
    with pytest.raises(NoNumbers) as raised:
        await load(clean, DncTarget.national(), ["NPA,NUMBER", "oops", ""], replace=True)
    assert raised.value.field == "body"
    assert "no valid number in 3 lines (2 rejected)" in raised.value.message
    async with clean.sessions() as session:
        health = await service.dnc_health(session, now=NOW)
    [national] = health["lists"]
    assert (national["numbers"], national["age_days"]) == (1, 40)


@pytest.mark.parametrize("code", ["Texas", "ZZ", "T", ""])
def test_state_targets_need_a_state_code(code: str) -> None:
    assert DncTarget.state("tx").key == "state:TX"
    with pytest.raises(ValueError, match="two-letter"):
        DncTarget.state(code)
