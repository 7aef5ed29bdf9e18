"""The compressed COSE object of OSCORE (RFC 8613 sections 5-6) and its few CBOR items.

Owns:
- `OscoreError(code, diagnostic)`: an OSCORE failure as the CoAP response code and the
  diagnostic payload that RFC 8613 section 8.2 suggests for it;
- `encode_option` / `decode_option`: the OSCORE option value (section 6.1);
- `piv_bytes`: the Partial IV encoding of a sequence number (section 5);
- `aad`: AAD = Enc_structure with the external_aad (section 5.4);
- `kdf_info`: the HKDF `info` array (section 3.2.1).

CBOR is written by hand here rather than through lib/cbor.py: every structure is a short
array of a fixed shape (byte strings, one small int, a text label, null), so emitting the
header bytes (RFC 8949 section 3) straight into one preallocated buffer is a few lines,
builds no intermediate lists, and keeps the OSCORE layer independent of the general
codec. Only what AES-CCM-16-64-128 (COSE alg 10) needs is supported.
"""
from micropython import const
from coap.numbers import BAD_OPTION

ALG_AES_CCM_16_64_128 = const(10)
PIV_MAX_LEN = const(5)        # section 6.1: n = 6 and 7 are reserved
_N_MASK = const(0x07)
_FLAG_K = const(0x08)         # 'kid' present
_FLAG_H = const(0x10)         # 'kid context' present
_FLAG_RESERVED = const(0xE0)  # must be zero (section 6.1)

# CBOR major types (RFC 8949 section 3.1), shifted into the initial byte
_BSTR = const(0x40)
_TSTR = const(0x60)
_ARRAY = const(0x80)
_NULL = const(0xF6)

# ["Encrypt0", h'', ...: the fixed 11-byte head of the AAD (section 5.4)
_ENC0_HEAD = b"\x83\x68Encrypt0\x40"


class OscoreError(ValueError):
    """An OSCORE processing error: `code` is the CoAP response code to answer with
    (server side) and `diagnostic` the text for the diagnostic payload."""

    def __init__(self, code, diagnostic):
        super().__init__(diagnostic)
        self.code = code
        self.diagnostic = diagnostic


def _undecodable():
    # Section 8.2 step 2: "Failed to decode COSE" -> 4.02 (Bad Option)
    return OscoreError(BAD_OPTION, "Failed to decode COSE")


def piv_bytes(seq):
    """Sequence number -> Partial IV: big-endian without leading zero bytes, except that
    0 is encoded as the single byte 0x00 (section 5)."""
    n = 1
    while seq >> (n << 3):
        n += 1
    if n > PIV_MAX_LEN:
        raise ValueError("sequence number beyond 2^40 - 1")
    return seq.to_bytes(n, "big")


def encode_option(piv=None, kid=None, kid_context=None):
    """OSCORE option value (section 6.1) from the Partial IV, 'kid' and 'kid context'
    (each bytes, or None when absent; an empty kid is present, as in C.4)."""
    n = len(piv) if piv else 0
    if n > PIV_MAX_LEN:
        raise ValueError("Partial IV longer than 5 bytes")
    flags = n
    size = 1 + n
    if kid_context is not None:
        if len(kid_context) > 255:
            raise ValueError("kid context longer than 255 bytes")
        flags |= _FLAG_H
        size += 1 + len(kid_context)
    if kid is not None:
        flags |= _FLAG_K
        size += len(kid)
    if not flags:
        return b""   # all flag bits zero: "the Option value SHALL be empty" (section 2)
    out = bytearray(size)
    out[0] = flags
    pos = 1
    if n:
        out[1:1 + n] = piv
        pos += n
    if kid_context is not None:
        s = len(kid_context)
        out[pos] = s
        out[pos + 1:pos + 1 + s] = kid_context
        pos += 1 + s
    if kid is not None:
        out[pos:] = kid
    return bytes(out)


def decode_option(value):
    """OSCORE option value -> (piv, kid, kid_context), each bytes or None.
    Raises OscoreError(4.02) on reserved bits, n = 6/7, truncation, trailing bytes or a
    non-empty value whose flag bits are all zero."""
    end = len(value)
    if not end:
        return None, None, None
    flags = value[0]
    n = flags & _N_MASK
    if flags & _FLAG_RESERVED or n > PIV_MAX_LEN or not flags:
        raise _undecodable()
    pos = 1 + n
    if pos > end:
        raise _undecodable()
    piv = bytes(value[1:pos]) if n else None
    kid_context = None
    if flags & _FLAG_H:
        if pos >= end:
            raise _undecodable()
        s = value[pos]
        pos += 1
        if pos + s > end:
            raise _undecodable()
        kid_context = bytes(value[pos:pos + s])
        pos += s
    kid = None
    if flags & _FLAG_K:
        kid = bytes(value[pos:end])   # 'kid' is always the last field
    elif pos != end:
        raise _undecodable()
    return piv, kid, kid_context


def _head_len(n):
    return 1 if n < 24 else (2 if n < 256 else 3)


def _put_head(buf, pos, major, n):
    """Write a CBOR initial byte (+ length) for `n` < 65536; return the new position."""
    if n < 24:
        buf[pos] = major | n
        return pos + 1
    if n < 256:
        buf[pos] = major | 24
        buf[pos + 1] = n
        return pos + 2
    if n > 0xFFFF:
        raise ValueError("CBOR item too long")
    buf[pos] = major | 25
    buf[pos + 1] = n >> 8
    buf[pos + 2] = n & 0xFF
    return pos + 3


def _put_bstr(buf, pos, data):
    pos = _put_head(buf, pos, _BSTR, len(data))
    end = pos + len(data)
    buf[pos:end] = data
    return end


def aad(request_kid, request_piv, alg=ALG_AES_CCM_16_64_128):
    """AAD = ["Encrypt0", h'', bstr .cbor [1, [alg], request_kid, request_piv, h'']]
    (section 5.4; no Class I options are defined, so `options` is always h'')."""
    if not 0 <= alg < 24:
        raise ValueError("unsupported alg")
    kl = len(request_kid)
    pl = len(request_piv)
    # aad_array: 0x85 0x01 0x81 alg, bstr kid, bstr piv, 0x40
    inner = 4 + _head_len(kl) + kl + _head_len(pl) + pl + 1
    out = bytearray(11 + _head_len(inner) + inner)
    out[0:11] = _ENC0_HEAD
    pos = _put_head(out, 11, _BSTR, inner)
    out[pos] = _ARRAY | 5
    out[pos + 1] = 1            # oscore_version
    out[pos + 2] = _ARRAY | 1   # algorithms
    out[pos + 3] = alg
    pos = _put_bstr(out, pos + 4, request_kid)
    pos = _put_bstr(out, pos, request_piv)
    out[pos] = _BSTR            # options: h''
    return out


def kdf_info(ident, id_context, label, length, alg=ALG_AES_CCM_16_64_128):
    """info = [id: bstr, id_context: bstr / nil, alg_aead: int, type: tstr, L: uint]
    (section 3.2.1); `label` is b"Key" or b"IV"; `length` < 24."""
    # array head, id, id_context (or null), alg, text head, label, L
    size = 1 + _head_len(len(ident)) + len(ident) + 3 + len(label)
    if id_context is None:
        size += 1
    else:
        size += _head_len(len(id_context)) + len(id_context)
    out = bytearray(size)
    out[0] = _ARRAY | 5
    pos = _put_bstr(out, 1, ident)
    if id_context is None:
        out[pos] = _NULL
        pos += 1
    else:
        pos = _put_bstr(out, pos, id_context)
    out[pos] = alg
    out[pos + 1] = _TSTR | len(label)
    pos += 2
    out[pos:pos + len(label)] = label
    out[pos + len(label)] = length
    return out
