"""C2C on the firmware node, under CPython and the unix port: the config
("c2c", --c2c, "follow", "events"), and two nodes built by firmware/node.py
+ firmware/apps.py on the fake radio with the scripted /ac server
(host_tests/support/acserver.py): the light follows the switch through the
whole authorization, a server Write is told apart, revocation ends the
observation and the retry is refused, event lines carry wall-clock ns."""
import os

from host_tests.support.check import raises, empty_dir
from host_tests.support import simnode
from host_tests.support.acserver import AuthServer
from tools.sim.radio import Radio
from coap.numbers import PUT, CHANGED, TEXT_PLAIN

from config import ConfigError, parse, from_dict  # noqa: E402
import apps  # noqa: E402

STATE = "/tmp/lwm2m-test-node-c2c-%d" % (os.getpid() if hasattr(os, "getpid") else 0)
FOLLOW = {"endpoint": "switch", "path": "/3342/0/5500", "target": "/3311/0/5850",
          "address": "coap://switch:5683", "retry_ms": 2000}


# -- config --------------------------------------------------------------------------
def test_c2c_flag_and_file():
    cfg = parse(["--endpoint", "n", "--server", "coap://h", "--c2c"])
    assert cfg["c2c"] == {"allow_nosec": False} and cfg["follow"] is None
    assert cfg["events"] is None
    assert parse(["--endpoint", "n", "--server", "coap://h"])["c2c"] is None
    files = {"c.json": {"c2c": {"allow_nosec": True}, "events": False}}
    cfg = parse(["--config", "c.json", "--endpoint", "n", "--server", "coap://h", "--c2c"],
                lambda p: files[p])
    assert cfg["c2c"] == {"allow_nosec": True} and cfg["events"] is False
    cfg = from_dict({"endpoint": "l", "server": "coap://h", "follow": FOLLOW})
    assert cfg["c2c"] == {"allow_nosec": False} and cfg["follow"] == FOLLOW
    cfg = from_dict({"endpoint": "l", "server": "coap://h", "follow": {
        "endpoint": "s", "path": "/3342/0/5500", "target": "/3311/0/5850"}})
    assert cfg["follow"]["retry_ms"] == 5000 and cfg["follow"]["address"] is None


def test_c2c_config_errors():
    base = {"endpoint": "x", "server": "coap://h"}
    for extra, text in (
            ({"c2c": 1}, "c2c is true, false"),
            ({"c2c": {"nosec": True}}, "unknown key 'nosec'"),
            ({"c2c": {"allow_nosec": "yes"}}, "allow_nosec is true or false"),
            ({"follow": {"endpoint": "s", "path": "/3342/0", "target": "/3311/0/5850"}},
             "follow.path is a resource path"),
            ({"follow": dict(FOLLOW, target="3311/0/5850")}, "follow.target"),
            ({"follow": dict(FOLLOW, address="http://s")}, "follow.address"),
            ({"follow": dict(FOLLOW, colour=1)}, "unknown key 'colour'"),
            ({"follow": dict(FOLLOW, endpoint="")}, "follow.endpoint"),
            ({"follow": FOLLOW, "c2c": False}, "follow needs c2c"),
            ({"events": "on"}, "events is true or false")):
        d = dict(base)
        d.update(extra)
        with raises(ConfigError) as e:
            from_dict(d)
        assert text in str(e.value), (extra, str(e.value))
    with raises(ConfigError) as e:
        parse(["--endpoint", "x", "--server", "coap://h", "--c2c=yes"])
    assert "takes no value" in str(e.value)


# -- two nodes on the fake radio --------------------------------------------------------
class Net:
    def __init__(self, seed=1):
        self.radio = radio = Radio(seed=seed, log=False)
        radio.link("switch", "srv", delay_ms=10)
        radio.link("light", "srv", delay_ms=10)
        radio.link("light", "switch", delay_ms=5)
        self.srv = AuthServer(radio, ("srv", 5683))
        self.srv.policy[("light", "switch")] = {(3342, 0): 1}
        self.switch, _ = self.node("switch", {"switch": {"kind": "sim", "period_ms": 0},
                                              "c2c": True})
        self.light, _ = self.node("light", {"light": {"kind": "sim"}, "follow": FOLLOW})
        self.apps = {"switch": apps.install(self.switch, self.switch.cfg, self.switch.log),
                     "light": apps.install(self.light, self.light.cfg, self.light.log)}

    def node(self, name, conf):
        data = {"endpoint": name, "temperature": [], "switch": None, "light": None,
                "servers": [{"uri": "coap://srv:5683", "oscore": self.srv.spec(name)}]}
        data.update(conf)
        cfg = from_dict(data)
        empty_dir(STATE + "/" + name)
        return simnode.start(self.radio, (name, 5683), cfg, cfg["board_config"],
                             STATE + "/" + name)

    def events(self, name, kind=None):
        node = self.switch if name == "switch" else self.light
        out = []
        for line in node.log.lines:
            if line.startswith("event "):
                parts = line.split(" ")
                if kind is None or parts[1] == kind:
                    out.append(parts[1:])
        return out

    def toggle(self):
        self.switch.switch._drivers[0].press()
        self.radio.wake(("switch", 5683))
        self.radio.run_for(500)


def test_the_light_follows_the_switch_through_the_authorization():
    net = Net()
    net.radio.run_for(3000)
    kinds = [e[0] for e in net.events("light") if e[0].startswith("c2c")]
    assert kinds == ["c2c-send", "c2c-denied", "c2c-ac", "c2c-ac-answer", "c2c-send",
                     "c2c-observing"], net.light.log.lines
    light = dict((e[0], e[1:]) for e in net.events("light"))
    assert light["c2c-denied"][1] == "hint=coap://srv:5683"
    assert light["c2c-ac-answer"][1] == "code=2.01"
    assert net.events("light", "c2c-send")[-1][2] == "mode=oscore"
    assert net.events("switch", "c2c-refused")[0][1:3] == ["path=/3342/0/5500",
                                                            "hint=coap://srv:5683"]
    assert net.srv.ac[0][0] == "light" and net.srv.ac[0][3] is None    # provisioned
    drv = net.light.light._drivers[0]
    for value in (True, False, True):
        net.toggle()
        assert drv.on is value
        assert net.events("switch", "switch")[-1][1] == "value=%d" % value
        last = net.events("light", "light")[-1]
        assert last[1:3] == ["value=%d" % value, "source=c2c"], last
        assert last[3].startswith("t_ns=") and int(last[3][5:]) > 0
    assert len(net.events("light", "c2c-notify")) == 3
    # a Write from the server is labelled as such
    r = net.srv.call_to("light", PUT, "/3311/0/5850", b"0", TEXT_PLAIN)
    assert r.code == CHANGED and drv.on is False
    assert net.events("light", "light")[-1][1:3] == ["value=0", "source=write"]


def test_revocation_ends_following_and_the_retry_is_refused():
    net = Net(seed=2)
    net.radio.run_for(3000)
    assert net.events("light", "c2c-observing")
    del net.srv.policy[("light", "switch")]
    net.srv.revoke("light", "switch")
    net.radio.run_for(1000)
    ends = net.events("light", "c2c-end")
    assert ends[0][1] == "code=4.01", ends
    net.radio.run_for(3000)                          # retry_ms later: asked again
    ends = net.events("light", "c2c-end")
    assert len(ends) == 2 and ends[1][1] == "code=4.03", ends
    assert len(net.events("switch", "c2c-refused")) == 2
    before = len(net.events("light", "light"))
    net.toggle()
    assert len(net.events("light", "light")) == before     # not following any more
    # the back-off doubles: the next attempt 4 s after the refusal (~2 s in)
    net.radio.run_for(1000)                          # ~5.5 s in
    assert len(net.events("light", "c2c-end")) == 2
    net.radio.run_for(1000)
    assert len(net.events("light", "c2c-end")) == 3


def test_stop_cancels_the_observation_at_the_host():
    net = Net(seed=3)
    net.radio.run_for(3000)
    reporting = net.switch.engine.reporting
    assert [o for o in reporting.observations if isinstance(o.key, str)]
    net.apps["light"].stop()
    net.radio.wake(("light", 5683))
    net.radio.run_for(1000)
    assert not [o for o in reporting.observations if isinstance(o.key, str)]
    net.toggle()
    assert net.events("light", "c2c-notify") == []


def test_new_accounts_drop_the_peer_accounts_of_the_old_server():
    net = Net(seed=4)
    net.radio.run_for(3000)
    store = net.switch.store
    assert store.load("obj.11000") and store.load("obj.11001")
    cfg = from_dict({"endpoint": "switch", "temperature": [], "light": None,
                     "switch": {"kind": "sim"}, "c2c": True,
                     "servers": [{"uri": "coap://srv:5683", "oscore": net.srv.spec("s2")}]})
    radio = Radio(seed=5, log=False)
    node, _ = simnode.start(radio, ("switch", 5683), cfg, cfg["board_config"],
                            STATE + "/switch")
    assert store.load("obj.11000") is None and node.engine.model.get(11000).instances == {}
