"""One adapter per lead source: verify the provider's signature, parse its payload into
`InboundLead`s. Pure: no I/O. See `base` for the protocol and `registry` for the sources."""
