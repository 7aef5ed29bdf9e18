"""Block-wise transfers (RFC 7959): option codec, Block2 serving and collecting,
Block1 sending and reassembly, bounds and expiry. Every message crosses an
encode/decode round trip, as on the wire."""
from host_tests.support.check import raises
from coap.message import Message, decode
from coap.numbers import (CON, ACK, GET, PUT, CONTENT, CHANGED, NOT_FOUND,
                          BAD_REQUEST, BAD_OPTION, REQUEST_ENTITY_INCOMPLETE,
                          REQUEST_ENTITY_TOO_LARGE, SERVICE_UNAVAILABLE,
                          BLOCK1, BLOCK2, SIZE1, SIZE2, ETAG, MAX_AGE,
                          REQUEST_TAG)
from coap import numbers
from coap.block import (block_value, parse_block, block_size, szx_for,
                        serve_block2, block1_echo, continue_response,
                        Block1Receiver, Block2Collector, Block1Sender,
                        COMPLETE, CONTINUE, NEED_MORE, DONE,
                        TOO_LARGE, OUT_OF_ORDER, RESTART, FAILED)

A = ("10.0.0.1", 5683)
B = ("10.0.0.2", 5683)
C = ("10.0.0.3", 5683)

REP = bytes(range(256)) * 16            # 4096 bytes, every block distinct


def wire(msg):
    return decode(msg.to_bytes())


def block_of(msg, number):
    return parse_block(msg.get(number))


# -- option values (§2.2) ---------------------------------------------------------

def test_block_value_layout():
    assert block_value(0, False, 0) == 0
    assert block_value(1, True, 6) == 0x1E
    assert block_value(16, False, 2) == 0x102
    assert block_value(0xFFFFF, True, 6) == 0xFFFFFE
    assert block_value(5, False, 4) == 0x54


def test_block_value_on_the_wire():
    # NUM 0, M 0, SZX 0 is the uint 0: a zero-length option value (§2.2, RFC 7252 §3.2)
    m = Message(CON, GET, 1).set(BLOCK2, block_value(0, False, 0))
    assert m.to_bytes() == bytes.fromhex("40010001") + bytes([0xD0, 23 - 13])
    m = Message(CON, GET, 1).set(BLOCK2, block_value(1, True, 6))     # 2:1/1/1024
    assert m.to_bytes()[4:] == bytes([0xD1, 10, 0x1E])
    m = Message(CON, GET, 1).set(BLOCK1, block_value(16, False, 2))   # 1:16/0/64
    assert m.to_bytes()[4:] == bytes([0xD2, 27 - 13, 0x01, 0x02])
    m = Message(CON, GET, 1).set(BLOCK1, block_value(0xFFFFF, False, 6))
    assert m.to_bytes()[4:] == bytes([0xD3, 14, 0xFF, 0xFF, 0xF6])


def test_parse_block():
    assert parse_block(b"") == (0, False, 0)
    assert parse_block(b"\x1e") == (1, True, 6)
    assert parse_block(b"\x01\x02") == (16, False, 2)
    assert parse_block(b"\xff\xff\xfe") == (0xFFFFF, True, 6)
    for num, more, szx in ((0, True, 1), (15, False, 5), (4095, True, 3),
                           (70000, False, 0)):
        assert parse_block(Message().set(BLOCK2, block_value(num, more, szx)).get(BLOCK2)) \
            == (num, more, szx)


def test_szx_7_and_long_values_rejected():
    with raises(ValueError):
        parse_block(b"\x07")            # SZX 7 is reserved (§2.2)
    with raises(ValueError):
        parse_block(b"\x01\x0f")
    with raises(ValueError):
        parse_block(b"\x00\x00\x00\x10")  # longer than 3 bytes
    with raises(ValueError):
        block_value(0, False, 7)
    with raises(ValueError):
        block_value(0x100000, False, 0)  # NUM is at most 20 bits
    with raises(ValueError):
        block_value(-1, False, 0)


def test_block_size_and_szx_for():
    assert [block_size(s) for s in range(7)] == [16, 32, 64, 128, 256, 512, 1024]
    with raises(ValueError):
        block_size(7)
    assert szx_for(16) == 0
    assert szx_for(31) == 0
    assert szx_for(32) == 1
    assert szx_for(1000) == 5
    assert szx_for(1024) == 6
    assert szx_for(5000) == 6
    with raises(ValueError):
        szx_for(15)


# -- Block2: server and client ----------------------------------------------------------

def get(block2=None, size2=False):
    req = Message(CON, GET, 7, b"t").set_path("/fw")
    if block2 is not None:
        req.set(BLOCK2, block_value(*block2))
    if size2:
        req.set(SIZE2, 0)
    return wire(req)


def serve(req, rep=REP, **kw):
    resp = Message(ACK, CONTENT, req.mid, req.token)
    err = serve_block2(resp, rep, req, **kw)
    assert err is None
    return wire(resp)


def fetch(rep, first_block2=None, **kw):
    """Run a whole GET transfer; return (body, [(num, more, szx, len)] served)."""
    col = Block2Collector()
    served = []
    req = get(first_block2)
    while True:
        resp = serve(req, rep, **kw)
        raw = resp.get(BLOCK2)
        if raw is not None:
            num, more, szx = parse_block(raw)
            served.append((num, more, szx, len(resp.payload)))
        status, value = col.feed(resp)
        if status == DONE:
            return bytes(value), served
        assert status == NEED_MORE
        num, szx = value
        req = get((num, False, szx))


def test_4k_served_in_1024_blocks_and_reassembled():
    body, served = fetch(REP)
    assert body == REP
    assert served == [(0, True, 6, 1024), (1, True, 6, 1024),
                      (2, True, 6, 1024), (3, False, 6, 1024)]


def test_client_asking_szx_2_gets_64_byte_blocks():
    body, served = fetch(REP, (0, False, 2))
    assert body == REP
    assert len(served) == 64
    assert all(s[2] == 2 and s[3] == 64 for s in served)
    assert [s[0] for s in served] == list(range(64))
    assert [s[1] for s in served].count(False) == 1 and not served[-1][1]


def test_server_uses_smaller_szx_than_asked_and_client_follows():
    body, served = fetch(REP, (0, False, 6), max_szx=4)
    assert body == REP
    assert served[:2] == [(0, True, 4, 256), (1, True, 4, 256)]
    assert len(served) == 16


def test_smaller_szx_keeps_the_requested_byte_offset():
    # block 1 of 1024 bytes asked, the server's blocks are 256: that is block 4
    resp = serve(get((1, False, 6)), max_szx=4)
    assert block_of(resp, BLOCK2) == (4, True, 4)
    assert bytes(resp.payload) == REP[1024:1280]


def test_block2_request_m_bit_is_ignored():
    resp = serve(get((3, True, 6)))
    assert block_of(resp, BLOCK2) == (3, False, 6)
    assert bytes(resp.payload) == REP[3072:]


def test_small_representation_is_not_blocked():
    resp = serve(get(), b"x" * 1024)
    assert resp.get(BLOCK2) is None
    assert bytes(resp.payload) == b"x" * 1024
    resp = serve(get(), b"x" * 1025)
    assert block_of(resp, BLOCK2) == (0, True, 6)
    # an explicit Block2 is always answered with Block2, even when all fits
    resp = serve(get((0, False, 6)), b"short")
    assert block_of(resp, BLOCK2) == (0, False, 6)
    assert bytes(resp.payload) == b"short"


def test_served_block_is_a_slice_not_a_copy():
    rep = bytearray(REP)
    resp = Message(ACK, CONTENT)
    assert serve_block2(resp, rep, get((1, False, 6))) is None
    rep[1024] = 0xAA
    assert resp.payload[0] == 0xAA


def test_size2_on_request():
    resp = serve(get(size2=True))
    assert resp.uint(SIZE2) == 4096
    resp = serve(get((2, False, 5), size2=True))
    assert resp.uint(SIZE2) == 4096
    assert serve(get()).get(SIZE2) is None


def test_block2_errors_leave_the_response_alone():
    for value, code in ((4 << 4 | 6, BAD_REQUEST),     # starts at the end
                        (300 << 4 | 0, BAD_REQUEST),   # beyond the end
                        (0 << 4 | 7, BAD_REQUEST)):    # reserved SZX (§2.2)
        req = Message(CON, GET, 1).set(BLOCK2, value)
        resp = Message(ACK, CONTENT)
        assert serve_block2(resp, REP, wire(req)) == code
        assert resp.options == [] and resp.payload == b""
    req = Message(CON, GET, 1)
    req.options.append([BLOCK2, b"\x00\x00\x00\x16"])
    resp = Message(ACK, CONTENT)
    assert serve_block2(resp, REP, wire(req)) == BAD_OPTION
    assert resp.options == []
    # the last block and block 0 of an empty representation are fine
    assert serve_block2(Message(), REP, get((3, False, 6))) is None
    resp = Message(ACK, CONTENT)
    assert serve_block2(resp, b"", get((0, False, 6))) is None
    assert block_of(resp, BLOCK2) == (0, False, 6) and len(resp.payload) == 0


def block2_response(num, more, szx, data, etag=b"v1", code=CONTENT, size2=None):
    m = Message(ACK, code, 1, b"t", data).set(BLOCK2, block_value(num, more, szx))
    if etag is not None:
        m.set(ETAG, etag)
    if size2 is not None:
        m.set(SIZE2, size2)
    return wire(m)


def test_collector_out_of_order_keeps_state():
    col = Block2Collector()
    assert col.feed(block2_response(0, True, 4, REP[:256])) == (NEED_MORE, (1, 4))
    assert col.feed(block2_response(2, True, 4, REP[512:768])) == (OUT_OF_ORDER, (1, 4))
    assert col.collected == 256
    assert col.feed(block2_response(1, True, 4, REP[256:512])) == (NEED_MORE, (2, 4))
    status, body = col.feed(block2_response(2, False, 4, REP[512:600]))
    assert status == DONE and bytes(body) == REP[:600]
    # nothing started: a later block is out of order
    col = Block2Collector()
    assert col.feed(block2_response(3, True, 4, REP[:256]))[0] == OUT_OF_ORDER


def test_collector_etag_change_restarts():
    col = Block2Collector()
    col.feed(block2_response(0, True, 6, REP[:1024]))
    status, value = col.feed(block2_response(1, True, 6, REP[1024:2048], etag=b"v2"))
    assert (status, value) == (RESTART, (0, 6))
    assert col.collected == 0
    # restart from block 0 of the new version works
    col.feed(block2_response(0, True, 6, REP[:1024], etag=b"v2"))
    status, body = col.feed(block2_response(1, False, 6, b"end", etag=b"v2"))
    assert status == DONE and bytes(body) == REP[:1024] + b"end"


def test_collector_too_large():
    col = Block2Collector(max_body=2048)
    status, value = col.feed(block2_response(0, True, 6, REP[:1024], size2=4096))
    assert (status, value) == (TOO_LARGE, 4096)       # announced, nothing kept
    assert col.collected == 0
    col.feed(block2_response(0, True, 6, REP[:1024]))
    col.feed(block2_response(1, True, 6, REP[1024:2048]))
    assert col.feed(block2_response(2, False, 6, b"!"))[0] == TOO_LARGE
    assert col.collected == 0
    # exactly max_body is fine
    col.feed(block2_response(0, True, 6, REP[:1024]))
    status, body = col.feed(block2_response(1, False, 6, REP[1024:2048]))
    assert status == DONE and bytes(body) == REP[:2048]


def test_collector_presized_by_size2_estimate():
    col = Block2Collector()
    col.feed(block2_response(0, True, 4, REP[:256], size2=1000))   # estimate too big
    status, body = col.feed(block2_response(1, False, 4, REP[256:300]))
    assert status == DONE and bytes(body) == REP[:300] and len(body) == 300
    col.feed(block2_response(0, True, 4, REP[:256], size2=300))    # too small
    col.feed(block2_response(1, True, 4, REP[256:512]))
    status, body = col.feed(block2_response(2, False, 4, REP[512:513]))
    assert status == DONE and bytes(body) == REP[:513]


def test_collector_single_responses_and_failures():
    col = Block2Collector()
    plain = wire(Message(ACK, CONTENT, 1, b"t", b"whole"))
    status, body = col.feed(plain)
    assert status == DONE and bytes(body) == b"whole"
    status, body = col.feed(block2_response(0, False, 6, b"one"))
    assert status == DONE and bytes(body) == b"one"
    assert col.feed(wire(Message(ACK, NOT_FOUND, 1, b"t"))) == (FAILED, NOT_FOUND)
    col.feed(block2_response(0, True, 4, REP[:256]))
    # M=1 with a short payload breaks the offsets (§2.2): rejected, state kept
    assert col.feed(block2_response(1, True, 4, REP[256:300])) == (FAILED, None)
    assert col.collected == 256
    bad = wire(Message(ACK, CONTENT, 1, b"t", b"x").set(BLOCK2, 0x17))
    assert col.feed(bad) == (FAILED, None)
    assert col.collected == 256


# -- Block1: client and server ----------------------------------------------------------

def put(value, data, size1=None, tag=None, mid=1):
    req = Message(CON, PUT, mid, b"p", data).set_path("/fw")
    req.set(BLOCK1, value)
    if size1 is not None:
        req.set(SIZE1, size1)
    if tag is not None:
        req.set(REQUEST_TAG, tag)
    return wire(req)


def test_block1_late_negotiation_rfc7959_figure():
    # RFC 7959 §3.2: 1:0/1/128 -> 2.31 1:0/1/32; then 1:4/1/32, 1:5/1/32, 1:6/0/32
    payload = bytes(range(200)) + b"0123456789ab"      # 212 = 128 + 32 + 32 + 20
    sender = Block1Sender(payload, szx=3)
    rx = Block1Receiver(max_szx=1)
    sent, echoed = [], []
    req = Message(CON, PUT, 1, b"p").set_path("/fw")
    more = sender.fill(req)
    assert req.uint(SIZE1) == 212
    while True:
        req = wire(req)
        sent.append(block_of(req, BLOCK1))
        status, body = rx.feed(A, req, "/fw", 0)
        if status == CONTINUE:
            resp = rx.continue_response(req)
            assert resp.code == numbers.CONTINUE
        else:
            assert status == COMPLETE and not more
            resp = rx.echo(Message(code=CHANGED), req)
        resp = wire(resp)
        echoed.append(block_of(resp, BLOCK1))
        result = sender.on_response(resp)
        if status == COMPLETE:
            break
        assert result == NEED_MORE
        req = Message(CON, PUT, 2, b"p").set_path("/fw")
        more = sender.fill(req)
    assert result == DONE
    assert bytes(body) == payload
    assert sent == [(0, True, 3), (4, True, 1), (5, True, 1), (6, False, 1)]
    assert echoed == [(0, True, 1), (4, True, 1), (5, True, 1), (6, False, 1)]
    assert len(rx) == 0


def test_sender_switches_mid_transfer():
    payload = REP[:3000]
    sender = Block1Sender(payload)
    assert sender.first()[0] == block_value(0, True, 6)
    ack = wire(Message(ACK, numbers.CONTINUE).set(BLOCK1, block_value(0, True, 6)))
    assert sender.on_response(ack) == NEED_MORE
    value, chunk, more = sender.next()
    assert parse_block(Message().set(BLOCK1, value).get(BLOCK1)) == (1, True, 6)
    ack = wire(Message(ACK, numbers.CONTINUE).set(BLOCK1, block_value(2, True, 5)))
    assert sender.on_response(ack) == NEED_MORE
    value, chunk, more = sender.next()                 # 2048 bytes sent, 512 each
    assert value == block_value(4, True, 5)
    assert bytes(chunk) == payload[2048:2560] and more
    # a larger SZX from the server is not adopted
    ack = wire(Message(ACK, numbers.CONTINUE).set(BLOCK1, block_value(4, True, 6)))
    assert sender.on_response(ack) == NEED_MORE
    value, chunk, more = sender.next()
    assert value == block_value(5, False, 5) and bytes(chunk) == payload[2560:]
    assert sender.on_response(wire(Message(ACK, CHANGED))) == DONE


def test_sender_outcomes():
    sender = Block1Sender(b"tiny", szx=0)
    value, chunk, more = sender.first()
    assert (value, bytes(chunk), more) == (0, b"tiny", False)
    # a 2.31 to the last block is a protocol error
    assert sender.on_response(wire(Message(ACK, numbers.CONTINUE))) == FAILED
    assert sender.on_response(wire(Message(ACK, CHANGED))) == DONE
    sender = Block1Sender(REP[:100], szx=0)
    first = sender.first()
    assert sender.next()[0] == first[0]                # resend until acknowledged
    too_big = wire(Message(ACK, REQUEST_ENTITY_TOO_LARGE).set(SIZE1, 64))
    assert sender.on_response(too_big) == TOO_LARGE and sender.size1 == 64
    assert sender.szx == 0
    sender = Block1Sender(REP[:300], szx=6)
    hint = Message(ACK, REQUEST_ENTITY_TOO_LARGE).set(BLOCK1, block_value(0, True, 4))
    assert sender.on_response(wire(hint)) == TOO_LARGE and sender.size1 is None
    assert sender.first()[0] == block_value(0, True, 4)         # restart follows the hint
    hint = Message(ACK, REQUEST_ENTITY_TOO_LARGE).set(BLOCK1, 0)  # empty value: SZX 0
    assert sender.on_response(wire(hint)) == TOO_LARGE and sender.szx == 0
    sender = Block1Sender(REP[:100], szx=0)
    sender.first()
    assert sender.on_response(wire(Message(ACK, NOT_FOUND))) == FAILED
    # a 2.04 without Block1 to a non-final block is not an acknowledgement
    assert sender.on_response(wire(Message(ACK, CHANGED))) == FAILED
    assert sender.sent == 0
    # a 2.04 with Block1 M=0 to a non-final block: a server handling blocks singly
    stateless = wire(Message(ACK, CHANGED).set(BLOCK1, block_value(0, False, 0)))
    assert sender.on_response(stateless) == NEED_MORE and sender.sent == 16
    req = Message(CON, PUT)
    sender.fill(req)
    assert req.get(SIZE1) is None and block_of(req, BLOCK1) == (1, True, 0)
    with raises(ValueError):
        Block1Sender(b"x", szx=7)


def test_sender_chunks_are_slices():
    payload = bytearray(REP[:64])
    sender = Block1Sender(payload, szx=0)
    chunk = sender.first()[1]
    payload[0] = 0xEE
    assert chunk[0] == 0xEE


def blocks(data, szx):
    size = 16 << szx
    out = []
    for i in range(0, max(len(data), 1), size):
        chunk = data[i:i + size]
        out.append((block_value(i // size, i + size < len(data), szx), chunk))
    return out


def test_out_of_order_block_gets_408_and_state_is_unchanged():
    data = REP[:100]
    parts = blocks(data, 1)                             # 32, 32, 32, 4
    rx = Block1Receiver()
    assert rx.feed(A, put(*parts[0]), "/fw", 0) == (CONTINUE, None)
    assert rx.feed(A, put(*parts[2]), "/fw", 1) == (REQUEST_ENTITY_INCOMPLETE, None)
    assert rx.feed(A, put(parts[0][0], b"y" * 32), "/fw", 1)[0] == CONTINUE  # restart
    assert rx.feed(A, put(*parts[1]), "/fw", 2) == (CONTINUE, None)
    assert rx.feed(A, put(*parts[1]), "/fw", 3)[0] == REQUEST_ENTITY_INCOMPLETE    # repeat
    assert rx.feed(A, put(*parts[3]), "/fw", 3)[0] == REQUEST_ENTITY_INCOMPLETE    # skip
    assert rx.feed(A, put(*parts[2]), "/fw", 4) == (CONTINUE, None)
    status, body = rx.feed(A, put(*parts[3]), "/fw", 5)
    assert status == COMPLETE and bytes(body) == b"y" * 32 + data[32:]
    # no transfer at all
    assert rx.feed(A, put(*parts[1]), "/fw", 6)[0] == REQUEST_ENTITY_INCOMPLETE
    assert len(rx) == 0


def test_block1_is_keyed_by_peer_resource_and_request_tag():
    rx = Block1Receiver()
    p0 = block_value(0, True, 0)
    p1 = block_value(1, False, 0)
    assert rx.feed(A, put(p0, b"a" * 16), "/x", 0)[0] == CONTINUE
    assert rx.feed(B, put(p0, b"b" * 16), "/x", 0)[0] == CONTINUE
    assert rx.feed(A, put(p0, b"c" * 16), "/y", 0)[0] == CONTINUE
    assert rx.feed(A, put(p0, b"d" * 16, tag=b"\x01"), "/x", 0)[0] == CONTINUE
    assert len(rx) == 4
    assert bytes(rx.feed(A, put(p1, b"D", tag=b"\x01"), "/x", 1)[1]) == b"d" * 16 + b"D"
    assert bytes(rx.feed(B, put(p1, b"B"), "/x", 1)[1]) == b"b" * 16 + b"B"
    assert bytes(rx.feed(A, put(p1, b"A"), "/x", 1)[1]) == b"a" * 16 + b"A"
    assert rx.feed(A, put(p1, b"C"), "/x", 1)[0] == REQUEST_ENTITY_INCOMPLETE
    assert bytes(rx.feed(A, put(p1, b"C"), "/y", 1)[1]) == b"c" * 16 + b"C"
    assert len(rx) == 0


def test_body_over_max_gets_413_with_size1():
    rx = Block1Receiver(max_body=100)
    parts = blocks(REP[:132], 1)                        # 4 x 32 + 4
    for i in range(3):
        assert rx.feed(A, put(*parts[i]), "/fw", i)[0] == CONTINUE
    assert rx.feed(A, put(*parts[3]), "/fw", 3) == (REQUEST_ENTITY_TOO_LARGE, None)
    last = block_value(3, False, 1)
    assert rx.feed(A, put(last, b"abcde"), "/fw", 3)[0] == REQUEST_ENTITY_TOO_LARGE  # 101
    resp = wire(rx.too_large_response())
    assert resp.code == REQUEST_ENTITY_TOO_LARGE and resp.uint(SIZE1) == 100
    resp = wire(rx.error_response(REQUEST_ENTITY_TOO_LARGE))
    assert resp.code == REQUEST_ENTITY_TOO_LARGE and resp.uint(SIZE1) == 100
    assert wire(rx.error_response(BAD_REQUEST)).code == BAD_REQUEST
    # state unchanged: a last block that fits completes the body at exactly max_body
    status, body = rx.feed(A, put(block_value(3, False, 1), b"abcd"), "/fw", 4)
    assert status == COMPLETE and bytes(body) == REP[:96] + b"abcd"
    # a first block larger than max_body
    rx = Block1Receiver(max_body=100)
    assert rx.feed(A, put(block_value(0, True, 3), REP[:128]), "/fw", 0)[0] == \
        REQUEST_ENTITY_TOO_LARGE
    assert len(rx) == 0


def test_size1_announcing_too_much_gets_413_before_storing():
    rx = Block1Receiver(max_body=4096)
    req = put(block_value(0, True, 6), REP[:1024], size1=4097)
    assert rx.feed(A, req, "/fw", 0) == (REQUEST_ENTITY_TOO_LARGE, None)
    assert len(rx) == 0
    # an ongoing transfer survives a restart attempt refused that way
    assert rx.feed(A, put(block_value(0, True, 6), REP[:1024], size1=2000), "/fw", 0)[0] \
        == CONTINUE
    assert rx.feed(A, req, "/fw", 1)[0] == REQUEST_ENTITY_TOO_LARGE
    status, body = rx.feed(A, put(block_value(1, False, 6), b"tail"), "/fw", 2)
    assert status == COMPLETE and bytes(body) == REP[:1024] + b"tail"
    # exactly max_body announced is accepted
    assert rx.feed(A, put(block_value(0, True, 6), REP[:1024], size1=4096), "/fw", 3)[0] \
        == CONTINUE


def test_block1_malformed_blocks():
    rx = Block1Receiver()
    # M=1 but not a full block; a last block larger than the block size
    assert rx.feed(A, put(block_value(0, True, 1), b"x" * 31), "/fw", 0)[0] == BAD_REQUEST
    assert rx.feed(A, put(block_value(0, False, 1), b"x" * 33), "/fw", 0)[0] == BAD_REQUEST
    assert rx.feed(A, put(0x07, b"x" * 16), "/fw", 0)[0] == BAD_REQUEST      # SZX 7
    req = Message(CON, PUT, 1, b"", b"x" * 16)
    req.options.append([BLOCK1, b"\x00\x00\x00\x08"])
    assert rx.feed(A, wire(req), "/fw", 0)[0] == BAD_OPTION
    assert len(rx) == 0
    # an error in the middle leaves the transfer as it was
    rx.feed(A, put(block_value(0, True, 1), b"a" * 32), "/fw", 0)
    assert rx.feed(A, put(block_value(1, True, 1), b"b" * 5), "/fw", 0)[0] == BAD_REQUEST
    status, body = rx.feed(A, put(block_value(1, False, 1), b"b" * 5), "/fw", 0)
    assert status == COMPLETE and bytes(body) == b"a" * 32 + b"b" * 5


def test_block1_passthrough_and_single_block():
    rx = Block1Receiver()
    req = wire(Message(CON, PUT, 1, b"", b"plain body"))
    status, body = rx.feed(A, req, "/fw", 0)
    assert status == COMPLETE and body is req.payload
    req = put(block_value(0, False, 6), b"one block")
    status, body = rx.feed(A, req, "/fw", 0)
    assert status == COMPLETE and bytes(body) == b"one block"
    resp = wire(rx.echo(Message(code=CHANGED), req))
    assert block_of(resp, BLOCK1) == (0, False, 6)
    assert len(rx) == 0


def test_block1_echo_helpers():
    req = put(block_value(2, True, 3), REP[:128])
    resp = wire(continue_response(req))
    assert resp.code == numbers.CONTINUE and block_of(resp, BLOCK1) == (2, True, 3)
    resp = wire(continue_response(req, max_szx=1))     # same byte offset: 2*128 = 8*32
    assert block_of(resp, BLOCK1) == (8, True, 1)
    resp = block1_echo(Message(code=CHANGED), put(block_value(5, False, 2), b"z"))
    assert block_of(resp, BLOCK1) == (5, False, 2)
    assert block1_echo(Message(code=CHANGED), wire(Message(CON, PUT))).get(BLOCK1) is None


def test_bounded_number_of_transfers():
    rx = Block1Receiver(max_transfers=2)
    first = block_value(0, True, 0)
    assert rx.feed(A, put(first, b"a" * 16), "/fw", 0)[0] == CONTINUE
    assert rx.feed(B, put(first, b"b" * 16), "/fw", 1000)[0] == CONTINUE
    assert rx.feed(C, put(first, b"c" * 16), "/fw", 2000) == (SERVICE_UNAVAILABLE, None)
    assert len(rx) == 2
    busy = wire(rx.busy_response(2000))
    assert busy.code == SERVICE_UNAVAILABLE
    assert busy.uint(MAX_AGE) == 246      # A expires once idle for more than 247 s
    busy = wire(rx.error_response(SERVICE_UNAVAILABLE))       # at the last feed's time
    assert busy.code == SERVICE_UNAVAILABLE and busy.uint(MAX_AGE) == 246
    # the live transfers were not disturbed; a restart of one of them is allowed
    assert rx.feed(A, put(first, b"A" * 16), "/fw", 3000)[0] == CONTINUE
    status, body = rx.feed(A, put(block_value(1, False, 0), b"!"), "/fw", 3000)
    assert status == COMPLETE and bytes(body) == b"A" * 16 + b"!"
    assert rx.feed(C, put(first, b"c" * 16), "/fw", 4000)[0] == CONTINUE
    status, body = rx.feed(B, put(block_value(1, False, 0), b"?"), "/fw", 5000)
    assert bytes(body) == b"b" * 16 + b"?"


def test_stale_transfers_expire():
    rx = Block1Receiver(max_transfers=1)
    assert rx.lifetime_ms == 247000
    assert rx.feed(A, put(block_value(0, True, 0), b"a" * 16), "/fw", 1000)[0] == CONTINUE
    # idle for exactly the lifetime: still there
    assert rx.feed(A, put(block_value(1, True, 0), b"b" * 16), "/fw", 248000)[0] == CONTINUE
    assert rx.expire(495000) == 0
    assert len(rx) == 1
    assert rx.expire(495001) == 1
    assert len(rx) == 0
    assert rx.feed(A, put(block_value(2, False, 0), b"c"), "/fw", 495001)[0] == \
        REQUEST_ENTITY_INCOMPLETE
    # feed() expires too: a stale transfer no longer blocks a new one
    rx = Block1Receiver(max_transfers=1, lifetime_ms=1000)
    rx.feed(A, put(block_value(0, True, 0), b"a" * 16), "/fw", 0)
    assert rx.feed(B, put(block_value(0, True, 0), b"b" * 16), "/fw", 1000)[0] == \
        SERVICE_UNAVAILABLE
    assert rx.retry_after_s(1000) == 1
    assert rx.feed(B, put(block_value(0, True, 0), b"b" * 16), "/fw", 1001)[0] == CONTINUE
    assert rx.feed(A, put(block_value(1, False, 0), b"a"), "/fw", 1001)[0] == \
        REQUEST_ENTITY_INCOMPLETE
    assert rx.retry_after_s(1001) == 2 and Block1Receiver().retry_after_s(0) == 0


def test_block2_and_block1_statuses_are_distinct():
    statuses = (COMPLETE, CONTINUE, NEED_MORE, DONE, TOO_LARGE, OUT_OF_ORDER,
                RESTART, FAILED)
    assert len(set(statuses)) == len(statuses)
    assert CONTINUE == numbers.CONTINUE
    for code in (BAD_REQUEST, BAD_OPTION, REQUEST_ENTITY_INCOMPLETE,
                 REQUEST_ENTITY_TOO_LARGE, SERVICE_UNAVAILABLE):
        assert code not in statuses
