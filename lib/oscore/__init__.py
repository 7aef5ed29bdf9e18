"""OSCORE (RFC 8613): crypto primitives (hkdf, ccm), security contexts (context),
message protection (cose, protect) and, on top, its use by the CoAP stack (secure)."""
