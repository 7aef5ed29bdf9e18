"""Write-Attributes, inheritance, persistence and Discover (lwm2m.attributes,
through the lwm2m.observe hook); runs under pytest and the unix port."""
from host_tests.support.observe_fixture import Node, Caller, Store
from coap.numbers import (CHANGED, CONTENT, BAD_REQUEST, NOT_FOUND,
                          UNAUTHORIZED, SERVICE_UNAVAILABLE, LINK_FORMAT)
from lwm2m.attributes import Attributes, parse_query, STORE_KEY
from lwm2m.model import Error

KEY = 101
RES = (3303, 0, 5700)


def attached(node, path):
    return node.rep.attributes.attached(KEY, path)


def test_write_and_remove():
    node = Node()
    assert node.write_attributes("/3303/0/5700", "pmin=10", "pmax=60", "gt=25.5",
                                 "lt=5", "st=1", "epmin=1", "epmax=30").code == CHANGED
    assert attached(node, RES) == {"pmin": 10, "pmax": 60, "gt": 25.5, "lt": 5,
                                   "st": 1, "epmin": 1, "epmax": 30}
    assert node.write_attributes("/3303/0/5700", "pmin", "gt").code == CHANGED
    assert attached(node, RES) == {"pmax": 60, "lt": 5, "st": 1, "epmin": 1, "epmax": 30}
    node.write_attributes("/3303/0/5700", "pmax", "lt", "st", "epmin", "epmax")
    assert attached(node, RES) == {}
    assert node.rep.attributes.table == {}


def test_levels():
    node = Node()
    for path in ("/3303", "/3303/0", "/3303/0/5700", "/3303/0/6000", "/3303/0/6000/1"):
        assert node.write_attributes(path, "pmin=1", "pmax=2", "epmin=1",
                                     "epmax=2").code == CHANGED, path
    # thresholds: numeric resources and resource instances only
    for path in ("/3303/0/5700", "/3303/0/6000", "/3303/0/6000/1", "/3303/0/6001"):
        assert node.write_attributes(path, "gt=3").code == CHANGED, path
    for path in ("/3303", "/3303/0", "/3303/0/5701"):
        for q in ("gt=3", "lt=3", "st=3", "gt"):
            assert node.write_attributes(path, q).code == BAD_REQUEST, (path, q)


def test_validation_errors_change_nothing():
    node = Node()
    node.write_attributes("/3303/0/5700", "gt=25")
    bad = [
        ("lt=30",),                      # lt must stay below gt
        ("lt=25",),
        ("lt=10", "st=8"),               # lt + 2*st < gt
        ("lt=5", "st=10"),
        ("epmin=10", "epmax=5"),
        ("foo=1",), ("dim=2",), ("ver=1.0",),
        ("pmin=-1",), ("pmin=1.5",), ("pmin=x",), ("pmin=",),
        ("gt=abc",), ("gt=1e999",), ("st=-1",), ("gt=nan",),
        ("pmin=5", "gt=x"),              # one bad value spoils the request
    ]
    for query in bad:
        r = node.write_attributes("/3303/0/5700", *query)
        assert r.code == BAD_REQUEST, query
        assert attached(node, RES) == {"gt": 25}, query
    assert node.write_attributes("/3303/0/5700", "lt=10", "st=7").code == CHANGED
    assert node.write_attributes("/3303/0/5700", "gt=1e2").code == CHANGED
    assert attached(node, RES) == {"gt": 100.0, "lt": 10, "st": 7}


def test_pmax_below_pmin_is_accepted_and_ignored():
    node = Node()
    assert node.write_attributes("/3303/0/5700", "pmin=20", "pmax=10").code == CHANGED
    eff = node.rep.attributes.effective(KEY, RES)
    assert eff["pmin"] == 20 and eff["pmax"] is None


def test_not_found_and_unauthorized():
    node = Node()
    for path in ("/3303/5", "/3303/0/9999", "/9999", "/3303/0/6000/7", "/3303/0/5700/0"):
        assert node.write_attributes(path, "pmin=1").code == NOT_FOUND, path
    denied = Caller(deny=((3303, 0),))
    r = node.write_attributes("/3303/0/5700", "pmin=1", caller=denied)
    assert r.code == UNAUTHORIZED
    assert node.rep.attributes.table == {}


def test_parse_query_values():
    assert parse_query(["pmin=10", "gt=-2.5", "lt=-7", "st=0", "pmax"]) == \
        {"pmin": 10, "gt": -2.5, "lt": -7, "st": 0, "pmax": None}
    for q in (["pmin=+"], ["epmax=1e3"], ["xx"]):
        try:
            parse_query(q)
            assert False, q
        except Error as e:
            assert e.code == BAD_REQUEST


def test_inheritance_and_server_defaults():
    a = Attributes()
    a.write(KEY, (3303,), ["pmin=10", "epmin=2"])
    a.write(KEY, (3303, 0), ["pmax=60", "pmin=5"])
    a.write(KEY, RES, ["gt=25"], 4)
    a.write(KEY, (3303, 0, 6000, 1), ["pmin=1"], 2)
    eff = a.effective(KEY, RES, (0, None))
    assert (eff["pmin"], eff["pmax"], eff["gt"], eff["epmin"], eff["lt"]) == (5, 60, 25, 2, None)
    assert a.effective(KEY, (3303, 0, 6000, 1))["pmin"] == 1
    assert a.effective(KEY, (3303, 1, 5700), (7, 70))["pmin"] == 10
    assert a.effective(KEY, (3303, 1, 5700), (7, 70))["pmax"] == 70
    assert a.effective(KEY, (3, 0, 1), (7, 70))["pmin"] == 7
    assert a.effective(KEY, (3, 0, 1))["pmax"] is None
    # another server sees none of it
    assert a.effective(202, RES)["gt"] is None
    assert a.inherited(KEY, RES) == {"pmin": 5, "epmin": 2, "pmax": 60, "gt": 25}


def test_persisted_through_the_store():
    store = Store()
    a = Attributes(store)
    a.write(KEY, RES, ["gt=25.5", "pmin=3"], 4)
    a.write("c7", (3303,), ["pmax=9"])
    assert store.data[STORE_KEY] == [[KEY, [3303, 0, 5700], {"gt": 25.5, "pmin": 3}],
                                     ["c7", [3303], {"pmax": 9}]]
    b = Attributes(store)
    assert b.table == a.table
    b.forget(KEY)
    assert Attributes(store).table == {"c7": {(3303,): {"pmax": 9}}}


def test_table_is_bounded():
    node = Node()
    node.rep.attributes.max_entries = 2
    assert node.write_attributes("/3303", "pmin=1").code == CHANGED
    assert node.write_attributes("/3303/0", "pmin=1").code == CHANGED
    assert node.write_attributes("/3303/0/5700", "pmin=1").code == SERVICE_UNAVAILABLE
    assert node.write_attributes("/3303/0", "pmax=9").code == CHANGED   # same entry
    node.write_attributes("/3303", "pmin")                              # frees one
    assert node.write_attributes("/3303/0/5700", "pmin=1").code == CHANGED


def test_deleted_instance_loses_its_attributes():
    node = Node()
    node.write_attributes("/3303/0/5700", "gt=25")
    node.write_attributes("/3303", "pmin=2")
    node.sensor.delete(0)
    assert node.rep.attributes.table == {KEY: {(3303,): {"pmin": 2}}}


def setup_discover():
    node = Node()
    node.write_attributes("/3303", "pmin=10")
    node.write_attributes("/3303/0", "pmax=60")
    node.write_attributes("/3303/0/5700", "gt=25", "lt=5")
    return node


def discover(node, path, *query):
    r = node.discover(path, *query)
    assert r.code == CONTENT and r.content_format == LINK_FORMAT, (path, query, r)
    return bytes(r.payload)


def test_discover_object_instance_resource():
    node = setup_discover()
    assert discover(node, "/3303") == (
        b"</3303>;pmin=10,</3303/0>;pmax=60,</3303/0/5601>,"
        b"</3303/0/5700>;gt=25;lt=5,</3303/0/5701>,</3303/0/6000>;dim=2,</3303/0/6001>")
    assert discover(node, "/3303/0") == (
        b"</3303/0>;pmax=60,</3303/0/5601>,</3303/0/5700>;gt=25;lt=5,"
        b"</3303/0/5701>,</3303/0/6000>;dim=2,</3303/0/6001>")
    # a resource shows what it inherits (the TS example </3/0/7>;dim=8;pmin=10;...)
    assert discover(node, "/3303/0/5700") == b"</3303/0/5700>;pmin=10;pmax=60;gt=25;lt=5"
    assert discover(node, "/3303/0/6000") == b"</3303/0/6000>;dim=2;pmin=10;pmax=60"
    assert discover(node, "/3303/0/6000/1") == b"</3303/0/6000/1>;pmin=10;pmax=60"


def test_discover_depth():
    node = setup_discover()
    assert discover(node, "/3303", "depth=0") == b"</3303>;pmin=10"
    assert discover(node, "/3303", "depth=1") == b"</3303>;pmin=10,</3303/0>;pmax=60"
    assert discover(node, "/3303/0", "depth=0") == b"</3303/0>;pmax=60"
    assert discover(node, "/3303/0/6000", "depth=1") == (
        b"</3303/0/6000>;dim=2;pmin=10;pmax=60,</3303/0/6000/0>,</3303/0/6000/1>")
    assert discover(node, "/3303/0", "depth=3").endswith(
        b"</3303/0/6000>;dim=2,</3303/0/6000/0>,</3303/0/6000/1>,</3303/0/6001>")
    for q in ("depth=4", "depth=-1", "depth=x", "depth"):
        assert node.discover("/3303", q).code == BAD_REQUEST, q


def test_discover_shows_only_the_callers_attributes_and_version():
    node = setup_discover()
    other = Caller(key=202)
    r = node.discover("/3303/0/5700", caller=other)
    assert bytes(r.payload) == b"</3303/0/5700>"
    assert discover(node, "/1") == b"</1>;ver=1.1,</1/0>,</1/0/0>,</1/0/1>"


def test_discover_errors_and_access():
    node = setup_discover()
    assert node.discover("/3303/1").code == NOT_FOUND
    assert node.discover("/3303/0/9999").code == NOT_FOUND
    assert node.discover("/4").code == NOT_FOUND
    assert node.discover("/3303/0", caller=Caller(deny=((3303, 0),))).code == UNAUTHORIZED
    # an object Discover leaves out the instances the caller may not read
    node.sensor.create(1, {})
    r = node.discover("/3303", caller=Caller(deny=((3303, 0),)))
    assert bytes(r.payload) == b"</3303>;pmin=10,</3303/1>"
