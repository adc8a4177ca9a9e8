"""The DNC store: bulk loads, single numbers, and the one-query lookup.

A bulk load streams the file through `dnc_numbers.iter_dnc_numbers`, COPYs the numbers in
batches into a temporary staging table (asyncpg's binary COPY on the session's own driver
connection, so it is part of the caller's transaction), then merges the staging table into
`dnc_entries` with one set-based INSERT of the numbers not yet on the list (and, with
`replace`, one DELETE of the list's numbers missing from the file). Readers keep seeing the
old list until the caller commits. Loads into the same list are serialized by an advisory lock.

A lookup is one statement: every list the number is on that applies to this tenant (its own
list, the national registry, every state list, and platform opt-outs when the platform shares
them), plus the metadata of every registry list, whether hit or not, so the gate can judge the
age of each list it relied on.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadwire.compliance.dnc_numbers import DncParseStats, iter_dnc_numbers
from leadwire.compliance.errors import NoNumbers
from leadwire.compliance.facts import DncHit, DncListKind, DncSource
from leadwire.compliance.locate import STATE_NAMES

BATCH_SIZE = 250_000
_LOCK_NAMESPACE = 7_210_100  # pg_advisory_xact_lock(namespace, list id)
_STAGING = "dnc_import_staging"
_STATE_CODES = frozenset(STATE_NAMES.values())


class ImportPhase(enum.StrEnum):
    READING = "reading"
    MERGING = "merging"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class DncTarget:
    """Which list a load or a single number goes to."""

    kind: DncListKind
    name: str
    tenant_id: uuid.UUID | None = None

    @property
    def key(self) -> str:
        if self.kind is DncListKind.TENANT:
            return f"tenant:{self.tenant_id}"
        if self.kind is DncListKind.STATE:
            return f"state:{self.name}"
        return self.kind.value

    @classmethod
    def national(cls) -> DncTarget:
        return cls(DncListKind.NATIONAL, "national")

    @classmethod
    def state(cls, code: str) -> DncTarget:
        if code.upper() not in _STATE_CODES:
            raise ValueError(f"{code!r} is not a two-letter state code")
        return cls(DncListKind.STATE, code.upper())

    @classmethod
    def tenant(cls, tenant_id: uuid.UUID) -> DncTarget:
        return cls(DncListKind.TENANT, "tenant", tenant_id)

    @classmethod
    def platform_optout(cls) -> DncTarget:
        return cls(DncListKind.PLATFORM_OPTOUT, "platform_optout")


@dataclass(frozen=True, slots=True)
class ImportProgress:
    phase: ImportPhase
    lines: int
    accepted: int
    rejected: int
    bytes_read: int | None = None
    total_bytes: int | None = None

    @property
    def percent(self) -> float | None:
        if self.bytes_read is None or not self.total_bytes:
            return None
        return min(100.0, 100.0 * self.bytes_read / self.total_bytes)


@dataclass(frozen=True, slots=True)
class ImportResult:
    list_kind: DncListKind
    list_name: str
    lines: int
    accepted: int
    rejected: int
    skipped: int
    rejected_lines: tuple[int, ...]
    inserted: int  # numbers new to the list
    removed: int  # numbers dropped from the list (replace only)
    row_count: int  # numbers on the list afterwards
    loaded_at: dt.datetime
    data_as_of: dt.datetime
    replace: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "list": {"kind": self.list_kind.value, "name": self.list_name},
            "lines": self.lines,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "rejected_lines": list(self.rejected_lines),
            "inserted": self.inserted,
            "removed": self.removed,
            "row_count": self.row_count,
            "replace": self.replace,
            "loaded_at": _iso(self.loaded_at),
            "data_as_of": _iso(self.data_as_of),
        }


@dataclass(frozen=True, slots=True)
class DncLookup:
    """The lists a number is on (`hits`) and the registry lists consulted (`sources`)."""

    hits: tuple[DncHit, ...] = ()
    sources: tuple[DncSource, ...] = ()
    as_of: dict[str, dt.datetime | None] = field(default_factory=dict)  # list name -> data date


# ---- lookup ------------------------------------------------------------------------------------

# $1 phone (E.164 digits), $2 tenant id, $3 whether platform opt-outs apply.
LOOKUP_SQL = """
SELECT l.kind, l.name, l.data_as_of, true AS hit
  FROM dnc_entries e JOIN dnc_lists l ON l.id = e.list_id
 WHERE e.phone = $1
   AND (l.kind IN ('national', 'state') OR l.tenant_id = $2
        OR (l.kind = 'platform_optout' AND $3))
UNION ALL
SELECT l.kind, l.name, l.data_as_of, false
  FROM dnc_lists l
 WHERE l.kind IN ('national', 'state')
"""


def age_days(as_of: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole days since the list's data was obtained (never negative); None when unknown."""
    if as_of is None:
        return None
    return max(0, (now - as_of) // dt.timedelta(days=1))


def lookup_from_rows(rows: Iterable[Sequence[Any]], *, now: dt.datetime) -> DncLookup:
    """Build a `DncLookup` from LOOKUP_SQL rows (kind, name, data_as_of, hit).

    `data_as_of` may be a datetime or its ISO text (when the rows came through JSON)."""
    hits: list[DncHit] = []
    sources: list[DncSource] = []
    as_of: dict[str, dt.datetime | None] = {}
    for kind_text, name, raw_as_of, hit in rows:
        kind = DncListKind(kind_text)
        when = dt.datetime.fromisoformat(raw_as_of) if isinstance(raw_as_of, str) else raw_as_of
        registry = kind in (DncListKind.NATIONAL, DncListKind.STATE)
        age = age_days(when, now) if registry else None
        if hit:
            hits.append(DncHit(kind, name, age))
        else:
            sources.append(DncSource(kind, name, age))
            as_of[f"{kind.value}:{name}"] = when
    order = {kind: index for index, kind in enumerate(DncListKind)}
    return DncLookup(
        hits=tuple(sorted(hits, key=lambda h: (order[h.list_kind], h.list_name))),
        sources=tuple(sorted(sources, key=lambda s: (order[s.list_kind], s.list_name))),
        as_of=as_of,
    )


async def lookup(
    session: AsyncSession,
    *,
    phone: int,
    tenant_id: uuid.UUID,
    cross_tenant: bool,
    now: dt.datetime,
) -> DncLookup:
    """Every applicable list `phone` (E.164 digits) is on, in one indexed query.

    It runs before every dial, so it goes to the driver's cached prepared statement: that
    costs about a third of SQLAlchemy's per-statement work. Same connection, same
    transaction."""
    raw = await driver_connection(session)
    rows = await raw.fetch(LOOKUP_SQL, phone, tenant_id, cross_tenant)
    return lookup_from_rows(rows, now=now)


# ---- single numbers ----------------------------------------------------------------------------

_FIND_LIST = text("SELECT id FROM dnc_lists WHERE key = :key")
_CREATE_LIST = text(
    "INSERT INTO dnc_lists (key, kind, name, tenant_id) VALUES (:key, :kind, :name, :tenant_id) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
_ADD = text(
    "WITH added AS (INSERT INTO dnc_entries (phone, list_id) VALUES (:phone, :list_id) "
    "ON CONFLICT DO NOTHING RETURNING list_id) "
    "UPDATE dnc_lists SET row_count = row_count + 1, updated_at = now() "
    "WHERE id IN (SELECT list_id FROM added) RETURNING id"
)
_REMOVE = text(
    "WITH removed AS (DELETE FROM dnc_entries WHERE phone = :phone AND list_id = "
    "(SELECT id FROM dnc_lists WHERE key = :key) RETURNING list_id) "
    "UPDATE dnc_lists SET row_count = row_count - 1, updated_at = now() "
    "WHERE id IN (SELECT list_id FROM removed) RETURNING id"
)


async def ensure_list(session: AsyncSession, target: DncTarget) -> int:
    """The id of the target's list, created empty on first use."""
    found = (await session.execute(_FIND_LIST, {"key": target.key})).scalar_one_or_none()
    if found is not None:
        return int(found)
    created = (
        await session.execute(
            _CREATE_LIST,
            {
                "key": target.key,
                "kind": target.kind.value,
                "name": target.name,
                "tenant_id": target.tenant_id,
            },
        )
    ).scalar_one_or_none()
    if created is not None:
        return int(created)
    # Created by a concurrent transaction between the two statements.
    return int((await session.execute(_FIND_LIST, {"key": target.key})).scalar_one())


async def add_number(session: AsyncSession, *, target: DncTarget, phone: int) -> bool:
    """Put one number on a list; False when it was already there."""
    list_id = await ensure_list(session, target)
    result = await session.execute(_ADD, {"phone": phone, "list_id": list_id})
    return result.scalar_one_or_none() is not None


async def remove_number(session: AsyncSession, *, target: DncTarget, phone: int) -> bool:
    """Take one number off a list; False when it was not on it."""
    result = await session.execute(_REMOVE, {"phone": phone, "key": target.key})
    return result.scalar_one_or_none() is not None


# ---- bulk loads --------------------------------------------------------------------------------

# The statements of a bulk load run for minutes on a full registry: they go to the driver with
# this timeout instead of the engine's 30 s command timeout.
BULK_TIMEOUT_S = 3600.0

_INSERT_NEW = f"""
INSERT INTO dnc_entries (phone, list_id)
SELECT DISTINCT s.phone, $1::integer FROM {_STAGING} s
 WHERE NOT EXISTS (SELECT 1 FROM dnc_entries e WHERE e.phone = s.phone AND e.list_id = $1)
 ORDER BY s.phone
"""  # noqa: S608 - constant table name
_DELETE_MISSING = (
    f"DELETE FROM dnc_entries e WHERE e.list_id = $1 "  # noqa: S608 - constant table name
    f"AND NOT EXISTS (SELECT 1 FROM {_STAGING} s WHERE s.phone = e.phone)"
)
_FINISH = text(
    "UPDATE dnc_lists SET row_count = row_count + :delta, source = :source, loaded_at = :now, "
    "data_as_of = :as_of, updated_at = now() WHERE id = :list_id RETURNING row_count"
)


async def import_numbers(
    session: AsyncSession,
    *,
    target: DncTarget,
    lines: Iterable[str],
    source: str,
    now: dt.datetime,
    data_as_of: dt.datetime | None = None,
    replace: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
    position: Callable[[], int] | None = None,
    total_bytes: int | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Load a DNC file's lines into a list, inside the caller's transaction (flushes, never
    commits). With `replace`, numbers of the list that are not in the file are removed (a full
    registry download); otherwise the file is added to the list (an area-code file, a tenant's
    own additions). `progress` is called after every batch; `position` reports the bytes read
    so far, for the percentage. A file without a single valid number raises `NoNumbers`."""
    as_of = data_as_of or now
    list_id = await ensure_list(session, target)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :id)"), {"ns": _LOCK_NAMESPACE, "id": list_id}
    )
    await session.execute(text("SET LOCAL work_mem = '256MB'"))
    await session.execute(
        text(f"CREATE TEMP TABLE {_STAGING} (phone bigint NOT NULL) ON COMMIT DROP")
    )
    raw = await driver_connection(session)
    stats = DncParseStats()
    numbers = iter_dnc_numbers(lines, stats=stats)

    def report(phase: ImportPhase) -> None:
        if progress is not None:
            progress(
                ImportProgress(
                    phase=phase,
                    lines=stats.accepted + stats.rejected + stats.skipped,
                    accepted=stats.accepted,
                    rejected=stats.rejected,
                    bytes_read=position() if position is not None else None,
                    total_bytes=total_bytes,
                )
            )

    while batch := list(itertools.islice(numbers, batch_size)):
        await raw.copy_records_to_table(
            _STAGING, records=zip(batch, strict=True), timeout=BULK_TIMEOUT_S
        )
        report(ImportPhase.READING)
    if stats.accepted == 0:
        # Most likely the wrong file; never let it empty (replace) or refresh a list.
        lines_read = stats.accepted + stats.rejected + stats.skipped
        raise NoNumbers(
            f"no valid number in {lines_read} lines ({stats.rejected} rejected); nothing was loaded"
        )
    report(ImportPhase.MERGING)
    await raw.execute(f"ANALYZE {_STAGING}", timeout=BULK_TIMEOUT_S)
    removed = 0
    if replace:
        removed = _affected(await raw.execute(_DELETE_MISSING, list_id, timeout=BULK_TIMEOUT_S))
    inserted = await _insert_new(raw, list_id)
    row_count = (
        await session.execute(
            _FINISH,
            {
                "delta": inserted - removed,
                "source": source[:500],
                "now": now,
                "as_of": as_of,
                "list_id": list_id,
            },
        )
    ).scalar_one()
    await raw.execute(f"DROP TABLE {_STAGING}", timeout=BULK_TIMEOUT_S)
    report(ImportPhase.DONE)
    return ImportResult(
        list_kind=target.kind,
        list_name=target.name,
        lines=stats.accepted + stats.rejected + stats.skipped,
        accepted=stats.accepted,
        rejected=stats.rejected,
        skipped=stats.skipped,
        rejected_lines=tuple(stats.rejected_lines),
        inserted=inserted,
        removed=removed,
        row_count=int(row_count),
        loaded_at=now,
        data_as_of=as_of,
        replace=replace,
    )


async def _insert_new(raw: Any, list_id: int) -> int:
    """Insert the staged numbers not yet on the list; `raw` is the asyncpg connection, inside
    the caller's transaction.

    A plain INSERT is about twice as fast as ON CONFLICT for millions of rows. A number added
    one at a time (an opt-out) between our snapshot and our insert would break it with a
    unique violation; then the savepoint is rolled back and the insert runs again with
    ON CONFLICT DO NOTHING."""
    try:
        async with raw.transaction():  # a savepoint: the caller's transaction is open
            status = await raw.execute(_INSERT_NEW, list_id, timeout=BULK_TIMEOUT_S)
    except asyncpg.UniqueViolationError:
        status = await raw.execute(
            _INSERT_NEW + " ON CONFLICT DO NOTHING", list_id, timeout=BULK_TIMEOUT_S
        )
    return _affected(status)


async def vacuum(engine: AsyncEngine) -> None:
    """After a large load: refresh statistics and the visibility map (index-only lookups).

    VACUUM cannot run inside a transaction, so this takes its own autocommit connection."""
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await autocommit.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("VACUUM (ANALYZE) dnc_entries", timeout=BULK_TIMEOUT_S)
        await raw.execute("ANALYZE dnc_lists", timeout=BULK_TIMEOUT_S)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, in the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def _affected(status: str) -> int:
    """Rows affected, from a command status such as `INSERT 0 42` or `DELETE 7`."""
    return int(status.rsplit(" ", 1)[-1])


# ---- list metadata -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListInfo:
    kind: DncListKind
    name: str
    source: str | None
    loaded_at: dt.datetime | None
    data_as_of: dt.datetime | None
    row_count: int


_LISTS = text(
    "SELECT kind, name, source, loaded_at, data_as_of, row_count FROM dnc_lists "
    "WHERE kind IN ('national', 'state', 'platform_optout') ORDER BY kind, name"
)
_TENANT_TOTALS = text(
    "SELECT count(*), coalesce(sum(row_count), 0) FROM dnc_lists WHERE kind = 'tenant'"
)


async def shared_lists(session: AsyncSession) -> tuple[list[ListInfo], tuple[int, int]]:
    """The registry and platform lists, and (tenant lists, numbers on them)."""
    rows = (await session.execute(_LISTS)).all()
    lists = [
        ListInfo(DncListKind(kind), name, source, loaded_at, as_of, int(count))
        for kind, name, source, loaded_at, as_of, count in rows
    ]
    tenant_lists, tenant_numbers = (await session.execute(_TENANT_TOTALS)).one()
    return lists, (int(tenant_lists), int(tenant_numbers))


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
