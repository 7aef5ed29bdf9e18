"""The C2C third-party authorization end to end on the fake radio (docs
c2c-extension.md steps 1-6): a requester engine (light-1), a host engine
(switch-1) and a scripted authorization server; the hint, `/ac`, the
provisioning, the protected retry -- once -- and every refusal."""
from coap.endpoint import Endpoint
from coap.message import Message
from coap.numbers import (CON, NON, ACK, GET, PUT, POST, DELETE, CONTENT, CHANGED,
                          CREATED, UNAUTHORIZED, CBOR, TEXT_PLAIN, OBSERVE,
                          URI_PATH, OSCORE, LWM2M_TLV, BAD_REQUEST)
from coap.server import reply
from lwm2m.dm import READ, WRITE
from host_tests.support.lwserver import rng_bytes
from host_tests.support.acserver import tlv_instance
from host_tests.support.c2c_world import (World, HOST, REQ, SRV, HOST_EP, REQ_EP,
                                          protected)
import cbor

HINT = {1: "coap://srv:%d" % SRV[1]}


def codes(got):
    return [(r.code if r is not None else None) for r, e in got]


def test_observe_through_third_party_authorization():
    w = World()
    got, op = w.ask(GET, "/3342/0/5500", observe=True, address="coap://switch:5683")
    assert got == [(got[0][0], None)] and got[0][0].code == CONTENT
    assert bytes(got[0][0].payload) == b"0"
    # step 1: the plain request; step 2: 4.01 piggybacked, CF 60, the hint, token echoed
    first = w.direct()[0][0]
    assert not first.has(OSCORE) and first.path() == ["3342", "0", "5500"]
    answer = [m for t, m, raw in w.frames(HOST, REQ) if m.code == UNAUTHORIZED][0]
    assert answer.mtype == ACK and answer.mid == first.mid and answer.token == first.token
    assert answer.content_format == CBOR and cbor.loads(bytes(answer.payload)) == HINT
    # step 3: POST /ac?ep=switch-1&c {[3342, 0]: 1} over the requester's OSCORE session
    assert w.srv.ac == [(REQ_EP, {"ep": HOST_EP, "c": ""}, {(3342, 0): READ}, None)]
    to_srv = [m for t, m, raw in w.frames(REQ, SRV) if m.code == POST]
    assert all(protected(m) for m in to_srv)
    # step 5: both sides provisioned once; step 6: the protected retry
    assert sorted(w.srv.creates) == sorted([(HOST_EP, 11001), (HOST_EP, 21), (HOST_EP, 11000),
                                            (HOST_EP, 11002), (REQ_EP, 11001), (REQ_EP, 21),
                                            (REQ_EP, 11000)])
    assert [protected(m) for m, raw in w.direct()] == [False, True]
    assert w.req.model.get(11000).instances[0][0] == "coap://switch:5683"   # host URI
    # notifications straight from the host, protected
    w.toggle()
    w.toggle()
    assert [bytes(r.payload) for r, e in got] == [b"0", b"1", b"0"]
    notes = [m for t, m, raw in w.frames(HOST, REQ) if m.has(OBSERVE)]
    assert notes and all(m.has(OSCORE) and m.content_format is None for m in notes)
    # Cancel Observation: deregistered at the host
    assert len(w.host.reporting.observations) == 1
    op.cancel()
    w.radio.wake(REQ)
    w.radio.run_for(1000)
    assert w.host.reporting.observations == []
    w.toggle()
    assert len(got) == 3
    assert w.host.endpoint.last_error is None and w.req.endpoint.last_error is None


def test_a_protected_request_to_an_unreachable_peer_times_out_cleanly():
    w = World()
    got, op = w.ask(GET, "/3342/0/5500", address="coap://switch:5683")
    assert codes(got) == [CONTENT]
    w.radio.detach(HOST)                # the host is gone; the requester holds its account
    late, op = w.ask(GET, "/3342/0/5500", address="coap://switch:5683")   # times out
    assert len(late) == 1 and late[0][0] is None and late[0][1] is not None


def test_direct_requests_carry_no_plaintext():
    w = World(policy={(3342, 0): READ})
    got, op = w.ask(GET, "/3342/0/5500")
    assert codes(got) == [CONTENT]
    t0 = w.radio.now_ms
    secret = b"lamp-name-in-the-clear"
    got, op = w.ask(PUT, "/9999/0/0", payload=secret, cf=TEXT_PLAIN)
    assert got[0][1] == "/ac refused: 4.03"      # W not in the policy (yet)
    w.srv.policy[(REQ_EP, HOST_EP)][(9999, 0)] = READ | WRITE
    got, op = w.ask(PUT, "/9999/0/0", payload=secret, cf=TEXT_PLAIN)
    assert codes(got) == [CHANGED] and w.thing.instances[0][0] == secret.decode()
    # later /ac requests have no `c`: the requester already holds credentials
    assert [q for r, q, g, c in w.srv.ac] == [{"ep": HOST_EP, "c": ""}, {"ep": HOST_EP},
                                              {"ep": HOST_EP}]
    direct = w.direct(t0)
    assert len(direct) == 3
    for m, raw in direct:
        assert protected(m) and m.path() == []
        assert secret not in raw and b"9999" not in raw and b"3342" not in raw
    for t, m, raw in w.frames(HOST, REQ):
        if t >= t0:
            assert m.has(OSCORE) and secret not in raw


def test_non_request_gets_a_non_hint():
    w = World()
    w.radio.link("mallory", "switch", delay_ms=5)
    ep = Endpoint(None, None, rand=rng_bytes(31))
    ep.transport = w.radio.attach(("mallory", 5683), ep)
    got = []
    msg = Message(NON, GET).set_path("/3/0/0")
    token = ep.request(HOST, msg, lambda r, e: got.append(r), w.radio.now_ms)
    w.radio.run_for(1000)
    [r] = got
    assert r.mtype == NON and r.code == UNAUTHORIZED and r.token == token
    assert r.content_format == CBOR and cbor.loads(bytes(r.payload)) == HINT


def fake_host(w, payload, cf=CBOR):
    """A node at ("fake", 5683) that answers every request 4.01 + `payload`."""
    w.radio.link("light", "fake", delay_ms=5)
    ep = Endpoint(None, lambda req, peer, now: reply(UNAUTHORIZED, payload, cf),
                  rand=rng_bytes(32))
    ep.transport = w.radio.attach(("fake", 5683), ep)


def test_forged_or_stale_hint_is_reported_and_nothing_sent():
    w = World()
    fake_host(w, cbor.dumps({1: "coap://evil:5683"}))
    before = len(w.frames(REQ, SRV))
    got = []
    w.req.peer_request("fake-1", GET, "/3/0/0", lambda r, e: got.append((r, e)),
                       address="coap://fake:5683")
    w.radio.wake(REQ)
    w.radio.run_for(5000)
    [(r, e)] = got
    assert r.code == UNAUTHORIZED and e == "hint names no server of ours: coap://evil:5683"
    assert w.srv.ac == [] and len(w.frames(REQ, SRV)) == before
    # no hint at all, or a payload that is no hint: reported the same way
    for payload, cf in ((b"", None), (b"\xff\x00", CBOR), (b"coap://srv:5683", TEXT_PLAIN)):
        w.radio.detach(("fake", 5683))
        fake_host(w, payload, cf)
        got = []
        w.req.peer_request("fake-1", GET, "/3/0/0", lambda r, e: got.append((r, e)),
                           address="coap://fake:5683")
        w.radio.wake(REQ)
        w.radio.run_for(5000)
        assert got[0][1] == "4.01 without a server hint"
    assert w.srv.ac == []


def test_rights_narrower_than_asked_are_reported():
    w = World(policy={(9999, 0): READ})
    got, op = w.ask(PUT, "/9999/0/1", payload=b"9", cf=TEXT_PLAIN,
                    grants={(9999, 0): READ | WRITE})
    [(r, e)] = got
    assert r.code == UNAUTHORIZED and e == "still unauthorized after the grant"
    assert len(w.srv.ac) == 1 and w.srv.ac[0][2] == {(9999, 0): READ | WRITE}
    assert w.host.model.get(11002).instances[0][2] == {11: READ}      # what was granted
    assert [protected(m) for m, raw in w.direct()] == [True]     # the retry, once
    assert w.thing.instances[0][1] == 5
    w.radio.run_for(60000)
    assert len(w.srv.ac) == 1 and len(w.direct()) == 1


def test_policy_refusal_and_unregistered_host_are_reported():
    w = World(policy={(9999, 0): READ})
    got, op = w.ask(POST, "/9999/0/4")                 # Execute: E not allowed
    assert got[0][1] == "/ac refused: 4.03" and w.srv.creates == []
    assert w.thing.resets == []
    # the host is not registered (any more): 4.00
    w.srv.clients = dict((k, c) for k, c in w.srv.clients.items() if c["ep"] != HOST_EP)
    got, op = w.ask(GET, "/9999/0/0")
    assert got[0][1] == "/ac refused: 4.00" and w.srv.creates == []
    assert w.peers_of(w.host) == [] and w.peers_of(w.req) == []
    # ep= only (address unknown): step 3 directly, same answer
    got, op = w.ask(GET, "/9999/0/0")
    assert got[0][1] == "/ac refused: 4.00" and len(w.srv.ac) == 3


def test_address_unknown_starts_at_the_server():
    w = World()
    t0 = w.radio.now_ms
    got, op = w.ask(GET, "/9999/0/0")                  # no account, no address
    assert codes(got) == [CONTENT] and bytes(got[0][0].payload) == b"lamp"
    assert [protected(m) for m, raw in w.direct(t0)] == [True]
    assert w.srv.ac[0][1] == {"ep": HOST_EP, "c": ""}


def test_a_peer_cannot_touch_its_own_configuration():
    policy = {(9999, 0): READ}
    for oid in (11000, 11001, 11002, 21):
        policy[(oid, 0)] = 31                      # a careless policy grants it
    w = World(policy=policy)
    assert codes(w.ask(GET, "/9999/0/0")[0]) == [CONTENT]
    config = dict((oid, repr(w.host.model.get(oid).instances))
                  for oid in (11000, 11001, 21))
    acl = w.host.model.get(11002).instances[0][2]
    tries = [(PUT, "/11002/0/2/11", b"31"), (DELETE, "/11000/0", b""),
             (PUT, "/11001/0/1", b"0"), (GET, "/21/0", b""), (GET, "/11000/0/5", b"")]
    for method, path, payload in tries:
        got, op = w.ask(method, path, payload=payload, cf=TEXT_PLAIN if payload else None)
        assert [(r.code, e) for r, e in got] == [
            (UNAUTHORIZED, "still unauthorized after the grant")], path
    for oid in (11000, 11001, 21):
        assert repr(w.host.model.get(oid).instances) == config[oid]
    assert w.host.model.get(11002).instances[0][2] == acl


def test_nosec_peers_only_when_allowed():
    for allow in (False, True):
        w = World(host_nosec=allow)
        for oid, values in ((11001, {0: 50, 9: REQ_EP}),
                            (11000, {0: "coap://light:5683", 2: 3, 10: 50}),
                            (11002, {0: 9999, 1: 0, 2: {50: READ}, 3: 1})):
            r = w.srv.call_to(HOST_EP, POST, "/%d" % oid, tlv_instance(oid, values),
                              LWM2M_TLV)
            assert r.code == CREATED
        got, op = w.ask(GET, "/9999/0/0", address="coap://switch:5683", authorize=False)
        if allow:
            assert codes(got) == [CONTENT] and bytes(got[0][0].payload) == b"lamp"
        else:
            assert got == [(got[0][0], "unauthorized")] and got[0][0].code == UNAUTHORIZED
            assert cbor.loads(bytes(got[0][0].payload)) == HINT
    # the requester side: a NoSec account is used only where allowed
    r = w.srv.call_to(REQ_EP, POST, "/11001", tlv_instance(11001, {0: 60, 9: HOST_EP}),
                      LWM2M_TLV)
    r = w.srv.call_to(REQ_EP, POST, "/11000", tlv_instance(
        11000, {0: "coap://switch:5683", 2: 3, 10: 60}), LWM2M_TLV)
    assert r.code == CREATED
    got, op = w.ask(GET, "/9999/0/0")
    assert got[0][1] == "peer account not usable (NoSec not allowed or PSK)"


def test_duplicate_oscore_ids_fail_provisioning():
    w = World()
    osc = w.host.model.get(21)
    taken = osc.instances[0]
    for sid, rid in ((b"\x70", taken[2]), (taken[1], b"\x71")):
        r = w.srv.call_to(HOST_EP, POST, "/21", tlv_instance(
            21, {0: b"x" * 16, 1: sid, 2: rid}), LWM2M_TLV)
        assert r.code == BAD_REQUEST
    assert sorted(osc.instances) == [0]
    # the host still serves its server normally
    assert w.srv.call_to(HOST_EP, GET, "/9999/0/0").code == CONTENT


def test_every_operation_through_the_api():
    from coap.numbers import LINK_FORMAT, DELETED
    from lwm2m.dm import EXECUTE, DELETE_OP, CREATE
    w = World(policy={(9999, 0): READ | WRITE | EXECUTE | DELETE_OP, (9999,): CREATE | READ})
    c2c = w.req.c2c
    results = []

    def run(start):
        got = []
        start(lambda r, e: got.append((r, e)))
        w.radio.wake(REQ)
        w.radio.run_while(lambda: not got, 400000)
        results.append(got[0])
        return got[0]
    # one /ac asks for everything at once (the application's own grant map)
    r, e = run(lambda cb: c2c.read(HOST_EP, "/9999/0/0", cb, grants={
        (9999, 0): READ | WRITE | EXECUTE | DELETE_OP, (9999,): CREATE | READ}))
    assert r.code == CONTENT and bytes(r.payload) == b"lamp"
    r, e = run(lambda cb: c2c.write(HOST_EP, "/9999/0/1", b"42", TEXT_PLAIN, cb))
    assert r.code == CHANGED and w.thing.instances[0][1] == 42
    r, e = run(lambda cb: c2c.write(HOST_EP, "/9999/0", tlv_instance(9999, {1: 7}),
                                    LWM2M_TLV, cb, partial=True))
    assert r.code == CHANGED and w.thing.instances[0][1] == 7
    r, e = run(lambda cb: c2c.execute(HOST_EP, "/9999/0/4", cb, args="0='x'"))
    assert r.code == CHANGED and w.thing.resets == [(0, "0='x'")]
    r, e = run(lambda cb: c2c.discover(HOST_EP, "/9999/0", cb))
    assert r.code == CONTENT and r.content_format == LINK_FORMAT
    assert b"</9999/0/0>" in bytes(r.payload)
    r, e = run(lambda cb: c2c.write_attributes(HOST_EP, "/9999/0/1", ["pmin=2"], cb))
    assert r.code == CHANGED
    assert list(w.host.reporting.attributes.table) == ["c11"]    # the peer's own
    r, e = run(lambda cb: c2c.create(HOST_EP, "/9999", tlv_instance(9999, {0: "new"}),
                                     LWM2M_TLV, cb))
    assert r.code == CREATED and r.location_path() == ["9999", "1"]
    assert w.thing.instances[1][0] == "new"
    r, e = run(lambda cb: c2c.delete(HOST_EP, "/9999/0", cb))
    assert r.code == DELETED and 0 not in w.thing.instances
    assert [e for r, e in results] == [None] * 8 and len(w.srv.ac) == 1
