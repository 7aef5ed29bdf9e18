"""OSCORE (RFC 8613): crypto primitives (hkdf, ccm) and, above them, security contexts."""
