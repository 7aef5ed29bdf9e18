"""CoAP message codec (RFC 7252 §3).

`Message` holds a decoded or to-be-sent message. Options are kept as a list of
`(number, value)` pairs in wire order, values as raw bytes; typed accessors
convert on demand. The pairs are tuples (32 bytes on the 64-bit unix port, a
two-item list takes 64) and never changed in place: an option is replaced by
a new pair, so messages may share them. `decode()` does not copy the payload: it is a memoryview
into the datagram, valid as long as the caller keeps that buffer unchanged.
`encode_into()` writes into a caller's buffer so a node can reuse one
transmit buffer.
"""
from micropython import const
from coap.numbers import (CON, NON, ACK, RST, EMPTY, URI_PATH, URI_QUERY,
                          CONTENT_FORMAT, ACCEPT, OBSERVE, LOCATION_PATH)

_VERSION = const(1)
_PAYLOAD_MARKER = const(0xFF)


class FormatError(ValueError):
    """A message format error (§3). `mtype`/`mid` are set when the header was
    readable, so a CON can be answered with RST (§4.2); otherwise None."""

    def __init__(self, reason, mtype=None, mid=None):
        super().__init__(reason)
        self.mtype = mtype
        self.mid = mid


def uint_bytes(value):
    """Minimal big-endian encoding of a uint option value (§3.2): 0 -> b''."""
    if value < 0:
        raise ValueError("negative uint option")
    n = 0
    v = value
    while v:
        n += 1
        v >>= 8
    return value.to_bytes(n, "big")


def bytes_uint(data):
    return int.from_bytes(data, "big") if data else 0


def _option_value(value):
    if isinstance(value, int):
        return uint_bytes(value)
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


class Message:
    __slots__ = ("mtype", "code", "mid", "token", "options", "payload")

    def __init__(self, mtype=CON, code=EMPTY, mid=0, token=b"", payload=b""):
        self.mtype = mtype
        self.code = code
        self.mid = mid
        self.token = token
        self.options = []
        self.payload = payload

    # -- options -------------------------------------------------------
    def add(self, number, value):
        """Append an option; int -> uint, str -> UTF-8, bytes as is.
        Options stay sorted by number, repeats in insertion order."""
        value = _option_value(value)
        opts = self.options
        i = len(opts)
        while i and opts[i - 1][0] > number:
            i -= 1
        opts.insert(i, (number, value))
        return self

    def set(self, number, value):
        """Replace every occurrence of `number` with one value."""
        self.remove(number)
        return self.add(number, value)

    def remove(self, number):
        opts = self.options         # in place: no new list per call
        i = len(opts)
        while i:
            i -= 1
            if opts[i][0] == number:
                del opts[i]

    def get(self, number, default=None):
        for n, v in self.options:
            if n == number:
                return v
        return default

    def get_all(self, number):
        return [v for n, v in self.options if n == number]

    def has(self, number):
        for o in self.options:
            if o[0] == number:
                return True
        return False

    def uint(self, number, default=None):
        v = self.get(number)
        return default if v is None else bytes_uint(v)

    # -- common options ---------------------------------------------------
    def _texts(self, number):
        # one list, straight from the options (not through get_all's list)
        return [bytes(v).decode() for n, v in self.options if n == number]

    def path(self):
        """Uri-Path segments as a list of str."""
        return self._texts(URI_PATH)

    def path_str(self):
        return "/" + "/".join(self.path())

    def set_path(self, path, number=URI_PATH):
        """Set Uri-Path (or Location-Path) from '/a/b' or a list of segments."""
        self.remove(number)
        if isinstance(path, str):
            path = [p for p in path.split("/") if p]
        for seg in path:
            self.add(number, seg)
        return self

    def query(self):
        return self._texts(URI_QUERY)

    def location_path(self):
        return self._texts(LOCATION_PATH)

    @property
    def content_format(self):
        return self.uint(CONTENT_FORMAT)

    @property
    def accept(self):
        return self.uint(ACCEPT)

    @property
    def observe(self):
        return self.uint(OBSERVE)

    # -- codec -------------------------------------------------------------
    def encoded_size(self):
        size = 4 + len(self.token)
        last = 0
        for number, value in self.options:
            size += 1 + _ext_len(number - last) + _ext_len(len(value)) + len(value)
            last = number
        if self.payload:
            size += 1 + len(self.payload)
        return size

    def encode_into(self, buf):
        """Write the message into `buf` (bytearray/memoryview); return its length.
        Raises ValueError if it does not fit or a field is out of range."""
        if self.encoded_size() > len(buf):
            raise ValueError("message does not fit the buffer")
        return self._encode(buf)

    def _encode(self, buf):
        """Encode into a buffer known to be large enough; allocates nothing."""
        tkl = len(self.token)
        if tkl > 8:
            raise ValueError("token longer than 8 bytes")
        buf[0] = (_VERSION << 6) | (self.mtype << 4) | tkl
        buf[1] = self.code
        buf[2] = (self.mid >> 8) & 0xFF
        buf[3] = self.mid & 0xFF
        pos = 4
        buf[pos:pos + tkl] = self.token
        pos += tkl
        last = 0
        for number, value in self.options:
            delta = number - last
            length = len(value)
            buf[pos] = (_nibble(delta) << 4) | _nibble(length)
            pos = _put_ext(buf, pos + 1, delta)
            pos = _put_ext(buf, pos, length)
            buf[pos:pos + length] = value
            pos += length
            last = number
        if self.payload:
            buf[pos] = _PAYLOAD_MARKER
            pos += 1
            n = len(self.payload)
            buf[pos:pos + n] = self.payload
            pos += n
        return pos

    def to_bytes(self):
        buf = bytearray(self.encoded_size())
        self._encode(buf)
        return bytes(buf)

    def __repr__(self):
        return "<%s %s mid=%d tok=%s opts=%s %dB>" % (
            ("CON", "NON", "ACK", "RST")[self.mtype], _code_name(self.code), self.mid,
            bytes(self.token).hex(), [(n, bytes(v)) for n, v in self.options],
            len(self.payload))


def _code_name(code):
    return "%d.%02d" % (code >> 5, code & 31)


def _ext_len(value):
    return 0 if value < 13 else (1 if value < 269 else 2)


def _nibble(value):
    """The 4-bit delta/length field for `value` (§3.1)."""
    return value if value < 13 else (13 if value < 269 else 14)


def _put_ext(buf, pos, value):
    """Write the extended delta/length bytes of `value` (§3.1); return pos."""
    if value < 13:
        return pos
    if value < 269:
        buf[pos] = value - 13
        return pos + 1
    if value > 65804:
        raise ValueError("option delta/length too large")
    value -= 269
    buf[pos] = value >> 8
    buf[pos + 1] = value & 0xFF
    return pos + 2


def _get_ext(data, pos, end, nibble, mtype, mid):
    """Read an extended delta/length; return (value, pos)."""
    if nibble < 13:
        return nibble, pos
    if nibble == 13:
        if pos >= end:
            raise FormatError("truncated option header", mtype, mid)
        return data[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 1 >= end:
            raise FormatError("truncated option header", mtype, mid)
        return (data[pos] << 8 | data[pos + 1]) + 269, pos + 2
    raise FormatError("reserved option nibble 15", mtype, mid)


def decode(data):
    """Decode a datagram into a `Message`. Raises `FormatError`."""
    data = memoryview(data)
    end = len(data)
    if end < 4:
        raise FormatError("shorter than the header")
    first = data[0]
    if first >> 6 != _VERSION:
        raise FormatError("unknown version")     # silently ignored (§3)
    mtype = (first >> 4) & 3
    tkl = first & 0x0F
    code = data[1]
    mid = data[2] << 8 | data[3]
    if tkl > 8:
        raise FormatError("token length 9-15", mtype, mid)
    if 4 + tkl > end:
        raise FormatError("truncated token", mtype, mid)
    if code == EMPTY and (tkl or end > 4):
        raise FormatError("empty message with content (§4.1)", mtype, mid)
    if code >> 5 in (1, 6, 7):
        raise FormatError("reserved code class", mtype, mid)
    msg = Message(mtype, code, mid, bytes(data[4:4 + tkl]))
    pos = 4 + tkl
    number = 0
    opts = msg.options
    while pos < end:
        head = data[pos]
        pos += 1
        if head == _PAYLOAD_MARKER:
            if pos == end:
                raise FormatError("payload marker without payload", mtype, mid)
            msg.payload = data[pos:end]
            break
        delta, pos = _get_ext(data, pos, end, head >> 4, mtype, mid)
        length, pos = _get_ext(data, pos, end, head & 0x0F, mtype, mid)
        if pos + length > end:
            raise FormatError("option value beyond the datagram", mtype, mid)
        number += delta
        opts.append((number, bytes(data[pos:pos + length])))
        pos += length
    return msg


def empty(mtype, mid):
    """An Empty message: ACK or RST (§4.2) or CoAP ping (CON)."""
    return Message(mtype, EMPTY, mid)


def response_for(request, code, payload=b""):
    """A response to `request`: piggybacked ACK for CON, NON for NON (§5.2)."""
    mtype = ACK if request.mtype == CON else NON
    return Message(mtype, code, request.mid if mtype == ACK else 0,
                   request.token, payload)

