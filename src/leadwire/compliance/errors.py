"""Errors of the compliance area."""

from __future__ import annotations

from leadwire.platform.errors import ErrorClass, LeadwireError


class ComplianceDataError(LeadwireError):
    """A shipped rule table is malformed; raised when it is first loaded."""

    status_code = 500
    code = "compliance_data_error"
    error_class = ErrorClass.SYSTEM
