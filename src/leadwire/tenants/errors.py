from leadwire.platform.errors import Conflict, InvalidPayload, Unauthorized, UnknownTenant


class TenantExists(Conflict):
    code = "tenant_exists"


class InvalidApiKey(Unauthorized):
    code = "invalid_api_key"


class InvalidSettings(InvalidPayload):
    code = "invalid_settings"


__all__ = ["InvalidApiKey", "InvalidSettings", "TenantExists", "UnknownTenant"]
