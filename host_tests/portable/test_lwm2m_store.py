"""Persistence: the file store (one JSON file per key, atomic replace, FAT
fallback), the memory store, instances to JSON and back, and a node that
comes back from the store with its configuration."""
import os
from tools.sim.radio import Radio
from coap.numbers import GET, CONTENT
from lwm2m.store import FileStore, MemoryStore, makedirs, pack_instances, unpack_instances
from lwm2m.objects.security import Security
from lwm2m.objects.server import Server
from lwm2m.objects.oscore import Oscore
from lwm2m.objects.access_control import AccessControlObject
from host_tests.support.lwserver import LwServer, rng_bytes
from host_tests.support.lwnode import Device, config, make_node, NODE


def _tmpdir(tag):
    base = "/tmp/lwm2m-test-%s-%s" % (tag, bytes(rng_bytes(len(tag) + 7)(4)).hex())
    return base


def _rmtree(path):
    for name in os.listdir(path):
        p = path + "/" + name
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(path)


def test_file_store_round_trip_and_atomic_replace():
    d = _tmpdir("fs") + "/a/b"
    try:
        s = FileStore(d)
        assert s.load("x") is None
        s.save("obj.0", {"0": {"1": True, "3": "00ff"}})
        s.save("reg.101", {"loc": ["rd", "r1"]})
        s.save("weird/key", [1, 2.5, None])
        assert s.load("obj.0") == {"0": {"1": True, "3": "00ff"}}
        assert s.load("weird/key") == [1, 2.5, None]
        s.save("reg.101", {"loc": ["rd", "r2"]})
        assert s.load("reg.101") == {"loc": ["rd", "r2"]}
        names = os.listdir(d)
        assert not [n for n in names if n.endswith(".tmp")]
        assert sorted(s.keys()) == sorted(["obj.0", "reg.101", "weird%2fkey"])
        # a power cut between "remove old" and "rename" (FAT): the temporary
        # file still holds the value
        os.rename(d + "/reg.101.json", d + "/reg.101.json.tmp")
        assert s.load("reg.101") == {"loc": ["rd", "r2"]}
        # a torn temporary file alone reads as unset
        with open(d + "/obj.0.json.tmp", "w") as f:
            f.write('{"0": {')
        os.remove(d + "/obj.0.json")
        assert s.load("obj.0") is None
        s.delete("reg.101")
        assert s.load("reg.101") is None
        # a second store on the same directory sees the same data
        assert FileStore(d).load("weird/key") == [1, 2.5, None]
    finally:
        _rmtree(_tmpdir("fs"))


def test_makedirs_is_idempotent():
    d = _tmpdir("mk")
    try:
        makedirs(d + "/x/y")
        makedirs(d + "/x/y")
        assert "y" in os.listdir(d + "/x")
    finally:
        _rmtree(d)


def test_memory_store_copies_through_json():
    s = MemoryStore()
    v = {"a": [1, 2]}
    s.save("k", v)
    v["a"].append(3)
    assert s.load("k") == {"a": [1, 2]}
    assert s.load("nope") is None


def test_instances_to_json_and_back():
    sec = Security()
    sec.add("coap://srv", ssid=101, oscore=0)
    sec.instances[0][5] = b"\x00secret\xff"
    osc = Oscore()
    osc.add(b"\x01" * 16, b"\x01", b"", master_salt=b"\x9e\x7c")
    aco = AccessControlObject()
    aco.add(3, 0, 101, {0: 1, 102: 3})
    for obj in (sec, osc, aco, Server()):
        data = pack_instances(obj)
        s = MemoryStore()
        s.save("k", data)
        assert unpack_instances(obj, s.load("k")) == obj.instances
    assert sec.instances[0][17] == (21, 0)


def test_configuration_survives_a_restart_in_files():
    d = _tmpdir("node")
    try:
        radio = Radio(seed=2)
        radio.link("node", "srv", delay_ms=5)
        server = LwServer(radio, ("srv", 5683))
        sec, srv = config([(101, "coap://srv:5683", 600)])
        node = make_node(radio, [sec, srv, Device()], store=FileStore(d))
        radio.run_for(1000)
        assert server.kinds() == ["register"]
        radio.detach(NODE)
        node2 = make_node(radio, [Device()], store=FileStore(d), seed=3)
        radio.run_for(1000)
        assert server.kinds() == ["register", "update"]
        assert node2.model.get(0).get(0, 0) == "coap://srv:5683"
        assert server.call(GET, "/3/0/1").code == CONTENT
    finally:
        _rmtree(d)
