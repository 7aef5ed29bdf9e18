"""tools/server: the registration interface (OMA-TS-LightweightM2M_Core V1.1
§6.2) driven by a scripted stand-in client over the fake radio, in virtual
time; plus the link-format parser it relies on."""
import pytest

from coap.numbers import (GET, PUT, DELETE, CREATED, CHANGED, DELETED, CONTENT,
                          BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED,
                          PRECONDITION_FAILED, LINK_FORMAT, TEXT_PLAIN)
from host_tests.support.lwm2m_standin import network
from tools.server import linkformat
from tools.server.registry import parse_query, ParamError, Registry, Registration

OBJECTS = b'</>;ct="60 110 112 11542",</1/0>,</3/0>,</3303>;ver=1.1,</3303/0>,</3303/1>'


def setup(**kw):
    radio, server, nodes = network(**kw)
    events = []
    server.on_event(lambda kind, reg, info: events.append((kind, reg.endpoint, info)))
    return radio, server, nodes[0], events


def test_register_answers_created_with_location_and_records_everything():
    radio, server, node, events = setup()
    r = node.register("node1", lt=60, payload=OBJECTS,
                      extra=("lwm2m=1.1", "b=U"))
    assert r.code == CREATED
    loc = r.location_path()
    assert loc[0] == "rd" and len(loc) == 2 and loc[1]
    reg = server.registry.by_endpoint("node1")
    assert reg.id == loc[1] and server.registry.get(loc[1]) is reg
    assert reg.peer == ("node1", 5683)
    assert (reg.lifetime_s, reg.version, reg.binding, reg.queue) == (60, "1.1", "U", False)
    assert reg.formats == [60, 110, 112, 11542]
    assert reg.objects.objects == {1: {"ver": None, "instances": [0]},
                                   3: {"ver": None, "instances": [0]},
                                   3303: {"ver": "1.1", "instances": [0, 1]}}
    assert reg.has(3303, 1) and reg.has(3) and not reg.has(3311) and not reg.has(3, 1)
    assert reg.security is None
    assert events == [("registered", "node1", {"replaced": None})]
    assert server.events[-1].kind == "registered"
    assert "node1" in server.events[-1].text and "sec=nosec" in server.events[-1].text


def test_defaults_queue_mode_and_sms():
    radio, server, node, events = setup()
    assert node.register(query=["ep=n2"], payload=b"</1/0>").code == CREATED
    reg = server.registry.by_endpoint("n2")
    # Core V1.1 §6.2.1 defaults: lifetime 86400 s, binding U; no lwm2m= means 1.0
    assert (reg.lifetime_s, reg.binding, reg.version, reg.queue, reg.formats) == \
        (86400, "U", "1.0", False, [])
    assert node.register(query=["ep=n3", "b=U", "Q", "sms=+123"], payload=b"</1/0>").code == CREATED
    reg = server.registry.by_endpoint("n3")
    assert (reg.binding, reg.queue, reg.sms) == ("U", True, "+123")
    # the LwM2M 1.0 spelling of queue mode
    assert node.register(query=["ep=n4", "b=UQ"], payload=b"</1/0>").code == CREATED
    reg = server.registry.by_endpoint("n4")
    assert (reg.binding, reg.queue) == ("U", True)


def test_update_without_and_with_payload():
    radio, server, node, events = setup()
    node.register(lt=60, payload=OBJECTS)
    reg = server.registry.by_endpoint("node1")
    radio.run_for(20000)
    r = node.update()
    assert r.code == CHANGED and not r.payload
    assert reg.updated_ms == radio.now_ms - 5          # the request took one hop
    assert reg.objects.has(3303, 1)
    r = node.update(["lt=120", "b=U"], payload=b"</1/0>,</3/0>,</3311/0>")
    assert r.code == CHANGED
    assert reg.lifetime_s == 120
    assert sorted(reg.objects.objects) == [1, 3, 3311]
    assert reg.formats == []                              # this payload has no </>
    assert [e[0] for e in events] == ["registered", "updated", "updated"]
    assert events[1][2] == {"objects_changed": False}
    assert events[2][2] == {"objects_changed": True}
    assert server.registry.by_endpoint("node1") is reg


def test_update_and_deregister_of_unknown_location_are_not_found():
    radio, server, node, events = setup()
    node.register()
    assert node.update(location="/rd/nothere").code == NOT_FOUND
    assert node.deregister(location="/rd/nothere").code == NOT_FOUND
    assert node.update(location="/rd/%s/x" % node.location.split("/")[-1]).code == NOT_FOUND
    assert [e[0] for e in events] == ["registered"]


def test_deregister_removes_and_a_second_one_is_not_found():
    radio, server, node, events = setup()
    node.register()
    r = node.deregister()
    assert r.code == DELETED
    assert len(server.registry) == 0
    assert node.deregister().code == NOT_FOUND
    assert node.update().code == NOT_FOUND
    assert [e[0] for e in events] == ["registered", "deregistered"]


def test_lifetime_expiry_in_virtual_time_and_updates_keep_it_alive_for_hours():
    radio, server, node, events = setup()
    node.register(lt=60)
    reg = server.registry.by_endpoint("node1")
    # an update every 50 s for three hours of virtual time keeps it registered
    for _ in range(3 * 3600 // 50):
        radio.run_for(50000 - 10)
        assert node.update().code == CHANGED
    assert server.registry.by_endpoint("node1") is reg
    # then silence: gone exactly when the lifetime has passed since the last update
    last = reg.updated_ms
    radio.run_until(last + 60000 - 1)
    assert server.registry.by_endpoint("node1") is reg
    radio.run_until(last + 60000)
    assert server.registry.by_endpoint("node1") is None
    assert events[-1][0] == "expired"
    assert node.update().code == NOT_FOUND


def test_lifetime_change_by_update_moves_the_expiry():
    radio, server, node, events = setup()
    node.register(lt=30)
    node.update(["lt=600"])
    radio.run_for(300000)
    assert len(server.registry) == 1
    radio.run_for(301000)
    assert len(server.registry) == 0


def test_lifetime_zero_never_expires():
    radio, server, node, events = setup()
    node.register(lt=0)
    radio.run_for(10 * 86400 * 1000)
    assert len(server.registry) == 1


def test_reregister_with_the_same_endpoint_name_replaces_the_old_registration():
    radio, server, node, events = setup()
    first = node.register()
    old_id = first.location_path()[1]
    second = node.register(lt=300)
    new_id = second.location_path()[1]
    assert second.code == CREATED and new_id != old_id
    assert len(server.registry) == 1
    assert server.registry.by_endpoint("node1").lifetime_s == 300
    assert server.registry.get(old_id) is None
    assert node.update(location="/rd/" + old_id).code == NOT_FOUND
    assert events[-1] == ("registered", "node1", {"replaced": old_id})


@pytest.mark.parametrize("query, payload, code", [
    (["lt=60"], OBJECTS, BAD_REQUEST),                        # no ep
    (["ep="], OBJECTS, BAD_REQUEST),                          # empty ep
    (["ep=" + "x" * 256], OBJECTS, BAD_REQUEST),              # ep too long
    (["ep=a", "lt=soon"], OBJECTS, BAD_REQUEST),              # lt not a number
    (["ep=a", "lt=-5"], OBJECTS, BAD_REQUEST),
    (["ep=a", "lt"], OBJECTS, BAD_REQUEST),                   # lt without value
    (["ep=a", "b=X"], OBJECTS, BAD_REQUEST),                  # unknown binding
    (["ep=a", "b=UU"], OBJECTS, BAD_REQUEST),
    (["ep=a", "b="], OBJECTS, BAD_REQUEST),
    (["ep=a", "lwm2m=one"], OBJECTS, BAD_REQUEST),
    (["ep=a", "lwm2m=2.0"], OBJECTS, PRECONDITION_FAILED),    # version not supported
    (["ep=a", "Q=1"], OBJECTS, BAD_REQUEST),
    (["ep=a", "sms="], OBJECTS, BAD_REQUEST),
    (["ep=a", "color=blue"], OBJECTS, BAD_REQUEST),           # unknown parameter
    (["ep=a", "ep=b"], OBJECTS, BAD_REQUEST),                 # repeated parameter
    (["ep=a"], b"", BAD_REQUEST),                             # no objects
    (["ep=a"], b"</1/0", BAD_REQUEST),                        # not link format
    (["ep=a"], b"</1/0/0>", BAD_REQUEST),                     # a resource
    (["ep=a"], b"</x/0>", BAD_REQUEST),                       # not a path
    (["ep=a"], b"</70000>", BAD_REQUEST),                     # ID out of range
    (["ep=a"], b"</>;ct=abc,</1/0>", BAD_REQUEST),            # bad ct
    (["ep=a"], b"</3303>;ver=one", BAD_REQUEST),
    (["ep=a"], b"\xff\xfe", BAD_REQUEST),                     # not UTF-8
])
def test_malformed_register_is_refused_and_changes_nothing(query, payload, code):
    radio, server, node, events = setup()
    r = node.register(query=query, payload=payload)
    assert r.code == code
    assert len(server.registry) == 0 and events == []


def test_register_with_another_content_format_is_refused():
    radio, server, node, events = setup()
    assert node.register(content_format=TEXT_PLAIN).code == BAD_REQUEST
    assert node.register(content_format=None).code == CREATED   # absent: taken as link format


def test_malformed_update_changes_nothing():
    radio, server, node, events = setup()
    node.register(lt=60, payload=OBJECTS)
    reg = server.registry.by_endpoint("node1")
    before = (reg.lifetime_s, reg.binding, reg.updated_ms, reg.objects)
    for query, payload in ([["lt=x"], b""], [["ep=other"], b""], [["lt=90", "b=Z"], b""],
                           [["lt=90"], b"</1/0/5>"], [["lwm2m=1.1"], b""]):
        assert node.update(query, payload).code == BAD_REQUEST
    assert (reg.lifetime_s, reg.binding, reg.updated_ms, reg.objects) == before
    assert [e[0] for e in events] == ["registered"]


def test_update_from_a_new_address_moves_the_registration():
    radio, server, nodes = network(nodes=("node1", "node2"))
    a, b = nodes
    a.register("roamer")
    reg = server.registry.by_endpoint("roamer")
    assert b.update(location=a.location).code == CHANGED
    assert reg.peer == ("node2", 5683)


def test_wrong_methods_and_paths():
    radio, server, node, events = setup()
    node.register()
    assert node.request(GET, "/rd").code == METHOD_NOT_ALLOWED
    assert node.request(PUT, node.location).code == METHOD_NOT_ALLOWED
    assert node.request(GET, "/nothing").code == NOT_FOUND
    assert node.request(DELETE, "/rd").code == METHOD_NOT_ALLOWED


def test_well_known_core_lists_the_services():
    radio, server, node, events = setup()
    r = node.request(GET, "/.well-known/core")
    assert r.code == CONTENT and r.content_format == LINK_FORMAT
    assert bytes(r.payload) == b'</dp>,</rd>;rt="core.rd"'
    server.add_route("ac", lambda *a: None, 'rt="lwm2m.auth"')
    r = node.request(GET, "/.well-known/core")
    assert bytes(r.payload) == b'</ac>;rt="lwm2m.auth",</dp>,</rd>;rt="core.rd"'


def test_large_register_payload_arrives_block_wise():
    radio, server, node, events = setup()
    links = ",".join("</%d/%d>" % (oid, iid) for oid in range(3300, 3340) for iid in range(3))
    payload = ('</>;ct="60 110 112 11542",' + links).encode()
    assert len(payload) > 1024
    r = node.register(payload=payload)
    assert r.code == CREATED
    reg = server.registry.by_endpoint("node1")
    assert len(reg.objects.objects) == 40 and reg.objects.has(3339, 2)
    blocks = [f for f in radio.log if f.src == ("node1", 5683) and f.dst == ("server", 5683)]
    assert len(blocks) >= 2


def test_events_go_to_the_log(caplog):
    import logging
    caplog.set_level(logging.INFO, logger="tools.server")
    radio, server, node, events = setup()
    node.register()
    node.deregister()
    text = caplog.text
    assert "registered node1" in text and "deregistered node1" in text


# -- link format -------------------------------------------------------------------------

def test_link_format_parser():
    links = linkformat.parse(b'</>;rt="oma.lwm2m";ct=11543, </1/0>,</3303>;ver=1.1;obs')
    assert [l.target for l in links] == ["/", "/1/0", "/3303"]
    assert links[0].attrs == {"rt": "oma.lwm2m", "ct": "11543"}
    assert links[2].attrs == {"ver": "1.1", "obs": None}
    assert links[1].path == (1, 0) and links[0].path == ()
    assert linkformat.parse(b"") == []
    assert str(links[0]) == "</>;rt=oma.lwm2m;ct=11543"
    assert str(linkformat.Link("/x", {"rt": "a b"})) == '</x>;rt="a b"'
    for bad in (b"<", b"</a>;", b"</a>x", b"</a>;=1", b'</a>;x="open', b"</a>,,</b>",
                b"</a>;x=1;x=2"):
        with pytest.raises(ValueError):
            linkformat.parse(bad)


def test_registration_payload_with_an_alternate_path():
    objs = linkformat.parse_registration(
        b'</lwm2m>;rt="oma.lwm2m";ct=110,</lwm2m/1/0>,</lwm2m/3/0>')
    assert objs.root == "/lwm2m" and objs.formats == [110]
    assert sorted(objs.objects) == [1, 3]
    with pytest.raises(ValueError):
        linkformat.parse_registration(b'</lwm2m>;rt="oma.lwm2m",</1/0>')


def test_query_and_registry_units():
    assert parse_query(["ep=a", "Q", "lt=5"], ("ep", "lt", "Q")) == \
        {"ep": "a", "Q": None, "lt": "5"}
    with pytest.raises(ParamError):
        parse_query(["x=1"], ("ep",))
    values = iter([b"\x01" * 4, b"\x01" * 4, b"\x02" * 4, b"\x03" * 4])
    reg = Registry(rand=lambda n: next(values), max_clients=2)
    a = Registration(reg.new_id(), "a", ("h", 1), 0)
    assert a.id == "01010101" and reg.add(a) is None
    b = Registration(reg.new_id(), "b", ("h", 2), 0)     # a taken ID is drawn again
    assert b.id == "02020202" and reg.add(b) is None
    assert reg.by_peer(("h", 2)) is b and reg.by_security(None) is None
    with pytest.raises(ParamError) as e:                 # table full: 5.03
        reg.add(Registration(reg.new_id(), "c", ("h", 3), 0))
    assert e.value.code == 163
    a2 = Registration("0f", "a", ("h", 9), 0)            # same name replaces, even when full
    assert reg.add(a2) is a and reg.get(a.id) is None and len(reg) == 2
