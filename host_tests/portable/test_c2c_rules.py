"""C2C rules without a network (docs c2c-extension.md): objects 11000-11002
and their checks, the 11002 access rules with the doc's operation-to-bit
mapping, the 4.01 hint, the /ac request bytes and the OSCORE ID uniqueness
check; on one engine driven through its DM code."""
from coap.message import Message
from coap.numbers import (CON, GET, PUT, POST, DELETE, CREATED, CHANGED, CONTENT,
                          BAD_REQUEST, UNAUTHORIZED, METHOD_NOT_ALLOWED, CBOR,
                          LWM2M_TLV)
from lwm2m.dm import READ, WRITE, EXECUTE, DELETE_OP, CREATE
from lwm2m.access import DISCOVER
from lwm2m.c2c import C2C
from lwm2m.peers import parse_hint, PeerCaller
from lwm2m.requester import wanted, ac_request, same_uri
from lwm2m.objects.access_control import AccessControlObject
from lwm2m.objects.oscore import Oscore
from lwm2m.objects.client_security import ClientSecurity
from lwm2m.objects.client import Client as ClientObject
from lwm2m.objects.client_access import ClientAccessControl
from lwm2m.engine import Client
from lwm2m.formats import tlv
from host_tests.support.lwnode import Device, Thing, config
from host_tests.support.acserver import tlv_instance
import cbor


class ServerStub:
    """An LwM2M Server as a DM caller with full rights."""
    bootstrap = False
    ssid = key = 1
    account = (1, 0)

    def allowed(self, op, oid, iid):
        return True


def node(servers=((1, "coap://srv:5683", 600),), aco=None):
    sec, srv = config(list(servers))
    osc = Oscore()
    osc.add(b"k" * 16, b"\x01", b"\x02")          # the server's context
    sec.instances[0][17] = (21, 0)
    thing = Thing()
    thing.create(0, {0: "lamp", 1: 5})
    thing.create(1, {0: "fan", 1: 1})
    objs = [sec, srv, osc, Device(), thing, ClientSecurity(), ClientObject(),
            ClientAccessControl()]
    if aco is not None:
        objs.append(aco)
    n = Client("host-1", objs)
    C2C(n)
    return n


def request(code, path, payload=b"", cf=None):
    msg = Message(CON, code, 1, b"t").set_path(path)
    if cf is not None:
        msg.add(12, cf)
    msg.payload = payload
    return msg


def create(n, oid, values):
    return n.dm.handle(request(POST, "/%d" % oid, tlv_instance(oid, values), LWM2M_TLV),
                       ServerStub())


def peer(n, scid, ep, acl=()):
    """Provision a peer account (NoSec) and ACL entries {(oid, iid): bits}."""
    assert create(n, 11001, {0: scid, 9: ep}).code == CREATED
    assert create(n, 11000, {10: scid, 0: "coap://%s:5683" % ep}).code == CREATED
    for (oid, iid), bits in acl:
        assert create(n, 11002, {0: oid, 1: iid, 2: {scid: bits}, 3: 1}).code == CREATED


def test_wanted_maps_operations_to_bits():
    assert wanted(GET, (3342, 0, 5500)) == {(3342, 0): READ}
    assert wanted(GET, (3342,)) == {(3342,): READ}
    assert wanted(PUT, (9999, 0, 1), ("pmin=5",)) == {(9999, 0): READ}   # Write-Attributes
    assert wanted(PUT, (9999, 0, 1), (), b"7") == {(9999, 0): WRITE}
    assert wanted(POST, (9999,)) == {(9999,): CREATE}
    assert wanted(POST, (9999, 0)) == {(9999, 0): WRITE}
    assert wanted(POST, (9999, 0, 4)) == {(9999, 0): EXECUTE}
    assert wanted(DELETE, (9999, 1)) == {(9999, 1): DELETE_OP}


def test_ac_request_bytes():
    msg = ac_request("switch-1", {(3342, 0): 1}, True)
    msg.mid, msg.token = 0x1234, b"\x01\x02"
    assert msg.to_bytes() == (b"\x42\x02\x12\x34\x01\x02"      # CON POST, token
                              b"\xb2ac"                        # Uri-Path "ac"
                              b"\x11\x3c"                      # Content-Format 60
                              b"\x3bep=switch-1"               # Uri-Query ep=
                              b"\x01c"                         # Uri-Query c
                              b"\xff\xa1\x82\x19\x0d\x0e\x00\x01")   # {[3342, 0]: 1}
    # without `c`; object-level keys are one-element arrays; keys decode to tuples
    msg = ac_request("h", {(9999,): 16, (9999, 1): 3}, False)
    assert msg.query() == ["ep=h"]
    assert cbor.loads(bytes(msg.payload)) == {(9999,): 16, (9999, 1): 3}


def test_peer_access_rules():
    n = node()
    peer(n, 7, "a", [((9999, 0), READ | WRITE), ((9999, 65535), CREATE | READ)])
    peer(n, 8, "b")
    aco = n.model.get(11002)
    aco.instances[0][2][0] = EXECUTE              # default entry for any known peer
    allowed = n.c2c.peers.allowed
    assert allowed(7, READ, 9999, 0) and allowed(7, WRITE, 9999, 0)
    assert not allowed(7, EXECUTE, 9999, 0)       # ACL[7] wins over ACL[0]
    assert allowed(8, EXECUTE, 9999, 0) and not allowed(8, READ, 9999, 0)   # ACL[0]
    assert allowed(7, DISCOVER, 9999, 0)          # Discover needs R
    assert not allowed(8, DISCOVER, 9999, 0)
    assert allowed(7, CREATE, 9999, None) and not allowed(8, CREATE, 9999, None)
    assert allowed(7, READ, 9999, None)           # object level: (9999, 65535)
    assert not allowed(7, READ, 9999, 1)          # no 11002 instance: nothing
    assert not allowed(9, READ, 9999, 0)          # no such account
    # the owner field grants nothing (no reference shortcut: scid 1 == ssid 1)
    peer(n, 1, "c")
    assert not allowed(1, READ, 9999, 1)
    # configuration objects: never, whatever an ACL says
    for oid in (0, 1, 2, 21, 11000, 11001, 11002):
        assert create(n, 11002, {0: oid, 1: 0, 2: {7: 31}, 3: 1}).code == CREATED
        for op in (READ, WRITE, EXECUTE, DELETE_OP, DISCOVER):
            assert not allowed(7, op, oid, 0)
    # through the DM code: a peer caller reads what R allows, and only that
    caller = PeerCaller(n.c2c.peers, n.c2c.peers.accounts()[7])
    r = n.dm.handle(request(GET, "/9999/0/0"), caller)
    assert r.code == CONTENT and bytes(r.payload) == b"lamp"
    assert n.dm.handle(request(GET, "/9999/1/0"), caller).code == UNAUTHORIZED
    assert n.dm.handle(request(POST, "/9999/0/4"), caller).code == UNAUTHORIZED
    # object-level Read: only the instances the peer may read
    r = n.dm.handle(request(GET, "/9999"), caller)
    assert r.code == CONTENT and b"lamp" in bytes(r.payload) and b"fan" not in bytes(r.payload)
    assert n.dm.handle(request(DELETE, "/11000/0"), caller).code == UNAUTHORIZED
    assert 0 in n.model.get(11000).instances


def test_hint_names_the_owning_server_else_the_first():
    aco = AccessControlObject()
    n = node([(1, "coap://a:5683", 600), (2, "coap://b:5683", 600)], aco)
    aco.add(9999, 1, 2)
    peers = n.c2c.peers
    assert peers.hint_uri(9999, 1) == "coap://b:5683"
    assert peers.hint_uri(9999, 0) == "coap://a:5683"      # no owner: first server
    assert peers.hint_uri(None, None) == "coap://a:5683"
    r = peers.unauthorized(request(GET, "/9999/1/0"), None)
    assert r.code == UNAUTHORIZED and r.content_format == CBOR
    assert cbor.loads(bytes(r.payload)) == {1: "coap://b:5683"}
    assert parse_hint(r) == "coap://b:5683"


def test_parse_hint_takes_only_a_cbor_map_with_a_uri():
    def resp(payload, cf=CBOR):
        m = Message(code=UNAUTHORIZED, payload=payload)
        if cf is not None:
            m.add(12, cf)
        return m
    assert parse_hint(resp(cbor.dumps({1: "coap://s"}))) == "coap://s"
    for bad in (resp(b""), resp(b"\xff"), resp(cbor.dumps([1])), resp(cbor.dumps({1: 5})),
                resp(cbor.dumps({2: "coap://s"})), resp(cbor.dumps({1: ""})),
                resp(cbor.dumps({1: "coap://s"}), None), None):
        assert parse_hint(bad) is None
    assert same_uri("coap://SRV:5683", "coap://srv") and not same_uri("coap://srv", "coap://x")
    assert not same_uri("coaps://srv:5683", "coap://srv:5683")


def test_peer_objects_validate_before_storing():
    n = node()
    peer(n, 7, "a")
    before = dict((oid, dict(n.model.get(oid).instances)) for oid in (11000, 11001, 21))
    bad = [(11001, {0: 7, 9: "dup"}),              # Short Client ID in use
           (11001, {0: 0, 9: "zero"}),             # out of range
           (11001, {0: 9, 1: -1, 9: "neg"}),       # negative lifetime
           (11000, {10: 7}),                       # Short Client ID in use
           (11000, {10: 70000}),
           (11000, {10: 9, 2: 1}),                 # Security Mode 1: not ours
           (11000, {10: 9, 17: (21, 0)}),          # the server's OSCORE instance
           (11000, {10: 9, 17: (3, 0)}),           # not an OSCORE link
           (21, {0: b"s" * 16, 1: b"\x05", 2: b"\x02"}),   # Recipient ID in use
           (21, {0: b"s" * 16, 1: b"\x01", 2: b"\x06"}),   # Sender ID in use
           (11002, {0: 9999, 1: 0, 2: {7: 32}, 3: 1})]     # not an access bit set
    for oid, values in bad:
        assert create(n, oid, values).code == BAD_REQUEST, (oid, values)
    for oid in (11000, 11001, 21):
        assert n.model.get(oid).instances == before[oid]
    # a fresh pair of IDs is fine, and links only once
    assert create(n, 21, {0: b"s" * 16, 1: b"\x05", 2: b"\x06"}).code == CREATED
    assert create(n, 11000, {10: 9, 17: (21, 1)}).code == CREATED
    assert create(n, 11000, {10: 10, 17: (21, 1)}).code == BAD_REQUEST


def test_secret_key_is_never_readable():
    n = node()
    assert create(n, 11000, {10: 7, 3: b"id", 5: b"psk-secret", 2: 0}).code == CREATED
    r = n.dm.handle(request(GET, "/11000/0"), ServerStub())
    assert r.code == CONTENT and b"psk-secret" not in bytes(r.payload)
    assert 5 not in [p[2] for p, v in tlv.decode(bytes(r.payload), (11000, 0),
                                                    n.model.type_of)]
    assert n.dm.handle(request(GET, "/11000/0/5"), ServerStub()).code == METHOD_NOT_ALLOWED
    # the server may write resource 17 (re-grant) but a PSK account is not usable here
    r = n.dm.handle(request(PUT, "/11000/0/17", b"21:65535", 0), ServerStub())
    assert r.code == CHANGED and n.model.get(11000).oscore_iid(0) is None
    assert create(n, 11001, {0: 7, 9: "p"}).code == CREATED
    acc = n.c2c.peers.by_endpoint("p")
    assert acc.mode == 0 and not acc.oscore() and not acc.nosec()
