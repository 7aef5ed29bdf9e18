"""HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) on `hashlib.sha256` alone.

Owns: the key derivation OSCORE uses (RFC 8613 section 3.2.1). MicroPython has no
`hmac` module and its sha256 objects have no `.copy()`, so HMAC is written out here:
    HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m))
where K' is K (hashed first when longer than the 64-byte block) padded with zeros.
Runs unchanged under CPython. Not a hot path: contexts are derived once.
"""
from micropython import const
import hashlib

_BLOCK = const(64)      # SHA-256 block size
_HASH_LEN = const(32)   # SHA-256 output size
_IPAD = const(0x36)
_OPAD = const(0x5C)


def _hmac(key, parts):
    """HMAC-SHA256 of the concatenation of `parts` (a tuple of buffers)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    pad = bytearray(_BLOCK)
    pad[: len(key)] = key
    for i in range(_BLOCK):
        pad[i] ^= _IPAD
    h = hashlib.sha256(pad)
    for p in parts:
        h.update(p)
    inner = h.digest()
    for i in range(_BLOCK):
        pad[i] ^= _IPAD ^ _OPAD
    h = hashlib.sha256(pad)
    h.update(inner)
    for i in range(_BLOCK):  # do not leave key material in the freed buffer
        pad[i] = 0
    return h.digest()


def hmac_sha256(key, data):
    """HMAC-SHA256(key, data) -> 32 bytes."""
    return _hmac(key, (data,))


def hkdf_extract(salt, ikm):
    """HKDF-Extract: PRK = HMAC(salt, IKM); an empty/None salt means 32 zero bytes."""
    if not salt:
        salt = bytes(_HASH_LEN)
    return _hmac(salt, (ikm,))


def hkdf_expand(prk, info, length):
    """HKDF-Expand: the first `length` bytes of T(1) || T(2) || ...,
    T(i) = HMAC(PRK, T(i-1) || info || i). `length` is at most 255 * 32."""
    if length < 0 or length > 255 * _HASH_LEN:
        raise ValueError("HKDF length out of range")
    if info is None:
        info = b""
    okm = bytearray(length)
    t = b""
    pos = 0
    i = 1
    while pos < length:
        t = _hmac(prk, (t, info, bytes((i,))))
        n = min(_HASH_LEN, length - pos)
        okm[pos : pos + n] = t[:n]
        pos += n
        i += 1
    return bytes(okm)


def hkdf(salt, ikm, info, length):
    """HKDF-SHA256 (RFC 5869): expand(extract(salt, ikm), info, length) -> bytes."""
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)
