"""A minimal scripted LwM2M server (and Bootstrap-Server) for the engine
tests, built from our own CoAP Endpoint and Client; runs on the fake radio
under both interpreters. The full reference server is tools/server/ (CPython).

    radio = Radio(seed=1); radio.link("node", "srv", delay_ms=5)
    srv = LwServer(radio, ("srv", 5683))
    ... node registers ...
    r = srv.call(GET, "/3/0/0")               # runs the radio until answered
    assert r.code == CONTENT

`events` records every registration-interface request as
(kind, t_ms, query dict, payload text, peer) with kind "register",
"update", "deregister" or "bootstrap-request". `forget()` drops the
directory so the next Update gets 4.04.
"""
from coap.endpoint import Endpoint
from coap.client import Client
from coap.message import Message
from coap.numbers import (CON, POST, DELETE, CREATED, CHANGED, DELETED, NOT_FOUND,
                          BAD_REQUEST, METHOD_NOT_ALLOWED, CONTENT_FORMAT, ACCEPT,
                          URI_QUERY, LOCATION_PATH)
from tools.sim.radio import Rng


def rng_bytes(seed):
    """Deterministic stand-in for os.urandom, so runs repeat exactly."""
    rng = Rng(seed)

    def rand(n):
        return bytes([rng.next() & 0xFF for _ in range(n)])
    return rand


def queries(msg):
    out = {}
    for q in msg.query():
        k, _, v = q.partition("=")
        out[k] = v
    return out


class LwServer:
    def __init__(self, radio, addr, seed=99):
        self.radio = radio
        self.addr = addr
        self.endpoint = Endpoint(None, self.handle, rand=rng_bytes(seed), dedup_size=256)
        self.endpoint.transport = radio.attach(addr, self.endpoint)
        self.client = Client(self.endpoint)
        self.clients = {}           # location id -> {"ep", "lt", "b", "links", "peer"}
        self.events = []
        self.next_id = 1
        self.refuse_register = None  # a response code to answer Register with
        self.security = None         # oscore.secure.Protection for our requests

    # -- registration interface --------------------------------------------------
    def handle(self, request, peer, now_ms):
        path = request.path()
        q = queries(request)
        text = bytes(request.payload).decode()
        if request.code == POST and path == ["rd"]:
            self.events.append(("register", now_ms, q, text, peer))
            if self.refuse_register is not None:
                return Message(code=self.refuse_register)
            loc = "r%d" % self.next_id
            self.next_id += 1
            self.clients[loc] = {"ep": q.get("ep"), "lt": int(q.get("lt", "86400")),
                                 "b": q.get("b"), "links": text, "peer": peer,
                                 "at": now_ms}
            msg = Message(code=CREATED)
            msg.add(LOCATION_PATH, "rd")
            msg.add(LOCATION_PATH, loc)
            return msg
        if request.code == POST and len(path) == 2 and path[0] == "rd":
            self.events.append(("update", now_ms, q, text, peer))
            c = self.clients.get(path[1])
            if c is None:
                return Message(code=NOT_FOUND)
            if "lt" in q:
                c["lt"] = int(q["lt"])
            if "b" in q:
                c["b"] = q["b"]
            if request.payload:
                c["links"] = text
            c["peer"] = peer
            c["at"] = now_ms
            return Message(code=CHANGED)
        if request.code == DELETE and len(path) == 2 and path[0] == "rd":
            self.events.append(("deregister", now_ms, q, text, peer))
            if self.clients.pop(path[1], None) is None:
                return Message(code=NOT_FOUND)
            return Message(code=DELETED)
        if request.code == POST and path == ["bs"]:
            self.events.append(("bootstrap-request", now_ms, q, text, peer))
            return Message(code=CHANGED)
        return Message(code=BAD_REQUEST if request.code == POST else METHOD_NOT_ALLOWED)

    def kinds(self):
        return [e[0] for e in self.events]

    def forget(self):
        self.clients = {}

    def peer(self, ep=None):
        """The address the client `ep` (or the only one) registered from."""
        for c in self.clients.values():
            if ep is None or c["ep"] == ep:
                return c["peer"]
        raise KeyError("client not registered")

    # -- requests to the client --------------------------------------------------
    def send(self, code, path, payload=b"", cf=None, accept=None, query=(),
             observe=None, peer=None, callback=None):
        msg = Message(CON, code).set_path(path)
        for q in query:
            msg.add(URI_QUERY, q)
        if cf is not None:
            msg.add(CONTENT_FORMAT, cf)
        if accept is not None:
            msg.add(ACCEPT, accept)
        msg.payload = payload
        target = peer if peer is not None else self.peer()
        results = []

        def done(response, error):
            results.append((response, error))
            if callback is not None:
                callback(response, error)
        if self.security is not None:
            self.client.request(target, msg, done, self.radio.now_ms,
                                observe=observe is not None, security=self.security)
        else:
            self.client.request(target, msg, done, self.radio.now_ms,
                                observe=observe is not None)
        self.radio.wake(self.addr)
        return results

    def call(self, code, path, payload=b"", cf=None, accept=None, query=(),
             peer=None, limit_ms=300000):
        """Send a request and run the radio until its response; returns the
        response (None on timeout)."""
        results = self.send(code, path, payload, cf, accept, query, None, peer)
        self.radio.run_while(lambda: not results, limit_ms)
        assert results, "no answer within %d ms" % limit_ms
        return results[0][0]
