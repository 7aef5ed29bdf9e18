"""Device Management through the engine on the fake radio (Core V1.1 §6.3):
every operation and its error codes, content-format negotiation, and
all-or-nothing writes (a malformed or refused payload changes nothing)."""
from tools.sim.radio import Radio
from coap.numbers import (GET, PUT, POST, DELETE, FETCH, CONTENT, CHANGED, CREATED,
                          DELETED, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND,
                          METHOD_NOT_ALLOWED, NOT_ACCEPTABLE,
                          UNSUPPORTED_CONTENT_FORMAT, TEXT_PLAIN, OCTET_STREAM,
                          LINK_FORMAT, JSON, SENML_JSON, SENML_CBOR, LWM2M_TLV,
                          LWM2M_CBOR, OBSERVE)
from lwm2m.formats import tlv, senml_json, senml_cbor
from lwm2m.dm import parse_arguments
from lwm2m.model import Error
from host_tests.support.lwserver import LwServer
from host_tests.support.lwnode import (Device, Thing, config, make_node, schema,
                                       tlv_payload, NAME, LEVEL, TAGS, SERIAL, NODE)
from host_tests.support.check import raises

SRV = ("srv", 5683)


def setup():
    radio = Radio(seed=3)
    radio.link("node", "srv", delay_ms=5)
    radio.link("node", "other", delay_ms=5)
    server = LwServer(radio, SRV)
    sec, srv = config([(101, "coap://srv:5683", 600)])
    thing = Thing()
    thing.create(0, {NAME: "lamp", LEVEL: 10, TAGS: {0: "a", 1: "b"}})
    node = make_node(radio, [sec, srv, Device(), thing])
    radio.run_for(1000)
    assert server.kinds() == ["register"]
    return radio, server, node, thing


def decode(response, base):
    return dict(tlv.decode(response.payload, base, schema().type_of))


def test_read_formats_and_negotiation():
    radio, server, node, thing = setup()
    r = server.call(GET, "/9999/0")
    assert r.code == CONTENT and r.content_format == LWM2M_TLV
    assert decode(r, (9999, 0)) == {(9999, 0, NAME): "lamp", (9999, 0, LEVEL): 10,
                                     (9999, 0, TAGS, 0): "a", (9999, 0, TAGS, 1): "b",
                                     (9999, 0, SERIAL): "S0"}
    r = server.call(GET, "/9999/0/1")
    assert (r.code, r.content_format, bytes(r.payload)) == (CONTENT, TEXT_PLAIN, b"10")
    r = server.call(GET, "/9999/0/2/1")
    assert bytes(r.payload) == b"b"
    r = server.call(GET, "/9999/0/2")          # multiple resource: TLV by default
    assert r.content_format == LWM2M_TLV
    r = server.call(GET, "/9999", accept=SENML_JSON)
    assert r.content_format == SENML_JSON
    recs = senml_json.decode(r.payload, (9999,), schema().type_of)
    assert ((9999, 0, NAME), "lamp") in recs
    r = server.call(GET, "/3/0", accept=SENML_CBOR)
    assert r.content_format == SENML_CBOR
    assert ((3, 0, 0), "ACME") in senml_cbor.decode(r.payload, (3, 0), schema().type_of)
    assert server.call(GET, "/3/0", accept=LWM2M_CBOR).code == CONTENT
    assert server.call(GET, "/3/0", accept=JSON).code == NOT_ACCEPTABLE
    assert server.call(GET, "/3/0", accept=TEXT_PLAIN).code == NOT_ACCEPTABLE
    assert server.call(GET, "/3/0/0", accept=OCTET_STREAM).code == NOT_ACCEPTABLE


def test_read_errors():
    radio, server, node, thing = setup()
    assert server.call(GET, "/4242").code == NOT_FOUND
    assert server.call(GET, "/9999/7").code == NOT_FOUND
    assert server.call(GET, "/9999/0/77").code == NOT_FOUND     # not defined
    assert server.call(GET, "/3/0/2").code == NOT_FOUND         # defined, absent
    assert server.call(GET, "/9999/0/2/9").code == NOT_FOUND
    assert server.call(GET, "/9999/0/4").code == METHOD_NOT_ALLOWED   # Execute only
    assert server.call(GET, "/9999/0/x").code == NOT_FOUND
    assert server.call(GET, "/99999").code == NOT_FOUND
    assert server.call(FETCH, "/3/0").code == METHOD_NOT_ALLOWED


def test_unknown_caller_gets_401():
    radio, server, node, thing = setup()
    other = LwServer(radio, ("other", 5683), seed=5)
    assert other.call(GET, "/3/0", peer=NODE).code == UNAUTHORIZED
    assert other.call(PUT, "/9999/0/0", b"x", cf=TEXT_PLAIN, peer=NODE).code == UNAUTHORIZED
    assert thing.get(0, NAME) == "lamp"


def test_write_replace_and_partial_update():
    radio, server, node, thing = setup()
    assert server.call(PUT, "/9999/0/0", b"desk", cf=TEXT_PLAIN).code == CHANGED
    assert thing.get(0, NAME) == "desk"
    # partial update keeps what the payload does not name; adds a tag
    p = tlv_payload([((9999, 0, LEVEL), 55), ((9999, 0, TAGS, 5), "z")], (9999, 0))
    assert server.call(POST, "/9999/0", p, cf=LWM2M_TLV).code == CHANGED
    assert thing.get(0, LEVEL) == 55 and thing.get(0, TAGS) == {0: "a", 1: "b", 5: "z"}
    # replace of the instance drops optional writable resources not given
    p = tlv_payload([((9999, 0, NAME), "new")], (9999, 0))
    assert server.call(PUT, "/9999/0", p, cf=LWM2M_TLV).code == CHANGED
    assert thing.instances[0] == {NAME: "new", SERIAL: "S0", 4: None}
    # replace of a multiple resource; write of one resource instance
    p = tlv_payload([((9999, 0, TAGS, 3), "c")], (9999, 0, TAGS))
    assert server.call(PUT, "/9999/0/2", p, cf=LWM2M_TLV).code == CHANGED
    assert thing.get(0, TAGS) == {3: "c"}
    assert server.call(PUT, "/9999/0/2/4", b"d", cf=TEXT_PLAIN).code == CHANGED
    assert thing.get(0, TAGS) == {3: "c", 4: "d"}
    # SenML JSON
    p = b'[{"bn":"/9999/0/","n":"1","v":7},{"n":"0","vs":"json"}]'
    assert server.call(POST, "/9999/0", p, cf=SENML_JSON).code == CHANGED
    assert thing.get(0, LEVEL) == 7 and thing.get(0, NAME) == "json"


def test_write_errors_change_nothing():
    radio, server, node, thing = setup()
    before = dict(thing.instances[0])
    before[TAGS] = dict(before[TAGS])

    def unchanged():
        assert thing.instances[0] == before

    # read-only resource: 4.05; in a multi-resource write: 4.05, nothing written
    assert server.call(PUT, "/9999/0/3", b"x", cf=TEXT_PLAIN).code == METHOD_NOT_ALLOWED
    p = tlv_payload([((9999, 0, LEVEL), 50), ((9999, 0, SERIAL), "x")], (9999, 0))
    assert server.call(POST, "/9999/0", p, cf=LWM2M_TLV).code == METHOD_NOT_ALLOWED
    unchanged()
    # a value the object refuses (validate) in a multi-resource write
    p = tlv_payload([((9999, 0, NAME), "ok"), ((9999, 0, LEVEL), 500)], (9999, 0))
    assert server.call(POST, "/9999/0", p, cf=LWM2M_TLV).code == BAD_REQUEST
    unchanged()
    # malformed TLV, SenML JSON and SenML CBOR: 4.00
    good = tlv_payload([((9999, 0, NAME), "zz"), ((9999, 0, LEVEL), 1)], (9999, 0))
    assert server.call(POST, "/9999/0", good[:-1], cf=LWM2M_TLV).code == BAD_REQUEST
    assert server.call(POST, "/9999/0", b'[{"bn":"/9999/0/","n":"0","vs":"x"}',
                       cf=SENML_JSON).code == BAD_REQUEST
    assert server.call(POST, "/9999/0", b"\x81\xa2\x21\x67", cf=SENML_CBOR).code == BAD_REQUEST
    assert server.call(PUT, "/9999/0/1", b"12a", cf=TEXT_PLAIN).code == BAD_REQUEST
    # a type the resource does not have
    assert server.call(POST, "/9999/0", b'[{"bn":"/9999/0/","n":"1","vs":"x"}]',
                       cf=SENML_JSON).code == BAD_REQUEST
    # unsupported and missing Content-Format
    assert server.call(PUT, "/9999/0/0", b"x", cf=50).code == UNSUPPORTED_CONTENT_FORMAT
    assert server.call(PUT, "/9999/0/0", b"x").code == BAD_REQUEST
    # unknown resource in the payload; unknown instance; Write on an object
    p = tlv_payload([((9999, 0, NAME), "q")], (9999, 0)) + b"\xc1\x4d\x01"
    assert server.call(POST, "/9999/0", p, cf=LWM2M_TLV).code == NOT_FOUND
    assert server.call(PUT, "/9999/3/0", b"x", cf=TEXT_PLAIN).code == NOT_FOUND
    assert server.call(PUT, "/9999", good, cf=LWM2M_TLV).code == METHOD_NOT_ALLOWED
    # records outside the target
    p = tlv_payload([((9999, 0, NAME), "q")], (9999, 0))
    assert server.call(PUT, "/9999/0/1", p, cf=LWM2M_TLV).code == BAD_REQUEST
    unchanged()


def test_execute():
    radio, server, node, thing = setup()
    assert server.call(POST, "/9999/0/4").code == CHANGED
    assert server.call(POST, "/9999/0/4", b"0='a,b',1").code == CHANGED
    assert thing.resets == [(0, ""), (0, "0='a,b',1")]
    assert server.call(POST, "/9999/0/4", b"x=1").code == BAD_REQUEST
    assert server.call(POST, "/9999/0/1").code == METHOD_NOT_ALLOWED
    assert server.call(POST, "/9999/0/77").code == NOT_FOUND
    assert server.call(POST, "/9999/0/2/0").code == METHOD_NOT_ALLOWED
    assert server.call(POST, "/3/0/4").code == CHANGED
    assert node.model.get(3).reboots == 1
    assert len(thing.resets) == 2


def test_execute_arguments_syntax():
    assert parse_arguments("") == []
    assert parse_arguments("0") == [(0, None)]
    assert parse_arguments("2='x y',3") == [(2, "x y"), (3, None)]
    for bad in ("a", "0=x", "0='x", "0,", "01", "0='a'1"):
        with raises(Error):
            parse_arguments(bad)


def test_create_and_delete():
    radio, server, node, thing = setup()
    p = tlv_payload([((9999, 4, NAME), "n4"), ((9999, 4, LEVEL), 4)], (9999,))
    r = server.call(POST, "/9999", p, cf=LWM2M_TLV)
    assert r.code == CREATED and r.location_path() == ["9999", "4"]
    assert thing.instances[4][NAME] == "n4" and thing.instances[4][SERIAL] == "S4"
    # without instance ID (bare resources): the client picks one
    p = tlv.encode([((9999, 0, NAME), "auto")], (9999, 0), schema().type_of)
    r = server.call(POST, "/9999", p, cf=LWM2M_TLV)
    assert r.code == CREATED and r.location_path() == ["9999", "1"]
    # existing instance, missing mandatory resource, bad value: 4.00
    p = tlv_payload([((9999, 4, NAME), "again")], (9999,))
    assert server.call(POST, "/9999", p, cf=LWM2M_TLV).code == BAD_REQUEST
    p = tlv_payload([((9999, 6, LEVEL), 1)], (9999,))
    assert server.call(POST, "/9999", p, cf=LWM2M_TLV).code == BAD_REQUEST
    p = tlv_payload([((9999, 6, NAME), "x"), ((9999, 6, LEVEL), 101)], (9999,))
    assert server.call(POST, "/9999", p, cf=LWM2M_TLV).code == BAD_REQUEST
    assert 6 not in thing.instances
    assert server.call(POST, "/9999", b"\x00", cf=LWM2M_TLV).code == BAD_REQUEST
    # an object that does not create instances refuses: 4.05
    p = tlv_payload([((3, 1, 0), "x")], (3,))
    assert server.call(POST, "/3", p, cf=LWM2M_TLV).code in (BAD_REQUEST, METHOD_NOT_ALLOWED)
    assert server.call(DELETE, "/9999/4").code == DELETED
    assert 4 not in thing.instances
    assert server.call(DELETE, "/9999/4").code == NOT_FOUND
    assert server.call(DELETE, "/9999").code == METHOD_NOT_ALLOWED
    assert server.call(DELETE, "/9999/0/1").code == METHOD_NOT_ALLOWED
    assert server.call(DELETE, "/3/0").code == METHOD_NOT_ALLOWED
    assert node.endpoint.last_error is None


def test_discover_write_attributes_and_observe():
    radio, server, node, thing = setup()
    r = server.call(GET, "/9999", accept=LINK_FORMAT)
    assert r.code == CONTENT and r.content_format == LINK_FORMAT
    assert bytes(r.payload) == (b"</9999>,</9999/0>,</9999/0/0>,</9999/0/1>,"
                                b"</9999/0/2>;dim=2,</9999/0/3>,</9999/0/4>")
    r = server.call(GET, "/3", accept=LINK_FORMAT)
    assert bytes(r.payload).startswith(b"</3>;ver=1.1,</3/0>,</3/0/0>")
    r = server.call(GET, "/9999/0/2", accept=LINK_FORMAT, query=("depth=1",))
    assert bytes(r.payload) == b"</9999/0/2>;dim=2,</9999/0/2/0>,</9999/0/2/1>"
    assert server.call(GET, "/9999/0/2/0", accept=LINK_FORMAT).code == BAD_REQUEST
    assert server.call(GET, "/9999/9", accept=LINK_FORMAT).code == NOT_FOUND
    assert server.call(GET, "/0", accept=LINK_FORMAT).code == UNAUTHORIZED
    r = server.call(PUT, "/9999/0/1", query=("pmin=10", "pmax=60"))
    assert r.code == CHANGED
    assert thing.get(0, LEVEL) == 10
    results = server.send(GET, "/9999/0/1", observe=0)
    radio.run_while(lambda: not results, 10000)
    r = results[0][0]
    assert r.code == CONTENT and bytes(r.payload) == b"10" and r.has(OBSERVE)


def test_large_read_goes_block_wise():
    radio, server, node, thing = setup()
    thing.write(0, TAGS, dict((i, "tag-%04d" % i) for i in range(200)))
    r = server.call(GET, "/9999/0")
    assert r.code == CONTENT
    assert len(decode(r, (9999, 0))) == 203
    # and a large write arrives block-wise (Block1)
    tags = dict((i, "v%04d" % i) for i in range(150))
    p = tlv_payload([((9999, 0, TAGS, i), v) for i, v in tags.items()], (9999, 0, TAGS))
    assert len(p) > 1024
    assert server.call(PUT, "/9999/0/2", p, cf=LWM2M_TLV).code == CHANGED
    assert thing.get(0, TAGS) == tags


def test_security_and_oscore_never_readable():
    radio, server, node, thing = setup()
    for path in ("/0", "/0/0", "/0/0/5", "/0/0/0", "/21", "/21/0"):
        assert server.call(GET, path).code == UNAUTHORIZED, path
    assert server.call(PUT, "/0/0/0", b"coap://evil", cf=TEXT_PLAIN).code == UNAUTHORIZED
    assert node.model.get(0).get(0, 0) == "coap://srv:5683"
    # the object itself hides key material from any Read
    node.model.get(0).instances[0][5] = b"secret"
    assert (0, 0, 5) not in [r[0] for r in node.model.read_records((0, 0))]
