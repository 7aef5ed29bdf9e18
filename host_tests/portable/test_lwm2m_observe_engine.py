"""lwm2m.observe.Reporter, the engine's reporting hook (lwm2m.engine.Client), on the
fake radio with virtual time: Write-Attributes, Discover, Observe with the
server's Default Minimum Period, gt crossing, pmax, Disable with Notification
Storing, and Send; runs under pytest and the unix port."""
from tools.sim.radio import Radio
from coap.numbers import (GET, PUT, POST, CHANGED, CONTENT, LINK_FORMAT,
                          SENML_CBOR)
from lwm2m.store import MemoryStore
from lwm2m.formats import senml_cbor
from host_tests.support.lwserver import LwServer
from host_tests.support.lwnode import Device, Thing, config, make_node

SRV = ("srv", 5683)
NODE = ("node", 5683)
LEVEL = (9999, 0, 1)


def setup(extra=None):
    radio = Radio(seed=1)
    radio.link("node", "srv", delay_ms=5)
    server = LwServer(radio, SRV)
    res = {2: 5}                       # Default Minimum Period 5 s
    res.update(extra or {})
    sec, srv = config([(1, "coap://srv:5683", 600, res)])
    thing = Thing()
    thing.create(0, {0: "a", 1: 5})
    node = make_node(radio, [sec, srv, Device(), thing], store=MemoryStore())
    radio.run_for(1000)
    assert server.kinds() == ["register"]
    return radio, server, node, thing


def change(radio, thing, value):
    thing.set(0, 1, value)
    radio.wake(NODE)


def observe(radio, server):
    got = []
    server.send(GET, "/9999/0/1", observe=0,
                callback=lambda r, e: got.append((radio.now_ms, bytes(r.payload))))
    radio.run_for(30)
    return got


def test_attributes_discover_and_notifications_through_the_engine():
    radio, server, node, thing = setup()
    assert server.call(PUT, "/9999/0/1", query=["gt=50", "pmax=20"]).code == CHANGED
    r = server.call(GET, "/9999/0/1", accept=LINK_FORMAT)
    assert r.code == CONTENT and bytes(r.payload) == b"</9999/0/1>;pmax=20;gt=50"
    got = observe(radio, server)
    t0 = got[0][0]
    radio.run_until(t0 + 1000)
    change(radio, thing, 60)           # crosses gt: waits for the default pmin
    radio.run_until(t0 + 2000)
    change(radio, thing, 70)           # coalesced
    radio.run_until(t0 + 45000)
    assert [(t - t0, v) for t, v in got] == [(0, b"5"), (5000, b"70"),
                                             (25000, b"70"), (45000, b"70")]


def test_disable_stores_notifications_and_flushes_them_in_order():
    radio, server, node, thing = setup({5: 30, 6: True})   # Disable Timeout 30 s
    server.call(PUT, "/9999/0/1", query=["pmin=1"])
    got = observe(radio, server)
    assert server.call(POST, "/1/0/4").code == CHANGED     # Disable
    radio.run_for(1000)
    assert server.kinds()[-1] == "deregister"
    for v in (10, 80):
        radio.run_for(5000)
        change(radio, thing, v)
    radio.run_for(1000)
    assert [len(q) for q in node.reporting.stored.values()] == [2]
    assert len(got) == 1
    radio.run_for(40000)               # re-registers, then flushes
    assert server.kinds()[-1] == "register"
    assert [v for t, v in got] == [b"5", b"10", b"80"]
    assert node.reporting.stored == {}


def test_send_through_the_engine():
    radio, server, node, thing = setup({23: False})        # Mute Send off
    posted = []
    orig = server.handle

    def handle(request, peer, now_ms):
        if request.code == POST and request.path() == ["dp"]:
            posted.append(request)
            from coap.server import reply
            return reply(CHANGED)
        return orig(request, peer, now_ms)
    server.endpoint.handler = handle
    results = []
    node.send(1, [LEVEL], lambda r, e: results.append((r, e)), radio.now_ms)
    radio.wake(NODE)
    radio.run_for(1000)
    [req] = posted
    assert req.content_format == SENML_CBOR
    assert senml_cbor.decode(bytes(req.payload), (), node.model.type_of) == [(LEVEL, 5)]
    assert results[0][0].code == CHANGED
