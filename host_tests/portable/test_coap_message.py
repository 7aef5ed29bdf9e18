"""CoAP message codec (RFC 7252 §3) against hand-assembled bytes."""
from host_tests.support.check import raises
from coap.message import Message, FormatError, decode, uint_bytes, bytes_uint
from coap.numbers import (CON, NON, ACK, GET, CONTENT, URI_PATH, URI_QUERY,
                          CONTENT_FORMAT, OBSERVE, SIZE1, ECHO, code_text)


def test_get_request_bytes():
    m = Message(CON, GET, 0x7D34, b"\x71")
    m.set_path("/temperature")
    # ver 1, CON, TKL 1, GET, MID, token; Uri-Path (11) of length 11
    assert m.to_bytes() == bytes.fromhex("41017d3471") + b"\xbb" + b"temperature"


def test_response_with_payload_and_uint_option():
    m = Message(ACK, CONTENT, 0x7D34, b"\x71", b"22.3 C")
    m.add(CONTENT_FORMAT, 0)
    assert m.to_bytes() == bytes.fromhex("61457d3471c0ff") + b"22.3 C"


def test_extended_delta_and_length():
    m = Message(NON, GET, 1)
    m.add(SIZE1, 1000)                     # delta 60: 13 + 47
    m.add(ECHO, b"e" * 300)                # delta 192: 13 + 179, len 300: 269 + 31
    data = m.to_bytes()
    assert data[4:7] == bytes([0xD2, 47, 0x03])
    assert data[8:12] == bytes([0xDE, 179, 0x00, 31])
    back = decode(data)
    assert back.uint(SIZE1) == 1000
    assert back.get(ECHO) == b"e" * 300


def test_roundtrip_repeated_options_keep_order():
    m = Message(CON, GET, 0xFFFF, b"12345678")
    m.add(URI_QUERY, "ep=a").add(URI_PATH, "rd").add(URI_QUERY, "lt=60")
    m.add(OBSERVE, 0)
    back = decode(m.to_bytes())
    assert back.mtype == CON and back.code == GET and back.mid == 0xFFFF
    assert back.token == b"12345678"
    assert back.path() == ["rd"]
    assert back.query() == ["ep=a", "lt=60"]
    assert back.observe == 0 and back.get(OBSERVE) == b""


def test_payload_is_not_copied():
    data = bytearray(Message(NON, CONTENT, 5, b"", b"hello").to_bytes())
    m = decode(data)
    data[-1] = ord("!")
    assert bytes(m.payload) == b"hell!"


def test_encode_into_caller_buffer():
    buf = bytearray(64)
    n = Message(CON, GET, 9, b"ab").set_path("a/b").encode_into(buf)
    assert bytes(buf[:n]) == bytes.fromhex("420100096162b161") + b"\x01b"
    with raises(ValueError):
        Message(CON, GET, 9, b"", b"x" * 100).encode_into(bytearray(20))


def test_uint_encoding_is_minimal():
    assert uint_bytes(0) == b""
    assert uint_bytes(255) == b"\xff"
    assert uint_bytes(256) == b"\x01\x00"
    assert bytes_uint(b"") == 0 and bytes_uint(b"\x01\x00") == 256


def test_code_text():
    assert code_text(CONTENT) == "2.05" and code_text(0x84) == "4.04"


MALFORMED = [
    ("short header", "4001", None),
    ("version 2", "80010001", None),
    ("token length 9", "49010001" + "00" * 9, CON),
    ("truncated token", "44010001aabb", CON),
    ("empty with token", "41000001aa", CON),
    ("empty with payload", "60000001ff00", ACK),
    ("reserved class 1", "40200001", CON),
    ("reserved class 7", "40e00001", CON),
    ("marker without payload", "40010001ff", CON),
    ("delta nibble 15", "40010001f0", CON),
    ("length nibble 15", "400100010f", CON),
    ("truncated ext delta", "40010001d0", CON),
    ("truncated ext length 14", "400100010e01", CON),
    ("value beyond datagram", "40010001b46162", CON),
]


def test_malformed_datagrams_raise_format_error():
    for name, hexdata, mtype in MALFORMED:
        with raises(FormatError) as r:
            decode(bytes.fromhex(hexdata))
        assert r.value.mtype == mtype, name
        if mtype is not None:
            assert r.value.mid == 1, name


def test_every_truncation_of_a_valid_message_is_handled():
    m = Message(CON, GET, 77, b"tok")
    m.set_path("/3303/0/5700").add(OBSERVE, 0).add(ECHO, b"x" * 20)
    data = m.to_bytes()
    for n in range(len(data)):
        try:
            decode(data[:n])            # a prefix may be valid (fewer options)
        except FormatError:
            pass


import sys
if sys.implementation.name == "micropython":
    def test_encode_into_allocates_nothing():
        import micropython
        m = Message(CON, CONTENT, 5, b"tokn", b"x" * 58)
        m.add(OBSERVE, 12345).add(CONTENT_FORMAT, 112).add(ECHO, b"e" * 300)
        buf = bytearray(1152)
        micropython.heap_lock()
        try:
            n = m.encode_into(buf)
        finally:
            micropython.heap_unlock()
        assert bytes(buf[:n]) == m.to_bytes()
