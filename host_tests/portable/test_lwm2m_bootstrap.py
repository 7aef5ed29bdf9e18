"""Bootstrap on the fake radio (Core V1.1 §6.1): from a factory state with
only a Bootstrap-Server account to a registered node, Bootstrap-Finish
consistency failures (4.06), Bootstrap-Write/Read/Discover/Delete rules,
the Bootstrap-Server timeout with roll-back, bootstrap on registration
failure and on the Bootstrap-Request Trigger, the account purge."""
from tools.sim.radio import Radio
from coap.numbers import (GET, PUT, POST, DELETE, CONTENT, CHANGED, DELETED,
                          BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED, NOT_ACCEPTABLE,
                          UNAUTHORIZED, LINK_FORMAT, LWM2M_TLV, TEXT_PLAIN, SENML_JSON)
from lwm2m.store import MemoryStore
from lwm2m.formats import link
from host_tests.support.lwserver import LwServer
from host_tests.support.lwnode import (Device, Thing, config, make_node, tlv_payload,
                                       NODE, NAME)

BS = ("bs", 5683)
SRV = ("srv", 5683)


def factory(store=None, objects=(), seed=1, **kw):
    radio = Radio(seed=seed)
    radio.link("node", "bs", delay_ms=5)
    radio.link("node", "srv", delay_ms=5)
    bs = LwServer(radio, BS, seed=21)
    server = LwServer(radio, SRV, seed=22)
    sec, srv = config(bootstrap="coap://bs:5683")
    node = make_node(radio, [sec, srv, Device()] + list(objects), store=store, **kw)
    return radio, bs, server, node


def security_tlv(iid, uri, ssid, bootstrap=False):
    return tlv_payload([((0, iid, 0), uri), ((0, iid, 1), bootstrap), ((0, iid, 2), 3),
                        ((0, iid, 3), b""), ((0, iid, 4), b""), ((0, iid, 5), b"k"),
                        ((0, iid, 10), ssid)], (0, iid))


def server_tlv(iid, ssid, lifetime=300):
    return tlv_payload([((1, iid, 0), ssid), ((1, iid, 1), lifetime),
                        ((1, iid, 6), False), ((1, iid, 7), "U")], (1, iid))


def wait_request(radio, bs, n=1, limit=600000):
    assert radio.run_while(lambda: bs.kinds().count("bootstrap-request") < n, limit)
    radio.run_for(50)                   # the 2.04 reaches the node
    return bs.events[-1][4]


def test_bootstrap_from_factory_state_then_register():
    store = MemoryStore()
    radio, bs, server, node = factory(store)
    peer = wait_request(radio, bs)
    assert bs.events[0][2] == {"ep": "node-1"}
    assert node.status()["bootstrap"] == "active"
    assert bs.call(DELETE, "/", peer=peer).code == DELETED
    assert bs.call(PUT, "/0/1", security_tlv(1, "coap://srv:5683", 101), cf=LWM2M_TLV,
                   peer=peer).code == CHANGED
    assert bs.call(PUT, "/1/0", server_tlv(0, 101), cf=LWM2M_TLV, peer=peer).code == CHANGED
    # nothing is persisted before Bootstrap-Finish
    assert store.load("obj.0") is None or len(store.load("obj.0")) == 1
    assert bs.call(POST, "/bs", peer=peer).code == CHANGED
    assert radio.run_while(lambda: node.status().get(101) != "registered", 10000)
    assert server.events[0][2]["lt"] == "300"
    assert node.status() == {101: "registered", "bootstrap": "idle"}
    # the configuration is in the store, the BS account kept
    sec = store.load("obj.0")
    assert sorted(sec) == ["0", "1"] and sec["1"]["0"] == "coap://srv:5683"
    assert sec["0"]["1"] is True
    assert store.load("obj.1")["0"]["0"] == 101
    assert server.call(GET, "/3/0/0").payload == b"ACME"
    # the Bootstrap-Server cannot act as an LwM2M Server afterwards... but
    # it may start a Server Initiated Bootstrap
    assert bs.call(GET, "/1/0", peer=peer).code == CONTENT


def test_bootstrap_finish_consistency_check():
    radio, bs, server, node = factory()
    peer = wait_request(radio, bs)
    # no server account at all
    r = bs.call(POST, "/bs", peer=peer)
    assert r.code == NOT_ACCEPTABLE and b"no LwM2M Server account" in bytes(r.payload)
    # a Security instance without Server instance
    assert bs.call(PUT, "/0/1", security_tlv(1, "coap://srv:5683", 101), cf=LWM2M_TLV,
                   peer=peer).code == CHANGED
    r = bs.call(POST, "/bs", peer=peer)
    assert r.code == NOT_ACCEPTABLE and b"no Server instance" in bytes(r.payload)
    # a Server instance nobody's Security points at
    assert bs.call(PUT, "/1/0", server_tlv(0, 102), cf=LWM2M_TLV, peer=peer).code == CHANGED
    r = bs.call(POST, "/bs", peer=peer)
    assert r.code == NOT_ACCEPTABLE
    # an OSCORE link to nothing
    assert bs.call(PUT, "/1/0/0", b"101", cf=TEXT_PLAIN, peer=peer).code == CHANGED
    assert bs.call(PUT, "/0/1/17", b"21:4", cf=TEXT_PLAIN, peer=peer).code == CHANGED
    r = bs.call(POST, "/bs", peer=peer)
    assert r.code == NOT_ACCEPTABLE and b"OSCORE" in bytes(r.payload)
    # a second Bootstrap-Server account is refused at the write
    assert bs.call(PUT, "/0/2", security_tlv(2, "coap://bs2", 0, True), cf=LWM2M_TLV,
                   peer=peer).code == BAD_REQUEST
    assert 2 not in node.model.get(0).instances
    # still bootstrapping: the server may fix it and finish
    assert node.status()["bootstrap"] == "active" and not server.kinds()
    assert bs.call(DELETE, "/0/1", peer=peer).code == DELETED
    assert bs.call(PUT, "/0/1", security_tlv(1, "coap://srv:5683", 101), cf=LWM2M_TLV,
                   peer=peer).code == CHANGED
    assert bs.call(POST, "/bs", peer=peer).code == CHANGED
    assert radio.run_while(lambda: not server.kinds(), 10000)


def test_bootstrap_read_discover_delete_rules():
    radio, bs, server, node = factory(objects=[Thing()])
    peer = wait_request(radio, bs)
    assert bs.call(PUT, "/0/1", security_tlv(1, "coap://srv:5683", 101), cf=LWM2M_TLV,
                   peer=peer).code == CHANGED
    assert bs.call(PUT, "/1/0", server_tlv(0, 101), cf=LWM2M_TLV, peer=peer).code == CHANGED
    p = tlv_payload([((9999, 0, NAME), "x")], (9999, 0))
    assert bs.call(PUT, "/9999/0", p, cf=LWM2M_TLV, peer=peer).code == CHANGED
    r = bs.call(GET, "/", accept=LINK_FORMAT, peer=peer)
    assert r.code == CONTENT and r.content_format == LINK_FORMAT
    assert bytes(r.payload).startswith(b'lwm2m="1.1",')
    assert link.decode(bytes(r.payload)[len('lwm2m="1.1",'):])
    text = bytes(r.payload).decode()
    assert '</0/0>;uri="coap://bs:5683"' in text
    assert '</0/1>;ssid=101;uri="coap://srv:5683"' in text
    assert "</1/0>;ssid=101" in text and "</3/0>" in text and "</9999/0>" in text
    r = bs.call(GET, "/1", accept=LINK_FORMAT, peer=peer)
    assert bytes(r.payload) == b'lwm2m="1.1",</1>;ver=1.1,</1/0>;ssid=101'
    assert bs.call(GET, "/1/0", accept=LINK_FORMAT, peer=peer).code == BAD_REQUEST
    # Bootstrap-Read: Server and Access Control objects only; keys never
    r = bs.call(GET, "/1/0", peer=peer)
    assert r.code == CONTENT and r.content_format == LWM2M_TLV
    assert bs.call(GET, "/1/0/1", peer=peer).payload == b"300"
    for path in ("/0", "/0/1", "/0/1/5", "/3/0", "/21"):
        assert bs.call(GET, path, peer=peer).code == METHOD_NOT_ALLOWED, path
    # Bootstrap-Delete: resource path 4.00; the BS account and Device stay
    assert bs.call(DELETE, "/1/0/1", peer=peer).code == BAD_REQUEST
    assert bs.call(DELETE, "/0/0", peer=peer).code == BAD_REQUEST
    assert bs.call(DELETE, "/3/0", peer=peer).code == BAD_REQUEST
    assert bs.call(DELETE, "/", peer=peer).code == DELETED
    m = node.model
    assert m.get(0).iids() == [0] and m.get(0).is_bootstrap(0)
    assert m.get(1).iids() == [] and m.get(9999).iids() == [] and m.get(3).iids() == [0]
    # a write to an unknown object; to a resource of a new instance
    assert bs.call(PUT, "/4242/0", p, cf=LWM2M_TLV, peer=peer).code == NOT_FOUND
    assert bs.call(PUT, "/9999/5/0", b"y", cf=TEXT_PLAIN, peer=peer).code == CHANGED
    assert m.get(9999).get(5, NAME) == "y"
    assert bs.call(POST, "/9999/5", peer=peer).code == METHOD_NOT_ALLOWED


def test_bootstrap_write_on_object_and_unknown_resources_ignored():
    radio, bs, server, node = factory()
    peer = wait_request(radio, bs)
    p = security_tlv(1, "coap://srv:5683", 101)
    # an object-level write carrying an instance, plus a resource the client
    # does not know (ID 99): ignored
    body = p + b"\xc1\x63\x01"
    p2 = b"\x08\x01" + bytes([len(body)]) + body
    assert bs.call(PUT, "/0", p2, cf=LWM2M_TLV, peer=peer).code == CHANGED
    assert node.model.get(0).get(1, 10) == 101 and 99 not in node.model.get(0).instances[1]
    p = b'[{"bn":"/1/0/","n":"0","v":101},{"n":"1","v":120},{"n":"6","vb":false},{"n":"7","vs":"U"}]'
    assert bs.call(PUT, "/1/0", p, cf=SENML_JSON, peer=peer).code == CHANGED
    assert bs.call(POST, "/bs", peer=peer).code == CHANGED
    assert radio.run_while(lambda: not server.kinds(), 10000)
    assert server.events[0][2]["lt"] == "120"


def test_servers_are_refused_while_bootstrapping():
    radio, bs, server, node = factory()
    peer = wait_request(radio, bs)
    assert bs.call(PUT, "/0/1", security_tlv(1, "coap://srv:5683", 101), cf=LWM2M_TLV,
                   peer=peer).code == CHANGED
    assert bs.call(PUT, "/1/0", server_tlv(0, 101), cf=LWM2M_TLV, peer=peer).code == CHANGED
    assert server.call(GET, "/3/0", peer=NODE).code == UNAUTHORIZED


def test_bootstrap_timeout_rolls_back_and_retries():
    radio, bs, server, node = factory()
    peer = wait_request(radio, bs)
    t0 = radio.now_ms
    assert bs.call(PUT, "/0/1", security_tlv(1, "coap://srv:5683", 101), cf=LWM2M_TLV,
                   peer=peer).code == CHANGED
    assert 1 in node.model.get(0).instances
    # no Bootstrap-Finish: after EXCHANGE_LIFETIME the write is undone and
    # a new Bootstrap-Request follows the retry timer (60 s)
    wait_request(radio, bs, 2)
    assert node.model.get(0).iids() == [0]
    assert node.bootstrap.aborted == 1
    assert 247000 + 60000 <= bs.events[-1][1] - t0 <= 247000 + 60000 + 100
    assert not server.kinds()


def test_bootstrap_request_retries_when_the_server_is_silent():
    radio = Radio(seed=8)
    radio.link("node", "bs", delay_ms=5)
    radio.attach(BS, None)
    sec, srv = config(bootstrap="coap://bs:5683")
    node = make_node(radio, [sec, srv, Device()])
    radio.run_until(3600 * 1000)
    assert node.bootstrap.requests == 5
    assert node.status()["bootstrap"] == "waiting"
    assert node.bootstrap.due > 86400 * 1000


def test_bootstrap_on_registration_failure():
    radio = Radio(seed=6)
    radio.link("node", "bs", delay_ms=5)
    radio.link("node", "srv", delay_ms=5)
    bs = LwServer(radio, BS, seed=21)
    server = LwServer(radio, SRV, seed=22)
    server.refuse_register = 0x80 | 3                   # 4.03
    sec, srv = config([(101, "coap://srv:5683", 300, {17: 2, 18: 5, 20: 1})],
                      bootstrap="coap://bs:5683")
    node = make_node(radio, [sec, srv, Device()])
    peer = wait_request(radio, bs)
    assert server.kinds() == ["register", "register"]
    assert node.bootstrap.reason == "registration with server 101 failed"
    # the Bootstrap-Server points us to a server that accepts
    server.refuse_register = None
    assert bs.call(PUT, "/1/0/1", b"600", cf=TEXT_PLAIN, peer=peer).code == CHANGED
    assert bs.call(POST, "/bs", peer=peer).code == CHANGED
    assert radio.run_while(lambda: node.status().get(101) != "registered", 10000)
    assert server.events[-1][2]["lt"] == "600"


def test_bootstrap_request_trigger_and_account_purge():
    radio, bs, server, node = factory()
    peer = wait_request(radio, bs)
    assert bs.call(PUT, "/0/1", security_tlv(1, "coap://srv:5683", 101), cf=LWM2M_TLV,
                   peer=peer).code == CHANGED
    assert bs.call(PUT, "/1/0", server_tlv(0, 101), cf=LWM2M_TLV, peer=peer).code == CHANGED
    assert bs.call(POST, "/bs", peer=peer).code == CHANGED
    assert radio.run_while(lambda: not server.kinds(), 10000)
    # the server asks for a new bootstrap
    assert server.call(POST, "/1/0/9").code == CHANGED
    wait_request(radio, bs, 2)
    assert bs.call(PUT, "/0/0/12", b"100", cf=TEXT_PLAIN, peer=peer).code == CHANGED
    assert bs.call(PUT, "/1/0/1", b"900", cf=TEXT_PLAIN, peer=peer).code == CHANGED
    assert bs.call(POST, "/bs", peer=peer).code == CHANGED
    assert radio.run_while(lambda: server.kinds().count("register") < 2, 10000)
    assert server.events[-1][2]["lt"] == "900"
    # Bootstrap-Server Account Timeout: the account goes 100 s later
    radio.run_for(101 * 1000)
    assert node.model.get(0).iids() == [1]
    assert node.status()[101] == "registered"


def test_server_initiated_bootstrap():
    radio = Radio(seed=9)
    radio.link("node", "bs", delay_ms=5)
    radio.link("node", "srv", delay_ms=5)
    bs = LwServer(radio, BS, seed=21)
    server = LwServer(radio, SRV, seed=22)
    sec, srv = config([(101, "coap://srv:5683", 300)], bootstrap="coap://bs:5683")
    node = make_node(radio, [sec, srv, Device()])
    radio.run_for(1000)
    assert server.kinds() == ["register"] and not bs.kinds()
    assert bs.call(PUT, "/1/0/1", b"700", cf=TEXT_PLAIN, peer=NODE).code == CHANGED
    assert node.status()["bootstrap"] == "active"
    assert bs.call(POST, "/bs", peer=NODE).code == CHANGED
    assert radio.run_while(lambda: server.kinds().count("register") < 2, 10000)
    assert server.events[-1][2]["lt"] == "700"
