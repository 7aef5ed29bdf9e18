"""LwM2M Observe/Notify/Cancel with notification attributes (lwm2m.observe)
on a hand-driven wire with virtual time; runs under pytest and the unix port."""
from host_tests.support.observe_fixture import (Node, Caller, SERVER, VALUE,
                                                COUNT, HISTORY)
from coap.message import empty
from coap.numbers import (CON, NON, RST, CONTENT, NOT_FOUND, UNAUTHORIZED,
                          OBSERVE, TEXT_PLAIN, SENML_CBOR, LWM2M_TLV, GET)
from lwm2m.formats import senml_cbor
from lwm2m.observe import triggers

S = 1000


def values(out):
    """[(seconds, float value)] of the 2.05 notifications in `out`."""
    return [(t / S, float(bytes(m.payload).decode())) for t, m in out
            if m.code == CONTENT]


# (attribute query, inputs [(s, value)], end s, expected [(s, value)]);
# the value is 20.0 when observed at 0 s, which is the first notification.
TABLE = [
    # no attributes: every change at once
    ((), [(1, 21.0), (2, 21.0), (3, 22.0)], 50, [(1, 21.0), (3, 22.0)]),
    # pmin: nothing sooner than 10 s after the previous one; coalesced
    (("pmin=10",), [(1, 21.0), (3, 22.0), (5, 23.0), (12, 24.0), (15, 25.0)], 50,
     [(10, 23.0), (20, 25.0)]),
    # a change after a quiet pmin goes at once
    (("pmin=10",), [(25, 21.0)], 50, [(25, 21.0)]),
    # pmax: even without a change
    (("pmax=30",), [], 100, [(30, 20.0), (60, 20.0), (90, 20.0)]),
    (("pmax=30",), [(10, 21.0)], 80, [(10, 21.0), (40, 21.0), (70, 21.0)]),
    (("pmin=10", "pmax=30"), [(1, 21.0)], 45, [(10, 21.0), (40, 21.0)]),
    # pmax below pmin is ignored (Table 5.1.2-2)
    (("pmin=20", "pmax=10"), [], 100, []),
    # gt: on crossing, either way, not on every change above it
    (("gt=25",), [(1, 22.0), (2, 26.0), (3, 27.0), (4, 24.0), (5, 23.0),
                  (6, 25.0), (7, 26.0)], 50, [(2, 26.0), (4, 24.0), (7, 26.0)]),
    # lt likewise
    (("lt=10",), [(1, 15.0), (2, 9.0), (3, 5.0), (4, 11.0), (5, 10.0), (6, 9.5)], 50,
     [(2, 9.0), (4, 11.0), (6, 9.5)]),
    # st: |new - last notified| >= st
    (("st=2",), [(1, 21.0), (2, 22.0), (3, 23.0), (4, 20.5), (5, 19.75)], 50,
     [(2, 22.0), (5, 19.75)]),
    # gt and lt together: either crossing
    (("gt=25", "lt=15"), [(1, 26.0), (2, 20.0), (3, 14.0), (4, 16.0)], 50,
     [(1, 26.0), (2, 20.0), (3, 14.0), (4, 16.0)]),
    # gt with pmin: the crossing waits for pmin and carries the value then
    (("gt=25", "pmin=10"), [(1, 26.0), (5, 24.0), (12, 26.0), (14, 27.0)], 50,
     [(10, 24.0), (20, 27.0)]),
    # gt with pmax: pmax still reports
    (("gt=25", "pmax=20"), [(5, 21.0), (30, 26.0)], 55, [(20, 21.0), (30, 26.0), (50, 26.0)]),
    # epmin: changes are not evaluated more often than every 5 s
    (("epmin=5",), [(1, 21.0), (3, 22.0), (6, 23.0), (8, 24.0)], 50,
     [(5, 22.0), (10, 24.0)]),
]


def run_case(query, inputs, end_s, **kw):
    node = Node()
    if query:
        r = node.write_attributes("/3303/0/5700", *query)
        assert r.code == 68, (query, r)           # 2.04
    first = node.observe("/3303/0/5700", 0)
    assert first.code == CONTENT and first.has(OBSERVE)
    assert float(bytes(first.payload).decode()) == 20.0
    return values(node.run([(t * S, v) for t, v in inputs], end_s * S, **kw))


def test_attribute_semantics_table():
    for query, inputs, end_s, expected in TABLE:
        got = run_case(query, inputs, end_s)
        assert got == expected, (query, got, expected)


def test_epmax_samples_values_the_engine_does_not_hear_of():
    # the driver writes without set(): only the epmax sampling sees it
    got = run_case(("epmax=10",), [(3, 21.0), (15, 22.0)], 45, silent=True)
    assert got == [(10, 21.0), (20, 22.0)]
    # without epmax such a value is never evaluated
    assert run_case((), [(3, 21.0)], 45, silent=True) == []


def test_epmin_epmax_together():
    # a change is evaluated epmin after the previous evaluation at the soonest
    got = run_case(("epmin=4", "epmax=10"), [(1, 21.0), (12, 22.0), (13, 23.0)], 40)
    assert got == [(4, 21.0), (12, 22.0), (16, 23.0)]
    # unheard values are sampled every epmax after the previous evaluation
    got = run_case(("epmin=4", "epmax=10"), [(1, 21.0), (25, 22.0)], 40, silent=True)
    assert got == [(10, 21.0), (30, 22.0)]


def test_triggers_function_thresholds():
    a = {"gt": 25, "lt": None, "st": None}
    p = (3303, 0, 5700)
    assert triggers(a, {p: 20.0}, {p: 26.0})
    assert not triggers(a, {p: 26.0}, {p: 30.0})
    assert triggers(a, {p: 26.0}, {p: 25.0})       # 25 > 25 is false: crossed
    assert not triggers(a, {p: 20.0}, {p: 20.0})
    # a non-numeric value: any change
    assert triggers(a, {p: "a"}, {p: "b"})
    # object/instance level: thresholds do not apply
    assert triggers(a, {p: 20.0}, {p: 21.0}, resource_level=False)


def test_register_response_and_notification_carry_token_and_rising_observe():
    node = Node()
    r = node.observe("/3303/0/5700", 0, token=b"tok1")
    assert r.code == CONTENT and r.content_format == TEXT_PLAIN
    seq0 = r.observe
    node.sensor.set(0, VALUE, 21.5)
    node.sensor.set(0, VALUE, 22.5)           # coalesced: one evaluation
    node.rep.step(1000)
    [m] = node.sent()
    assert m.mtype == NON and m.token == b"tok1" and m.observe > seq0
    assert bytes(m.payload) == b"22.5" and m.content_format == TEXT_PLAIN


def test_cancel_with_observe_1():
    node = Node()
    node.observe("/3303/0/5700", 0)
    assert len(node.rep.observations) == 1
    r = node.rep.observe(node.caller, SERVER,
                         node.request(GET, "/3303/0/5700", observe=1), 10)
    assert r.code == CONTENT and not r.has(OBSERVE)
    assert node.rep.observations == []
    node.sensor.set(0, VALUE, 30.0)
    node.rep.step(20)
    assert node.sent() == []


def test_rst_to_notification_cancels():
    node = Node()
    node.observe("/3303/0/5700", 0)
    node.sensor.set(0, VALUE, 30.0)
    node.rep.step(1000)
    [m] = node.sent()
    node.endpoint.receive(empty(RST, m.mid).to_bytes(), SERVER, 1100)
    assert node.rep.observations == []


def test_con_timeout_cancels_and_ack_lets_newer_state_through():
    node = Node(confirmable=True)
    node.observe("/3303/0/5700", 0)
    node.sensor.set(0, VALUE, 21.0)
    node.rep.step(1000)
    [m1] = node.sent()
    assert m1.mtype == CON
    node.sensor.set(0, VALUE, 22.0)
    node.rep.step(1100)
    node.sensor.set(0, VALUE, 23.0)
    node.rep.step(1200)
    assert node.sent() == []                  # waits for the ACK (RFC 7641 4.5.2)
    node.ack(m1, 1300)
    node.rep.step(1300)
    [m2] = node.sent()
    assert bytes(m2.payload) == b"23.0" and m2.observe > m1.observe
    # now let it time out: the observation ends
    t = 1300
    while t is not None and t < 600000:
        t = node.endpoint.step(t)
    assert node.rep.observations == []


def test_con_at_least_every_24_hours():
    node = Node()
    node.observe("/3303/0/5700", 0)
    node.sensor.set(0, VALUE, 21.0)
    node.rep.step(1000)
    node.sensor.set(0, VALUE, 22.0)
    node.rep.step(86400000)
    types = [m.mtype for m in node.sent()]
    assert types == [NON, CON]


def test_reregistration_replaces_entry():
    node = Node()
    node.observe("/3303/0/5700", 0, token=b"a")
    node.observe("/3303/0/5700", 5, token=b"b")
    assert len(node.rep.observations) == 1
    node.sensor.set(0, VALUE, 21.0)
    node.rep.step(10)
    [m] = node.sent()
    assert m.token == b"b"


def test_table_full_answers_without_observe():
    node = Node(max_observations=2)
    assert node.observe("/3303/0/5700").has(OBSERVE)
    assert node.observe("/3303/0/5601").has(OBSERVE)
    r = node.observe("/3303/0/5701")
    assert r.code == CONTENT and not r.has(OBSERVE)
    assert len(node.rep.observations) == 2


def test_instance_observation_notifies_any_change_below():
    node = Node()
    r = node.observe("/3303/0", 0, accept=SENML_CBOR)
    assert r.code == CONTENT and r.content_format == SENML_CBOR
    node.sensor.set(0, COUNT, 7)
    node.rep.step(1000)
    [m] = node.sent()
    recs = dict(senml_cbor.decode(bytes(m.payload), (3303, 0), node.model.type_of))
    assert recs[(3303, 0, COUNT)] == 7 and recs[(3303, 0, VALUE)] == 20.0
    # resource-level gt does not filter an instance observation
    node.write_attributes("/3303/0/5700", "gt=50")
    node.sensor.set(0, VALUE, 21.0)
    node.rep.step(2000)
    assert len(node.sent()) == 1


def test_object_observation_and_instance_pmin_inherited():
    node = Node()
    assert node.write_attributes("/3303", "pmin=5").code == 68
    r = node.observe("/3303", 0)
    assert r.content_format == LWM2M_TLV
    node.sensor.set(0, COUNT, 1)
    out = node.run([], 20000, start_ms=1000)
    assert [t for t, m in out] == [5000]


def test_server_default_periods_apply():
    node = Node(server_res={2: 10, 3: 30})
    node.observe("/3303/0/5700", 0)
    got = values(node.run([(1000, 21.0)], 45000))
    assert got == [(10, 21.0), (40, 21.0)]
    # an attribute overrides the default
    node = Node(server_res={2: 10, 3: 30})
    node.write_attributes("/3303/0", "pmin=2")
    node.observe("/3303/0/5700", 0)
    got = values(node.run([(1000, 21.0)], 45000))
    assert got == [(2, 21.0), (32, 21.0)]


def test_write_attributes_changes_a_running_observation():
    node = Node()
    node.observe("/3303/0/5700", 0)
    node.write_attributes("/3303/0/5700", "pmax=10")
    got = values(node.run([], 25000))
    assert got == [(10, 20.0), (20, 20.0)]


def test_deleted_instance_ends_observation_with_404():
    node = Node()
    node.observe("/3303/0/5700", 0)
    node.sensor.delete(0)
    node.rep.step(1000)
    [m] = node.sent()
    assert m.code == NOT_FOUND and not m.has(OBSERVE)
    assert node.rep.observations == []


def test_observe_errors():
    node = Node()
    assert node.observe("/3303/9/5700").code == NOT_FOUND
    assert node.observe("/3303/0/9999").code == NOT_FOUND
    denied = Caller(deny=((3303, 0),))
    assert node.observe("/3303/0/5700", caller=denied).code == UNAUTHORIZED
    assert node.rep.observations == []


def test_multiple_resource_observation_with_st():
    node = Node()
    node.write_attributes("/3303/0/6000", "st=5")
    node.observe("/3303/0/6000", 0, accept=SENML_CBOR)
    node.sensor.set(0, HISTORY, {0: 3, 1: 2})
    node.rep.step(1000)
    assert node.sent() == []
    node.sensor.set(0, HISTORY, {0: 7, 1: 2})
    node.rep.step(2000)
    [m] = node.sent()
    recs = dict(senml_cbor.decode(bytes(m.payload), (3303, 0, 6000), node.model.type_of))
    assert recs == {(3303, 0, 6000, 0): 7, (3303, 0, 6000, 1): 2}


def test_two_servers_have_their_own_attributes():
    node = Node()
    other = Caller(key=202, account=None)
    node.write_attributes("/3303/0/5700", "gt=25")
    node.observe("/3303/0/5700", 0)
    node.rep.observe(other, ("other", 5683),
                     node.request(GET, "/3303/0/5700", observe=0, token=b"o"), 0)
    node.sensor.set(0, VALUE, 21.0)
    node.rep.step(1000)
    sent = [(d, m.token) for _, d, m in node.wire.take()]
    assert sent == [(("other", 5683), b"o")]


# -- Notification Storing When Disabled or Offline (Server resource 6) --------

def offline_changes(node, values, start_s=1):
    for i, v in enumerate(values):
        node.sensor.set(0, VALUE, v)
        node.rep.step((start_s + i) * S)


def test_stored_offline_and_flushed_in_order_one_con_at_a_time():
    node = Node()
    node.observe("/3303/0/5700", 0)
    node.rep.set_online(101, False)
    offline_changes(node, (21.0, 22.0, 23.0))
    assert node.sent() == [] and len(node.rep.stored[101]) == 3
    node.rep.set_online(101, True)
    node.rep.step(5 * S)
    [m] = node.sent()
    got = [m]
    node.sensor.set(0, VALUE, 24.0)             # queues behind the stored ones
    node.rep.step(5 * S + 100)
    assert node.sent() == []
    t = 5 * S + 200
    while True:
        assert m.mtype == CON
        node.ack(m, t)
        node.rep.step(t)
        sent = node.sent()
        if not sent:
            break
        [m] = sent
        got.append(m)
        t += 100
    assert [float(bytes(m.payload).decode()) for m in got] == [21.0, 22.0, 23.0, 24.0]
    seqs = [m.observe for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert node.rep.stored == {}
    node.sensor.set(0, VALUE, 25.0)             # back to live NON notifications
    node.rep.step(t + 100)
    [m] = node.sent()
    assert m.mtype == NON and bytes(m.payload) == b"25.0"


def test_store_is_bounded_drop_oldest():
    node = Node(max_stored=2)
    node.observe("/3303/0/5700", 0)
    node.rep.set_online(101, False)
    offline_changes(node, (21.0, 22.0, 23.0))
    assert node.rep.dropped == 1
    node.rep.set_online(101, True)
    node.rep.step(10 * S)
    [m] = node.sent()
    assert bytes(m.payload) == b"22.0"
    node.ack(m, 10 * S + 1)
    node.rep.step(10 * S + 1)
    [m] = node.sent()
    assert bytes(m.payload) == b"23.0"


def test_storing_disabled_drops_and_renotifies_when_back():
    node = Node(server_res={6: False})
    node.observe("/3303/0/5700", 0)
    node.rep.set_online(101, False)
    offline_changes(node, (21.0, 22.0))
    assert node.sent() == [] and node.rep.stored == {}
    node.rep.set_online(101, True)
    node.rep.step(10 * S)
    [m] = node.sent()
    assert m.mtype == NON and bytes(m.payload) == b"22.0"


def test_stored_senml_notifications_carry_time_when_known():
    clock = {"t": None}
    node = Node(clock=lambda: clock["t"])
    node.observe("/3303/0/5700", 0, accept=SENML_CBOR)
    node.rep.set_online(101, False)
    offline_changes(node, (21.0,))
    clock["t"] = 1700000000
    offline_changes(node, (22.0,), start_s=2)
    node.rep.set_online(101, True)
    node.rep.step(5 * S)
    [m1] = node.sent()
    node.ack(m1, 5 * S)
    node.rep.step(5 * S)
    [m2] = node.sent()
    p = (3303, 0, 5700)
    assert senml_cbor.decode(bytes(m1.payload), p, node.model.type_of, timed=True) == \
        [(p, 21.0, None)]
    assert senml_cbor.decode(bytes(m2.payload), p, node.model.type_of, timed=True) == \
        [(p, 22.0, 1700000000)]


def test_cancel_drops_stored_notifications():
    node = Node()
    node.observe("/3303/0/5700", 0)
    node.observe("/3303/0/6001", 0, token=b"c")
    node.rep.set_online(101, False)
    offline_changes(node, (21.0,))
    node.sensor.set(0, COUNT, 5)
    node.rep.step(3 * S)
    assert len(node.rep.stored[101]) == 2
    node.rep.observe(node.caller, SERVER,
                     node.request(GET, "/3303/0/5700", observe=1), 4 * S)
    assert len(node.rep.stored[101]) == 1
    node.rep.cancel_server(101)
    assert node.rep.stored == {} and node.rep.observations == []
