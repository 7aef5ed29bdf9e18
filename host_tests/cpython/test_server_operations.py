"""tools/server: every Device Management and Information Reporting operation
against a stand-in client built from our coap Site, checking the exact request
the server sends (method, path, Content-Format, Accept, query, payload bytes)
and how it decodes the answer; Send; failures."""
import pytest

from coap.numbers import (CON, GET, PUT, POST, DELETE, CONTENT, CHANGED, CREATED, DELETED,
                          NOT_FOUND, BAD_REQUEST, FORBIDDEN, UNSUPPORTED_CONTENT_FORMAT,
                          METHOD_NOT_ALLOWED, TEXT_PLAIN, OCTET_STREAM, LINK_FORMAT,
                          SENML_JSON, SENML_CBOR, LWM2M_TLV, LWM2M_CBOR,
                          LOCATION_PATH)
from coap.server import reply
from host_tests.support.lwm2m_standin import network, Canned, Temperature
from tools.server.operations import NotRegistered, parse_path, to_records

TLV_MANUFACTURER = b"\xc8\x00\x14Open Mobile Alliance"
OBJECTS = b'</>;ct="60 110 112 11542",</1/0>,</3/0>,</3303/0>'


def setup(objects=OBJECTS, **kw):
    radio, server, nodes = network(**kw)
    node = nodes[0]
    assert node.register(payload=objects).code == CREATED
    return radio, server, node, server.device("node1")


def last(node):
    return node.seen[-1]


# -- Read -----------------------------------------------------------------------------

def test_read_resource_with_accept_tlv():
    radio, server, node, dev = setup()
    node.add("3/0/0", Canned(get=(CONTENT, TLV_MANUFACTURER, LWM2M_TLV)))
    result = dev.read("/3/0/0", accept=LWM2M_TLV).wait()
    req = last(node)
    assert (req.code, req.mtype, req.path, req.accept, req.content_format, req.payload) == \
        (GET, CON, "/3/0/0", LWM2M_TLV, None, b"")
    assert req.options == [(11, b"3"), (11, b"0"), (11, b"0"), (17, b"\x2d\x16")]
    assert result.ok and result.code == CONTENT and result.code_text == "2.05"
    assert result.content_format == LWM2M_TLV and result.payload == TLV_MANUFACTURER
    assert result.records == [((3, 0, 0), "Open Mobile Alliance")]
    assert result.value == "Open Mobile Alliance"


def test_read_without_accept_sends_no_accept_and_decodes_text():
    radio, server, node, dev = setup()
    node.add("3303/0/5700", Canned(get=(CONTENT, b"21.5", TEXT_PLAIN)))
    result = dev.read((3303, 0, 5700)).wait()
    assert last(node).accept is None
    assert last(node).options == [(11, b"3303"), (11, b"0"), (11, b"5700")]
    assert result.value == 21.5 and isinstance(result.value, float)


def test_read_instance_in_tlv_senml_json_senml_cbor_lwm2m_cbor():
    from lwm2m.formats import tlv, senml_json, senml_cbor, lwm2m_cbor
    radio, server, node, dev = setup()
    records = [((3, 0, 0), "Open Mobile Alliance"), ((3, 0, 1), "Lightweight M2M Client"),
               ((3, 0, 6, 0), 1), ((3, 0, 6, 1), 5), ((3, 0, 9), 100)]
    for cf, codec in ((LWM2M_TLV, tlv), (SENML_JSON, senml_json), (SENML_CBOR, senml_cbor),
                      (LWM2M_CBOR, lwm2m_cbor)):
        payload = codec.encode(records, (3, 0), server.objects.type_of)
        node.add("3/0", Canned(get=(CONTENT, payload, cf)))
        result = dev.read("/3/0", accept=cf).wait()
        assert last(node).accept == cf
        assert sorted(result.records) == sorted(records), cf
        assert result.value is None                     # several values: no single one


def test_read_opaque_and_error_answers():
    radio, server, node, dev = setup()
    node.add("5/0/0", Canned(get=(CONTENT, b"\x00\xff", OCTET_STREAM)))
    assert dev.read("/5/0/0", accept=OCTET_STREAM).wait().value == b"\x00\xff"
    result = dev.read("/3/0/99").wait()                 # the Site has no such resource
    assert result.code == NOT_FOUND and not result.ok
    assert result.records is None and result.value is None and result.error is None


def test_undecodable_answers_are_reported_not_raised():
    radio, server, node, dev = setup()
    node.add("3/0", Canned(get=(CONTENT, b"\xc8\x00\x50short", LWM2M_TLV)))
    result = dev.read("/3/0").wait()
    assert result.ok and result.records is None and result.decode_error
    assert result.payload == b"\xc8\x00\x50short"
    node.add("3/1", Canned(get=(CONTENT, b"\x01", 9999)))
    result = dev.read("/3/1").wait()
    assert result.records is None and "9999" in result.decode_error
    node.add("3/2", Canned(get=(CONTENT, b"plain", None)))   # no Content-Format: raw only
    result = dev.read("/3/2").wait()
    assert result.records is None and result.decode_error is None and result.payload == b"plain"


def test_unknown_resource_in_tlv_decodes_as_opaque():
    radio, server, node, dev = setup()
    node.add("3/0", Canned(get=(CONTENT, b"\xc2\x63\x01\x02", LWM2M_TLV)))   # /3/0/99
    result = dev.read("/3/0").wait()
    assert result.records == [((3, 0, 99), b"\x01\x02")]


def test_unknown_resources_in_other_formats_still_decode():
    from lwm2m.formats import senml_json
    radio, server, node, dev = setup()
    node.add("9999/0/1", Canned(get=(CONTENT, b"7", TEXT_PLAIN)))
    assert dev.read("/9999/0/1").wait().records == [((9999, 0, 1), "7")]
    node.add("9999/0", Canned(get=(CONTENT, b'[{"bn":"/9999/0/","n":"1","v":7.5}]', SENML_JSON)))
    assert dev.read("/9999/0").wait().records == [((9999, 0, 1), 7.5)]


# -- Discover ---------------------------------------------------------------------------

def test_discover_sends_accept_link_format_and_parses_links():
    radio, server, node, dev = setup()
    answer = b'</3/0>;pmin=10,</3/0/0>,</3/0/6>;dim=2,</3/0/9>;gt=50'
    node.add("3/0", Canned(get=(CONTENT, answer, LINK_FORMAT)))
    result = dev.discover("/3/0").wait()
    req = last(node)
    assert (req.code, req.path, req.accept, req.query, req.payload) == \
        (GET, "/3/0", LINK_FORMAT, [], b"")
    assert [l.path for l in result.links] == [(3, 0), (3, 0, 0), (3, 0, 6), (3, 0, 9)]
    assert result.links[2].attrs == {"dim": "2"} and result.links[0].attrs == {"pmin": "10"}
    dev.discover("/3/0", depth=1).wait()
    assert last(node).query == ["depth=1"]
    with pytest.raises(ValueError):
        dev.discover("/3/0", depth=9)


# -- Write ------------------------------------------------------------------------------

def test_write_single_resource_defaults_to_text_plain():
    radio, server, node, dev = setup()
    node.add("3/0/14", Canned())
    result = dev.write("/3/0/14", "+02:00").wait()
    req = last(node)
    assert (req.code, req.path, req.content_format, req.accept, req.payload) == \
        (PUT, "/3/0/14", TEXT_PLAIN, None, b"+02:00")
    assert result.code == CHANGED and result.ok
    node.add("1/0/1", Canned())
    dev.write("/1/0/1", 300).wait()
    assert last(node).payload == b"300"
    node.add("5/0/0", Canned())
    dev.write("/5/0/0", b"\x01\x02").wait()            # bytes: opaque
    assert (last(node).content_format, last(node).payload) == (OCTET_STREAM, b"\x01\x02")


def test_write_instance_replace_and_partial_update_in_tlv():
    radio, server, node, dev = setup()
    node.add("1/0", Canned())
    dev.write("/1/0", {1: 300, 6: False}, content_format=LWM2M_TLV).wait()
    req = last(node)
    assert (req.code, req.path, req.content_format) == (PUT, "/1/0", LWM2M_TLV)
    assert req.payload == b"\xc2\x01\x01\x2c\xc1\x06\x00"
    dev.write("/1/0", {"1": 300}, content_format=LWM2M_TLV, replace=False).wait()
    req = last(node)
    assert (req.code, req.path, req.payload) == (POST, "/1/0", b"\xc2\x01\x01\x2c")
    with pytest.raises(ValueError):                  # POST on a resource would be Execute
        dev.write("/1/0/1", 5, replace=False)


def test_write_in_each_multi_value_format_is_exact():
    radio, server, node, dev = setup()
    node.add("3303/0/5750", Canned())
    cases = {
        SENML_JSON: b'[{"bn":"/3303/0/5750","vs":"Kitchen"}]',
        SENML_CBOR: bytes.fromhex("81a2216c2f333330332f302f3537353003674b69746368656e"),
        LWM2M_CBOR: bytes.fromhex("a1190ce7a100a1191676674b69746368656e"),
        LWM2M_TLV: b"\xe7\x16\x76Kitchen",          # 16-bit ID, length 7
    }
    for cf, payload in cases.items():
        dev.write("/3303/0/5750", "Kitchen", content_format=cf).wait()
        req = last(node)
        assert (req.code, req.path, req.content_format, req.payload) == \
            (PUT, "/3303/0/5750", cf, payload), cf


def test_write_multiple_resource_instances():
    radio, server, node, dev = setup()
    node.add("3/0/6", Canned())
    dev.write("/3/0/6", {0: 1, 1: 5}, content_format=LWM2M_TLV).wait()
    # Multiple Resource TLV 6 holding Resource Instances 0 and 1
    assert last(node).payload == b"\x86\x06\x41\x00\x01\x41\x01\x05"


def test_default_multi_value_format_follows_what_the_client_advertised():
    radio, server, node, dev = setup(objects=b'</>;ct=110,</1/0>')
    node.add("1/0", Canned())
    dev.write("/1/0", {1: 60}).wait()
    assert last(node).content_format == SENML_JSON
    radio, server, node, dev = setup(objects=b'</1/0>')   # no ct: TLV, what 1.0 has
    node.add("1/0", Canned())
    dev.write("/1/0", {1: 60}).wait()
    assert last(node).content_format == LWM2M_TLV
    radio, server, node, dev = setup()                    # all of them: SenML-CBOR first
    node.add("1/0", Canned())
    dev.write("/1/0", {1: 60}).wait()
    assert last(node).content_format == SENML_CBOR


# -- Write-Attributes ---------------------------------------------------------------------

def test_write_attributes_query_order_values_and_removal():
    radio, server, node, dev = setup()
    node.add("3303/0/5700", Canned())
    result = dev.write_attributes("/3303/0/5700", st=0.5, pmax=5, gt=20.5, pmin=1,
                                  lt=-3, epmin=2, epmax=60).wait()
    req = last(node)
    assert (req.code, req.path, req.content_format, req.payload) == \
        (PUT, "/3303/0/5700", None, b"")
    assert req.query == ["pmin=1", "pmax=5", "gt=20.5", "lt=-3", "st=0.5",
                         "epmin=2", "epmax=60"]
    assert result.code == CHANGED
    dev.write_attributes("/3303/0/5700", pmin=None, gt=1e-7).wait()
    assert last(node).query == ["pmin", "gt=0.0000001"]
    for bad in ({"pmin": -1}, {"pmax": 1.5}, {"gt": "x"}, {"gt": float("nan")},
                {"foo": 1}, {}):
        with pytest.raises(ValueError):
            dev.write_attributes("/3303/0/5700", **bad)


# -- Execute ------------------------------------------------------------------------------

def test_execute_with_and_without_arguments():
    radio, server, node, dev = setup()
    node.add("3/0/4", Canned())
    result = dev.execute("/3/0/4").wait()
    req = last(node)
    assert (req.code, req.path, req.content_format, req.payload) == (POST, "/3/0/4", None, b"")
    assert result.code == CHANGED
    dev.execute("/3/0/4", "0='now',1").wait()
    req = last(node)
    assert (req.content_format, req.payload) == (TEXT_PLAIN, b"0='now',1")
    with pytest.raises(ValueError):
        dev.execute("/3/0")


# -- Create / Delete ----------------------------------------------------------------------

class Creator:
    """POST answers 2.01 with a Location-Path."""
    def __init__(self, location=None):
        self.location = location

    def post(self, request):
        msg = reply(CREATED)
        for seg in self.location or ():
            msg.add(LOCATION_PATH, seg)
        return msg


def test_create_with_instance_id_in_tlv():
    radio, server, node, dev = setup()
    node.add("3303", Creator())
    result = dev.create("/3303", {5700: 21.5, 5701: "Cel"}, iid=1,
                        content_format=LWM2M_TLV).wait()
    req = last(node)
    assert (req.code, req.path, req.content_format) == (POST, "/3303", LWM2M_TLV)
    # Object Instance TLV 1 around the two resources; 5700 is a Float, 4 bytes
    assert req.payload == bytes.fromhex("08010de4164441ac0000e3164543656c")
    assert result.code == CREATED and result.location is None
    dev.create("/3303/2", {5700: 1}, content_format=LWM2M_TLV).wait()   # path names the instance
    # an int for a Float resource goes out as a float (1.0 in 4 bytes)
    assert last(node).payload == bytes.fromhex("0702e416443f800000")


def test_create_without_instance_id_gets_the_location():
    radio, server, node, dev = setup()
    node.add("3303", Creator(["3303", "7"]))
    result = dev.create("/3303", {5700: 21.5, 5701: "Cel"}).wait()
    req = last(node)
    assert req.content_format == LWM2M_TLV
    assert req.payload == bytes.fromhex("e4164441ac0000e3164543656c")   # bare resources
    assert result.location == (3303, 7)
    with pytest.raises(ValueError):
        dev.create("/3303", {5700: 1.0}, content_format=SENML_JSON)


def test_create_in_senml_json_names_the_instance():
    radio, server, node, dev = setup()
    node.add("3303", Creator())
    dev.create("/3303", {5701: "Cel"}, iid=4, content_format=SENML_JSON).wait()
    assert last(node).payload == b'[{"bn":"/3303/","n":"4/5701","vs":"Cel"}]'


def test_delete():
    radio, server, node, dev = setup()
    node.add("3303/1", Canned())
    result = dev.delete("/3303/1").wait()
    req = last(node)
    assert (req.code, req.path, req.payload, req.content_format) == (DELETE, "/3303/1", b"", None)
    assert result.code == DELETED


# -- Observe / Cancel -------------------------------------------------------------------------

def test_observe_notifications_and_proactive_cancel():
    radio, server, node, dev = setup()
    temp = node.add("3303/0/5700", Temperature())
    seen = []
    obs = dev.observe("/3303/0/5700", on_notify=seen.append)
    first = obs.wait()
    req = last(node)
    assert (req.code, req.path, req.observe, req.accept) == (GET, "/3303/0/5700", 0, None)
    assert first.ok and first.value == 20.0 and first.observe is not None
    assert obs.active and server.registry.by_endpoint("node1").observations[(3303, 0, 5700)] is obs
    for v in (b"21", b"22.5"):
        temp.value = v
        node.changed("3303/0/5700")
        radio.run_for(100)
    assert [r.value for r in seen] == [21.0, 22.5]
    assert obs.count == 2 and obs.last is seen[-1] and seen[-1].op == "notify"
    token = obs.token
    result = dev.cancel_observation("/3303/0/5700").wait()
    req = last(node)
    assert (req.code, req.observe, req.token) == (GET, 1, token)
    assert result.ok and not obs.active
    assert len(node.site.observers) == 0
    temp.value = b"30"
    node.changed("3303/0/5700")
    radio.run_for(100)
    assert len(seen) == 2
    with pytest.raises(KeyError):
        dev.cancel_observation("/3303/0/5700")


def test_reactive_cancel_resets_the_next_notification():
    radio, server, node, dev = setup()
    temp = node.add("3303/0/5700", Temperature())
    seen = []
    obs = dev.observe("/3303/0/5700", on_notify=seen.append, accept=TEXT_PLAIN)
    obs.wait()
    assert last(node).accept == TEXT_PLAIN
    assert dev.cancel_observation("/3303/0/5700", proactive=False) is None
    temp.value = b"25"
    node.changed("3303/0/5700")
    radio.run_for(1000)
    assert seen == [] and len(node.site.observers) == 0      # RST removed it


def test_observe_refused_is_not_active():
    radio, server, node, dev = setup()
    obs = dev.observe("/3303/0/9999")
    result = obs.wait()
    assert result.code == NOT_FOUND and not obs.active
    assert server.registry.by_endpoint("node1").observations == {}


def test_deregistration_drops_observations():
    radio, server, node, dev = setup()
    temp = node.add("3303/0/5700", Temperature())
    seen = []
    dev.observe("/3303/0/5700", on_notify=seen.append).wait()
    node.deregister()
    temp.value = b"40"
    node.changed("3303/0/5700")
    radio.run_for(1000)
    assert seen == [] and len(node.site.observers) == 0


# -- failures ---------------------------------------------------------------------------------

def test_no_answer_times_out_in_virtual_time():
    radio, server, node, dev = setup()
    radio.unlink("node1", "server")
    start = radio.now_ms
    result = dev.read("/3/0/0").wait()
    assert result.code is None and result.error == "timeout" and not result.ok
    assert 45000 <= radio.now_ms - start <= 100000       # ~MAX_TRANSMIT_SPAN with 4 retries


def test_unknown_client_and_bad_paths():
    radio, server, node, dev = setup()
    with pytest.raises(NotRegistered):
        server.device("ghost")
    node.deregister()
    with pytest.raises(NotRegistered):
        dev.read("/3/0")
    radio, server, node, dev = setup()
    for bad in ("/", "", "/a", "/3/0/0/0/0", "/70000", (3, -1)):
        with pytest.raises(ValueError):
            dev.read(bad)


def test_callback_style_without_driver_waits():
    radio, server, node, dev = setup()
    node.add("3/0/0", Canned(get=(CONTENT, TLV_MANUFACTURER, LWM2M_TLV)))
    got = []
    pending = dev.read("/3/0/0", callback=got.append)
    assert not pending.done and got == []
    radio.run_for(100)
    assert pending.done and got == [pending.result] and got[0].value == "Open Mobile Alliance"


def test_alternate_path_prefixes_every_request():
    radio, server, node, dev = setup(objects=b'</lwm2m>;rt="oma.lwm2m";ct=11542,</lwm2m/3/0>')
    node.add("lwm2m/3/0/0", Canned(get=(CONTENT, TLV_MANUFACTURER, LWM2M_TLV)))
    result = dev.read("/3/0/0").wait()
    assert last(node).path == "/lwm2m/3/0/0"
    assert result.records == [((3, 0, 0), "Open Mobile Alliance")]


def test_every_request_passes_the_registration_security_to_the_channel():
    radio, server, node, dev = setup()
    calls = []

    class Recording:
        def __init__(self, inner):
            self.inner = inner

        def request(self, peer, msg, callback, now_ms, observe=False, security=None):
            calls.append((peer, msg.code, observe, security))
            return self.inner.request(peer, msg, callback, now_ms, observe=observe)

        def follow_up(self, operation, msg, callback, now_ms):
            calls.append(("follow-up", operation))
            return self.inner.follow_up(operation, msg, callback, now_ms)
    server.channel = Recording(server.channel)
    marker = object()
    server.bind_security("node1", marker)
    node.add("3/0/0", Canned(get=(CONTENT, b"x", TEXT_PLAIN)))
    node.add("3/0/4", Canned())
    dev.read("/3/0/0").wait()
    dev.execute("/3/0/4").wait()
    obs = dev.observe("/3/0/0")
    obs.wait()
    operation = obs.operation
    dev.cancel_observation("/3/0/0").wait()
    # the cancel goes out within the observation's own operation (its token
    # and its protection)
    assert calls[3] == ("follow-up", operation)
    assert [c[3] for c in calls[:3]] == [marker] * 3
    assert [c[2] for c in calls[:3]] == [False, False, True]
    assert all(c[0] == ("node1", 5683) for c in calls[:3])
    # and it never shows up in what the server prints
    reg = server.registry.by_endpoint("node1")
    assert "oscore" in reg.describe() and repr(marker) not in reg.describe()


def test_path_and_record_helpers():
    assert parse_path("3/0") == (3, 0) and parse_path((3303, 0, 5700)) == (3303, 0, 5700)
    assert to_records((3, 0), {"6": {"0": 1, "1": 5}, 1: "x"}) == \
        [((3, 0, 6, 0), 1), ((3, 0, 6, 1), 5), ((3, 0, 1), "x")]
    assert to_records((3, 0, 6), {0: 1}) == [((3, 0, 6, 0), 1)]
    assert to_records((3, 0, 1), "x") == [((3, 0, 1), "x")]
    assert to_records((3, 0), [("/3/0/1", "x")]) == [((3, 0, 1), "x")]
    with pytest.raises(ValueError):
        to_records((3, 0), {"a": 1})
    with pytest.raises(ValueError):
        to_records((3, 0), {})


# -- Send (Core V1.1 §6.4.6) ---------------------------------------------------------------------

def test_send_in_senml_cbor_and_json_is_accepted_and_delivered():
    from lwm2m.formats import senml_cbor, senml_json
    radio, server, node, dev = setup()
    got = []
    server.on_send(lambda reg, records, cf: got.append((reg.endpoint, records, cf)))
    records = [((3303, 0, 5700), 21.5), ((3, 0, 9), 80)]
    payload = senml_cbor.encode(records, (), server.objects.type_of)
    r = node.send(payload, SENML_CBOR)
    assert r.code == CHANGED
    assert got == [("node1", records, SENML_CBOR)]
    r = node.send(senml_json.encode(records, (), server.objects.type_of), SENML_JSON)
    assert r.code == CHANGED and got[-1][2] == SENML_JSON
    assert server.events[-1].kind == "send"


def test_send_failures():
    from lwm2m.formats import senml_cbor
    radio, server, nodes = network(nodes=("node1", "node2"))
    a, b = nodes
    a.register()
    good = senml_cbor.encode([((3303, 0, 5700), 21.5)], (), server.objects.type_of)
    got = []
    server.on_send(lambda *x: got.append(x))
    assert b.send(good, SENML_CBOR).code == FORBIDDEN                  # not registered
    assert a.send(good, TEXT_PLAIN).code == UNSUPPORTED_CONTENT_FORMAT
    assert a.send(good, None).code == BAD_REQUEST
    assert a.send(b"\xff\x00", SENML_CBOR).code == BAD_REQUEST         # malformed
    assert a.send(b"", SENML_CBOR).code == BAD_REQUEST
    assert a.request(GET, "/dp").code == METHOD_NOT_ALLOWED
    assert got == []
