"""Observe (RFC 7641): server observer list and the client freshness rule."""
from host_tests.support.wire import Wire, Recorder
from coap.endpoint import Endpoint
from coap.observe import Observers, is_fresh
from coap.message import Message, empty
from coap.numbers import CON, NON, ACK, RST, GET, CONTENT, NOT_FOUND, OBSERVE

A = ("10.0.0.1", 5683)
B = ("10.0.0.2", 5683)
DAY = 86400000


def setup(max_observers=8):
    wire = Wire()
    server = Endpoint(wire.transport(B))
    wire.attach(B, server)
    obs = Observers(server, max_observers)
    state = {"value": 0, "code": CONTENT}

    def render(request):
        return Message(code=state["code"], payload=b"%d" % state["value"])
    return wire, server, obs, state, render


def registration(token=b"t1", path="/s"):
    return Message(CON, GET, 1, token).set_path(path).add(OBSERVE, 0)


def test_freshness_rule_table():
    # (v1, t1, v2, t2, fresh) -- RFC 7641 §3.4
    table = [
        (1, 0, 2, 0, True),
        (2, 0, 1, 0, False),
        (5, 0, 5, 0, False),
        (0xFFFFFF, 0, 0, 0, True),                 # wrap-around
        (0, 0, 0xFFFFFF, 0, False),
        (10, 0, 10 + (1 << 23), 0, False),         # too far ahead: older
        (10, 0, 10 + (1 << 23) - 1, 0, True),
        (9, 0, 3, 128001, True),                   # 128 s passed
        (9, 0, 3, 128000, False),
    ]
    for v1, t1, v2, t2, fresh in table:
        assert is_fresh(v1, t1, v2, t2) == fresh, (v1, t1, v2, t2)


def test_register_notify_with_increasing_sequence():
    wire, server, obs, state, render = setup()
    first = obs.register(A, registration(), "s", render, 0)
    for v in (1, 2, 3):
        state["value"] = v
        obs.notify("s", v * 1000)
    sent = [m for _, _, m in wire.take()]
    assert [m.mtype for m in sent] == [NON, NON, NON]
    seqs = [m.observe for m in sent]
    assert seqs[0] > first and seqs == sorted(seqs) and len(set(seqs)) == 3
    assert [bytes(m.payload) for m in sent] == [b"1", b"2", b"3"]
    assert all(m.token == b"t1" for m in sent)


def test_reregistration_replaces_entry():
    wire, server, obs, state, render = setup()
    obs.register(A, registration(b"t1"), "s", render, 0)
    obs.register(A, registration(b"t2"), "s", render, 0)
    assert len(obs) == 1
    obs.notify("s", 1)
    [(_, _, m)] = wire.take()
    assert m.token == b"t2"


def test_rst_to_notification_removes_observer():
    wire, server, obs, state, render = setup()
    obs.register(A, registration(), "s", render, 0)
    obs.notify("s", 1)
    [(_, _, m)] = wire.take()
    server.receive(empty(RST, m.mid).to_bytes(), A, 2)
    assert len(obs) == 0


def test_con_notification_timeout_removes_observer():
    wire, server, obs, state, render = setup()
    obs.register(A, registration(), "s", render, 0, confirmable=True)
    obs.notify("s", 0)
    now = 0
    while now is not None:
        now = server.step(now)
    assert len(obs) == 0


def test_con_at_least_daily():
    wire, server, obs, state, render = setup()
    obs.register(A, registration(), "s", render, 0)
    obs.notify("s", DAY - 1)
    obs.notify("s", DAY)
    types = [m.mtype for _, _, m in wire.take()]
    assert types == [NON, CON]


def test_newer_state_waits_for_in_flight_con_and_is_sent_after_ack():
    wire, server, obs, state, render = setup()
    obs.register(A, registration(), "s", render, 0, confirmable=True)
    state["value"] = 1
    obs.notify("s", 0)
    state["value"] = 2
    obs.notify("s", 1)                      # held back
    state["value"] = 3
    obs.notify("s", 2)
    [(_, _, m1)] = wire.take()
    assert bytes(m1.payload) == b"1"
    server.receive(empty(ACK, m1.mid).to_bytes(), A, 3)
    [(_, _, m2)] = wire.take()
    assert bytes(m2.payload) == b"3" and m2.observe > m1.observe


def test_error_notification_ends_observation():
    wire, server, obs, state, render = setup()
    obs.register(A, registration(), "s", render, 0)
    state["code"] = NOT_FOUND
    obs.notify("s", 1)
    [(_, _, m)] = wire.take()
    assert m.code == NOT_FOUND and not m.has(OBSERVE)
    assert len(obs) == 0


def test_table_is_bounded_and_deregister_works():
    wire, server, obs, state, render = setup(max_observers=1)
    assert obs.register(A, registration(), "s", render, 0) is not None
    assert obs.register(B, registration(), "s", render, 0) is None
    obs.deregister(A, "s")
    assert len(obs) == 0
    obs.notify("s", 1)
    assert wire.take() == []
