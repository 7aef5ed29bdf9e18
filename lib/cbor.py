"""Small CBOR codec (RFC 8949) with a cbor2-style API, for MicroPython and CPython.

dumps(obj, deterministic=False) -> bytes (dump_into(out, obj) appends to a bytearray);
loads(data) -> obj for bytes, bytearray or memoryview. Types: int (beyond 64 bits as
tag 2/3 bignums), float, str, bytes-like, list and tuple (both arrays), dict, True,
False, None, `undefined` (f7, distinct from None), Tag(tag, value) for tags other than
2/3, and Simple(n) for unassigned simple values (0..19, 32..255). Anything else raises
TypeError.

Encoding uses preferred serialization: shortest integers, lengths and tag numbers, the
shortest float width that is exact (NaN is f97e00), definite lengths only. Maps follow the
dict's iteration order: insertion order on CPython, but NOT on MicroPython, whose dict is
unordered (OrderedDict is ordered). deterministic=True sorts map entries by encoded key
bytes instead (RFC 8949 section 4.2.1), giving the same bytes on both interpreters.

Decoding also takes indefinite lengths. Arrays decode to lists, but to tuples anywhere
inside a map key so that the key is hashable. Malformed or invalid input raises
ValueError: truncation, reserved additional information (28..30), a misplaced break,
wrongly typed chunks, trailing bytes, invalid UTF-8, maps as keys, duplicate keys (keys
equal in Python, like 1 and 1.0, count) and arrays, maps and tags nested deeper than
MAX_DEPTH, which also bounds dumps().
"""
import struct
from micropython import const

MAX_DEPTH = const(16)

_U64_LIMIT = const(0x10000000000000000)
_FLT_MAX = 3.4028234663852886e38
_INF = float("inf")
_NAN = float("nan")


class Tag:
    """A tagged data item (major type 6): `tag` is the tag number, `value` the content."""

    def __init__(self, tag, value):
        if not (isinstance(tag, int) and 0 <= tag < _U64_LIMIT):
            raise ValueError("tag number must be an int in 0..2**64-1")
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __hash__(self):
        return hash((self.tag, self.value))

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


class Simple:
    """A simple value (major type 7) with no Python counterpart, e.g. Simple(16)."""

    def __init__(self, value):
        if not (isinstance(value, int) and (0 <= value < 20 or 32 <= value < 256)):
            raise ValueError("simple value must be in 0..19 or 32..255")
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Simple) and self.value == other.value

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return "Simple(%d)" % self.value


class _Undefined:
    def __repr__(self):
        return "undefined"


undefined = _Undefined()


# ---------------------------------------------------------------- encoding

def dumps(obj, deterministic=False):
    """Encode obj as CBOR bytes; deterministic=True sorts map keys (RFC 8949 4.2.1)."""
    out = bytearray()
    _encode(out, obj, 0, deterministic)
    return bytes(out)


def dump_into(out, obj, deterministic=False):
    """Append obj's CBOR encoding to the bytearray `out` (no bytes made per item)."""
    _encode(out, obj, 0, deterministic)


def _head(out, major, n):
    """Append the initial byte(s) for major type `major` with argument 0 <= n < 2**64."""
    ib = major << 5
    if n < 24:
        out.append(ib | n)
    elif n < 0x100:
        out.append(ib | 24)
        out.append(n)
    elif n < 0x10000:
        out.extend(struct.pack(">BH", ib | 25, n))
    elif n < 0x100000000:
        out.extend(struct.pack(">BI", ib | 26, n))
    else:
        out.extend(struct.pack(">BQ", ib | 27, n))


def _encode(out, obj, depth, sort):
    if obj is None:
        out.append(0xF6)
    elif obj is False:
        out.append(0xF4)
    elif obj is True:
        out.append(0xF5)
    elif obj is undefined:
        out.append(0xF7)
    elif isinstance(obj, int):
        major = 0
        if obj < 0:
            major, obj = 1, -1 - obj
        if obj < _U64_LIMIT:
            _head(out, major, obj)
        else:
            n = 9
            while obj >> (8 * n):
                n += 1
            _head(out, 6, 2 + major)
            _head(out, 2, n)
            out.extend(obj.to_bytes(n, "big"))
    elif isinstance(obj, float):
        _float(out, obj)
    elif isinstance(obj, str):
        b = obj.encode("utf-8")
        _head(out, 3, len(b))
        out.extend(b)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj) if isinstance(obj, memoryview) else obj
        _head(out, 2, len(b))
        out.extend(b)
    elif isinstance(obj, (list, tuple, dict, Tag)):
        if depth >= MAX_DEPTH:
            raise ValueError("nesting deeper than MAX_DEPTH")
        depth += 1
        if isinstance(obj, dict):
            _head(out, 5, len(obj))
            entries = []
            for k, v in obj.items():
                entry = bytearray() if sort else out
                _encode(entry, k, depth, sort)
                _encode(entry, v, depth, sort)
                if sort:
                    entries.append(entry)
            # An encoded item is never a prefix of another, so sorting whole entries
            # orders them by their encoded keys.
            for entry in sorted(entries):
                out.extend(entry)
        elif isinstance(obj, Tag):
            _head(out, 6, obj.tag)
            _encode(out, obj.value, depth, sort)
        else:
            _head(out, 4, len(obj))
            for v in obj:
                _encode(out, v, depth, sort)
    elif isinstance(obj, Simple):
        _head(out, 7, obj.value)
    else:
        raise TypeError("cannot encode %s object as CBOR" % type(obj).__name__)


def _float(out, x):
    """Append x as the shortest of half/single/double that holds it exactly."""
    if x != x:
        out.extend(b"\xf9\x7e\x00")
        return
    if abs(x) <= _FLT_MAX or abs(x) == _INF:
        single = struct.pack(">f", x)
        if struct.unpack(">f", single)[0] == x:
            half = _half_bits(int.from_bytes(single, "big"))
            if half is None:
                out.append(0xFA)
                out.extend(single)
            else:
                out.extend(struct.pack(">BH", 0xF9, half))
            return
    out.append(0xFB)
    out.extend(struct.pack(">d", x))


def _half_bits(b):
    """Half-precision bits equal to the (non-NaN) single-precision bits b, or None."""
    sign = (b >> 16) & 0x8000
    exp = (b >> 23) & 0xFF
    mant = b & 0x7FFFFF
    if exp == 0xFF:  # infinity
        return sign | 0x7C00
    if exp == 0:  # zero; single subnormals are far below the half range
        return None if mant else sign
    if 113 <= exp <= 142:  # half normal range: exponent 1..30 after rebiasing
        if mant & 0x1FFF == 0:
            return sign | (exp - 112) << 10 | mant >> 13
    elif 103 <= exp <= 112:  # half subnormal: value = m * 2**-24
        mant |= 0x800000
        shift = 126 - exp
        if mant & ((1 << shift) - 1) == 0:
            return sign | mant >> shift
    return None


# ---------------------------------------------------------------- decoding

def loads(data):
    """Decode one CBOR item that fills all of data (bytes, bytearray or memoryview)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("loads() needs bytes, bytearray or memoryview")
    dec = _Decoder(data)
    obj = dec.item(0, False)
    if dec.pos != len(dec.buf):
        raise ValueError("trailing bytes after the CBOR item")
    return obj


def _half(h):
    """Float value of half-precision bits h (struct has no 'e' on MicroPython)."""
    exp = (h >> 10) & 0x1F
    mant = h & 0x3FF
    if exp == 0x1F:
        v = _NAN if mant else _INF
    elif exp == 0:
        v = mant * 2.0 ** -24
    else:
        v = (mant | 0x400) * 2.0 ** (exp - 25)
    return -v if h & 0x8000 else v


def decode_utf8(b):
    """Decode UTF-8 strictly on both ports (MicroPython lets overlong forms,
    surrogates and code points above U+10FFFF pass); ValueError otherwise."""
    s = str(b, "utf-8")
    if len(s) != len(b):
        n = 0
        for c in s:
            o = ord(c)
            if 0xD800 <= o <= 0xDFFF or o > 0x10FFFF:
                raise ValueError("invalid UTF-8")
            n += 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4
        if n != len(b):
            raise ValueError("invalid UTF-8")
    return s


class _Decoder:
    def __init__(self, data):
        self.buf = memoryview(data)
        self.pos = 0

    def room(self, n):
        """Fail unless n more bytes are available (checked before anything is allocated)."""
        if n > len(self.buf) - self.pos:
            raise ValueError("truncated CBOR item")

    def take(self, n):
        self.room(n)
        self.pos += n
        return self.buf[self.pos - n:self.pos]

    def head(self):
        """Read an initial byte and argument: (major, ai, value); value is None for ai 31."""
        ib = self.take(1)[0]
        major = ib >> 5
        ai = ib & 0x1F
        if ai < 24:
            return major, ai, ai
        if ai < 28:
            return major, ai, int.from_bytes(self.take(1 << (ai - 24)), "big")
        if ai < 31:
            raise ValueError("reserved additional information %d" % ai)
        if major == 7:
            raise ValueError("break outside an indefinite-length item")
        if major in (0, 1, 6):
            raise ValueError("indefinite length for major type %d" % major)
        return major, ai, None

    def at_break(self):
        """Consume a break byte if it comes next."""
        self.room(1)
        if self.buf[self.pos] == 0xFF:
            self.pos += 1
            return True
        return False

    def more(self, n, i):
        """Whether a container of n items (None: indefinite) holds another after i."""
        return not self.at_break() if n is None else i < n

    def item(self, depth, key):
        """Decode one item; key is True inside a map key (arrays become tuples there)."""
        major, ai, n = self.head()
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major in (2, 3):
            if n is not None:
                # b"": the constant, not one more empty object (values are kept)
                b = bytes(self.take(n)) if n else b""
                return b if major == 2 else decode_utf8(b)
            parts = []
            while not self.at_break():
                m, _, n = self.head()
                if m != major or n is None:
                    raise ValueError("bad chunk in indefinite-length string")
                b = bytes(self.take(n))
                parts.append(b if major == 2 else decode_utf8(b))
            return (b"" if major == 2 else "").join(parts)
        if major == 7:
            if ai < 20:
                return Simple(ai)
            if ai < 24:
                return (False, True, None, undefined)[ai - 20]
            if ai == 24:
                if n < 32:
                    raise ValueError("simple value %d must not use the two-byte form" % n)
                return Simple(n)
            if ai == 25:
                return _half(n)
            if ai == 26:
                return struct.unpack(">f", struct.pack(">I", n))[0]
            return struct.unpack(">d", struct.pack(">Q", n))[0]
        if depth >= MAX_DEPTH:
            raise ValueError("nesting deeper than MAX_DEPTH")
        depth += 1
        if major == 6:
            value = self.item(depth, key)
            if n not in (2, 3):
                return Tag(n, value)
            if not isinstance(value, bytes):
                raise ValueError("bignum tag needs a byte string")
            value = int.from_bytes(value, "big")
            return value if n == 2 else -1 - value
        if n is not None:
            self.room(n if major == 4 else 2 * n)  # fail fast: each item takes a byte
        if major == 4:
            out = []
            while self.more(n, len(out)):
                out.append(self.item(depth, key))
            return tuple(out) if key else out
        if key:
            raise ValueError("map used as a map key")
        out = {}
        i = 0
        while self.more(n, i):
            k = self.item(depth, True)
            if k in out:
                raise ValueError("duplicate map key %r" % (k,))
            out[k] = self.item(depth, False)
            i += 1
        return out
