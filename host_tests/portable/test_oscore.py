"""OSCORE contexts and protection (lib/oscore/context.py, cose.py, protect.py).

RFC 8613 Appendix C byte-exact in both directions, the error codes of section 8.2 with
the context left unchanged, the replay window (7.4), Observe (4.1.3.5, 8.3, 8.4), and
sequence-number persistence across simulated reboots (Appendix B.1). Runs under pytest
and under `micropython host_tests/mprun.py`.
"""
import sys

from host_tests.support.check import load_vectors, raises, unhex
from coap.message import Message, decode
from coap.numbers import (ACK, BAD_OPTION, BAD_REQUEST, CHANGED, CON, CONTENT, ECHO,
                          GET, MAX_AGE, OBSERVE, OSCORE, POST, PROXY_URI, UNAUTHORIZED,
                          URI_HOST)
from oscore.ccm import AesCcm
from oscore.context import SecurityContext, find_context
from oscore.cose import OscoreError, aad, decode_option, encode_option, piv_bytes
from oscore.protect import (error_response, protect_request, protect_response,
                            unprotect_request, unprotect_response)

VECTORS = load_vectors("oscore-rfc8613-appendix-c.json")
FETCH = 5


def _derivation(label):
    for k in VECTORS["key_derivation"]:
        if k["label"] == label:
            return k
    raise KeyError(label)


def _ctx(label, **kw):
    k = _derivation(label)
    idc = k["id_context"]
    return SecurityContext(unhex(k["master_secret"]), unhex(k["sender_id"]),
                           unhex(k["recipient_id"]), unhex(k["master_salt"]),
                           None if idc is None else unhex(idc), **kw)


def _peer(label):
    # C.1.1 (client) <-> C.1.2 (server)
    return label[:-1] + ("2" if label[-1] == "1" else "1")


def _lookup(*contexts):
    return lambda kid, kid_context: find_context(contexts, kid, kid_context)


def _message(label):
    for m in VECTORS["messages"]:
        if m["label"] == label:
            return m
    raise KeyError(label)


def _state(ctx):
    return ctx.ssn, ctx.replay_state(), ctx.ssn_writes


def _pair():
    return _ctx("C.2.1"), _ctx("C.2.2")


def _request(payload=b"", path="tv1"):
    msg = Message(CON, GET, 0x1234, b"\x01\x02").set_path(path)
    if payload:
        msg.payload = payload
    return msg


# --- key derivation and nonces: C.1-C.3 ---------------------------------------------

def test_key_derivation_vectors():
    for k in VECTORS["key_derivation"]:
        ctx = _ctx(k["label"])
        assert ctx.sender_key == unhex(k["sender_key"]), k["label"]
        assert ctx.recipient_key == unhex(k["recipient_key"]), k["label"]
        assert ctx.common_iv == unhex(k["common_iv"]), k["label"]
        assert ctx.nonce(ctx.sender_id, b"\x00") == unhex(k["sender_nonce_piv0"])
        assert ctx.nonce(ctx.recipient_id, b"\x00") == unhex(k["recipient_nonce_piv0"])


def test_piv_and_option_encoding_section_6_3_examples():
    assert piv_bytes(0) == b"\x00" and piv_bytes(20) == b"\x14"
    assert piv_bytes(256) == b"\x01\x00" and piv_bytes((1 << 40) - 1) == b"\xff" * 5
    with raises(ValueError):
        piv_bytes(1 << 40)
    assert encode_option(b"\x05", b"\x25") == unhex("090525")
    assert encode_option(b"\x00", b"") == unhex("0900")
    assert encode_option(b"\x05", b"", unhex("44616c656b")) == unhex("19050544616c656b")
    assert encode_option() == b""
    assert encode_option(b"\x07") == unhex("0107")
    for value, parts in ((unhex("090525"), (b"\x05", b"\x25", None)),
                         (unhex("19050544616c656b"), (b"\x05", b"", unhex("44616c656b"))),
                         (b"", (None, None, None)), (unhex("0107"), (b"\x07", None, None))):
        assert decode_option(value) == parts


def test_aad_example_section_5_4():
    assert aad(b"\x00", b"\x25") == unhex("8368456e63727970743040498501810a4100412540")


# --- C.4-C.6: requests ------------------------------------------------------------

def test_request_vectors_protect_byte_exact():
    for label in ("C.4", "C.5", "C.6"):
        m = _message(label)
        ctx = _ctx(m["context"], ssn=m["sender_sequence_number"])
        original = decode(unhex(m["unprotected"]))
        before = original.to_bytes()
        outer, binding = protect_request(ctx, original)
        assert outer.to_bytes() == unhex(m["protected"]), label
        assert original.to_bytes() == before, label          # caller's message untouched
        assert ctx.ssn == m["sender_sequence_number"] + 1
        assert bytes(binding.nonce) == unhex(m["nonce"]), label
        assert bytes(aad(binding.kid, binding.piv)) == unhex(m["aad"]), label
        assert outer.get(OSCORE) == unhex(m["oscore_option"]), label
        assert bytes(outer.payload) == unhex(m["ciphertext"]), label
        plain = AesCcm(ctx.sender_key).decrypt(binding.nonce, outer.payload,
                                               aad(binding.kid, binding.piv))
        assert bytes(plain) == unhex(m["plaintext"]), label


def test_request_vectors_unprotect():
    for label in ("C.4", "C.5", "C.6"):
        m = _message(label)
        server = _ctx(_peer(m["context"]))
        inner, ctx, binding = unprotect_request(_lookup(server),
                                                decode(unhex(m["protected"])))
        assert ctx is server
        assert inner.to_bytes() == unhex(m["unprotected"]), label
        assert binding.seq == 20 and binding.piv == b"\x14" and not binding.unsynced
        assert bytes(binding.nonce) == unhex(m["nonce"])
        assert server.replay_state() == (True, 20, 1)
        assert server.ssn == 0


# --- C.7, C.8: responses -----------------------------------------------------------

def _server_binding():
    server = _ctx("C.1.2")
    _, _, binding = unprotect_request(_lookup(server),
                                      decode(unhex(_message("C.4")["protected"])))
    return server, binding


def _client_binding():
    client = _ctx("C.1.1", ssn=20)
    _, binding = protect_request(client, decode(unhex(_message("C.4")["unprotected"])))
    return client, binding


def test_response_vector_c7_reuses_request_nonce():
    m = _message("C.7")
    server, binding = _server_binding()
    response = decode(unhex(m["unprotected"]))
    outer = protect_response(server, response, binding)
    assert outer.to_bytes() == unhex(m["protected"])
    assert outer.code == CHANGED and server.ssn == 0 and binding.nonce_used
    assert bytes(outer.payload) == unhex(m["ciphertext"])
    client, cb = _client_binding()
    inner, piv = unprotect_response(client, decode(unhex(m["protected"])), cb)
    assert piv is None
    assert inner.to_bytes() == unhex(m["unprotected"])


def test_response_vector_c8_own_partial_iv():
    m = _message("C.8")
    server, binding = _server_binding()
    server.ssn = m["sender_sequence_number"]
    outer = protect_response(server, decode(unhex(m["unprotected"])), binding, own_piv=True)
    assert outer.to_bytes() == unhex(m["protected"])
    assert outer.get(OSCORE) == unhex(m["oscore_option"]) and server.ssn == 1
    assert not binding.nonce_used
    assert server.nonce(server.sender_id, b"\x00") == unhex(m["nonce"])
    client, cb = _client_binding()
    inner, piv = unprotect_response(client, decode(unhex(m["protected"])), cb)
    assert piv == 0
    assert inner.to_bytes() == unhex(m["unprotected"])


def test_request_nonce_is_used_for_one_response_only():
    server, binding = _server_binding()
    reply = Message(ACK, CONTENT, 1, b"", b"x")
    first = protect_response(server, reply, binding)
    assert first.get(OSCORE) == b""
    with raises(ValueError):
        protect_response(server, reply, binding, own_piv=False)
    second = protect_response(server, reply, binding)      # automatic: own Partial IV
    assert second.get(OSCORE) == b"\x01\x00" and server.ssn == 1
    client, cb = _client_binding()
    assert unprotect_response(client, first, cb)[1] is None
    with raises(OscoreError) as e:                          # the nonce was used once
        unprotect_response(client, first, cb)
    assert e.value.code == UNAUTHORIZED
    assert unprotect_response(client, second, cb)[1] == 0


# --- round trips ----------------------------------------------------------------

def test_round_trip_keeps_class_u_options_outside_and_everything_else_inside():
    client, server = _pair()
    msg = Message(CON, POST, 7, b"tk").set_path("/a/b").add(URI_HOST, "h")
    msg.add(ECHO, b"\x01\x02").add(2222, b"unknown").add(MAX_AGE, 5)
    msg.payload = b"payload"
    outer, _ = protect_request(client, msg)
    assert [n for n, _ in outer.options] == [URI_HOST, OSCORE]
    assert outer.code == POST and outer.mid == 7 and outer.token == b"tk"
    wire = decode(outer.to_bytes())
    wire.add(MAX_AGE, 0)           # a Class E outer option added on the way: discarded
    inner, _, _ = unprotect_request(_lookup(server), wire)
    assert inner.to_bytes() == msg.to_bytes()


def test_protect_refuses_what_oscore_cannot_carry():
    client, _ = _pair()
    for bad in (_request().add(OSCORE, b""), _request().add(PROXY_URI, "coap://x/y"),
                Message(CON, CONTENT, 1)):
        with raises(ValueError):
            protect_request(client, bad)
    assert client.ssn == 0


def test_message_without_payload_and_unknown_inner_code():
    client, server = _pair()
    outer, _ = protect_request(client, Message(CON, GET, 1, b""))
    inner, _, _ = unprotect_request(_lookup(server), decode(outer.to_bytes()))
    assert inner.code == GET and not inner.payload and not inner.options


# --- bad input: RFC code, context unchanged -------------------------------------------

def _expect(server, wire, code, text=None):
    before = _state(server)
    with raises(OscoreError) as e:
        unprotect_request(_lookup(server), decode(wire))
    assert e.value.code == code, (wire.hex(), e.value.code)
    if text:
        assert e.value.diagnostic == text
    assert _state(server) == before
    return e.value


def _with_option(outer, value, payload=None):
    msg = decode(outer.to_bytes())
    msg.set(OSCORE, value)
    if payload is not None:
        msg.payload = payload
    return msg.to_bytes()


def test_undecodable_oscore_option_is_4_02():
    client, server = _pair()
    outer, _ = protect_request(client, _request(b"abc"))
    bad_values = (
        unhex("09"),                        # n = 1 but no Partial IV byte
        unhex("0a14"),                      # n = 2, one byte
        unhex("2914"),                      # reserved bit set
        unhex("8914"),                      # reserved bit set
        unhex("0e0102030405060708"),        # n = 6: PIV longer than 5 bytes (reserved)
        unhex("0f01020304050607"),          # n = 7 (reserved)
        unhex("1914"),                      # h = 1 but no 's' byte
        unhex("191405aabb"),                # kid context shorter than s
        unhex("0114ff"),                    # trailing bytes with k = 0
        unhex("00"),                        # flag bits all zero but value not empty
        b"",                                # a request without Partial IV and kid
        unhex("0114"),                      # a request without kid
        unhex("0800"),                      # a request without Partial IV
    )
    for value in bad_values:
        _expect(server, _with_option(outer, value), BAD_OPTION, "Failed to decode COSE")
    msg = decode(outer.to_bytes())
    msg.add(OSCORE, msg.get(OSCORE))        # repeated
    _expect(server, msg.to_bytes(), BAD_OPTION)
    msg = decode(outer.to_bytes())
    msg.payload = b""                       # OSCORE option without payload (section 2)
    _expect(server, msg.to_bytes(), BAD_OPTION)
    # the untouched message still verifies: nothing above changed the context
    unprotect_request(_lookup(server), decode(outer.to_bytes()))


def test_unknown_kid_or_kid_context_is_4_01_context_not_found():
    client, server = _pair()
    outer, _ = protect_request(client, _request(b"abc"))
    _expect(server, _with_option(outer, unhex("091477")), UNAUTHORIZED,
            "Security context not found")
    _expect(server, _with_option(outer, unhex("190002010200")), UNAUTHORIZED,
            "Security context not found")   # kid context 0102 the server does not have
    _expect(_ctx("C.1.2"), outer.to_bytes(), UNAUTHORIZED, "Security context not found")


def test_flipped_bits_are_4_00_decryption_failed():
    client, server = _pair()
    outer, _ = protect_request(client, _request(b"some payload"))
    wire = outer.to_bytes()
    start = len(wire) - len(outer.payload)
    for i in range(start, len(wire)):      # every ciphertext and tag byte
        for bit in (0x01, 0x80):
            bad = bytearray(wire)
            bad[i] ^= bit
            _expect(server, bytes(bad), BAD_REQUEST, "Decryption failed")
    # another PIV or kid context changes nonce/AAD: also a decryption failure
    _expect(server, _with_option(outer, unhex("091500")), BAD_REQUEST)
    # the same sequence number as 2 bytes: same nonce, other AAD
    _expect(server, _with_option(outer, unhex("0a000000")), BAD_REQUEST)
    _expect(server, _with_option(outer, outer.get(OSCORE), b"\x00" * 8), BAD_REQUEST)
    inner, _, _ = unprotect_request(_lookup(server), decode(wire))
    assert bytes(inner.payload) == b"some payload"


def test_replay_is_4_01_and_changes_nothing():
    client, server = _pair()
    outer, _ = protect_request(client, _request(b"x"))
    wire = outer.to_bytes()
    unprotect_request(_lookup(server), decode(wire))
    err = _expect(server, wire, UNAUTHORIZED, "Replay detected")
    reply = error_response(decode(wire), err)
    assert reply.mtype == ACK and reply.code == UNAUTHORIZED and reply.mid == outer.mid
    assert reply.token == outer.token and bytes(reply.payload) == b"Replay detected"
    assert reply.get(MAX_AGE) == b"" and not reply.has(OSCORE)   # unprotected, Max-Age 0


def test_error_response_for_each_code():
    client, server = _pair()
    outer, _ = protect_request(client, _request())
    for err in (OscoreError(BAD_OPTION, "Failed to decode COSE"),
                OscoreError(BAD_REQUEST, "Decryption failed")):
        reply = error_response(outer, err)
        assert reply.code == err.code and bytes(reply.payload) == err.diagnostic.encode()


# --- replay window (7.4) ----------------------------------------------------------

# (sequence number, accepted?) in order of arrival; window 32
REPLAY_TABLE = (
    (5, True), (5, False), (3, True), (3, False), (4, True), (0, True), (0, False),
    (40, True), (8, False),      # 40 - 8 = 32: left of the window
    (9, True), (9, False),       # 31 back: still inside, first time
    (41, True), (9, False),      # now 32 back
    (10, True), (39, True), (39, False), (100, True), (69, True), (68, False),
    (101, True), (70, True), (100, False), (1000, True), (999, True), (969, True),
    (968, False), (1001, True), (1000, False),
)


def test_replay_window_slides_table_driven():
    client, server = _pair()
    for seq, accepted in REPLAY_TABLE:
        client.ssn = seq
        outer, _ = protect_request(client, _request())
        if accepted:
            _, _, binding = unprotect_request(_lookup(server), outer)
            assert binding.seq == seq
        else:
            _expect(server, outer.to_bytes(), UNAUTHORIZED, "Replay detected")


def test_replay_window_bitmap_directly():
    ctx = _ctx("C.2.2", window=8)
    for seq in (0, 2, 9):
        assert not ctx.replay_seen(seq)
        ctx.replay_mark(seq)
    assert ctx.replay_state() == (True, 9, 0b10000001)
    assert ctx.replay_seen(1) and ctx.replay_seen(2) and not ctx.replay_seen(3)
    ctx.replay_mark(1 << 39)      # a huge jump does not build a huge int
    assert ctx.replay_state() == (True, 1 << 39, 1)


# --- Observe (4.1.3.5, 8.3.1, 8.4.2) ----------------------------------------------

def test_observe_registration_and_notifications():
    client, server = _pair()
    reg = _request().add(OBSERVE, 0)
    outer, cb = protect_request(client, reg)
    assert outer.code == FETCH and outer.get(OBSERVE) == b"" and cb.observe
    inner, _, sb = unprotect_request(_lookup(server), decode(outer.to_bytes()))
    assert inner.code == GET and inner.observe == 0 and sb.observe
    pivs = []
    for n, value in ((7, b"22"), (8, b"23"), (9, b"24")):
        note = Message(ACK if n == 7 else CON, CONTENT, n, reg.token, value).add(OBSERVE, n)
        sealed = protect_response(server, note, sb)
        assert sealed.code == CONTENT and sealed.observe == n   # Outer Observe
        got, piv = unprotect_response(client, decode(sealed.to_bytes()), cb)
        assert got.code == CONTENT and bytes(got.payload) == value
        assert got.observe == piv & 0xFFFFFF
        pivs.append(piv)
    assert pivs == [0, 1, 2]          # the server's own Partial IVs: increasing
    # a response without Observe to the registration also gets its own Partial IV
    sealed = protect_response(server, Message(ACK, 132, 3, reg.token), sb)
    assert sealed.code == CHANGED and unprotect_response(client, sealed, cb)[1] == 3


def test_inner_observe_is_empty_in_notifications():
    client, server = _pair()
    outer, cb = protect_request(client, _request().add(OBSERVE, 0))
    _, _, sb = unprotect_request(_lookup(server), outer)
    note = Message(ACK, CONTENT, 1, b"", b"v").add(OBSERVE, 77)
    sealed = protect_response(server, note, sb)
    plain = AesCcm(server.sender_key).decrypt(
        server.nonce(server.sender_id, decode_option(sealed.get(OSCORE))[0]),
        sealed.payload, aad(sb.kid, sb.piv))
    assert bytes(plain) == b"\x45\x60\xffv"     # 2.05, Observe (6) with no value, "v"


def test_observe_in_response_to_non_observe_request_is_rejected():
    client, server = _pair()
    outer, cb = protect_request(client, _request())
    _, _, sb = unprotect_request(_lookup(server), outer)
    note = Message(ACK, CONTENT, 1, b"", b"v").add(OBSERVE, 3)
    sealed = protect_response(server, note, sb)
    with raises(OscoreError):
        unprotect_response(client, sealed, cb)
    assert not cb.nonce_used


def test_response_errors_leave_binding_unchanged():
    client, server = _pair()
    outer, cb = protect_request(client, _request())
    _, _, sb = unprotect_request(_lookup(server), outer)
    sealed = protect_response(server, Message(ACK, CONTENT, 1, b"", b"v"), sb)
    wire = bytearray(sealed.to_bytes())
    wire[-1] ^= 1
    with raises(OscoreError) as e:
        unprotect_response(client, decode(bytes(wire)), cb)
    assert e.value.code == BAD_REQUEST and not cb.nonce_used
    with raises(OscoreError) as e:
        unprotect_response(client, Message(ACK, CHANGED, 1, b""), cb)   # no OSCORE option
    assert e.value.code == BAD_OPTION
    assert unprotect_response(client, sealed, cb)[0].code == CONTENT


# --- persistence (B.1.1, B.1.2) ---------------------------------------------------

class Store:
    """A fake store that checks, at every save, that the SSN about to be used has not
    been used yet (so the save comes BEFORE the use)."""

    def __init__(self):
        self.data = {}
        self.saves = []      # (ssn about to be used, saved limit)
        self.used = set()
        self.ctx = None

    def save(self, key, value):
        seq = self.ctx.ssn
        assert seq not in self.used
        assert value > seq
        self.data[key] = value
        self.saves.append((seq, value))

    def load(self, key):
        return self.data.get(key)


def _send(ctx, store, server, log):
    outer, binding = protect_request(ctx, _request())
    pair = (bytes(ctx.sender_id), binding.seq)
    assert pair not in log
    log.add(pair)
    store.used.add(binding.seq)
    assert binding.seq < store.data[ctx.key]      # covered by a save
    unprotect_request(_lookup(server), outer)     # and the server accepts it


def test_ssn_saved_before_use_every_k():
    store = Store()
    client = _ctx("C.2.1", store=store, k_ssn=4)
    store.ctx = client
    server = _ctx("C.2.2")
    log = set()
    for _ in range(10):
        _send(client, store, server, log)
    assert store.saves == [(0, 4), (4, 8), (8, 12)]
    assert client.ssn_writes == 3 and client.ssn == 10


def test_ssn_never_reused_across_restarts():
    store = Store()
    provisioned = _ctx("C.2.1", k_ssn=4).to_dict()     # persisted once, then stale
    client = SecurityContext.from_dict(provisioned, store)
    store.ctx = client
    server = _ctx("C.2.2")
    log = set()
    sent = 0
    for restart_after in (13, 27, 38, 50):
        while sent < restart_after:
            _send(client, store, server, log)
            sent += 1
        limit = store.data[client.key]
        client = SecurityContext.from_dict(provisioned, store)   # reboot
        store.ctx = client
        assert client.ssn == limit and not client.replay_synced
    assert len(log) == 50
    assert max(seq for _, seq in log) < client.ssn


def test_persisted_ssn_write_failure_uses_nothing():
    class Broken:
        def save(self, key, value):
            raise OSError("flash full")

        def load(self, key):
            return None
    client = _ctx("C.2.1", store=Broken(), k_ssn=4)
    with raises(OSError):
        protect_request(client, _request())
    assert client.ssn == 0 and client.ssn_writes == 0


def test_to_dict_round_trip_and_repr_hides_keys():
    for k in VECTORS["key_derivation"]:
        ctx = _ctx(k["label"], ssn=9)
        data = ctx.to_dict()
        again = SecurityContext.from_dict(data)
        assert again.to_dict() == data
        assert again.sender_key == ctx.sender_key and again.common_iv == ctx.common_iv
        assert again.ssn == 9 and not again.replay_synced
        text = repr(ctx) + repr(again)
        for secret in ("master_secret", "sender_key", "recipient_key", "common_iv"):
            assert k[secret] not in text, secret
    assert "ms" in data and data["ms"] == k["master_secret"]


def test_unsynchronised_window_after_restart_then_echo_sync():
    client, _ = _pair()
    server = SecurityContext.from_dict(_ctx("C.2.2").to_dict())
    assert not server.replay_synced
    outer1, _ = protect_request(client, _request())
    inner, ctx, b1 = unprotect_request(_lookup(server), outer1)
    assert b1.unsynced and server.replay_state()[1] == -1     # window untouched
    # the layer above answers 4.01 + Echo, protected with the server's own Partial IV
    challenge = Message(ACK, UNAUTHORIZED, 1, b"").add(ECHO, b"\x99")
    sealed = protect_response(server, challenge, b1, own_piv=True)
    assert decode_option(sealed.get(OSCORE))[0] == b"\x00"
    # the client retries with the Echo value; it proves fresh, so the window syncs
    outer2, _ = protect_request(client, _request().add(ECHO, b"\x99"))
    inner2, _, b2 = unprotect_request(_lookup(server), outer2)
    assert b2.unsynced and inner2.get(ECHO) == b"\x99"
    server.replay_sync(b2.seq)
    assert server.replay_synced
    for old in (outer1, outer2):
        _expect(server, old.to_bytes(), UNAUTHORIZED, "Replay detected")
    outer3, _ = protect_request(client, _request())
    assert not unprotect_request(_lookup(server), outer3)[2].unsynced


def test_find_context_uses_kid_context():
    a = _ctx("C.3.2")
    b = _ctx("C.1.2")                 # same Recipient ID (empty), no ID Context
    assert find_context([b, a], b"", unhex("37cbf3210017a2d3")) is a
    assert find_context([b, a], b"") is b
    assert find_context([a, b], b"\x07") is None


# --- memory (unix port only) ------------------------------------------------------

def test_protect_allocation_is_bounded_on_micropython():
    if sys.implementation.name != "micropython":
        return
    import gc
    client, _ = _pair()
    msg = _request(b"\xa5" * 64)
    protect_request(client, msg)
    gc.collect()
    before = gc.mem_alloc()
    protect_request(client, msg)
    used = gc.mem_alloc() - before
    assert used < 2048, used
