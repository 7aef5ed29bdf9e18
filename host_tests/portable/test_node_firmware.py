"""The firmware's board-independent parts under CPython and the unix port:
the command line and config file (firmware/config.py), and a node built by
firmware/node.py on the fake radio with a scripted server (registration
line, drifting temperature notifications, the switch schedule, a light
write, Reboot and Factory Reset as pending actions, the account
fingerprint that lets the command line win over stored configuration)."""
import os

from host_tests.support.check import raises, empty_dir
from host_tests.support import simnode
from host_tests.support.lwserver import LwServer
from tools.sim.radio import Radio
from coap.numbers import GET, PUT, POST, CHANGED, CONTENT, TEXT_PLAIN

from config import ConfigError, parse, from_dict  # noqa: E402

NODE = ("node", 5683)
SRV = ("srv", 5683)
SPEC = "000102030405060708090a0b0c0d0e0f:9e7ca92223786340:01:02"
STATE = "/tmp/lwm2m-test-firmware-%d" % (os.getpid() if hasattr(os, "getpid") else 0)


def _read(files):
    return lambda path: files[path]


# -- config -----------------------------------------------------------------------
def test_flags():
    cfg = parse(["--endpoint", "n1", "--server", "coap://[::1]:5700", "--lifetime", "90",
                 "--bind", "0.0.0.0:5683", "--log", "DEBUG", "--oscore", SPEC,
                 "--state=/tmp/x", "--bootstrap", "coap://127.0.0.1"])
    s = cfg["servers"][0]
    assert (s["host"], s["port"], s["ssid"], s["lifetime"]) == ("::1", 5700, 1, 90)
    assert s["oscore"]["sid"] == b"\x01" and s["oscore"]["idctx"] is None
    assert cfg["bootstrap"]["port"] == 5683 and cfg["bind"] == ("0.0.0.0", 5683)
    assert (cfg["endpoint"], cfg["state"], cfg["log"]) == ("n1", "/tmp/x", "debug")
    assert parse(["--help"]) == {"help": True}


def test_flags_override_the_file():
    files = {"c.json": {"endpoint": "file", "lifetime": 30, "log": "error",
                        "servers": [{"uri": "coap://a", "ssid": 5, "pmin": 2},
                                    {"uri": "coap://b:1", "ssid": 6, "lifetime": 10}],
                        "switch": {"kind": "sim", "period_ms": 500}}}
    cfg = parse(["--config", "c.json"], _read(files))
    assert [(s["ssid"], s["lifetime"]) for s in cfg["servers"]] == [(5, 30), (6, 10)]
    assert cfg["servers"][0]["pmin"] == 2 and cfg["log"] == "error"
    assert cfg["board_config"]["switch"] == {"kind": "sim", "period_ms": 500}
    cfg = parse(["--config", "c.json", "--endpoint", "flag", "--server", "coap://c",
                 "--lifetime", "99", "--log", "info"], _read(files))
    assert cfg["endpoint"] == "flag" and cfg["log"] == "info"
    assert [(s["host"], s["ssid"], s["lifetime"]) for s in cfg["servers"]] == \
        [("c", 5, 99), ("b", 6, 99)]


def test_errors_are_one_line_and_keep_keys_out():
    for argv, text in (
            ([], "--endpoint is required"),
            (["--endpoint", "x"], "--server is required"),
            (["--endpoint", "x", "--server", "coap://h", "--oscore", "zz" + SPEC[2:]],
             "MASTER_SECRET is not hex"),
            (["--endpoint", "x", "--server", "coap://h", "--oscore", SPEC[:-2] + "01"],
             "must differ"),
            (["--endpoint", "x", "--server", "coap://h/rd"], "no path"),
            (["--endpoint", "x", "--server", "coap://h", "--bind", "h:x"], "--bind port"),
            (["--endpoint", "x", "--endpoint", "y"], "given twice"),
            (["-x"], "unknown argument")):
        with raises(ConfigError) as e:
            parse(argv)
        msg = str(e.value)
        assert text in msg and "\n" not in msg and "0001020304" not in msg, msg
    with raises(ConfigError) as e:
        from_dict({"servers": [{"uri": "coap://h"}], "acl": [
            {"object": 3311, "instance": 0, "owner": 1, "acl": {"2": 99}}]})
    assert "acl[0].acl value" in str(e.value)


# -- a node on the fake radio --------------------------------------------------------------
def _node(name, conf=None, seed=3):
    radio = Radio(seed=seed, log=False)
    radio.link("node", "srv", delay_ms=5)
    server = LwServer(radio, SRV)
    data = {"endpoint": name, "servers": [{"uri": "coap://srv:5683", "lifetime": 60}],
            "temperature": [{"kind": "sim", "seed": 9, "step_c": 0.3, "period_ms": 1000}],
            "switch": {"kind": "sim", "period_ms": 5000}, "light": {"kind": "sim"}}
    data.update(conf or {})
    cfg = from_dict(data)
    store = STATE + "/" + name
    node, _ = simnode.start(radio, NODE, cfg, cfg["board_config"], store)
    return radio, server, node


def test_node_registers_and_reports():
    empty_dir(STATE + "/fw-a")
    radio, server, node = _node("fw-a")
    radio.run_for(1000)
    assert server.kinds() == ["register"]
    links = server.events[0][3]
    for obj in ("</1/0>", "</3/0>", "</3303/0>", "</3311/0>", "</3342/0>"):
        assert obj in links
    assert "</2" not in links and "</21" not in links
    assert node.log.lines[-1] == "registered at coap://srv:5683 as /rd/r1"
    assert server.call(PUT, "/3303/0/5700", query=["pmin=0"]).code == CHANGED
    got = []
    server.send(GET, "/3303/0/5700", observe=0,
                callback=lambda r, e: got.append(bytes(r.payload)))
    states = []
    server.send(GET, "/3342/0/5500", observe=0,
                callback=lambda r, e: states.append(bytes(r.payload)))
    radio.run_for(20000)
    assert len(got) >= 10 and len(set(got)) >= 5           # drifting, seeded
    assert states[:5] == [b"0", b"1", b"0", b"1", b"0"]     # every 5 s
    r = server.call(PUT, "/3311/0/5850", b"1", cf=TEXT_PLAIN)
    assert r.code == CHANGED and node.light._drivers[0].on is True
    r = server.call(GET, "/3/0/2")
    assert r.code == CONTENT and bytes(r.payload) == b"sim-1"         # the board's serial


def test_reboot_and_factory_reset_wait_for_the_step():
    empty_dir(STATE + "/fw-b")
    radio, server, node = _node("fw-b")
    radio.run_for(1000)
    assert server.call(POST, "/3/0/4").code == CHANGED
    assert node.action == "reboot" and node.device.pending is None
    node.action = None
    assert server.call(POST, "/3/0/5").code == CHANGED
    assert node.action == "factory-reset"
    node.factory_reset()
    assert node.store.load("obj.1") is None and node.store.load("factory") is None


def test_dedup_size_reaches_the_coap_endpoint():
    empty_dir(STATE + "/fw-d")
    assert _node("fw-d")[2].engine.endpoint._dedup_size == 128          # unix port
    empty_dir(STATE + "/fw-d")
    assert _node("fw-d", {"dedup_size": 7})[2].engine.endpoint._dedup_size == 7


def test_changed_accounts_replace_the_stored_configuration():
    empty_dir(STATE + "/fw-c")
    radio, server, node = _node("fw-c")
    radio.run_for(1000)
    assert server.call(PUT, "/1/0/1", b"500", cf=TEXT_PLAIN).code == CHANGED
    radio.run_for(1000)
    assert node.store.load("obj.1")["0"]["1"] == 500
    # same accounts: what the server wrote stays
    radio, server, node = _node("fw-c", seed=4)
    assert node.engine.model.get(1).get(0, 1) == 500
    # another lifetime on the command line: the factory configuration wins
    radio, server, node = _node("fw-c", {"lifetime": 70, "servers": [
        {"uri": "coap://srv:5683"}]}, seed=5)
    assert node.engine.model.get(1).get(0, 1) == 70


def test_several_servers_get_access_control_and_oscore():
    empty_dir(STATE + "/fw-d")
    radio = Radio(seed=6, log=False)
    cfg = from_dict({"endpoint": "fw-d", "servers": [
        {"uri": "coap://a:5683", "ssid": 1, "oscore": SPEC},
        {"uri": "coap://b:5683", "ssid": 2}],
        "acl": [{"object": 3311, "instance": 0, "owner": 2, "acl": {"1": 1}}]})
    node, _ = simnode.start(radio, NODE, cfg, {"light": {"kind": "sim"}},
                            STATE + "/fw-d")
    model = node.engine.model
    assert 2 in model and 21 in model
    assert model.get(0).oscore_iid(0) == 0 and model.get(0).oscore_iid(1) is None
    aco = model.get(2)
    light = aco.find(3311, 0)
    assert aco.get(light, 3) == 2 and aco.get(light, 2) == {1: 1}
    assert aco.get(aco.find(1, 1), 3) == 2 and aco.get(aco.find(3, 0), 2) == {0: 7}
