"""A tiny scripted LwM2M client for the tools/server tests (CPython).

Not an LwM2M engine: a coap Endpoint + Client + Site on the fake radio that
sends exactly the Register / Update / De-register / Send requests a test asks
for, records every request the server sends it (method, path, query,
Content-Format, Accept, Observe, payload bytes) and answers them with canned
responses, so a test can check the exact request and how the server decodes
the answer.
"""
from coap.endpoint import Endpoint
from coap.client import Client
from coap.server import Site, reply
from coap.message import Message
from coap.numbers import (CON, GET, POST, DELETE, CONTENT, CHANGED, CREATED,
                          DELETED, URI_QUERY, CONTENT_FORMAT, LINK_FORMAT,
                          LOCATION_PATH)
from tools.sim.radio import Radio, Rng

SERVER = ("server", 5683)


def seeded_rand(seed):
    rng = Rng(seed)

    def rand(n):
        return bytes(rng.next() & 0xFF for _ in range(n))
    return rand


class Seen:
    """One request the stand-in received."""

    def __init__(self, msg):
        self.code = msg.code
        self.mtype = msg.mtype
        self.path = "/" + "/".join(msg.path())
        self.query = msg.query()
        self.content_format = msg.content_format
        self.accept = msg.accept
        self.observe = msg.observe
        self.payload = bytes(msg.payload)
        self.token = bytes(msg.token)
        self.options = [(n, bytes(v)) for n, v in msg.options]
        self.secure = getattr(msg, "security", None) is not None   # came through OSCORE

    def __repr__(self):
        return "<Seen %d %s q=%s cf=%s acc=%s obs=%s %r>" % (
            self.code, self.path, self.query, self.content_format, self.accept,
            self.observe, self.payload)


class Canned:
    """A resource answering with fixed (code, payload, content format) per
    method; `observable` so GET with Observe=0 registers."""
    observable = True

    def __init__(self, get=None, put=None, post=None, delete=None):
        self.answers = {"get": get, "put": put, "post": post, "delete": delete}

    def _answer(self, method, default_code):
        ans = self.answers[method]
        if ans is None:
            return reply(default_code)
        if callable(ans):
            ans = ans()
        code, payload, cf = (tuple(ans) + (b"", None))[:3]
        msg = reply(code, payload, cf)
        return msg

    def get(self, request):
        return self._answer("get", CONTENT)

    def put(self, request):
        return self._answer("put", CHANGED)

    def post(self, request):
        return self._answer("post", CHANGED)

    def delete(self, request):
        return self._answer("delete", DELETED)


class StandIn:
    """`radio`: the fake radio; `addr`: this client's address; `seed` for
    tokens and MIDs. Attributes: `seen` (requests from the server),
    `responses` (answers to our own requests, (response, error) pairs)."""

    def __init__(self, radio, addr=("node1", 5683), seed=11, server=SERVER, oscore=None):
        """`oscore`: an oscore SecurityContext shared with the server; then
        our requests are protected with it and the server's requests must be."""
        self.radio = radio
        self.oscore = oscore
        self.addr = addr
        self.server = server
        self.endpoint = Endpoint(None, rand=seeded_rand(seed))
        self.client = Client(self.endpoint)
        self.site = Site(self.endpoint)
        self.seen = []
        self.responses = []
        self.location = None
        inner = self.site.handle

        def handler(request, peer, now_ms):
            self.seen.append(Seen(request))
            return inner(request, peer, now_ms)
        self.endpoint.handler = handler
        if oscore is not None:
            from oscore.secure import SecureHandler
            self.endpoint.handler = SecureHandler(handler, [oscore], seeded_rand(seed + 1)).handle
        self.endpoint.transport = radio.attach(addr, self)

    # engine interface for the radio
    def receive(self, datagram, peer, now_ms):
        self.endpoint.receive(datagram, peer, now_ms)

    def step(self, now_ms):
        return self.endpoint.step(now_ms)

    def add(self, path, resource):
        self.site.add(path, resource)
        return resource

    def changed(self, path):
        self.site.changed(path, self.radio.now_ms)
        self.radio.wake(self.addr)

    # -- requests of our own -------------------------------------------------------
    def request(self, code, path, query=(), payload=b"", content_format=None, secure=True):
        """Send a CON request to the server (protected when we have an OSCORE
        context and `secure`); run the radio until it is answered; return the
        response (None on timeout)."""
        msg = Message(CON, code, payload=payload)
        msg.set_path(path)
        for q in query:
            msg.add(URI_QUERY, q)
        if content_format is not None:
            msg.add(CONTENT_FORMAT, content_format)
        box = []

        def done(response, error):
            box.append((response, error))
            self.responses.append((response, error))
        protection = None
        if self.oscore is not None and secure:
            from oscore.secure import Protection
            protection = Protection(self.oscore)
        self.client.request(self.server, msg, done, self.radio.now_ms, security=protection)
        self.radio.wake(self.addr)
        self.radio.run_while(lambda: not box, 300000)
        return box[0][0] if box else None

    def register(self, ep="node1", lt=60, payload=b"</>;ct=\"60 110 112 11542\",</1/0>,</3/0>,</3303/0>",
                 extra=("lwm2m=1.1", "b=U"), query=None, content_format=LINK_FORMAT):
        if query is None:
            query = ["ep=%s" % ep] + (["lt=%d" % lt] if lt is not None else []) + list(extra)
        response = self.request(POST, "/rd", query, payload, content_format)
        if response is not None and response.code == CREATED:
            self.location = "/" + "/".join(response.location_path())
        return response

    def update(self, query=(), payload=b"", location=None, content_format=None, secure=True):
        if payload and content_format is None:
            content_format = LINK_FORMAT
        return self.request(POST, location or self.location, query, payload, content_format,
                            secure)

    def deregister(self, location=None, secure=True):
        return self.request(DELETE, location or self.location, secure=secure)

    def send(self, payload, content_format, secure=True):
        return self.request(POST, "/dp", (), payload, content_format, secure)


def network(seed=1, delay_ms=5, nodes=("node1",), **link):
    """A radio with the reference server at SERVER and one StandIn per name
    in `nodes` (address (name, 5683)), each linked to the server. Returns
    (radio, server, [stand-ins]) -- the server driven by a RadioDriver."""
    import tools.server  # noqa: F401
    from tools.server.server import Server
    from tools.server.driver import RadioDriver
    radio = Radio(seed=seed)
    server = Server(None, rand=seeded_rand(seed + 1000))
    server.endpoint.transport = radio.attach(SERVER, server)
    RadioDriver(server, radio, SERVER)
    out = []
    for i, name in enumerate(nodes):
        radio.link(name, SERVER[0], delay_ms=delay_ms, **link)
        out.append(StandIn(radio, (name, 5683), seed=seed + 10 * (i + 1)))
    return radio, server, out


__all__ = ["network", "StandIn", "Canned", "Seen", "SERVER", "seeded_rand", "CONTENT", "CHANGED",
           "CREATED", "DELETED", "LOCATION_PATH", "GET"]
