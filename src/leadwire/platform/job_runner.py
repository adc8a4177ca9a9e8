"""The wrapper every SAQ task runs in: classify a failure, retry it by its class, or dead-letter it.

`worker.registered_tasks()` wraps every task with `classified(...)`, so no area writes retry
code of its own. When a task raises:

1. the exception is classified (`platform.classify.classify`: type and structured fields,
   never the message) and counted (`leadwire_errors_total` by class and code, and the shared
   `errors` series the dashboard reads);
2. `platform.retry.next_retry` says when to run again from the class's policy and the attempt
   number (SAQ's `job.attempts`, which counts this run): exponential backoff with jitter,
   the delay until a rate limit resets (Retry-After), or no retry (validation, consent,
   business and the "bug" rows). The wrapper then sets the job's own retry budget and delay
   so SAQ re-schedules the same job under the same key (duplicates keep collapsing);
3. when there is no next try, the work is written to the dead-letter table
   (`platform.deadletters.record`) with everything needed to replay it, and SAQ marks the job
   failed. If the dead letter cannot be written (PostgreSQL down), the job is kept in the
   queue and tried again a minute later instead: work is never dropped;
4. failures whose classification says "tell a human" (system errors, business failures and
   the provider rows marked so, e.g. Twilio 22005) raise an escalation, deduplicated by task
   and code: a warning on the first failure of work that is still retried, and a critical
   (system) or warning alert when it is dead-lettered. Business failures also notify the
   tenant, whose configuration must change.

A task's SAQ timeout is enforced here, a little before SAQ's own, so a timeout is classified
(temporary) like any other failure instead of bypassing the policy. A job with a heartbeat
(`platform.queues.JOB_HEARTBEAT_S`) is touched here while it runs, so that only a job whose
worker died goes without one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from leadwire.platform import deadletters, opsstats
from leadwire.platform.classify import Classification, classify
from leadwire.platform.db import utcnow
from leadwire.platform.errors import ErrorClass
from leadwire.platform.escalation import DELIVER_TASK, raise_escalation
from leadwire.platform.jobs import unit_of_work
from leadwire.platform.observability import mask_pii
from leadwire.platform.retry import next_retry
from leadwire.platform.state import AppState

log = logging.getLogger("leadwire.jobs")

Task = Callable[..., Awaitable[Any]]

# Jitter source for this process (see platform.retry: tests pass their own).
_rng = random.Random()
# When the dead letter itself cannot be written, try the work again after this long.
DEAD_LETTER_UNAVAILABLE_RETRY_S = 60.0
MAX_FAILURE_HISTORY = 20


def _deadline_s(timeout_s: float | int | None) -> float | None:
    if not timeout_s:
        return None
    return max(0.1, float(timeout_s) - min(1.0, float(timeout_s) * 0.1))


def _failure_note(attempt: int, classification: Classification, at: dt.datetime) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "class": classification.error_class.value,
        "code": classification.code,
        "at": at.isoformat(),
    }


def _escalation_severity(classification: Classification, *, final: bool) -> str:
    if final and classification.error_class is ErrorClass.SYSTEM:
        return "critical"
    return "warning"


async def _escalate(
    state: AppState,
    *,
    task: str,
    queue: str,
    classification: Classification,
    attempt: int,
    final: bool,
    tenant_id: str | None,
    letter_id: str | None,
    message: str,
) -> None:
    if task == DELIVER_TASK:
        return  # never escalate the failure of an escalation
    # Only the tenant can fix business failures (caller ID, expired token): tell them too.
    notify_tenant = tenant_id if classification.error_class is ErrorClass.BUSINESS else None
    try:
        async with unit_of_work(state) as session:
            await raise_escalation(
                session,
                state=state,
                severity=_escalation_severity(classification, final=final),
                fingerprint=f"task:{task}:{classification.code}",
                title=(f"{task} {'dead-lettered' if final else 'failing'}: {classification.code}"),
                detail={
                    "task": task,
                    "queue": queue,
                    "class": classification.error_class.value,
                    "code": classification.code,
                    "attempt": attempt,
                    "final": final,
                    "dead_letter_id": letter_id,
                    "message": mask_pii(message)[:500],
                },
                tenant_id=notify_tenant,
            )
    except Exception as exc:  # an alert that cannot be stored must not change the work's fate
        log.error("escalation not raised", extra={"task": task, "error": repr(exc)})


async def _keep_alive(job: Any, every_s: float) -> None:
    """Touch the running job (SAQ's `touched`) every `every_s` seconds until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await job.update()
        except Exception as exc:  # Redis away: the job goes on; at worst SAQ runs it again
            log.warning("job heartbeat failed", extra={"job_key": job.key, "error": repr(exc)})


def classified(task: str, queue: str, fn: Task) -> Task:
    """Wrap the SAQ task `fn`, registered as `task` on `queue`, in the failure policy."""

    @functools.wraps(fn)
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        job = ctx.get("job")
        if job is None:  # called directly, outside a worker: nothing to retry with
            return await fn(ctx, **kwargs)
        heartbeat = (
            asyncio.create_task(_keep_alive(job, job.heartbeat / 3)) if job.heartbeat else None
        )
        try:
            try:
                async with asyncio.timeout(_deadline_s(job.timeout)):
                    return await fn(ctx, **kwargs)
            finally:
                if heartbeat is not None:  # stopped before SAQ records the job's end
                    heartbeat.cancel()
                    await asyncio.gather(heartbeat, return_exceptions=True)
        except Exception as exc:
            await _on_failure(ctx["state"], job=job, task=task, queue=queue, exc=exc)
            raise

    return run


async def _on_failure(state: AppState, *, job: Any, task: str, queue: str, exc: Exception) -> None:
    """Decide the failed job's fate by setting SAQ's retry fields; the caller re-raises."""
    classification = classify(exc)
    attempt = max(1, int(job.attempts))
    kwargs: dict[str, Any] = dict(job.kwargs or {})
    tenant_id = kwargs.get("tenant_id")
    tenant = str(tenant_id) if tenant_id is not None else None
    now = utcnow()
    error_class = classification.error_class.value
    state.metrics.errors.labels(error_class, classification.code).inc()
    await opsstats.incr(state.redis, opsstats.ERRORS, error_class, tenant_id=tenant)

    meta = job.meta if isinstance(job.meta, dict) else {}
    failures = [*meta.get("failures", []), _failure_note(attempt, classification, now)]
    meta["failures"] = failures[-MAX_FAILURE_HISTORY:]
    meta["attempt"] = attempt
    job.meta = meta
    message = str(exc) or type(exc).__name__
    extra = {
        "task": task,
        "queue": queue,
        "job_key": job.key,
        "attempt": attempt,
        "error_class": error_class,
        "code": classification.code,
    }

    retry_at = next_retry(classification, attempt=attempt, rng=_rng, now=now)
    if retry_at is not None:
        delay = max(0.0, (retry_at - now).total_seconds())
        _retry_in(job, attempt=attempt, delay_s=delay)
        opsstats.ops_counters(state.metrics).job_retries.labels(task, error_class).inc()
        log.warning("task failed; retrying", extra={**extra, "retry_in_s": round(delay, 3)})
        if classification.escalate and attempt == 1:
            await _escalate(
                state,
                task=task,
                queue=queue,
                classification=classification,
                attempt=attempt,
                final=False,
                tenant_id=tenant,
                letter_id=None,
                message=message,
            )
        return

    try:
        async with unit_of_work(state) as session:
            letter = await deadletters.record(
                session,
                task=task,
                queue=queue,
                kwargs=kwargs,
                error_class=error_class,
                code=classification.code,
                message=message,
                attempts=attempt,
                tenant_id=tenant,
                context={
                    "job_key": job.key,
                    "timeout_s": job.timeout,
                    "error_type": type(exc).__qualname__,
                    "policy": classification.policy.value,
                    "retryable": classification.retryable,
                    "replay_of": meta.get("replay_of"),
                    "failures": meta["failures"],
                },
            )
            letter_id = str(letter.id)
    except Exception as record_exc:
        # Without its dead letter the work would vanish: keep it queued and try later.
        _retry_in(job, attempt=attempt, delay_s=DEAD_LETTER_UNAVAILABLE_RETRY_S)
        log.error(
            "dead letter not written; the job stays queued",
            extra={**extra, "record_error": repr(record_exc)},
        )
        return
    job.retries = attempt  # no further SAQ retry: the job ends failed
    log.error("task dead-lettered", extra={**extra, "dead_letter_id": letter_id})
    if classification.escalate:
        await _escalate(
            state,
            task=task,
            queue=queue,
            classification=classification,
            attempt=attempt,
            final=True,
            tenant_id=tenant,
            letter_id=letter_id,
            message=message,
        )


def _retry_in(job: Any, *, attempt: int, delay_s: float) -> None:
    """Have SAQ run this same job again in `delay_s` seconds (one more attempt allowed)."""
    job.retries = attempt + 1
    job.retry_delay = delay_s
    job.retry_backoff = False
