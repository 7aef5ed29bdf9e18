"""Block-wise transfer building blocks (RFC 7959), sans-IO.

Owns: the Block1/Block2 option value codec (§2.2), slicing a representation
into Block2 responses (§2.4), server-side reassembly of Block1 request bodies
(§2.5), client-side reassembly of Block2 responses (§2.4) and client-side
slicing of a Block1 request body (§2.5). No sockets, no clock: the caller
feeds messages and `now_ms`, and sends what it is told to send.

Statuses (plain ints, compare with ==):
  server, `Block1Receiver.feed()`: COMPLETE, CONTINUE (== 2.31, the code to
    answer with) or a CoAP error code (4.00, 4.02, 4.08, 4.13, 5.03);
  client, `Block2Collector.feed()` / `Block1Sender.on_response()`: NEED_MORE,
    DONE, TOO_LARGE, OUT_OF_ORDER, RESTART, FAILED.

Bounds: a `Block1Receiver` holds at most `max_transfers` partial bodies of at
most `max_body` bytes each, dropped after `lifetime_ms` of idleness; a
`Block2Collector` holds one body of at most `max_body` bytes; a `Block1Sender`
holds no copy (memoryview slices of the caller's payload). Block numbers are
limited to 20 bits (values of at most 3 bytes, §2.2) and SZX to 0..6
(16..1024 bytes; SZX 7 is reserved on UDP, §2.2).

Buffers: served and sent blocks are memoryview slices of the caller's bytes,
valid while the caller keeps that buffer unchanged. A body that arrived in a
single message is returned as that message's payload (a memoryview into the
datagram when the message was decoded); a reassembled body is a bytearray, or
a memoryview of one when a Size1/Size2 estimate was larger than the body.
"""
from micropython import const
from coap.numbers import (BLOCK1, BLOCK2, SIZE1, SIZE2, ETAG, REQUEST_TAG,
                          BAD_REQUEST, BAD_OPTION, REQUEST_ENTITY_INCOMPLETE,
                          REQUEST_ENTITY_TOO_LARGE, SERVICE_UNAVAILABLE,
                          MAX_AGE)
from coap.message import Message, bytes_uint

# Block1Receiver.feed() statuses (besides error codes)
COMPLETE = const(0)
CONTINUE = const(95)        # 2.31 Continue (§2.9.1): answer with this code
# Block2Collector / Block1Sender statuses
NEED_MORE = const(1)
DONE = const(2)
TOO_LARGE = const(3)
OUT_OF_ORDER = const(4)
RESTART = const(5)
FAILED = const(6)

EXCHANGE_LIFETIME_MS = const(247000)   # RFC 7252 §4.8.2 with default parameters
_MAX_NUM = const(0xFFFFF)              # 20-bit block number (§2.2)
_MAX_SZX = const(6)


# -- option values (§2.2) --------------------------------------------------------

def block_size(szx):
    """Block size in bytes for SZX 0..6: 2**(SZX + 4)."""
    if not 0 <= szx <= _MAX_SZX:
        raise ValueError("SZX out of range")
    return 16 << szx


def szx_for(size):
    """Largest SZX whose block size is <= `size` (capped at 6 = 1024)."""
    if size < 16:
        raise ValueError("block size below 16")
    szx = 0
    while szx < _MAX_SZX and 32 << szx <= size:
        szx += 1
    return szx


def block_value(num, more, szx):
    """The uint value of a Block1/Block2 option: NUM << 4 | M << 3 | SZX.
    Pass it to `Message.set()`, which encodes it minimally (0 -> empty)."""
    if not 0 <= num <= _MAX_NUM:
        raise ValueError("block number out of range")
    if not 0 <= szx <= _MAX_SZX:
        raise ValueError("SZX out of range")
    return num << 4 | (8 if more else 0) | szx


def parse_block(raw):
    """(num, more, szx) from a raw Block1/Block2 option value. ValueError for
    a value longer than 3 bytes or the reserved SZX 7 (§2.2)."""
    if len(raw) > 3:
        raise ValueError("block option longer than 3 bytes")
    v = bytes_uint(raw)
    if v & 7 == 7:
        raise ValueError("reserved SZX 7")
    return v >> 4, v & 8 != 0, v & 7


def _request_block(msg, number):
    """The Block option of a request: None when absent, (num, more, szx), or
    the error code to answer: 4.02 for a value longer than 3 bytes (a critical
    option of bad length is treated as unrecognized, RFC 7252 §5.4.3), 4.00
    for SZX 7 (§2.2: MUST lead to 4.00 when received in a request)."""
    raw = msg.get(number)
    if raw is None:
        return None
    if len(raw) > 3:
        return BAD_OPTION
    v = bytes_uint(raw)
    if v & 7 == 7:
        return BAD_REQUEST
    return v >> 4, v & 8 != 0, v & 7


# -- server side Block2 (§2.4) ---------------------------------------------------

def serve_block2(response, representation, request, max_szx=_MAX_SZX):
    """Put the block of `representation` asked for by `request` into `response`.

    `response` already has its code and options. When the request carries
    Block2, or the representation is longer than 2**(max_szx + 4), the payload
    becomes one block (a memoryview slice, no copy) and Block2 (num, M, szx) is
    added; otherwise the payload is the whole representation. The block size
    is the requested one or `max_szx`, whichever is smaller (§2.4: a server
    MUST use the size indicated or a smaller one); the requested NUM counts
    blocks of the *requested* size, so with a smaller size the answered NUM
    is scaled to start at the same byte. A Size2 option in the request (§4,
    size request) gets Size2 = total length in a block-wise response. The M
    bit of a Block2 option in a request is ignored (§2.2).

    Returns None on success, else the error code to answer with, `response`
    left unchanged: 4.02 for an over-long Block2 value (RFC 7252 §5.4.3),
    4.00 for SZX 7 (§2.2) or for a block that starts at or beyond the end of
    the representation -- there is no such block to describe (block 0 is
    always served, even of an empty representation).
    ETag (§2.4) is the caller's: set the same ETag on every block of one
    version of the representation.
    """
    total = len(representation)
    blk = _request_block(request, BLOCK2)
    if blk is None:
        if total <= 16 << max_szx:
            response.payload = representation
            return None
        num = 0
        szx = max_szx
    elif isinstance(blk, int):
        return blk
    else:
        num, _, szx = blk
    offset = num << (szx + 4)
    if offset and offset >= total:
        return BAD_REQUEST
    if szx > max_szx:
        szx = max_szx
        num = offset >> (szx + 4)    # offset is a multiple of the larger size
        if num > _MAX_NUM:
            return BAD_REQUEST
    end = offset + (16 << szx)
    more = end < total
    if not more:
        end = total
    response.payload = memoryview(representation)[offset:end]
    response.set(BLOCK2, block_value(num, more, szx))
    if request.has(SIZE2):
        response.set(SIZE2, total)
    return None


# -- server side Block1 (§2.3, §2.5) ---------------------------------------------

def block1_echo(response, request, max_szx=_MAX_SZX):
    """Add to `response` the Block1 option acknowledging `request`'s block
    (§2.3 control usage): NUM and M copied, so M=1 in a 2.31 Continue and M=0
    in the final response of an atomic transfer. SZX is the smaller of the
    request's and `max_szx`: a smaller one tells the client our preferred
    size (late negotiation, §2.5), NUM then scaled to the same byte offset.
    No-op when the request has no valid Block1."""
    blk = _request_block(request, BLOCK1)
    if blk is None or isinstance(blk, int):
        return response
    num, more, szx = blk
    if szx > max_szx:
        num <<= szx - max_szx
        szx = max_szx
    return response.set(BLOCK1, block_value(num, more, szx))


def continue_response(request, max_szx=_MAX_SZX):
    """A 2.31 Continue response (§2.9.1) echoing the request's Block1."""
    return block1_echo(Message(code=CONTINUE), request, max_szx)


class Block1Receiver:
    """Reassembles Block1 request bodies for an atomic server (§2.5).

    Transfers are keyed by (peer, key, Request-Tag values) -- `key` names the
    resource (e.g. the request path); requests with different Request-Tags
    (RFC 9175 §3) are different bodies, no Request-Tag is its own key. At
    most `max_transfers` partial bodies of at most `max_body` bytes each;
    a transfer idle for more than `lifetime_ms` (default EXCHANGE_LIFETIME,
    §2.5: servers may discard a partial body after it) is dropped by
    `expire()`, which `feed()` also runs.

    `feed(peer, request, key, now_ms)` -> (status, body):
      (COMPLETE, body)  no Block1 (body = request.payload, passed through), or
                        the final block (M=0) completed the body; answer with
                        the final code and `echo()` the Block1 (M=0).
      (CONTINUE, None)  block stored; answer `continue_response(request)`.
      (4.08, None)      a block that does not continue a transfer: no transfer
                        (never started, expired, dropped) or not the next byte
                        offset (§2.5, §2.9.2).
      (4.13, None)      the body, or the Size1 the client announces (§4), would
                        exceed max_body; answer `too_large_response()`, which
                        carries Size1 = max_body (§2.9.3). Checked before
                        anything is stored.
      (5.03, None)      a new transfer while `max_transfers` are in progress:
                        new transfers are refused (never is a live one
                        dropped); answer `busy_response(now_ms)`, whose
                        Max-Age says when the oldest one expires.
      (4.00 / 4.02, None) SZX 7 / over-long Block1 value, or a payload that
                        does not match the block size (all blocks but the
                        last are exactly one block, §2.2).
    `error_response(status)` builds the answer to any error status. On any
    error the stored state is unchanged. Block 0 always (re)starts the
    transfer (§2.5: a new sequence overwrites the old context). The client may
    change SZX between blocks; the byte offset NUM * size must continue the
    body.
    """

    def __init__(self, max_body=4096, max_transfers=4,
                 lifetime_ms=EXCHANGE_LIFETIME_MS, max_szx=_MAX_SZX):
        self.max_body = max_body
        self.max_transfers = max_transfers
        self.lifetime_ms = lifetime_ms
        self.max_szx = max_szx
        self._transfers = {}     # (peer, key, tags) -> [buffer, length, last_ms]
        self._now = 0            # now_ms of the last feed(), for error_response()

    def __len__(self):
        return len(self._transfers)

    def feed(self, peer, request, key, now_ms=0):
        self._now = now_ms
        blk = _request_block(request, BLOCK1)
        if blk is None:
            return COMPLETE, request.payload
        if isinstance(blk, int):
            return blk, None
        num, more, szx = blk
        size = 16 << szx
        data = request.payload
        n = len(data)
        if n > size or (more and n != size):
            return BAD_REQUEST, None
        limit = self.max_body
        announced = request.uint(SIZE1)
        if announced is not None and announced > limit:
            return REQUEST_ENTITY_TOO_LARGE, None
        self.expire(now_ms)
        table = self._transfers
        tkey = (peer, key, tuple(request.get_all(REQUEST_TAG)))
        offset = num << (szx + 4)
        if offset == 0:
            if n > limit:
                return REQUEST_ENTITY_TOO_LARGE, None
            if not more:                       # a one-block body: nothing to keep
                table.pop(tkey, None)
                return COMPLETE, data
            if tkey not in table and len(table) >= self.max_transfers:
                return SERVICE_UNAVAILABLE, None
            buf = bytearray(announced if announced and announced > n else n)
            buf[0:n] = data
            table[tkey] = [buf, n, now_ms]
            return CONTINUE, None
        t = table.get(tkey)
        if t is None or t[1] != offset:
            return REQUEST_ENTITY_INCOMPLETE, None
        if offset + n > limit:
            return REQUEST_ENTITY_TOO_LARGE, None
        t[0] = _put(t[0], offset, data)
        t[1] = offset + n
        t[2] = now_ms
        if more:
            return CONTINUE, None
        del table[tkey]
        return COMPLETE, _body(t[0], t[1])

    def expire(self, now_ms):
        """Drop transfers idle for more than lifetime_ms; return how many."""
        table = self._transfers
        old = [k for k, t in table.items() if now_ms - t[2] > self.lifetime_ms]
        for k in old:
            del table[k]
        return len(old)

    def retry_after_s(self, now_ms):
        """Seconds until the oldest transfer expires (0 when none is held)."""
        soonest = None
        for t in self._transfers.values():
            if soonest is None or t[2] < soonest:
                soonest = t[2]
        if soonest is None:
            return 0
        ms = soonest + self.lifetime_ms - now_ms   # expired once exceeded
        return (ms + 1000) // 1000 if ms >= 0 else 0

    def echo(self, response, request):
        """`block1_echo()` with this receiver's preferred SZX."""
        return block1_echo(response, request, self.max_szx)

    def continue_response(self, request):
        return continue_response(request, self.max_szx)

    def too_large_response(self):
        """4.13 with Size1 = max_body (§2.9.3, §4)."""
        return Message(code=REQUEST_ENTITY_TOO_LARGE).set(SIZE1, self.max_body)

    def error_response(self, status, now_ms=None):
        """The response for an error status from `feed()`: 4.13 with Size1,
        5.03 with Max-Age (at `now_ms`, default the last feed's), else the
        bare code."""
        if status == REQUEST_ENTITY_TOO_LARGE:
            return self.too_large_response()
        if status == SERVICE_UNAVAILABLE:
            return self.busy_response(self._now if now_ms is None else now_ms)
        return Message(code=status)

    def busy_response(self, now_ms):
        """5.03 with Max-Age = when a transfer slot frees up (RFC 7252 §5.9.3.4)."""
        return Message(code=SERVICE_UNAVAILABLE).set(MAX_AGE, self.retry_after_s(now_ms))


def _put(buf, offset, data):
    """Write `data` at `offset` (== bytes held) into `buf`, growing it when a
    size estimate was too small; returns the (possibly same) buffer."""
    n = len(data)
    room = len(buf) - offset
    if room >= n:
        buf[offset:offset + n] = data
        return buf
    if room > 0:
        buf[offset:] = memoryview(data)[:room]
        data = memoryview(data)[room:]
    buf.extend(data)
    return buf


def _body(buf, length):
    return buf if length == len(buf) else memoryview(buf)[:length]


# -- client side Block2 (§2.4) ---------------------------------------------------

class Block2Collector:
    """Reassembles one Block2 response body (one transfer at a time).

    `feed(response)` -> (status, value):
      (DONE, body)          the body is complete. A response without Block2,
                            or block 0 with M=0, is a whole body by itself
                            (returned as its payload, no copy).
      (NEED_MORE, (num, szx)) block stored; request block `num` of size `szx`
                            next. `szx` is the size the server used (§2.4: the
                            client MUST take note of it), which may be smaller
                            than the one asked for.
      (OUT_OF_ORDER, (num, szx)) the block does not start where the collected
                            bytes end (or no transfer started); state
                            unchanged, request (num, szx) again.
      (RESTART, (0, szx))   the ETag changed mid-transfer (§2.4): the blocks
                            are from another version; collected data dropped,
                            start again at block 0.
      (TOO_LARGE, size2)    the body (or Size2, §4) exceeds max_body; dropped.
      (FAILED, code)        an error response (code = its code), or a
                            malformed Block2 / wrong payload length (code None);
                            an error response drops the transfer, a malformed
                            one leaves it unchanged.
    Holds one buffer of at most `max_body` bytes (pre-sized from Size2);
    max_body bounds what is reassembled, not a body that came in one message.
    """

    def __init__(self, max_body=8192):
        self.max_body = max_body
        self.szx = None          # block size the server uses, once known
        self._reset()

    def _reset(self):
        self._buf = None
        self._n = 0
        self._etag = None

    @property
    def collected(self):
        return self._n

    def feed(self, response):
        if response.code >> 5 != 2:
            self._reset()
            return FAILED, response.code
        raw = response.get(BLOCK2)
        data = response.payload
        if raw is None:                      # the whole representation
            self._reset()
            return DONE, data
        try:
            num, more, szx = parse_block(raw)
        except ValueError:
            return FAILED, None
        size = 16 << szx
        n = len(data)
        if n > size or (more and n != size):   # §2.2: only the last block is short
            return FAILED, None
        offset = num << (szx + 4)
        limit = self.max_body
        etag = response.get(ETAG)
        if offset == 0:                      # first block: (re)start
            self._reset()
            self.szx = szx
            if not more:
                return DONE, data
            size2 = response.uint(SIZE2)
            if n > limit or (size2 is not None and size2 > limit):
                return TOO_LARGE, size2
            self._buf = _put(bytearray(size2 if size2 and size2 > n else n), 0, data)
            self._n = n
            self._etag = etag
            return NEED_MORE, (n >> (szx + 4), szx)
        if self._buf is None:
            return OUT_OF_ORDER, (0, self.szx if self.szx is not None else szx)
        if etag != self._etag:
            self._reset()
            return RESTART, (0, self.szx)
        have = self._n
        if offset != have:
            return OUT_OF_ORDER, (have >> (self.szx + 4), self.szx)
        if have + n > limit:
            self._reset()
            return TOO_LARGE, response.uint(SIZE2)
        self._buf = _put(self._buf, have, data)
        self._n = have = have + n
        self.szx = szx
        if more:
            return NEED_MORE, (have >> (szx + 4), szx)
        body = _body(self._buf, have)
        self._reset()
        return DONE, body


# -- client side Block1 (§2.5) ---------------------------------------------------

class Block1Sender:
    """Slices a request body into Block1 requests; no copy of the payload.

    `first()` -> (block_value, chunk, more) of block 0; `next()` -> the block
    to send now (the same one again until `on_response()` acknowledges it, so
    it also serves a resend). `fill(request)` sets Block1, the payload and, on
    block 0, Size1 = total length (§4 size indication) into a request.

    `on_response(response)` -> status:
      NEED_MORE  a non-final block was acknowledged:
                 2.31 Continue, or another 2.xx carrying Block1 (a server
                 handling blocks one by one, §2.3). A Block1 SZX smaller than
                 ours is adopted for the following blocks (§2.5 late
                 negotiation): the next NUM is then bytes acknowledged / new
                 size, e.g. 128 bytes sent as block 0, server asks 32 -> next
                 block is 4.
      DONE       the final block was answered with a success code other than
                 2.31 (the final response).
      TOO_LARGE  4.13; `size1` holds the server's Size1 (maximum body) or None.
                 A Block1 with a smaller SZX in the 4.13 is a hint to use
                 smaller blocks (§2.5): it becomes `szx`, so that a restart
                 with `first()` follows it.
      FAILED     any other code, a 2.31 to the final block, a 2.xx without
                 Block1 to a non-final block, or a malformed Block1.
    """

    def __init__(self, payload, szx=_MAX_SZX):
        block_size(szx)                      # validates
        self.payload = payload
        self.szx = szx
        self.size1 = None
        self._mv = memoryview(payload)
        self._offset = 0                     # first byte of the block to send

    def first(self):
        self._offset = 0
        return self.next()

    def next(self):
        szx = self.szx
        offset = self._offset
        end = offset + (16 << szx)
        total = len(self.payload)
        more = end < total
        if not more:
            end = total
        return (block_value(offset >> (szx + 4), more, szx),
                self._mv[offset:end], more)

    @property
    def sent(self):
        """Bytes acknowledged so far."""
        return self._offset

    def fill(self, request):
        value, chunk, more = self.next()
        request.set(BLOCK1, value)
        request.payload = chunk
        if self._offset == 0:
            request.set(SIZE1, len(self.payload))
        return more

    def on_response(self, response):
        code = response.code
        if code == REQUEST_ENTITY_TOO_LARGE:
            self.size1 = response.uint(SIZE1)
            raw = response.get(BLOCK1)       # §2.5: a smaller SZX is a hint,
            if raw is not None:              # taken by a restart with first()
                try:
                    szx = parse_block(raw)[2]
                    if szx < self.szx:
                        self.szx = szx
                except ValueError:
                    pass
            return TOO_LARGE
        if code >> 5 != 2:
            return FAILED
        end = self._offset + (16 << self.szx)
        last = end >= len(self.payload)
        raw = response.get(BLOCK1)
        if raw is not None:
            try:
                _, _, szx = parse_block(raw)
            except ValueError:
                return FAILED
        if last:
            return FAILED if code == CONTINUE else DONE
        if raw is None and code != CONTINUE:
            return FAILED
        self._offset = end
        if raw is not None and szx < self.szx:
            self.szx = szx                   # end is a multiple of the smaller size
        return NEED_MORE
