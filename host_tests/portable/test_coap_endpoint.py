"""CoAP message layer (RFC 7252 §4, §5.2, §5.3) on a hand-driven wire."""
from host_tests.support.wire import Wire, Recorder
from coap.endpoint import Endpoint, Params, SEPARATE, TIMEOUT, RESET
from coap.message import Message, empty
from coap.numbers import (CON, NON, ACK, RST, EMPTY, GET, POST, PUT, CONTENT, CHANGED,
                          BAD_OPTION, INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE,
                          OBSERVE, OSCORE, URI_PATH)

A = ("10.0.0.1", 5683)
B = ("10.0.0.2", 5683)
C = ("10.0.0.3", 5683)


class Counter:
    def __init__(self, reply=CONTENT):
        self.calls = []
        self.reply = reply

    def __call__(self, request, peer, now):
        self.calls.append((request.path_str(), peer))
        if self.reply in (None, SEPARATE):
            return self.reply
        return Message(code=self.reply, payload=b"v%d" % len(self.calls))


def pair(handler=None, **kw):
    wire = Wire()
    client = Endpoint(wire.transport(A), **kw)
    server = Endpoint(wire.transport(B), handler or Counter(), **kw)
    wire.attach(A, client)
    wire.attach(B, server)
    return wire, client, server


def get(path="/x", mtype=CON):
    return Message(mtype, GET).set_path(path)


def test_piggybacked_response():
    wire, client, server = pair()
    rec = Recorder()
    token = client.request(B, get("/3303/0/5700"), rec, 0)
    wire.deliver(0)
    assert server.handler.calls == [("/3303/0/5700", A)]
    assert len(rec.calls) == 1
    resp, err = rec.calls[0]
    assert err is None and resp.mtype == ACK and resp.code == CONTENT
    assert resp.token == token and len(token) == 4
    assert bytes(resp.payload) == b"v1"
    assert client.pending() == 0 and client.step(10) is None


def test_retransmission_backoff_then_timeout():
    wire, client, server = pair()
    rec = Recorder()
    client.request(B, get(), rec, 0)
    wire.queue = []                        # the first transmission
    sends = []
    now = 0
    while now is not None and now < 200000:
        gave_up_at = now
        nxt = client.step(now)
        if wire.queue:
            assert len(wire.queue) == 1
            sends.append(now)
            wire.queue = []
        now = nxt
    wire.queue = []
    times = sends                          # retransmission instants
    assert len(times) == 4                 # MAX_RETRANSMIT
    first = times[0]
    assert 2000 <= first <= 3000           # ACK_TIMEOUT .. ACK_TIMEOUT*1.5
    gaps = [times[i + 1] - times[i] for i in range(3)]
    assert gaps == [2 * first, 4 * first, 8 * first]
    assert rec.calls == [(None, TIMEOUT)]
    assert gave_up_at == times[-1] + 16 * first   # 31 * t0 after the first send
    assert client.retransmissions == 4 and client.pending() == 0


def test_retransmission_recovers_from_loss():
    wire, client, server = pair()
    rec = Recorder()
    client.request(B, get(), rec, 0)
    wire.deliver(0, drop=lambda s, d, m: True)       # first try lost
    nxt = client.step(0)
    client.step(nxt)
    wire.deliver(nxt)
    assert len(rec.calls) == 1 and rec.calls[0][1] is None


def test_duplicate_con_gets_cached_response_not_reexecuted():
    wire, client, server = pair()
    rec = Recorder()
    client.request(B, get(), rec, 0)
    wire.deliver(0, drop=lambda s, d, m: s == B)     # response lost
    nxt = client.step(0)
    client.step(nxt)                                 # retransmit same MID
    wire.deliver(nxt)
    assert len(server.handler.calls) == 1
    assert server.duplicates == 1
    assert len(rec.calls) == 1 and bytes(rec.calls[0][0].payload) == b"v1"


def test_separate_response_and_duplicate_separate_response():
    handler = Counter(SEPARATE)
    wire, client, server = pair(handler)
    rec = Recorder()
    req = get()
    client.request(B, req, rec, 0)
    wire.deliver(0)
    assert rec.calls == [] and client.step(0) is not None   # waits for response
    server_req = Message(CON, GET, req.mid, req.token)
    server.send_response(A, server_req, Message(CON, CHANGED, payload=b"late"), 500)
    # the client's ACK to the separate response is lost once
    state = {"dropped": False}

    def drop_first_ack(s, d, m):
        if s == A and m.mtype == ACK and not state["dropped"]:
            state["dropped"] = True
            return True
        return False
    wire.deliver(500, drop_first_ack)
    nxt = server.step(500)
    server.step(nxt)                                   # server retransmits response
    wire.deliver(nxt)
    assert len(rec.calls) == 1                         # delivered once
    resp, err = rec.calls[0]
    assert resp.code == CHANGED and resp.mtype == CON and err is None
    assert client.duplicates == 1 and server.pending() == 0


def test_reset_of_request():
    wire, client, server = pair()
    rec = Recorder()
    client.request(B, get(), rec, 0)
    [(_, _, req)] = wire.take()
    client.receive(empty(RST, req.mid).to_bytes(), B, 10)
    assert rec.calls == [(None, RESET)] and client.pending() == 0


def test_ping_gets_reset():
    wire, client, server = pair()
    server.receive(empty(CON, 42).to_bytes(), A, 0)
    [(src, dst, m)] = wire.take()
    assert dst == A and m.mtype == RST and m.mid == 42


def test_malformed_con_gets_reset_non_ignored_state_unchanged():
    wire, client, server = pair()
    server.receive(bytes.fromhex("41010007"), A, 0)      # TKL 1 but no token
    [(_, _, m)] = wire.take()
    assert m.mtype == RST and m.mid == 7
    server.receive(bytes.fromhex("51010008"), A, 0)      # same, NON
    server.receive(b"\x40", A, 0)
    assert wire.take() == []
    assert server.handler.calls == [] and server.pending() == 0
    assert server.rejected == 3


def test_unknown_critical_option_gets_bad_option():
    wire, client, server = pair()
    rec = Recorder()
    req = get()
    req.add(2049, b"x")                                  # odd: critical, unknown
    client.request(B, req, rec, 0)
    wire.deliver(0)
    assert rec.calls[0][0].code == BAD_OPTION
    assert server.handler.calls == []
    rec2 = Recorder()
    client.request(B, get().add(2048, b"x"), rec2, 1)    # elective: ignored
    wire.deliver(1)
    assert rec2.calls[0][0].code == CONTENT


def test_handler_exception_gives_5_00():
    def broken(request, peer, now):
        raise KeyError("bug")
    wire, client, server = pair(broken)
    rec = Recorder()
    client.request(B, get(), rec, 0)
    wire.deliver(0)
    assert rec.calls[0][0].code == INTERNAL_SERVER_ERROR
    assert isinstance(server.last_error, KeyError)


def test_nstart_one_queues_second_request_to_same_peer():
    wire = Wire()
    client = Endpoint(wire.transport(A))
    rec = Recorder()
    client.request(B, get("/1"), rec, 0)
    client.request(B, get("/2"), rec, 0)
    client.request(C, get("/3"), rec, 0)
    sent = wire.take()
    assert [(d, m.path_str()) for _, d, m in sent] == [(B, "/1"), (C, "/3")]
    client.receive(empty(ACK, sent[0][2].mid).to_bytes(), B, 5)
    [(_, d, m)] = wire.take()
    assert d == B and m.path_str() == "/2"


def test_unmatched_response_is_reset():
    wire, client, server = pair()
    client.receive(Message(CON, CONTENT, 99, b"zz").to_bytes(), B, 0)
    [(_, d, m)] = wire.take()
    assert d == B and m.mtype == RST and m.mid == 99


def test_observe_exchange_stays_open_until_cancel():
    wire, client, server = pair()
    rec = Recorder()
    token = client.request(B, get("/obs").add(OBSERVE, 0), rec, 0)
    wire.take()
    for seq in (1, 2):
        n = Message(NON if seq == 1 else CON, CONTENT, 100 + seq, token, b"%d" % seq)
        n.add(OBSERVE, seq)
        client.receive(n.to_bytes(), B, seq)
    acks = wire.take()
    assert [m.mtype for _, _, m in acks] == [ACK]         # CON notification ACKed
    assert [bytes(r.payload) for r, e in rec.calls] == [b"1", b"2"]
    assert client.step(10 ** 9) is None and len(rec.calls) == 2   # no timeout
    client.cancel(B, token)
    n = Message(CON, CONTENT, 200, token, b"3").add(OBSERVE, 3)
    client.receive(n.to_bytes(), B, 20)
    [(_, _, m)] = wire.take()
    assert m.mtype == RST and len(rec.calls) == 2


def test_observe_error_response_closes_exchange():
    wire, client, server = pair()
    rec = Recorder()
    token = client.request(B, get("/obs").add(OBSERVE, 0), rec, 0)
    wire.take()
    client.receive(Message(NON, 0x84, 5, token).to_bytes(), B, 1)
    assert client.pending() == 0


def test_full_dedup_cache_still_runs_idempotent_and_oscore_requests():
    # RFC 7252 §4.5 relaxation: GET/PUT/DELETE/FETCH, and OSCORE requests (their
    # replay window refuses a second copy), run without an entry
    wire, client, server = pair(dedup_size=1)

    def req(code, mid, oscore=False):
        msg = Message(CON, code, mid, b"t").set_path("a")
        if oscore:
            msg.add(OSCORE, b"\x09\x01")
        server.receive(msg.to_bytes(), A, 1000)
        return [m.code for _, _, m in wire.take()]
    assert req(POST, 1) == [CONTENT]                        # fills the table
    assert req(GET, 2) == [CONTENT] and req(PUT, 3) == [CONTENT]
    assert req(POST, 4, oscore=True) == [CONTENT]
    assert req(POST, 5) == [SERVICE_UNAVAILABLE]
    assert req(GET, 2) == [CONTENT]                         # not remembered: runs again
    assert len(server.handler.calls) == 5 and len(server._dedup) == 1


def test_full_dedup_cache_answers_5_03_then_evicts_after_max_transmit_span():
    wire, client, server = pair(dedup_size=2)

    def req(mid, now):          # POST: not idempotent, so never run unremembered
        server.receive(Message(CON, POST, mid, b"t").set_path("a").to_bytes(), A, now)
        return [m.code for _, _, m in wire.take()]
    assert req(1, 0) == [CONTENT] and req(2, 1000) == [CONTENT]
    assert req(3, 2000) == [SERVICE_UNAVAILABLE]          # both entries recent
    assert len(server.handler.calls) == 2
    span = server.params.max_transmit_span_ms
    assert req(4, span) == [CONTENT]                       # mid 1 was evicted
    assert req(2, span + 1) == [CONTENT]                   # mid 2 still a duplicate...
    assert len(server.handler.calls) == 3                  # ...answered from cache
    assert req(1, span + 2) == [SERVICE_UNAVAILABLE]       # 2 and 4 are recent
    later = server.params.exchange_lifetime_ms + span + 1  # all expired
    assert req(5, later) == [CONTENT]


def test_non_request_non_response_and_duplicate_ignored():
    wire, client, server = pair()
    rec = Recorder()
    req = get(mtype=NON)
    client.request(B, req, rec, 0)
    dup = wire.queue[0]
    wire.deliver(0)
    server.receive(dup[2], A, 1)
    assert len(server.handler.calls) == 1 and wire.queue == []
    resp = rec.calls[0][0]
    assert resp.mtype == NON and resp.code == CONTENT


def test_non_request_times_out():
    wire, client, server = pair(params=Params(response_timeout_ms=5000))
    rec = Recorder()
    client.request(B, get(mtype=NON), rec, 0)
    wire.queue = []
    assert client.step(0) == 5000
    client.step(5000)
    assert rec.calls == [(None, TIMEOUT)]


def test_rst_to_non_notification_reaches_sender():
    wire, client, server = pair()
    results = []
    server.send(A, Message(NON, CONTENT, 0, b"tk").add(OBSERVE, 7), 0, results.append)
    [(_, _, m)] = wire.take()
    server.receive(empty(RST, m.mid).to_bytes(), A, 1)
    assert results == [RESET]


def test_message_ids_increment_and_tokens_differ():
    wire, client, server = pair()
    t1 = client.request(B, get(mtype=NON), Recorder(), 0)
    t2 = client.request(B, get(mtype=NON), Recorder(), 0)
    (_, _, m1), (_, _, m2) = wire.take()
    assert (m2.mid - m1.mid) & 0xFFFF == 1 and t1 != t2
