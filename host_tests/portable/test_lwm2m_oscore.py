"""An OSCORE server account (Transport V1.1 §5.5: Security resource 17 links
an OSCORE (21) instance): registration and every request protected, the
server identified by its context only, key material never readable, and
sequence numbers that survive a restart."""
from tools.sim.radio import Radio
from coap.numbers import GET, POST, CONTENT, CHANGED, UNAUTHORIZED, OSCORE, URI_PATH
from oscore.context import SecurityContext
from oscore.secure import SecureHandler, Protection
from lwm2m.store import MemoryStore
from lwm2m.objects.oscore import Oscore
from host_tests.support.lwserver import LwServer
from host_tests.support.lwnode import Device, config, make_node, frames_from, NODE

SRV = ("srv", 5683)
SECRET = bytes(range(16))
SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
NODE_ID = b"\x01"
SERVER_ID = b"\x02"


def server_context(store=None):
    return SecurityContext(SECRET, SERVER_ID, NODE_ID, master_salt=SALT, store=store)


def setup(store=None, node_store=None, seed=1):
    radio = Radio(seed=seed)
    radio.link("node", "srv", delay_ms=5)
    server = LwServer(radio, SRV)
    ctx = server_context(store)
    server.endpoint.handler = SecureHandler(server.handle, [ctx]).handle
    server.security = Protection(ctx)
    osc = Oscore()
    osc.add(SECRET, NODE_ID, SERVER_ID, master_salt=SALT)
    sec, srv = config([(101, "coap://srv:5683", 600)], oscore=0)
    node = make_node(radio, [sec, srv, osc, Device()], store=node_store)
    return radio, server, node, ctx


def test_registration_and_requests_are_protected():
    radio, server, node, ctx = setup()
    radio.run_for(1000)
    assert server.kinds() == ["register"]
    assert node.status()[101] == "registered"
    # on the air: an OSCORE option and no plain Uri-Path
    for t, msg in frames_from(radio, NODE, SRV):
        assert msg.has(OSCORE) and not msg.has(URI_PATH)
    r = server.call(GET, "/3/0/0")
    assert r.code == CONTENT and bytes(r.payload) == b"ACME"
    assert server.call(POST, "/1/0/8").code == CHANGED
    radio.run_for(1000)
    assert server.kinds() == ["register", "update"]
    # key material: never readable, even through the right context
    assert server.call(GET, "/21/0").code == UNAUTHORIZED
    assert server.call(GET, "/0/0").code == UNAUTHORIZED
    assert node.endpoint.last_error is None


def test_unprotected_requests_from_the_server_address_are_refused():
    radio, server, node, ctx = setup()
    radio.run_for(1000)
    server.security = None
    assert server.call(GET, "/3/0/0").code == UNAUTHORIZED
    # another context (unknown kid): the OSCORE layer refuses it
    server.security = Protection(SecurityContext(SECRET, b"\x07", b"\x08", master_salt=SALT))
    results = server.send(GET, "/3/0/0")
    radio.run_while(lambda: not results, 10000)
    assert results[0][0] is None and "unprotected 4.01" in results[0][1]


def test_sequence_numbers_survive_a_restart():
    node_store = MemoryStore()
    server_store = MemoryStore()
    radio, server, node, ctx = setup(server_store, node_store)
    radio.run_for(1000)
    for i in range(3):
        assert server.call(GET, "/3/0/1").code == CONTENT
    used = node.oscore_context(0).ssn
    radio.detach(NODE)
    node2 = make_node(radio, [Device(), Oscore()], store=node_store, seed=9)
    radio.run_for(1000)
    # the restarted node Updates (not Registers), protected, with sequence
    # numbers above any it used before: the server's replay window accepts it
    assert server.kinds() == ["register", "update"]
    assert node2.status()[101] == "registered"
    assert node2.oscore_context(0).ssn > used
    # the node's replay window is unsynchronised after the restart: the
    # first request gets 4.01 + Echo and the server's retry goes through
    r = server.call(GET, "/3/0/0")
    assert r.code == CONTENT and bytes(r.payload) == b"ACME"
