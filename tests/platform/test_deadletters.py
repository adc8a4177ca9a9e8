"""Dead letters on the real PostgreSQL and Redis: record, page, resolve, replay (idempotent)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from leadwire.platform import deadletters
from leadwire.platform.db import session_scope
from leadwire.platform.state import AppState
from tests.platform.saq_worker import running_worker, wait_for_job


async def _record(state: AppState, **overrides: Any) -> uuid.UUID:
    values: dict[str, Any] = {
        "task": "leads.process",
        "queue": "intake",
        "kwargs": {"tenant_id": str(uuid.uuid4()), "lead_id": str(uuid.uuid4())},
        "error_class": "external",
        "code": "meta.http_500",
        "message": "Graph answered 500 for sarah@example.com",
        "attempts": 4,
        "tenant_id": None,
        "context": {"job_key": "lead.process:1", "timeout_s": 30},
    }
    values.update(overrides)
    async with session_scope(state.sessions) as session:
        letter = await deadletters.record(session, **values)
        return letter.id


async def test_record_masks_the_message_and_keeps_the_job(clean: AppState) -> None:
    tenant = uuid.uuid4()
    letter_id = await _record(clean, tenant_id=str(tenant))
    async with clean.sessions() as session:
        letter = await deadletters.get(session, letter_id)
    view = deadletters.view(letter)
    assert view["message"] == "Graph answered 500 for s***@example.com"
    assert view["status"] == "open"
    assert view["tenant_id"] == str(tenant)
    assert view["class"] == "external"
    assert view["context"]["job_key"] == "lead.process:1"


async def test_listing_filters_and_pages_newest_first(clean: AppState) -> None:
    ids = [await _record(clean, error_class=c) for c in ("temporary", "system", "temporary")]
    async with clean.sessions() as session:
        first, cursor = await deadletters.list_letters(session, limit=2)
        assert [d.id for d in first] == ids[::-1][:2]
        assert cursor is not None
        rest, end = await deadletters.list_letters(session, limit=2, cursor=cursor)
        assert [d.id for d in rest] == [ids[0]]
        assert end is None
        temporary, _ = await deadletters.list_letters(session, error_class="temporary")
        assert {d.id for d in temporary} == {ids[0], ids[2]}
        resolved, _ = await deadletters.list_letters(session, status="resolved")
        assert resolved == []
        assert await deadletters.open_count(session) == 3


async def test_resolve_is_idempotent(clean: AppState) -> None:
    letter_id = await _record(clean)
    async with session_scope(clean.sessions) as session:
        letter, changed = await deadletters.resolve(
            session, letter_id=letter_id, actor="alice", note="provider outage, nothing to do"
        )
        assert changed
    async with session_scope(clean.sessions) as session:
        letter, changed = await deadletters.resolve(
            session, letter_id=letter_id, actor="bob", note="again"
        )
        assert not changed
    assert (letter.status, letter.resolved_by, letter.resolved_note) == (
        "resolved",
        "alice",
        "provider outage, nothing to do",
    )


async def test_replay_enqueues_once_even_when_asked_twice_at_once(clean: AppState) -> None:
    letter_id = await _record(clean)

    async def replay(actor: str) -> bool:
        async with session_scope(clean.sessions) as session:
            _, enqueued = await deadletters.replay(
                session, state=clean, letter_id=letter_id, actor=actor
            )
            return enqueued

    results = await asyncio.gather(replay("alice"), replay("bob"))
    assert sorted(results) == [False, True]
    assert await replay("carol") is False
    depth = await clean.queues.depth()
    assert depth["intake"] == 1
    job = await clean.queues["intake"].job(deadletters.replay_key(letter_id))
    assert job is not None
    assert job.function == "leads.process"
    assert job.attempts == 0  # a fresh attempt budget
    assert job.meta == {"replay_of": str(letter_id)}
    async with clean.sessions() as session:
        letter = await deadletters.get(session, letter_id)
    assert letter.status == "replayed"
    assert letter.replayed_by in {"alice", "bob"}


async def test_a_replayed_letter_cannot_be_resolved(clean: AppState) -> None:
    letter_id = await _record(clean)
    async with session_scope(clean.sessions) as session:
        await deadletters.replay(session, state=clean, letter_id=letter_id, actor="alice")
    with pytest.raises(deadletters.DeadLetterReplayed):
        async with session_scope(clean.sessions) as session:
            await deadletters.resolve(session, letter_id=letter_id, actor="bob", note="x")


async def test_a_resolved_letter_can_still_be_replayed(clean: AppState) -> None:
    letter_id = await _record(clean)
    async with session_scope(clean.sessions) as session:
        await deadletters.resolve(session, letter_id=letter_id, actor="alice", note="fixed")
    async with session_scope(clean.sessions) as session:
        letter, enqueued = await deadletters.replay(
            session, state=clean, letter_id=letter_id, actor="alice"
        )
    assert enqueued
    assert letter.status == "replayed"


async def test_replayed_work_runs_its_task_with_the_original_arguments(clean: AppState) -> None:
    ran: list[dict[str, Any]] = []

    async def process(ctx: dict[str, Any], **kwargs: Any) -> None:
        ran.append(kwargs)

    letter_id = await _record(clean)
    async with running_worker(clean, "intake", {"leads.process": process}):
        async with session_scope(clean.sessions) as session:
            letter = await deadletters.get(session, letter_id)
            kwargs = dict(letter.kwargs)
            await deadletters.replay(session, state=clean, letter_id=letter_id, actor="alice")
        await wait_for_job(
            clean, "intake", deadletters.replay_key(letter_id), statuses={"complete"}
        )
    assert ran == [kwargs]


async def test_unknown_letters_and_bad_cursors_are_refused(clean: AppState) -> None:
    async with clean.sessions() as session:
        with pytest.raises(deadletters.DeadLetterNotFound):
            await deadletters.get(session, uuid.uuid4())
        with pytest.raises(deadletters.DeadLetterNotFound):
            deadletters.parse_id("not-a-uuid")
        with pytest.raises(deadletters.InvalidPayload):
            await deadletters.list_letters(session, cursor="garbage!")
