"""Access Control with two servers (Core V1.1 §7.3, object 2): ACL entries by
Short Server ID, the default entry 0, the owner's implicit rights, Create
through the (oid, 65535) instance, Access Control instances managed by their
owner only, and the instances servers create and delete."""
from tools.sim.radio import Radio
from coap.numbers import (GET, PUT, POST, DELETE, CONTENT, CHANGED, CREATED, DELETED,
                          UNAUTHORIZED, TEXT_PLAIN, LWM2M_TLV, LINK_FORMAT)
from lwm2m.dm import Model, READ, WRITE, EXECUTE, DELETE_OP, CREATE
from lwm2m.access import AccessControl, DISCOVER
from lwm2m.objects.access_control import AccessControlObject, OWNER
from host_tests.support.lwserver import LwServer
from host_tests.support.lwnode import (Device, Thing, config, make_node, tlv_payload,
                                       schema, NAME)

S1 = ("srv", 5683)
S2 = ("srv2", 5683)


def setup(with_acl=True):
    radio = Radio(seed=5)
    radio.link("node", "srv", delay_ms=5)
    radio.link("node", "srv2", delay_ms=5)
    s1 = LwServer(radio, S1, seed=31)
    s2 = LwServer(radio, S2, seed=32)
    sec, srv = config([(101, "coap://srv:5683", 600), (102, "coap://srv2:5683", 600)])
    aco = AccessControlObject()
    thing = Thing()
    thing.create(0, {NAME: "shared"})
    objects = [sec, srv, Device(), thing]
    if with_acl:
        aco.add(1, 0, 101)                                   # each server owns its
        aco.add(1, 1, 102)                                   # Server instance
        aco.add(3, 0, 101, {102: READ})                      # 102 may read Device
        aco.add(9999, 0, 101, {0: READ})                     # default: read
        aco.add(9999, 65535, 65535, {101: CREATE})           # only 101 creates
        objects.append(aco)
    node = make_node(radio, objects)
    radio.run_for(1000)
    assert s1.kinds() == ["register"] and s2.kinds() == ["register"]
    return radio, s1, s2, node, thing


def test_acl_entries_default_and_owner():
    radio, s1, s2, node, thing = setup()
    # Device: 101 is owner without ACL entry -> full; 102 has R only
    assert s1.call(GET, "/3/0/0").code == CONTENT
    assert s2.call(GET, "/3/0/0").code == CONTENT
    assert s1.call(POST, "/3/0/4").code == CHANGED
    assert s2.call(POST, "/3/0/4").code == UNAUTHORIZED
    assert node.model.get(3).reboots == 1
    # Thing 0: default ACL gives 102 read; owner 101 may write
    assert s2.call(GET, "/9999/0/0").payload == b"shared"
    assert s2.call(PUT, "/9999/0/0", b"x", cf=TEXT_PLAIN).code == UNAUTHORIZED
    assert s1.call(PUT, "/9999/0/0", b"mine", cf=TEXT_PLAIN).code == CHANGED
    assert thing.get(0, NAME) == "mine"
    # each server writes its own Server instance only
    assert s1.call(PUT, "/1/0/1", b"700", cf=TEXT_PLAIN).code == CHANGED
    assert s2.call(PUT, "/1/0/1", b"800", cf=TEXT_PLAIN).code == UNAUTHORIZED
    assert s2.call(GET, "/1/0").code == UNAUTHORIZED
    # object-level Read: only the instances the caller may read
    r = s2.call(GET, "/1")
    assert r.code == CONTENT
    from lwm2m.formats import tlv
    iids = set(p[1] for p, v in tlv.decode(r.payload, (1,), schema().type_of))
    assert iids == {1}
    # Discover is not restricted by the ACL
    assert s2.call(GET, "/1/0", accept=LINK_FORMAT).code == CONTENT


def test_create_rights_and_ownership_of_created_instances():
    radio, s1, s2, node, thing = setup()
    aco = node.model.get(2)
    p = tlv_payload([((9999, 5, NAME), "new")], (9999,))
    assert s2.call(POST, "/9999", p, cf=LWM2M_TLV).code == UNAUTHORIZED
    assert 5 not in thing.instances
    r = s1.call(POST, "/9999", p, cf=LWM2M_TLV)
    assert r.code == CREATED
    i = aco.find(9999, 5)
    assert i is not None and aco.get(i, OWNER) == 101 and aco.get(i, 2) is None
    # the new instance is the creator's: 102 has no rights on it
    assert s2.call(GET, "/9999/5").code == UNAUTHORIZED
    assert s1.call(GET, "/9999/5").code == CONTENT
    # the owner grants 102 read through the ACL (it manages its ACO instance)
    assert s2.call(PUT, "/2/%d/2/102" % i, b"1", cf=TEXT_PLAIN).code == UNAUTHORIZED
    assert s1.call(PUT, "/2/%d/2/102" % i, b"1", cf=TEXT_PLAIN).code == CHANGED
    assert s2.call(GET, "/9999/5/0").payload == b"new"
    assert s2.call(DELETE, "/9999/5").code == UNAUTHORIZED
    # Access Control instances: readable by all, never created/deleted by servers
    assert s2.call(GET, "/2/%d" % i).code == CONTENT
    assert s1.call(DELETE, "/2/%d" % i).code == UNAUTHORIZED
    # deleting the instance deletes its Access Control instance
    assert s1.call(DELETE, "/9999/5").code == DELETED
    assert aco.find(9999, 5) is None


def test_single_server_has_full_rights():
    radio = Radio(seed=5)
    radio.link("node", "srv", delay_ms=5)
    s1 = LwServer(radio, S1, seed=31)
    sec, srv = config([(101, "coap://srv:5683", 600)])
    aco = AccessControlObject()
    aco.add(3, 0, 102, {102: READ})                   # rules of an absent server
    thing = Thing()
    node = make_node(radio, [sec, srv, Device(), thing, aco])
    radio.run_for(1000)
    assert s1.call(POST, "/3/0/4").code == CHANGED
    p = tlv_payload([((9999, 0, NAME), "n")], (9999,))
    assert s1.call(POST, "/9999", p, cf=LWM2M_TLV).code == CREATED
    assert aco.find(9999, 0) is None                  # single server: no ACO needed


def test_without_access_control_object_everything_is_allowed():
    radio, s1, s2, node, thing = setup(with_acl=False)
    assert s2.call(PUT, "/1/0/1", b"800", cf=TEXT_PLAIN).code == CHANGED
    assert s2.call(GET, "/0/0").code == UNAUTHORIZED     # but never Security


def test_rules_table():
    class Accounts:
        n = 2
    model = Model([AccessControlObject()])
    aco = model.get(2)
    aco.add(5, 0, 101, {102: READ | WRITE, 0: EXECUTE})
    aco.add(5, 1, 101)
    aco.add(5, 65535, 65535, {0: CREATE})
    ac = AccessControl(model, lambda: Accounts.n)
    table = [
        (101, READ, 5, 0, True),       # owner, no own entry: full
        (101, DELETE_OP, 5, 0, True),
        (102, WRITE, 5, 0, True),      # own entry
        (102, EXECUTE, 5, 0, False),   # own entry wins over the default
        (103, EXECUTE, 5, 0, True),    # default entry
        (103, READ, 5, 0, False),
        (102, READ, 5, 1, False),      # no entry, no default, not owner
        (101, READ, 5, 1, True),
        (102, READ, 5, 2, False),      # no Access Control instance
        (102, CREATE, 5, None, True),  # default C on (5, 65535)
        (102, CREATE, 6, None, False),
        (102, DISCOVER, 5, 2, True),
        (102, READ, 0, 0, False),      # Security
        (102, DISCOVER, 0, None, False),
        (102, READ, 21, 0, False),     # OSCORE
        (101, READ, 2, 0, True),       # ACO: anyone reads
        (102, WRITE, 2, 0, False),     # only its owner writes
        (101, WRITE, 2, 0, True),
        (101, DELETE_OP, 2, 0, False),
    ]
    for ssid, op, oid, iid, want in table:
        assert ac.allowed(ssid, op, oid, iid) == want, (ssid, op, oid, iid)
    Accounts.n = 1
    assert ac.allowed(102, READ, 5, 2) and ac.allowed(102, CREATE, 6, None)
    assert not ac.allowed(102, READ, 0, 0)
