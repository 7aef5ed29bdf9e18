"""LwM2M Send (lwm2m.send): SenML CBOR payload, POST /dp, Mute Send."""
from host_tests.support.observe_fixture import Node, SERVER, VALUE
from coap.client import Client
from coap.message import Message
from coap.numbers import ACK, CON, POST, CHANGED, SENML_CBOR
from lwm2m.formats import senml_cbor
from lwm2m import send
import cbor

T = 1700000000


def test_payload_decodes_to_the_values_with_time():
    node = Node()
    recs = send.collect(node.model, [(3303, 0, 5700), (3303, 0, 6000), (1, 0, 1)],
                        time_s=T)
    body = send.payload(node.model, recs)
    got = senml_cbor.decode(body, (), node.model.type_of, timed=True)
    assert got == [((3303, 0, 5700), 20.0, T), ((3303, 0, 6000, 0), 1, T),
                   ((3303, 0, 6000, 1), 2, T), ((1, 0, 1), 300, T)]
    # bn -2, bt -3, n 0, v 2 (RFC 8428 §6); one bn per object instance
    assert cbor.loads(body) == [{-2: "/3303/0/", -3: T, 0: "5700", 2: 20.0},
                                {0: "6000/0", 2: 1}, {0: "6000/1", 2: 2},
                                {-2: "/1/0/", 0: "1", 2: 300}]
    # without a known time no "t"/"bt" at all
    body = send.payload(node.model, send.collect(node.model, [(3303, 0, 5700)]))
    assert cbor.loads(body) == [{-2: "/3303/0/", 0: "5700", 2: 20.0}]
    assert senml_cbor.decode(body, (), node.model.type_of) == [((3303, 0, 5700), 20.0)]


def test_muted_by_default_and_when_true():
    for res in ({}, {23: True}):
        node = Node(server_res=res)
        node.rep.client = Client(node.endpoint)
        calls = []
        op = node.rep.send(node.caller, SERVER, [(3303, 0, 5700)],
                           lambda r, e: calls.append((r, e)), 0)
        assert op is None and calls == [(None, send.MUTED)] and node.sent() == []


def test_send_posts_dp_and_gets_changed():
    node = Node(server_res={23: False})
    node.rep.client = Client(node.endpoint)
    calls = []
    node.sensor.set(0, VALUE, 21.5)
    node.rep.send(node.caller, SERVER, [(3303, 0, 5700)],
                  lambda r, e: calls.append((r, e)), 0)
    [m] = node.sent()
    assert m.mtype == CON and m.code == POST and m.path() == ["dp"]
    assert m.content_format == SENML_CBOR
    assert senml_cbor.decode(bytes(m.payload), (), node.model.type_of) == \
        [((3303, 0, 5700), 21.5)]
    ack = Message(ACK, CHANGED, m.mid, m.token)
    node.endpoint.receive(ack.to_bytes(), SERVER, 100)
    assert len(calls) == 1 and calls[0][0].code == CHANGED and calls[0][1] is None


def test_send_of_a_missing_path_is_an_error():
    node = Node(server_res={23: False})
    try:
        send.collect(node.model, [(3303, 7, 5700)])
        assert False
    except Exception as e:
        assert getattr(e, "code", None) == 132
