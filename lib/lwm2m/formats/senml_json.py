"""application/senml+json (content format 110): SenML JSON (RFC 8428 §5) as
OMA-TS-LightweightM2M_Core V1.1 §7.4.4 uses it; the record model is in
lwm2m.formats.senml.

encode(records, base, type_of=None) -> bytes (compact JSON, UTF-8, Opaque
as base64url without padding, floats in their shortest exact form);
decode(payload, base, type_of, timed=False) -> records;
decode_paths(payload) -> [path] for Read-/Observe-Composite requests.

The JSON reader is our own and small: a SenML pack is an array of objects
whose values are strings, numbers, true, false or null, so nothing nests and
nothing recurses. It follows RFC 8259 strictly (no NaN, no leading zeros, no
trailing commas, no lone surrogates, no control characters in strings).
"""
from lwm2m.formats.types import FormatError, utf8
from lwm2m.formats.numtext import float_text, b64encode, b64decode
from lwm2m.formats import senml

_ESC = {b'"': '"', b"\\": "\\", b"/": "/", b"b": "\b", b"f": "\f",
        b"n": "\n", b"r": "\r", b"t": "\t"}
_WS = b" \t\n\r"


# ---------------------------------------------------------------- encoding

def _string(s):
    out = ['"']
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c < " ":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _json_value(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return float_text(v)
    if isinstance(v, bytes):
        return '"' + b64encode(v, url=True) + '"'
    return _string(v)


def encode(recs, base, type_of=None):
    out = []
    for fields in senml.pack(recs, base, type_of):
        out.append("{" + ",".join(['"%s":%s' % (k, _json_value(v)) for k, v in fields]) + "}")
    return ("[" + ",".join(out) + "]").encode()


# ---------------------------------------------------------------- decoding

def _unbytes(v):
    if not isinstance(v, str):
        raise FormatError("vd must be a string")
    return b64decode(v)


def decode(payload, base, type_of, timed=False):
    return senml.values(parse(payload), base, type_of, _unbytes, timed)


def decode_paths(payload):
    return senml.paths(parse(payload))


def parse(payload):
    """JSON text -> list of dicts of scalars; FormatError for anything else."""
    b = bytes(payload)
    utf8(b)                     # the whole text is valid UTF-8 from here on
    p = _Reader(b)
    p.expect(b"[")
    pack = []
    if not p.eat(b"]"):
        while True:
            pack.append(p.record())
            if p.eat(b"]"):
                break
            p.expect(b",")
    p.skip()
    if p.i != len(b):
        raise FormatError("trailing characters after the JSON array")
    return pack


class _Reader:
    """Works on the UTF-8 bytes: every JSON delimiter is ASCII, and indexing
    a non-ASCII str is not O(1) on MicroPython."""

    def __init__(self, b):
        self.b = b
        self.i = 0

    def skip(self):
        b, i = self.b, self.i
        while i < len(b) and b[i] in _WS:
            i += 1
        self.i = i

    def eat(self, word):
        self.skip()
        if self.b.startswith(word, self.i):
            self.i += len(word)
            return True
        return False

    def expect(self, c):
        if not self.eat(c):
            raise FormatError("JSON: %s expected at %d" % (c.decode(), self.i))

    def record(self):
        self.expect(b"{")
        rec = {}
        if self.eat(b"}"):
            return rec
        while True:
            self.skip()
            key = self.string()
            self.expect(b":")
            rec[key] = self.scalar()
            if self.eat(b"}"):
                return rec
            self.expect(b",")

    def scalar(self):
        self.skip()
        for word, value in ((b"true", True), (b"false", False), (b"null", None)):
            if self.eat(word):
                return value
        if self.b.startswith(b'"', self.i):
            return self.string()
        return self.number()

    def string(self):
        b = self.b
        if not b.startswith(b'"', self.i):
            raise FormatError("JSON: string expected at %d" % self.i)
        i = self.i + 1
        out = []
        while True:
            j = i
            while j < len(b) and b[j] != 0x22 and b[j] != 0x5C and b[j] >= 0x20:
                j += 1
            out.append(str(b[i:j], "utf-8"))
            if j >= len(b):
                raise FormatError("JSON: unterminated string")
            c = b[j]
            if c == 0x22:
                self.i = j + 1
                return "".join(out)
            if c < 0x20:
                raise FormatError("JSON: control character in string")
            e = b[j + 1:j + 2]
            if e in _ESC:
                out.append(_ESC[e])
                i = j + 2
            elif e == b"u":
                cp, i = self._hex4(j + 2)
                if 0xD800 <= cp < 0xDC00 and b.startswith(b"\\u", i):
                    lo, k = self._hex4(i + 2)
                    if 0xDC00 <= lo < 0xE000:
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                        i = k
                if 0xD800 <= cp < 0xE000:
                    raise FormatError("JSON: lone surrogate")
                out.append(chr(cp))
            else:
                raise FormatError("JSON: bad escape")

    def _hex4(self, i):
        h = self.b[i:i + 4]
        if len(h) != 4:
            raise FormatError("JSON: bad \\u escape")
        n = 0
        for c in h:
            c |= 0x20               # lower case for letters
            if 0x30 <= c <= 0x39:
                d = c - 0x30
            elif 0x61 <= c <= 0x66:
                d = c - 0x57
            else:
                raise FormatError("JSON: bad \\u escape")
            n = n << 4 | d
        return n, i + 4

    def _digits(self, k):
        b = self.b
        while k < len(b) and 0x30 <= b[k] <= 0x39:
            k += 1
        return k

    def number(self):
        b = self.b
        i = j = self.i
        if b.startswith(b"-", j):
            j += 1
        k = self._digits(j)
        if k == j or (b[j] == 0x30 and k > j + 1):
            raise FormatError("JSON: bad number at %d" % i)
        is_float = False
        if b.startswith(b".", k):
            m = self._digits(k + 1)
            if m == k + 1:
                raise FormatError("JSON: bad fraction")
            k, is_float = m, True
        if b.startswith(b"e", k) or b.startswith(b"E", k):
            m = k + 1
            if b.startswith(b"+", m) or b.startswith(b"-", m):
                m += 1
            n = self._digits(m)
            if n == m:
                raise FormatError("JSON: bad exponent")
            k, is_float = n, True
        if k - i > 400:
            raise FormatError("JSON: number too long")
        self.i = k
        text = str(b[i:k], "ascii")
        if not is_float:
            if k - i > 40:
                raise FormatError("JSON: integer out of range")
            return int(text)
        x = float(text)
        if x - x != 0:
            raise FormatError("JSON: number out of range")
        return x
