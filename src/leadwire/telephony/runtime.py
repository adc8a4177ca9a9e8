"""Per-process dialer objects kept in `state.services` (created on first use)."""

from __future__ import annotations

from typing import cast

from leadwire.platform.state import AppState
from leadwire.telephony.board import Board
from leadwire.telephony.limits import DialLimits
from leadwire.telephony.providers import account_of


def board_of(state: AppState) -> Board:
    board = state.services.get("telephony.board")
    if board is None:
        board = Board(state.redis, account=account_of(state), cps=state.settings.twilio_cps)
        state.services["telephony.board"] = board
    return cast(Board, board)


def limits_of(state: AppState) -> DialLimits:
    limits = state.services.get("telephony.limits")
    if limits is None:
        limits = DialLimits(
            state.limiter, state.redis, per_number_24h=state.settings.max_calls_per_number_24h
        )
        state.services["telephony.limits"] = limits
    return cast(DialLimits, limits)
