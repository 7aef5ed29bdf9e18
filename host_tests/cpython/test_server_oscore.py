"""tools/server with OSCORE (lib/oscore/secure.py): a client that registers
over OSCORE is bound to that security context; every request the server sends
it is protected with it (nothing of the request readable on the air), and
only that context may update, de-register or Send for it."""
from coap.message import decode
from coap.numbers import (CREATED, CHANGED, DELETED, CONTENT, NOT_FOUND, FORBIDDEN,
                          LWM2M_TLV, SENML_CBOR, URI_PATH, OSCORE)
from oscore.context import SecurityContext
from tools.sim.radio import Radio
from tools.server.server import Server
from tools.server.driver import RadioDriver
from host_tests.support.lwm2m_standin import StandIn, Canned, SERVER, Temperature, seeded_rand

SECRET = bytes(range(1, 17))
SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
TLV_MANUFACTURER = b"\xc8\x00\x14Open Mobile Alliance"


def setup():
    radio = Radio(seed=5)
    radio.link("node1", "server", delay_ms=5)
    radio.link("node2", "server", delay_ms=5)
    server = Server(None, rand=seeded_rand(77))
    server.endpoint.transport = radio.attach(SERVER, server)
    RadioDriver(server, radio, SERVER)
    server_ctx = SecurityContext(SECRET, b"\x02", b"\x01", SALT)
    server.enable_oscore([server_ctx], rand=seeded_rand(78))
    node = StandIn(radio, ("node1", 5683), seed=21,
                   oscore=SecurityContext(SECRET, b"\x01", b"\x02", SALT))
    return radio, server, server_ctx, node


def test_register_over_oscore_binds_the_context_and_requests_are_protected():
    radio, server, server_ctx, node = setup()
    events = []
    server.on_event(lambda kind, reg, info: events.append(reg.describe()))
    assert node.register(payload=b'</>;ct=11542,</3/0>,</3303/0>').code == CREATED
    reg = server.registry.by_endpoint("node1")
    assert reg.security is server_ctx
    assert "sec=oscore" in events[0]
    node.add("3/0/0", Canned(get=(CONTENT, TLV_MANUFACTURER, LWM2M_TLV)))
    start = len(radio.log)
    result = server.device("node1").read("/3/0/0", accept=LWM2M_TLV).wait()
    assert result.value == "Open Mobile Alliance"
    assert node.seen[-1].secure and node.seen[-1].path == "/3/0/0"
    for frame in radio.log[start:]:
        msg = decode(frame.data)
        assert msg.has(OSCORE) and not msg.has(URI_PATH)
        assert b"Open Mobile" not in frame.data


def test_observe_and_cancel_over_oscore():
    radio, server, server_ctx, node = setup()
    node.register(payload=b'</3303/0>')
    temp = node.add("3303/0/5700", Temperature())
    dev = server.device("node1")
    seen = []
    obs = dev.observe("/3303/0/5700", on_notify=seen.append)
    assert obs.wait().value == 20.0
    temp.value = b"23"
    node.changed("3303/0/5700")
    radio.run_for(100)
    assert [r.value for r in seen] == [23.0]
    assert dev.cancel_observation("/3303/0/5700").wait().ok
    assert node.seen[-1].observe == 1 and node.seen[-1].secure
    assert len(node.site.observers) == 0


def test_only_the_registering_context_may_update_deregister_or_send():
    from lwm2m.formats import senml_cbor
    radio, server, server_ctx, node = setup()
    node.register(payload=b'</3303/0>')
    reg = server.registry.by_endpoint("node1")
    assert node.update(secure=False).code == NOT_FOUND          # NoSec cannot touch it
    assert node.deregister(secure=False).code == NOT_FOUND
    payload = senml_cbor.encode([((3303, 0, 5700), 21.5)], (), server.objects.type_of)
    assert node.send(payload, SENML_CBOR, secure=False).code == FORBIDDEN
    got = []
    server.on_send(lambda r, records, cf: got.append((r.endpoint, records)))
    assert node.send(payload, SENML_CBOR).code == CHANGED
    assert got == [("node1", [((3303, 0, 5700), 21.5)])]
    assert node.update(["lt=120"]).code == CHANGED and reg.lifetime_s == 120
    assert node.deregister().code == DELETED


def test_nosec_registration_cannot_be_taken_over_by_a_protected_one_and_vice_versa():
    radio, server, server_ctx, node = setup()
    node.register(payload=b'</3/0>')
    plain = StandIn(radio, ("node2", 5683), seed=31)
    assert plain.register("other", payload=b"</3/0>").code == CREATED
    other = server.registry.by_endpoint("other")
    assert other.security is None
    assert node.update(location=plain.location).code == NOT_FOUND   # OSCORE on a NoSec one
    assert plain.update(location=node.location).code == NOT_FOUND   # NoSec on an OSCORE one
