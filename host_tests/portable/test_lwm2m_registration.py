"""Registration interface of the engine on the fake radio (Core V1.1 §6.2):
Register/Update/De-register, lifetime refresh over hours of virtual time,
re-registration after 4.04, Update contents, retries with back-off, two
servers, Disable, persistence across a restart."""
from tools.sim.radio import Radio
from coap.numbers import (GET, PUT, POST, DELETE, CHANGED, CREATED, DELETED,
                          TEXT_PLAIN, LWM2M_TLV)
from lwm2m.store import MemoryStore
from lwm2m.formats import link
from host_tests.support.lwserver import LwServer
from host_tests.support.lwnode import (Device, Thing, config, make_node, frames_from,
                                       tlv_payload, NODE)

SRV = ("srv", 5683)
SRV2 = ("srv2", 5683)
MTW = 93000            # MAX_TRANSMIT_WAIT with the default CoAP parameters


def setup(lifetime=600, extra=None, store=None, seed=1, objects=(), **kw):
    radio = Radio(seed=seed)
    radio.link("node", "srv", delay_ms=5)
    server = LwServer(radio, SRV)
    entry = (101, "coap://srv:5683", lifetime) + ((extra,) if extra else ())
    sec, srv = config([entry])
    node = make_node(radio, [sec, srv, Device()] + list(objects), store=store, **kw)
    return radio, server, node


def test_register_query_and_payload():
    radio, server, node = setup(objects=[Thing()])
    radio.run_for(1000)
    assert server.kinds() == ["register"]
    kind, t, q, text, peer = server.events[0]
    assert q == {"ep": "node-1", "lt": "600", "lwm2m": "1.1", "b": "U"}
    assert peer == NODE
    links = link.decode(text.encode())
    root = links[0]
    assert root[0] == "/" and root[1]["rt"] == "oma.lwm2m"
    cts = root[1]["ct"].split()
    assert "11542" in cts and "0" in cts and "40" not in cts
    uris = [u for u, _ in links[1:]]
    # Security (0) is never listed; objects with version 1.1 get a ver link;
    # an object without instances is listed bare
    assert "/0/0" not in uris and "/0" not in uris
    assert uris == ["/1", "/1/0", "/3", "/3/0", "/9999"]
    assert dict(links[1:])["/1"] == {"ver": 1.1}
    assert node.status()[101] == "registered"


def test_lifetime_updates_over_hours():
    radio, server, node = setup(lifetime=600)
    radio.run_until(3 * 3600 * 1000)
    kinds = server.kinds()
    assert kinds[0] == "register" and set(kinds[1:]) == {"update"}
    times = [e[1] for e in server.events]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # lifetime - MAX_TRANSMIT_WAIT (Wakaama's rule), plus the link delay
    assert all(600000 - MTW <= g <= 600000 - MTW + 50 for g in gaps), gaps
    assert len(kinds) - 1 == (3 * 3600 * 1000) // (600000 - MTW)
    # a plain lifetime refresh carries no parameters and no payload
    assert all(e[2] == {} and e[3] == "" for e in server.events[1:])
    assert len(server.clients) == 1


def test_short_lifetime_updates_at_half():
    radio, server, node = setup(lifetime=60)
    radio.run_until(600 * 1000)
    times = [e[1] for e in server.events]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) >= 19 and all(30000 <= g <= 30050 for g in gaps), gaps


def test_update_404_registers_again():
    radio, server, node = setup(lifetime=600)
    radio.run_for(1000)
    server.forget()
    radio.run_for(600 * 1000)
    assert server.kinds() == ["register", "update", "register"]
    assert server.events[2][1] - server.events[1][1] < 100     # at once
    assert list(server.clients) == ["r2"]
    assert node.registrar.regs[101].location == ["rd", "r2"]


def test_update_with_payload_after_create_and_delete():
    radio, server, node = setup(lifetime=600, objects=[Thing()])
    radio.run_for(1000)
    r = server.call(POST, "/9999", tlv_payload([((9999, 3, 0), "lamp")], (9999,)),
                    cf=LWM2M_TLV)
    assert r.code == CREATED and r.location_path() == ["9999", "3"]
    radio.run_for(1000)
    kind, t, q, text, peer = server.events[-1]
    assert kind == "update" and q == {}
    assert "</9999/3>" in text.split(",") and "</9999>" not in text.split(",")
    assert server.call(DELETE, "/9999/3").code == DELETED
    radio.run_for(1000)
    kind, t, q, text, peer = server.events[-1]
    assert kind == "update" and "</9999>" in text.split(",")
    assert server.kinds().count("update") == 2


def test_lifetime_write_and_update_trigger():
    radio, server, node = setup(lifetime=600)
    radio.run_for(1000)
    assert server.call(PUT, "/1/0/1", b"120", cf=TEXT_PLAIN).code == CHANGED
    radio.run_for(1000)
    assert server.events[-1][0] == "update" and server.events[-1][2] == {"lt": "120"}
    assert server.events[-1][3] == ""
    assert server.call(POST, "/1/0/8").code == CHANGED
    radio.run_for(1000)
    assert server.kinds() == ["register", "update", "update"]
    assert server.events[-1][2] == {}
    # the new lifetime rules the next refresh: 60 s (half, below 2 * MTW)
    t = server.events[-1][1]
    radio.run_for(61000)
    assert server.events[-1][1] - t == 60000 + 10


def test_deregister_all():
    store = MemoryStore()
    radio, server, node = setup(store=store)
    radio.run_for(1000)
    assert "reg.101" in store.keys()
    node.deregister_all(radio.now_ms)
    radio.wake(NODE)
    assert radio.run_while(lambda: not node.stopped(), 10000)
    assert server.kinds() == ["register", "deregister"]
    assert server.clients == {}
    assert "reg.101" not in store.keys()
    radio.run_for(3600 * 1000)
    assert server.kinds() == ["register", "deregister"]


def test_retry_back_off_when_the_server_is_silent():
    radio = Radio(seed=4)
    radio.link("node", "srv", delay_ms=5)
    radio.attach(SRV, None)                  # passive: swallows everything
    sec, srv = config([(101, "coap://srv:5683", 600)])
    node = make_node(radio, [sec, srv, Device()])
    radio.run_until(86400 * 1000 + 1300 * 1000)
    sent = frames_from(radio, NODE, SRV)
    starts = []
    copies = {}
    for t, msg in sent:
        if msg.mid not in copies:
            copies[msg.mid] = 0
            starts.append(t)
        copies[msg.mid] += 1
    # 5 attempts (Communication Retry Count), each a CON with 4
    # retransmissions, waiting 60 * 2^(n-1) s between them; then the
    # sequence delay (86400 s) before the next sequence
    assert len(starts) == 6, starts
    assert sorted(copies.values())[1:] == [5] * 5
    for n in range(1, 5):
        gap = starts[n] - starts[n - 1]
        wait = 60000 << (n - 1)
        assert wait + 62000 <= gap <= wait + MTW, (n, gap)
    assert 86400000 + 62000 <= starts[5] - starts[4] <= 86400000 + MTW
    assert node.status()[101] == "registering"
    # the server comes back: the next sequence succeeds
    radio.detach(SRV)
    server = LwServer(radio, SRV)
    assert radio.run_while(lambda: node.status()[101] != "registered", 2 * 86400 * 1000)
    assert server.kinds()[0] == "register"


def test_retry_resources_are_honoured():
    # Retry Count 2, Retry Timer 10 s, Sequence Delay 100 s, 2 sequences
    extra = {17: 2, 18: 10, 19: 100, 20: 2, 16: False}
    radio = Radio(seed=5)
    radio.link("node", "srv", delay_ms=5)
    server = LwServer(radio, SRV)
    server.refuse_register = 0x80 | 3        # 4.03 Forbidden, at once
    sec, srv = config([(101, "coap://srv:5683", 600, extra)])
    node = make_node(radio, [sec, srv, Device()])
    radio.run_until(400 * 1000)
    times = [e[1] for e in server.events]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # attempt, 10 s, attempt | 100 s | attempt, 10 s, attempt | failed:
    # no bootstrap (16 false, none configured), so again after 100 s
    assert gaps[:4] == [10010, 100010, 10010, 100010], gaps


def test_two_servers_each_their_own_state_machine():
    radio = Radio(seed=2)
    radio.link("node", "srv", delay_ms=5)
    radio.link("node", "srv2", delay_ms=20)
    s1 = LwServer(radio, SRV, seed=11)
    s2 = LwServer(radio, SRV2, seed=12)
    sec, srv = config([(101, "coap://srv:5683", 300), (102, "coap://srv2:5683", 1000)])
    node = make_node(radio, [sec, srv, Device()])
    radio.run_until(3600 * 1000)
    assert s1.kinds()[0] == "register" and s2.kinds()[0] == "register"
    n1 = s1.kinds().count("update")
    n2 = s2.kinds().count("update")
    assert n1 == 3600000 // (300000 - MTW) and n2 == 3600000 // (1000000 - MTW)
    assert s1.events[0][2]["lt"] == "300" and s2.events[0][2]["lt"] == "1000"
    # an Execute on one server's Update Trigger concerns that server only
    assert s2.call(POST, "/1/1/8").code == CHANGED
    radio.run_for(1000)
    assert s2.kinds().count("update") == n2 + 1
    assert s1.kinds().count("update") == n1


def test_disable_deregisters_and_comes_back_after_the_timeout():
    radio, server, node = setup(lifetime=600, extra={5: 300})
    radio.run_for(1000)
    assert server.call(POST, "/1/0/4").code == CHANGED
    radio.run_for(1000)
    assert server.kinds() == ["register", "deregister"]
    assert node.status()[101] == "disabled"
    assert server.call(GET, "/3/0/0", peer=NODE).code == 0x80 | 1   # ignored: 4.01
    t = server.events[-1][1]
    radio.run_for(310 * 1000)
    assert server.kinds() == ["register", "deregister", "register"]
    assert 300000 <= server.events[-1][1] - t <= 300100


def test_restart_sends_update_not_register():
    store = MemoryStore()
    radio, server, node = setup(lifetime=600, store=store)
    radio.run_for(1000)
    assert server.kinds() == ["register"]
    radio.detach(NODE)
    # a new engine, with empty configuration objects: all comes from the store
    node2 = make_node(radio, [Device()], store=store, seed=8)
    radio.run_for(1000)
    assert server.kinds() == ["register", "update"]
    assert server.events[-1][2] == {} and server.events[-1][3] == ""
    assert node2.status()[101] == "registered"
    assert server.call(GET, "/1/0/1").payload == b"600"
    # the server forgot us meanwhile: 4.04 -> Register
    radio.detach(NODE)
    server.forget()
    node3 = make_node(radio, [Device()], store=store, seed=9)
    radio.run_for(1000)
    assert server.kinds() == ["register", "update", "update", "register"]
    assert node3.status()[101] == "registered"


def test_address_change_sends_update():
    radio, server, node = setup(lifetime=600)
    radio.run_for(1000)
    node.address_changed()
    radio.wake(NODE)
    radio.run_for(1000)
    assert server.kinds() == ["register", "update"]


def test_persisted_lifetime_write_survives_a_restart():
    store = MemoryStore()
    radio, server, node = setup(lifetime=600, store=store)
    radio.run_for(1000)
    assert server.call(PUT, "/1/0/1", b"900", cf=TEXT_PLAIN).code == CHANGED
    radio.run_for(1000)
    radio.detach(NODE)
    node2 = make_node(radio, [Device()], store=store, seed=8)
    radio.run_for(1000)
    assert server.events[-1][0] == "update" and server.events[-1][2] == {}
    assert server.clients["r1"]["lt"] == 900
    assert node2.model.get(1).get(0, 1) == 900
    assert node2.endpoint.last_error is None
