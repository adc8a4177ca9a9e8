"""Errors of the compliance area."""

from __future__ import annotations

from leadwire.platform.errors import (
    BadRequest,
    ErrorClass,
    InvalidPayload,
    LeadwireError,
    NotFound,
)


class ComplianceDataError(LeadwireError):
    """A shipped rule table is malformed; raised when it is first loaded."""

    status_code = 500
    code = "compliance_data_error"
    error_class = ErrorClass.SYSTEM


class NotOnDncList(NotFound):
    code = "not_on_dnc_list"


class DncImportError(BadRequest):
    """A DNC load cannot start: no such file, a bad option."""

    code = "dnc_import_error"


class NoNumbers(InvalidPayload):
    """A DNC file or upload without one valid number: nothing is loaded."""

    code = "no_numbers"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="body")
