"""`leadwire dnc import FILE (--tenant S | --national | --state XX)`: bulk-load a DNC list.

Progress goes to stderr while the file loads (one line per batch); the result is printed at the
end (as JSON with `--json`). The whole file is one transaction: an interrupted load leaves the
list as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from leadwire.compliance.errors import DncImportError

if TYPE_CHECKING:
    # Imported when the command runs: every `leadwire` command builds this parser, and the
    # store pulls in SQLAlchemy, asyncpg and phonenumbers (seconds on a busy machine).
    from leadwire.compliance.dnc_store import DncTarget, ImportProgress, ImportResult
    from leadwire.platform.settings import Settings

SettingsFactory = Callable[[], "Settings"]


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], *, settings: SettingsFactory
) -> None:
    """Register `dnc import` on the `leadwire` parser; `settings` finds the database."""
    dnc = sub.add_parser("dnc", help="Do-Not-Call lists")
    dnc_sub = dnc.add_subparsers(dest="dnc_command", required=True)
    load = dnc_sub.add_parser(
        "import",
        help="bulk-load a DNC file (one 10-digit or E.164 number a line, CSV, or the "
        "registry's area-code files)",
    )
    load.add_argument("file", help="path of the file, or - for stdin")
    target = load.add_mutually_exclusive_group(required=True)
    target.add_argument("--tenant", metavar="SLUG", help="the tenant's own list")
    target.add_argument("--national", action="store_true", help="the National DNC Registry")
    target.add_argument("--state", metavar="XX", help="a state's own list, e.g. TX")
    load.add_argument(
        "--replace",
        action="store_true",
        help="the list becomes exactly this file (a full download); default: add to it",
    )
    load.add_argument(
        "--as-of",
        metavar="DATE",
        help="when the data was downloaded (YYYY-MM-DD or RFC 3339; default: now); the "
        "31-day freshness rule counts from it",
    )
    load.add_argument("--json", action="store_true", help="print the result as JSON")
    load.set_defaults(func=lambda args: cmd_dnc_import(args, settings=settings))


def cmd_dnc_import(args: argparse.Namespace, *, settings: SettingsFactory) -> int:
    from leadwire.compliance import dnc_store
    from leadwire.compliance.dnc_store import DncTarget

    now = dt.datetime.now(dt.UTC)
    as_of = _parse_as_of(args.as_of, now) if args.as_of else None
    fixed: DncTarget | None = DncTarget.national() if args.national else None
    if args.state:
        try:
            fixed = DncTarget.state(args.state)
        except ValueError as exc:
            raise DncImportError(str(exc)) from None
    if args.file != "-" and not Path(args.file).is_file():
        raise DncImportError(f"no such file: {args.file}")
    config = settings()
    started = time.monotonic()
    reporter = _Reporter(sys.stderr, started)

    async def go() -> ImportResult:
        from leadwire.platform import db
        from leadwire.platform.state import check_schema
        from leadwire.tenants.service import require_tenant

        engine = db.create_engine(config.database_url or "", pool_size=1)
        try:
            await check_schema(engine)
            async with db.session_scope(db.create_sessionmaker(engine)) as session:
                target = fixed
                if target is None:
                    tenant = await require_tenant(session, args.tenant)
                    target = DncTarget.tenant(tenant.id)
                with _InputFile(args.file) as (lines, position, total):
                    result = await dnc_store.import_numbers(
                        session,
                        target=target,
                        lines=lines,
                        source=_source_name(args.file),
                        now=now,
                        data_as_of=as_of,
                        replace=args.replace,
                        progress=reporter,
                        position=position,
                        total_bytes=total,
                    )
            if result.inserted + result.removed >= 10_000:
                await dnc_store.vacuum(engine)
            return result
        finally:
            await engine.dispose()

    result = asyncio.run(go())
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps({**result.to_json(), "seconds": round(elapsed, 2)}, indent=2))
    else:
        print(
            f"dnc import: {_label(args)}: "
            f"{result.accepted:,} numbers read, {result.inserted:,} new, "
            f"{result.removed:,} removed, {result.row_count:,} on the list; "
            f"{result.rejected:,} lines rejected{_sample(result)} in {elapsed:.1f} s"
        )
    return 0


class _Reporter:
    """Progress lines on stderr, at most one a second (plus the phase changes)."""

    def __init__(self, stream: IO[str], started: float) -> None:
        self.stream = stream
        self.started = started
        self.last = 0.0
        self.phase: str | None = None

    def __call__(self, progress: ImportProgress) -> None:
        now = time.monotonic()
        if progress.phase == self.phase and now - self.last < 1.0:
            return
        self.last, self.phase = now, progress.phase
        percent = f" ({progress.percent:.0f}%)" if progress.percent is not None else ""
        print(
            f"dnc import: {progress.phase}: {progress.lines:,} lines{percent}, "
            f"{progress.accepted:,} accepted, {progress.rejected:,} rejected "
            f"[{now - self.started:.1f} s]",
            file=self.stream,
            flush=True,
        )


class _InputFile:
    """The file's lines, a bytes-read probe and the size (None for stdin)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handle: IO[str] | None = None

    def __enter__(self) -> tuple[IO[str], Callable[[], int] | None, int | None]:
        if self.name == "-":
            return sys.stdin, None, None
        self.handle = open(self.name, encoding="utf-8", errors="replace", newline=None)
        buffer: Any = self.handle.buffer
        return self.handle, buffer.tell, os.path.getsize(self.name)

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _parse_as_of(text: str, now: dt.datetime) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DncImportError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    if value > now:
        raise DncImportError("--as-of is in the future")
    return value


def _label(args: argparse.Namespace) -> str:
    if args.tenant:
        return f"tenant {args.tenant}'s list"
    if args.state:
        return f"{args.state.upper()} state list"
    return "national registry"


def _source_name(file: str) -> str:
    return "stdin" if file == "-" else Path(file).name


def _sample(result: ImportResult) -> str:
    if not result.rejected_lines:
        return ""
    shown = ", ".join(str(n) for n in result.rejected_lines[:10])
    more = ", ..." if result.rejected > len(result.rejected_lines[:10]) else ""
    return f" (lines {shown}{more})"
