"""The engine against the reference server (tools/server, CPython) on the
fake radio: the server parses our Register payload (content formats, objects,
versions), decodes our answers in every format, and every DM operation works
end to end; Update and De-register reach its registry."""
import tools.server  # noqa: F401  (paths)
from tools.server.server import Server
from tools.server.driver import RadioDriver
from tools.sim.radio import Radio
from coap.numbers import LWM2M_TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR
from host_tests.support.lwserver import rng_bytes
from host_tests.support.lwnode import Device, Thing, config, make_node, NAME, LEVEL, NODE

SERVER = ("server", 5683)


def setup():
    radio = Radio(seed=1)
    srv = Server(None, rand=rng_bytes(3))
    srv.endpoint.transport = radio.attach(SERVER, srv)
    RadioDriver(srv, radio, SERVER)
    radio.link("node", "server", delay_ms=5)
    sec, s = config([(101, "coap://server:5683", 120)])
    thing = Thing()
    thing.create(0, {NAME: "a", LEVEL: 1})
    node = make_node(radio, [sec, s, Device(), thing])
    radio.run_for(1000)
    return radio, srv, node, thing, srv.device("node-1")


def test_registration_is_understood():
    radio, srv, node, thing, dev = setup()
    reg = dev.registration
    assert (reg.lifetime_s, reg.version, reg.binding) == (120, "1.1", "U")
    radio.run_for(600 * 1000)
    assert srv.registry.by_endpoint("node-1") is not None       # kept alive by Updates
    node.deregister_all(radio.now_ms)
    radio.wake(NODE)
    radio.run_for(2000)
    assert node.stopped() and srv.registry.by_endpoint("node-1") is None


def test_reads_in_every_format():
    radio, srv, node, thing, dev = setup()
    want = [((1, 0, 0), 101), ((1, 0, 1), 120), ((1, 0, 6), True), ((1, 0, 7), "U")]
    for cf in (None, LWM2M_TLV, SENML_JSON, SENML_CBOR, LWM2M_CBOR):
        r = dev.read("/1/0", accept=cf).wait()
        assert r.code_text == "2.05" and sorted(r.records) == want, cf
    assert dev.read("/3/0/0").wait().value == "ACME"


def test_write_execute_create_discover_delete():
    radio, srv, node, thing, dev = setup()
    assert dev.write("/9999/0/1", 42).wait().code_text == "2.04"
    assert thing.get(0, LEVEL) == 42
    assert dev.write("/1/0/1", 300).wait().code_text == "2.04"
    radio.run_for(1000)
    assert dev.registration.lifetime_s == 300                  # Update with lt
    assert dev.execute("/9999/0/4", "0='x'").wait().code_text == "2.04"
    assert thing.resets == [(0, "0='x'")]
    assert dev.create("/9999", {0: "n3"}, iid=3).wait().code_text == "2.01"
    assert thing.get(3, NAME) == "n3"
    r = dev.discover("/9999").wait()
    assert r.code_text == "2.05" and "/9999/3/0" in [l.target for l in r.links]
    assert dev.delete("/9999/3").wait().code_text == "2.02"
    assert dev.read("/0/0").wait().code_text == "4.01"


def test_oscore_account_end_to_end():
    from oscore.context import SecurityContext
    from lwm2m.objects.oscore import Oscore
    secret, salt = bytes(range(16)), b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
    radio = Radio(seed=2)
    srv = Server(None, rand=rng_bytes(4))
    srv.endpoint.transport = radio.attach(SERVER, srv)
    RadioDriver(srv, radio, SERVER)
    srv.enable_oscore([SecurityContext(secret, b"\x02", b"\x01", salt)], rand=rng_bytes(5))
    radio.link("node", "server", delay_ms=5)
    osc = Oscore()
    osc.add(secret, b"\x01", b"\x02", master_salt=salt)
    sec, s = config([(101, "coap://server:5683", 120)], oscore=0)
    node = make_node(radio, [sec, s, osc, Device()])
    radio.run_for(1000)
    dev = srv.device("node-1")
    assert dev.registration.security is not None
    assert dev.read("/3/0/0").wait().value == "ACME"
    assert dev.read("/21/0").wait().code_text == "4.01"
    radio.run_for(300 * 1000)
    assert srv.registry.by_endpoint("node-1") is not None
