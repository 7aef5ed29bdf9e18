"""Fixture of the C2C tests: on the fake radio, the scripted authorization
server (host_tests/support/acserver.py) and two engines with the C2C
extension -- the host "switch-1" (an On/Off Switch 3342 and the made-up
Thing 9999) and the requester "light-1" -- each with its own OSCORE session
to the server, a MemoryStore (reboots keep it) and a direct link between
them.

    w = World(loss=0.3)
    got, op = w.ask(GET, "/3342/0/5500", observe=True)   # requester API
    w.toggle()                                          # the switch flips
"""
from tools.sim.radio import Radio
from coap.numbers import URI_PATH, OSCORE
from coap.message import decode
from lwm2m.store import MemoryStore
from lwm2m.c2c import C2C
from lwm2m.dm import READ, WRITE, EXECUTE
from lwm2m.objects.security import Security
from lwm2m.objects.server import Server
from lwm2m.objects.oscore import Oscore
from lwm2m.objects.switch import OnOffSwitch
from host_tests.support.lwnode import Device, Thing, make_node
from host_tests.support.acserver import AuthServer

SRV = ("srv", 5683)
HOST = ("switch", 5683)
REQ = ("light", 5683)
HOST_EP = "switch-1"
REQ_EP = "light-1"
STATE = (3342, 0, 5500)


class Toggle:
    """A switch driver stand-in (lib/drivers/button.py interface)."""

    def __init__(self):
        self.state = False
        self.counter = 0

    def on_time(self, now_ms):
        return 0

    def off_time(self, now_ms):
        return 0

    def reset_on_time(self, now_ms):
        pass

    def reset_off_time(self, now_ms):
        pass


class World:
    def __init__(self, seed=1, loss=0.0, lifetime=0, policy=None, host_nosec=False,
                 server_lifetime=600):
        self.radio = radio = Radio(seed=seed)
        radio.link("switch", "srv", delay_ms=20, loss=loss)
        radio.link("light", "srv", delay_ms=20, loss=loss)
        radio.link("light", "switch", delay_ms=5, loss=loss)
        self.srv = AuthServer(radio, SRV, lifetime=lifetime)
        self.srv.policy[(REQ_EP, HOST_EP)] = policy if policy is not None else {
            (3342, 0): READ, (9999, 0): READ | WRITE | EXECUTE}
        self.stores = {HOST: MemoryStore(), REQ: MemoryStore()}
        self.host_nosec = host_nosec
        self.config = {HOST: self.srv.account(HOST_EP, server_lifetime),
                       REQ: self.srv.account(REQ_EP, server_lifetime)}
        self.logs = []
        self.boots = 0
        self.host = self.req = None
        self.start(HOST)
        self.start(REQ)
        self.registered()

    def start(self, addr, seed=None):
        """(Re)start the engine at `addr` from its store."""
        config = self.config.pop(addr, None) or [Security(), Server(), Oscore()]
        if addr == HOST:
            self.switch = OnOffSwitch(Toggle())
            self.thing = Thing()
            self.thing.create(0, {0: "lamp", 1: 5})
            objs = config + [Device(), self.switch, self.thing]
            ep, nosec = HOST_EP, self.host_nosec
        else:
            objs = config + [Device()]
            ep, nosec = REQ_EP, False
        node = make_node(self.radio, objs, addr=addr, name=ep, store=self.stores[addr],
                         seed=seed or (3 if addr == HOST else 5),
                         log=lambda t, a=addr: self.logs.append((a, t)))
        C2C(node, allow_nosec=nosec)
        if addr == HOST:
            self.host = node
        else:
            self.req = node
        return node

    def reboot(self, addr, seed=None):
        """Restart an engine from its store (a new random seed: a real
        reboot does not repeat its message IDs and tokens)."""
        self.radio.detach(addr)
        self.boots += 1
        return self.start(addr, seed or 100 + self.boots)

    def registered(self, limit_ms=300000):
        ok = self.radio.run_while(
            lambda: not (self.host.status().get(1) == "registered"
                         and self.req.status().get(1) == "registered"), limit_ms)
        assert ok, (self.host.status(), self.req.status())

    # -- the requester's API ---------------------------------------------------------
    def ask(self, method, path, limit_ms=400000, until=None, **kw):
        """One peer request from light-1 to switch-1; runs the radio until
        its first callback (or `until()`); returns (callbacks, operation)."""
        got = []
        op = self.req.peer_request(HOST_EP, method, path,
                                   lambda r, e: got.append((r, e)), **kw)
        self.radio.wake(REQ)
        self.radio.run_while(lambda: not (until() if until else got), limit_ms)
        return got, op

    def toggle(self, settle_ms=1000):
        d = self.switch._drivers[0]
        d.state = not d.state
        d.counter += 1
        self.switch.poll(self.radio.now_ms)
        self.radio.wake(HOST)
        self.radio.run_for(settle_ms)

    # -- inspection ---------------------------------------------------------------------
    def peers_of(self, node):
        return sorted(node.c2c.peers.accounts())

    def frames(self, src, dst):
        return [(f.t_ms, decode(f.data), f.data) for f in self.radio.log
                if f.src == src and f.dst == dst and f.hop == 0]

    def direct(self, since=0):
        """Requests the requester sent the host after `since` ms: (msg, raw)."""
        return [(m, raw) for t, m, raw in self.frames(REQ, HOST)
                if t >= since and m.code and m.code < 32]

    def instances(self, node, oid):
        return sorted(node.model.get(oid).instances)


def protected(msg):
    return msg.has(OSCORE) and not msg.has(URI_PATH)
