"""OSCORE wired into the CoAP stack (lib/oscore/secure.py), over the fake radio.

Our client and our server: GET, block-wise POST/GET, Observe; several contexts on one
server; dedup before unprotect; reboots of both sides with no AEAD nonce ever reused
(checked on the air); Echo recovery of the replay window (Appendix B.1.2); bad input
answered with the section 8.2 codes, leaving the server's context unchanged. Runs under
pytest and under `micropython host_tests/mprun.py`.
"""
from host_tests.support.check import raises
from host_tests.support.wire import Wire
from tools.sim.radio import Radio, Rng
from coap.client import Client
from coap.endpoint import SEPARATE, Endpoint
from coap.message import Message, decode
from coap.numbers import (BAD_OPTION, BAD_REQUEST, CHANGED, CON, CONTENT, ECHO, GET,
                          MAX_AGE, OBSERVE, OSCORE, POST, TEXT_PLAIN, UNAUTHORIZED,
                          is_request)
from coap.server import Site, reply
from oscore.context import SecurityContext
from oscore.cose import decode_option
from oscore.protect import protect_request
from oscore.secure import Protection, SecureHandler, security_of

SECRET = bytes(range(1, 17))
SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
CID = b"\x01"                 # the client's Sender ID
SID = b"\x02"                 # the server's Sender ID
CLIENT = ("c", 5683)
SERVER = ("s", 5683)
BODY = bytes(range(256)) * 10          # 2560 bytes: Block1 up, Block2 down


def _rng_bytes(seed):
    rng = Rng(seed)

    def rand(n):
        return bytes(rng.next() & 0xFF for _ in range(n))
    return rand


class Flash:
    """The store of one node: survives its reboots."""

    def __init__(self):
        self.data = {}
        self.writes = 0

    def save(self, key, value):
        self.data[key] = value
        self.writes += 1

    def load(self, key):
        return self.data.get(key)


class Sensor:
    """An OSCORE-only resource (the inner handler decides): GET, POST, observable."""
    observable = True

    def __init__(self):
        self.value = 0
        self.data = b""
        self.callers = []

    def _caller(self, request):
        sec = security_of(request)
        self.callers.append(None if sec is None else bytes(sec.kid))
        return sec

    def get(self, request):
        if self._caller(request) is None:
            return reply(UNAUTHORIZED)
        if request.path() == ["data"]:
            return reply(CONTENT, self.data)
        return reply(CONTENT, b"%d" % self.value, TEXT_PLAIN)

    def post(self, request):
        if self._caller(request) is None:
            return reply(UNAUTHORIZED)
        self.data = bytes(request.payload)
        return reply(CHANGED)


def _context(sid, rid, flash=None, idctx=None, k_ssn=4):
    return SecurityContext(SECRET, sid, rid, SALT, idctx, store=flash, k_ssn=k_ssn)


class Node:
    """One boot of a node: endpoint, site behind the OSCORE handler, client."""

    def __init__(self, radio, addr, contexts, seed, sensor=None):
        self.radio = radio
        self.addr = addr
        self.ep = Endpoint(None, rand=_rng_bytes(seed), dedup_size=64)
        self.ep.transport = radio.attach(addr, self.ep)
        self.site = Site(self.ep)
        self.sensor = sensor or Sensor()
        self.site.add("temp", self.sensor)
        self.site.add("data", self.sensor)
        self.guard = SecureHandler(self.site.handle, contexts, rand=_rng_bytes(seed + 1))
        self.ep.handler = self.guard.handle
        self.client = Client(self.ep, szx=4)
        self.contexts = contexts

    def down(self):
        self.radio.detach(self.addr)


def _network(seed=1, **link):
    radio = Radio(seed=seed)
    radio.link("c", "s", **link)
    return radio


def _call(node, peer, msg, ctx, observe=False, limit=60000):
    """Run one request from `node` to completion; returns the list of (response, error)."""
    got = []
    op = node.client.request(peer, msg, lambda r, e: got.append((r, e)), node.radio.now_ms,
                             observe=observe,
                             security=None if ctx is None else Protection(ctx))
    node.radio.wake(node.addr)
    node.radio.run_while(lambda: not got, limit)
    return got, op


def _get(path="/temp"):
    return Message(CON, GET).set_path(path)


def _state(ctx):
    return ctx.ssn, ctx.replay_state(), ctx.ssn_writes


# --- requests, block-wise, observe -----------------------------------------------------

def test_get_post_blockwise_and_unprotected_refused():
    radio = _network()
    server = Node(radio, SERVER, [_context(SID, CID)], 10)
    client = Node(radio, CLIENT, [], 20)
    cctx = _context(CID, SID)
    got, _ = _call(client, SERVER, _get(), cctx)
    assert got[0][0].code == CONTENT and bytes(got[0][0].payload) == b"0"
    assert server.sensor.callers == [CID]
    got, _ = _call(client, SERVER, Message(CON, POST, payload=BODY).set_path("/data"), cctx)
    assert got[0][0].code == CHANGED and server.sensor.data == BODY
    got, _ = _call(client, SERVER, _get("/data"), cctx)
    assert bytes(got[0][0].payload) == BODY
    got, _ = _call(client, SERVER, _get(), None)          # no OSCORE: the inner refuses
    assert got[0][0].code == UNAUTHORIZED and server.sensor.callers[-1] is None
    # nothing readable on the air, every OSCORE request carries our kid
    for f in radio.log:
        assert BODY[:64] not in f.data
        msg = decode(f.data)
        if f.src == CLIENT and msg.has(OSCORE):
            assert decode_option(msg.get(OSCORE))[1] == CID
    assert server.guard.rejected == 0


def test_observe_notifications_carry_increasing_server_partial_ivs():
    radio = _network()
    server = Node(radio, SERVER, [_context(SID, CID)], 10)
    client = Node(radio, CLIENT, [], 20)
    seen = []
    op = client.client.request(SERVER, _get(), lambda r, e: seen.append(bytes(r.payload)),
                               0, observe=True, security=Protection(_context(CID, SID)))
    radio.run_for(200)
    for i in range(1, 6):
        server.sensor.value = i
        server.site.changed("temp", radio.now_ms)
        radio.wake(SERVER)
        radio.run_for(200)
    assert seen == [b"0", b"1", b"2", b"3", b"4", b"5"]
    pivs = []
    for f in radio.log:
        msg = decode(f.data)
        if f.src == SERVER and msg.has(OBSERVE):
            piv = decode_option(msg.get(OSCORE))[0]
            assert piv is not None
            pivs.append(int.from_bytes(piv, "big"))
    assert len(pivs) == 6 and pivs == sorted(pivs) and len(set(pivs)) == 6
    op.cancel(radio.now_ms, deregister=True)
    radio.wake(CLIENT)
    radio.run_for(1000)
    assert len(server.site.observers) == 0                # protected deregistration worked


def test_reordered_notifications_are_dropped_by_partial_iv():
    radio = _network(seed=11, delay_ms=5, reorder_ms=200)
    server = Node(radio, SERVER, [_context(SID, CID)], 10)
    client = Node(radio, CLIENT, [], 20)
    seen = []
    client.client.request(SERVER, _get(), lambda r, e: seen.append(int(bytes(r.payload))),
                          0, observe=True, security=Protection(_context(CID, SID)))
    radio.run_for(300)
    for i in range(1, 40):
        server.sensor.value = i
        server.site.changed("temp", radio.now_ms)
        radio.wake(SERVER)
        radio.run_for(20)
    radio.run_for(1000)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert 10 < len(seen) < 40


def test_server_holds_several_contexts_and_tells_callers_apart():
    radio = _network()
    radio.link("s", "d")
    ctx_c = _context(SID, CID)
    ctx_d = _context(b"\x05", b"\x03", idctx=b"\xaa\xbb")
    server = Node(radio, SERVER, [ctx_c, ctx_d], 10)
    with raises(ValueError):
        server.guard.add(_context(b"\x09", CID))          # Recipient ID taken
    server.guard.add(_context(b"\x09", CID, idctx=b"\x01"))   # another ID Context: fine
    c = Node(radio, CLIENT, [], 20)
    d = Node(radio, ("d", 5683), [], 30)
    got, _ = _call(c, SERVER, _get(), _context(CID, SID))
    assert got[0][0].code == CONTENT
    got, _ = _call(d, SERVER, _get(), _context(b"\x03", b"\x05", idctx=b"\xaa\xbb"))
    assert got[0][0].code == CONTENT
    assert server.sensor.callers == [CID, b"\x03"]
    # a client whose Recipient ID no context of the server has
    got, _ = _call(d, SERVER, _get(), _context(b"\x07", b"\x05"))
    assert got[0][0] is None and "Security context not found" in got[0][1]


# --- message layer and OSCORE: dedup first ------------------------------------------------

def test_retransmitted_con_gets_cached_protected_response_not_replay():
    wire = Wire()
    sctx = _context(SID, CID)
    server_ep = Endpoint(wire.transport(SERVER), rand=_rng_bytes(1))
    site = Site(server_ep)
    sensor = Sensor()
    site.add("temp", sensor)
    guard = SecureHandler(site.handle, [sctx])
    server_ep.handler = guard.handle
    client_ep = Endpoint(wire.transport(CLIENT), rand=_rng_bytes(2))
    wire.attach(SERVER, server_ep)
    wire.attach(CLIENT, client_ep)
    got = []
    Client(client_ep).request(SERVER, _get(), lambda r, e: got.append(r), 0,
                              security=Protection(_context(CID, SID)))
    first = wire.queue[0][2]
    wire.deliver(0, drop=lambda src, dst, msg: src == SERVER)     # the ACK is lost
    assert not got and sensor.callers == [CID]
    state = _state(sctx)
    client_ep.step(5000)                                          # retransmission
    assert wire.queue[0][2] == first
    wire.deliver(5000)
    assert got[0].code == CONTENT and bytes(got[0].payload) == b"0"
    assert server_ep.duplicates == 1 and guard.rejected == 0
    assert sensor.callers == [CID] and _state(sctx) == state       # not run, nothing used


# --- reboots: no nonce reuse, Echo recovery ---------------------------------------------------

def _nonce_uses(log):
    """(key owner, nonce ID, Partial IV) -> set of ciphertexts, from every OSCORE frame on
    the air. A response without a Partial IV reuses its request's nonce (under the
    server's key), found by token."""
    uses = {}
    request_nonce = {}
    for f in log:
        msg = decode(f.data)
        if not msg.has(OSCORE):
            continue
        piv, kid, _ = decode_option(msg.get(OSCORE))
        owner = f.src[0]
        if is_request(msg.code):
            use = (owner, kid, piv)
            request_nonce[(f.src, msg.token)] = (kid, piv)
        elif piv is not None:
            use = (owner, SID if owner == "s" else CID, piv)
        else:
            use = (owner,) + request_nonce[(f.dst, msg.token)]
        uses.setdefault(use, set()).add(bytes(msg.payload))
    return uses


def test_reboots_of_both_sides_never_reuse_a_nonce():
    radio = _network(delay_ms=5)
    cflash, sflash = Flash(), Flash()
    boot = [0]

    def boot_server():
        boot[0] += 1
        return Node(radio, SERVER, [_context(SID, CID, sflash)], 100 + boot[0] * 7)

    def boot_client():
        boot[0] += 1
        node = Node(radio, CLIENT, [], 200 + boot[0] * 7)
        return node, _context(CID, SID, cflash)

    def session(client, cctx, server, n):
        codes = []
        for i in range(n):
            got, _ = _call(client, SERVER, _get(), cctx)
            codes.append(got[0][0].code)
        got = []
        op = client.client.request(SERVER, _get(), lambda r, e: got.append(r), radio.now_ms,
                                   observe=True, security=Protection(cctx))
        radio.wake(CLIENT)
        radio.run_for(500)
        for i in range(3):
            server.site.changed("temp", radio.now_ms)
            radio.wake(SERVER)
            radio.run_for(200)
        op.cancel(radio.now_ms)
        codes.extend(r.code for r in got)
        return codes

    server = boot_server()
    client, cctx = boot_client()
    codes = session(client, cctx, server, 6)
    for restart in ("client", "server", "client", "server", "both"):
        if restart in ("client", "both"):
            client.down()
            client, cctx = boot_client()
        if restart in ("server", "both"):
            server.down()
            server = boot_server()
        radio.run_for(1000)
        codes += session(client, cctx, server, 5)
    assert set(codes) == {CONTENT} and len(codes) == (6 + 4) + 5 * (5 + 4)
    uses = _nonce_uses(radio.log)
    assert all(len(cts) == 1 for cts in uses.values())          # never two plaintexts
    assert len([u for u in uses if u[0] == "c"]) >= 30
    assert len([u for u in uses if u[0] == "s" and u[1] == SID]) >= 20
    assert cflash.writes >= 10 and sflash.writes >= 6


def test_echo_recovery_after_server_restart_and_old_requests_stay_rejected():
    radio = _network(delay_ms=5)
    sflash = Flash()
    server = Node(radio, SERVER, [_context(SID, CID, sflash)], 10)
    client = Node(radio, CLIENT, [], 20)
    cctx = _context(CID, SID)
    _call(client, SERVER, _get(), cctx)
    old = [f.data for f in radio.log if f.src == CLIENT][-1]
    server.down()
    server = Node(radio, SERVER, [_context(SID, CID, sflash)], 30)
    sctx = server.contexts[0]
    assert not sctx.replay_synced
    # an old request replayed before the window is synced is challenged, not served
    attacker = radio.attach(("c", 9999), None)
    attacker.send(SERVER, old)
    radio.run_for(100)
    assert server.sensor.callers == [] and server.guard.challenges == 1
    assert not sctx.replay_synced
    # our client: 4.01 + Echo, retried with the Echo, served once
    before = len(radio.log)
    got, _ = _call(client, SERVER, _get(), cctx)
    assert got[0][0].code == CONTENT and server.sensor.callers == [CID]
    assert server.guard.challenges == 2 and sctx.replay_synced
    requests = [decode(f.data) for f in radio.log[before:] if f.src == CLIENT]
    responses = [decode(f.data) for f in radio.log[before:] if f.src == SERVER]
    assert len(requests) == 2 and len(responses) == 2
    assert decode_option(responses[0].get(OSCORE))[0] is not None   # own Partial IV
    # the window is synchronised: the old request (new MID: no duplicate) is a replay
    attacker.send(SERVER, _with_mid(old, 0x5555))
    radio.run_for(100)
    answer = decode(radio.log[-1].data)
    assert answer.code == UNAUTHORIZED and bytes(answer.payload) == b"Replay detected"
    assert server.sensor.callers == [CID]


def test_second_4_01_with_echo_goes_to_the_caller():
    radio = _network()
    sctx = _context(SID, CID)
    server = Node(radio, SERVER, [sctx], 10)
    asked = []

    def stubborn(request, peer, now_ms):
        asked.append(request.get(ECHO))
        return Message(code=UNAUTHORIZED).add(ECHO, b"\x01\x02")
    server.guard.inner = stubborn
    client = Node(radio, CLIENT, [], 20)
    got, _ = _call(client, SERVER, _get(), _context(CID, SID))
    assert got[0][0].code == UNAUTHORIZED and got[0][0].get(ECHO) == b"\x01\x02"
    assert asked == [None, b"\x01\x02"]


# --- bad input over the air ---------------------------------------------------------------

class _Inbox:
    def __init__(self):
        self.got = []

    def receive(self, data, peer, now_ms):
        self.got.append(decode(data))


def _forge(msg, option=None, payload=None, mid=0x4000):
    out = Message(CON, msg.code, mid, b"\x77")
    out.options = [[n, (option if option is not None and n == OSCORE else v)]
                   for n, v in msg.options]
    out.payload = msg.payload if payload is None else payload
    return out.to_bytes()


def _with_mid(datagram, mid):
    return datagram[:2] + bytes((mid >> 8, mid & 0xFF)) + datagram[4:]


def test_bad_input_gets_the_rfc_answer_and_changes_nothing():
    radio = _network()
    sctx = _context(SID, CID, Flash())
    server = Node(radio, SERVER, [sctx], 10)
    inbox = _Inbox()
    attacker = radio.attach(CLIENT, inbox)
    cctx = _context(CID, SID)
    first, _ = protect_request(cctx, _get())
    attacker.send(SERVER, _forge(first, mid=1))
    radio.run_for(100)
    assert inbox.got[-1].code == CHANGED and inbox.got[-1].has(OSCORE)   # served

    def flipped(msg):
        ct = bytearray(msg.payload)
        ct[3] ^= 0x10
        return _forge(msg, payload=bytes(ct))
    decode_error = (BAD_OPTION, b"Failed to decode COSE")
    cases = (          # each on a fresh request: (how to spoil it, expected answer)
        (lambda m: _forge(m, option=b"\x29" + m.get(OSCORE)[1:]), decode_error),  # reserved
        (lambda m: _forge(m, option=b"\x19\x00\x05\x01"), decode_error),   # truncated
        (lambda m: _forge(m, option=b"\x0e\x00\x00\x00\x00\x00\x01\x01"),
         decode_error),                                                    # 6-byte PIV
        (lambda m: _forge(m, option=b"\x09"), decode_error),   # PIV announced, not there
        (lambda m: _forge(m, payload=b""), decode_error),       # no ciphertext
        (lambda m: _forge(m, option=m.get(OSCORE)[:-1] + b"\x07"),
         (UNAUTHORIZED, b"Security context not found")),                  # wrong kid
        (flipped, (BAD_REQUEST, b"Decryption failed")),
        (lambda m: _forge(first), (UNAUTHORIZED, b"Replay detected")),     # the first again
    )
    for i, (spoil, expected) in enumerate(cases):
        fresh, _ = protect_request(cctx, _get())
        state = _state(sctx)
        calls = len(server.sensor.callers)
        attacker.send(SERVER, _with_mid(spoil(fresh), 0x4000 + i))   # new MID: no duplicate
        radio.run_for(100)
        answer = inbox.got[-1]
        assert (answer.code, bytes(answer.payload)) == expected, i
        assert not answer.has(OSCORE) and answer.uint(MAX_AGE) == 0, i
        assert _state(sctx) == state and len(server.sensor.callers) == calls, i
    assert server.guard.rejected == len(cases)
    # the context still works, and the skipped sequence numbers are fine (window)
    later, _ = protect_request(cctx, _get())
    attacker.send(SERVER, _forge(later, mid=3))
    radio.run_for(100)
    assert inbox.got[-1].code == CHANGED and len(server.sensor.callers) == 2


def test_unknown_critical_inner_option_gets_a_protected_4_02():
    radio = _network()
    server = Node(radio, SERVER, [_context(SID, CID)], 10)
    client = Node(radio, CLIENT, [], 20)
    got, _ = _call(client, SERVER, _get().add(2049, b"x"), _context(CID, SID))
    assert got[0][0].code == BAD_OPTION and server.sensor.callers == []
    assert decode(radio.log[-1].data).has(OSCORE)


# --- client side: what it accepts ------------------------------------------------------

def _wired(inner=None):
    """Client and server endpoints on a hand-driven wire; the server's OSCORE handler
    wraps `inner` (default: a Site with the Sensor)."""
    wire = Wire()
    sctx = _context(SID, CID)
    server_ep = Endpoint(wire.transport(SERVER), rand=_rng_bytes(1))
    site = Site(server_ep)
    sensor = Sensor()
    site.add("temp", sensor)
    guard = SecureHandler(inner or site.handle, [sctx])
    server_ep.handler = guard.handle
    client_ep = Endpoint(wire.transport(CLIENT), rand=_rng_bytes(2))
    wire.attach(SERVER, server_ep)
    wire.attach(CLIENT, client_ep)
    return wire, client_ep, server_ep, site, sensor


def _tamper(datagram):
    data = bytearray(datagram)
    data[-1] ^= 1                      # last byte of the tag
    return bytes(data)


def test_forged_notification_is_dropped_and_the_observation_goes_on():
    wire, client_ep, server_ep, site, sensor = _wired()
    seen = []
    op = Client(client_ep).request(SERVER, _get(), lambda r, e: seen.append((r, e)), 0,
                                   observe=True, security=Protection(_context(CID, SID)))
    wire.deliver(0)
    assert [bytes(r.payload) for r, e in seen] == [b"0"]
    sensor.value = 1
    site.changed("temp", 10)
    src, dst, data = wire.queue.pop()
    client_ep.receive(_tamper(data), src, 10)      # forged: dropped silently
    sensor.value = 2
    site.changed("temp", 20)
    wire.deliver(20)
    client_ep.receive(data, src, 30)               # genuine but older than "2": dropped
    assert [bytes(r.payload) for r, e in seen] == [b"0", b"2"] and not op.done


def test_first_response_failing_verification_is_an_error():
    wire, client_ep, server_ep, site, sensor = _wired()
    got = []
    Client(client_ep).request(SERVER, _get(), lambda r, e: got.append((r, e)), 0,
                              observe=True, security=Protection(_context(CID, SID)))
    sent = []
    wire.deliver(0, drop=lambda s, d, m: s == SERVER and not sent.append(m.to_bytes()))
    client_ep.receive(_tamper(sent[0]), SERVER, 10)  # the genuine response, tampered
    assert got == [(None, "OSCORE: Decryption failed")]
    assert client_ep.pending() == 0                 # the observation is not left open


def test_unprotected_success_response_to_a_protected_request_is_an_error():
    def plain(request, peer, now_ms):
        return reply(CONTENT, b"not protected")
    wire, client_ep, server_ep, site, sensor = _wired()
    server_ep.handler = plain                       # a server that ignores OSCORE
    got = []
    Client(client_ep).request(SERVER, _get(), lambda r, e: got.append((r, e)), 0,
                              security=Protection(_context(CID, SID)))
    wire.deliver(0)
    assert got == [(None, "OSCORE: unprotected 2.05 response (not protected)")]


def test_separate_response_is_protected_with_security_protect():
    held = []

    def later(request, peer, now_ms):
        held.append((request, peer))
        return SEPARATE
    wire, client_ep, server_ep, site, sensor = _wired(later)
    got = []
    Client(client_ep).request(SERVER, _get(), lambda r, e: got.append((r, e)), 0,
                              security=Protection(_context(CID, SID)))
    wire.deliver(0)
    assert not got and len(held) == 1
    request, peer = held[0]
    server_ep.send_response(peer, request, request.security.protect(
        reply(CONTENT, b"later", TEXT_PLAIN)), 100)
    wire.deliver(100)
    assert got[0][0].code == CONTENT and bytes(got[0][0].payload) == b"later"


def test_observe_registration_after_server_restart_goes_through_echo():
    radio = _network(delay_ms=5)
    sflash = Flash()
    server = Node(radio, SERVER, [_context(SID, CID, sflash)], 10)
    client = Node(radio, CLIENT, [], 20)
    cctx = _context(CID, SID)
    _call(client, SERVER, _get(), cctx)
    server.down()
    server = Node(radio, SERVER, [_context(SID, CID, sflash)], 30)
    seen = []
    op = client.client.request(SERVER, _get(), lambda r, e: seen.append(bytes(r.payload)),
                               radio.now_ms, observe=True, security=Protection(cctx))
    radio.wake(CLIENT)
    radio.run_for(300)
    for i in (1, 2):
        server.sensor.value = i
        server.site.changed("temp", radio.now_ms)
        radio.wake(SERVER)
        radio.run_for(200)
    assert seen == [b"0", b"1", b"2"] and server.guard.challenges == 1
    assert server.site.observers.find(CLIENT, "temp").request.token == op.token
    op.cancel(radio.now_ms, deregister=True)      # with the retry's token
    radio.wake(CLIENT)
    radio.run_for(500)
    assert len(server.site.observers) == 0


def test_handler_adds_little_allocation_on_micropython():
    """SecureHandler's own cost per request (beyond unprotect + protect) stays small."""
    import sys
    if sys.implementation.name != "micropython":
        return
    import gc
    from oscore.protect import protect_response, unprotect_request
    sctx, cctx = _context(SID, CID), _context(CID, SID)
    guard = SecureHandler(lambda req, peer, now: reply(CONTENT, b"x" * 64), [sctx])

    def wire():
        outer, _ = protect_request(cctx, Message(CON, POST, 1, b"ab", b"y" * 64))
        return decode(outer.to_bytes())

    def bare(msg):
        inner, ctx, binding = unprotect_request(guard.find, msg)
        return protect_response(ctx, reply(CONTENT, b"x" * 64), binding)
    used = []
    for fn in (bare, lambda m: guard.handle(m, CLIENT, 0), bare,
               lambda m: guard.handle(m, CLIENT, 0)):
        msg = wire()
        gc.collect()
        before = gc.mem_alloc()
        fn(msg)
        used.append(gc.mem_alloc() - before)
    assert used[3] - used[2] < 512, used
