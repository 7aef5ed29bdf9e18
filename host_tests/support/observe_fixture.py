"""A tiny LwM2M client for the observe/attributes/send tests: a hand-built
object table (a temperature-like 3303 and the Server object 1), a Reporter on
a coap Endpoint over the hand-driven Wire, and a virtual-time driver that
feeds (time, value) inputs and records the notifications."""
from host_tests.support.wire import Wire
from coap.endpoint import Endpoint
from coap.message import Message, empty
from coap.numbers import CON, GET, PUT, ACK, OBSERVE, ACCEPT, URI_QUERY
from lwm2m.model import LwObject, R, W, MULTIPLE
from lwm2m.formats import types
from lwm2m.dm import Model
from lwm2m.observe import Reporter

NODE = ("node", 5683)
SERVER = ("server", 5683)
VALUE = 5700
UNITS = 5701
MAX_MEASURED = 5601
HISTORY = 6000       # a made-up multiple Integer resource
COUNT = 6001         # a made-up Integer resource


def table(*entries):
    return b"".join(rid.to_bytes(2, "big") + flags.to_bytes(2, "big")
                    for rid, flags in sorted(entries))


class Sensor(LwObject):
    oid = 3303
    version = "1.0"
    table = table((VALUE, R | types.FLOAT), (UNITS, R | types.STRING),
                  (MAX_MEASURED, R | types.FLOAT),
                  (HISTORY, R | MULTIPLE | types.INTEGER),
                  (COUNT, R | W | types.INTEGER))


class ServerObject(LwObject):
    oid = 1
    version = "1.1"
    table = table((0, R | types.INTEGER), (1, R | W | types.INTEGER),
                  (2, R | W | types.INTEGER), (3, R | W | types.INTEGER),
                  (6, R | W | types.BOOLEAN), (23, R | W | types.BOOLEAN))


class Caller:
    bootstrap = False

    def __init__(self, key=101, account=(1, 0), deny=()):
        self.key = key
        self.account = account
        self.deny = deny

    def allowed(self, op, oid, iid):
        return (oid, iid) not in self.deny and (oid,) not in self.deny


class Store:
    def __init__(self):
        self.data = {}
        self.saves = 0

    def save(self, key, value):
        self.saves += 1
        self.data[key] = value

    def load(self, key):
        return self.data.get(key)


class Node:
    """Model + Reporter + Endpoint on a Wire; `server` is the peer address."""

    def __init__(self, value=20.0, server_res=None, store=None, **kw):
        self.wire = Wire()
        self.endpoint = Endpoint(self.wire.transport(NODE))
        self.wire.attach(NODE, self.endpoint)
        self.sensor = Sensor()
        self.sensor.instances[0] = {VALUE: value, UNITS: "Cel", MAX_MEASURED: 30.0,
                                    HISTORY: {0: 1, 1: 2}, COUNT: 0}
        self.server_obj = ServerObject()
        res = {0: 101, 1: 300}
        res.update(server_res or {})
        self.server_obj.instances[0] = res
        self.model = Model([self.sensor, self.server_obj])
        self.store = store if store is not None else Store()
        self.rep = Reporter(self.model, self.endpoint, store=self.store, **kw)
        for obj in self.model.objects.values():
            obj.on_change = self.rep.changed
        self.caller = Caller()
        self._mid = 0

    def request(self, code, path, query=(), observe=None, accept=None, token=b"t"):
        self._mid += 1
        msg = Message(CON, code, self._mid, token).set_path(path)
        if observe is not None:
            msg.add(OBSERVE, observe)
        if accept is not None:
            msg.add(ACCEPT, accept)
        for q in query:
            msg.add(URI_QUERY, q)
        return msg

    def observe(self, path, now_ms=0, accept=None, token=b"t", caller=None):
        return self.rep.observe(caller or self.caller, SERVER,
                                self.request(GET, path, observe=0, accept=accept,
                                             token=token), now_ms)

    def write_attributes(self, path, *query, caller=None):
        return self.rep.write_attributes(caller or self.caller, None,
                                         self.request(PUT, path, query))

    def discover(self, path, *query, caller=None):
        return self.rep.discover(caller or self.caller, None,
                                 self.request(GET, path, query, accept=40))

    def sent(self):
        """Messages the node put on the wire since the last call."""
        return [m for _, _, m in self.wire.take()]

    def ack(self, msg, now_ms):
        self.endpoint.receive(empty(ACK, msg.mid).to_bytes(), SERVER, now_ms)

    def run(self, inputs, end_ms, start_ms=0, silent=False, rid=VALUE):
        """Feed [(ms, value)] (set() calls, or raw writes the engine does
        not hear of with `silent`), stepping at every deadline up to end_ms.
        Returns [(ms, message)] of everything sent."""
        out = []
        inputs = sorted(inputs)
        i = 0
        t = start_ms
        deadline = self.rep.step(t)
        out += [(t, m) for m in self.sent()]
        while True:
            cands = []
            if i < len(inputs):
                cands.append(inputs[i][0])
            if deadline is not None:
                cands.append(max(deadline, t + 1))
            if not cands:
                break
            t = min(cands)
            if t > end_ms:
                break
            while i < len(inputs) and inputs[i][0] == t:
                if silent:
                    self.sensor.instances[0][rid] = inputs[i][1]
                else:
                    self.sensor.set(0, rid, inputs[i][1])
                i += 1
            deadline = self.rep.step(t)
            out += [(t, m) for m in self.sent()]
        return out
