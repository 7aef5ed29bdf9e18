"""A tiny scripted LwM2M client for the tools/server tests (CPython).

Not an LwM2M engine: a coap Endpoint + Client + Site on the fake radio that
sends exactly the Register / Update / De-register / Send requests a test asks
for, records every request the server sends it (method, path, query,
Content-Format, Accept, Observe, payload bytes) and answers them with canned
responses, so a test can check the exact request and how the server decodes
the answer. With a `DataModel` it also keeps the instances of a few objects
(the C2C ones: 1, 21, 11000-11002) the way our engine (lib/lwm2m/dm.py) does
and records every Create / Write / Delete / Read of them.
"""
from coap.endpoint import Endpoint
from coap.client import Client
from coap.server import Site, reply
from coap.message import Message
from coap.numbers import (CON, GET, PUT, POST, DELETE, CONTENT, CHANGED, CREATED,
                          DELETED, URI_QUERY, CONTENT_FORMAT, LINK_FORMAT,
                          LOCATION_PATH, BAD_REQUEST, NOT_FOUND, UNAUTHORIZED,
                          METHOD_NOT_ALLOWED, UNSUPPORTED_CONTENT_FORMAT, LWM2M_TLV,
                          TEXT_PLAIN)
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


class Temperature:
    """An observable text/plain resource; tests change `value` and notify."""
    observable = True

    def __init__(self):
        self.value = b"20"

    def get(self, request):
        return reply(CONTENT, self.value, TEXT_PLAIN)


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


# Resources the published object definitions make mandatory (../shared/
# lwm2m-objects): a Create without one of them is refused with 4.00.
MANDATORY = {11000: (0, 2, 3, 4, 5, 10), 11001: (0, 1, 6, 7, 9), 11002: (0, 1, 3),
             21: (0, 1, 2)}


class ModelOp:
    """One operation a DataModel carried out (or refused)."""

    def __init__(self, kind, path, values, secure, code):
        self.kind = kind            # "create", "write", "update", "delete", "read"
        self.path = path            # (oid, iid) of the instance, (oid, iid, rid...) for a write
        self.values = values        # {rid: value or {riid: value}} of a create / write
        self.secure = secure        # came through OSCORE
        self.code = code            # the answer

    def __repr__(self):
        return "<ModelOp %s %s %d.%02d>" % (self.kind, self.path, self.code >> 5, self.code & 31)


class DataModel:
    """Instances {oid: {iid: {rid: value or {riid: value}}}} of the objects
    in `oids`, served like our engine serves them: Create on /O (2.01 and
    Location-Path; TLV without an instance ID gets the lowest free one; an
    existing instance or a missing mandatory resource: 4.00), Write (PUT
    replaces an instance, a resource, a resource instance; POST on an
    instance updates it), Delete (2.02; 4.04 when absent), Read in TLV
    (object 21 never: 4.01; 11000/5 is left out). `ops` records each of
    them; `fail[(kind, oid)] = code` answers the next such operation with
    `code` instead (once); `fail_always` likewise, every time;
    `mute[(kind, oid)] = n` carries out the next n such operations but
    sends no answer (an empty ACK only: the answer is lost)."""

    def __init__(self, oids=(1, 21, 11000, 11001, 11002), type_of=None, name=None,
                 journal=None):
        """`journal`: a list shared by several models; (name, ModelOp) is
        appended to it for each operation, so a test sees their order."""
        self.oids = tuple(oids)
        self.objects = dict((oid, {}) for oid in self.oids)
        self.ops = []
        self.name = name
        self.journal = journal
        self.fail = {}
        self.fail_always = {}
        self.mute = {}
        if type_of is None:
            from tools.server.objects import ObjectTable
            type_of = ObjectTable.load().type_of
        self.type_of = type_of

    def owns(self, request):
        path = request.path()
        return bool(path) and path[0].isdigit() and int(path[0]) in self.oids

    def instances(self, oid):
        return self.objects[oid]

    def done(self, kind=None, oid=None):
        """The successful operations (of one kind, on one object)."""
        return [op for op in self.ops if op.code >> 5 == 2
                and (kind is None or op.kind == kind) and (oid is None or op.path[0] == oid)]

    def handle(self, request):
        try:
            path = tuple(int(p) for p in request.path())
        except ValueError:
            return reply(NOT_FOUND)
        secure = getattr(request, "security", None) is not None
        kind = {GET: "read", PUT: "write", DELETE: "delete"}.get(request.code)
        if request.code == POST:
            kind = "create" if len(path) == 1 else "update" if len(path) == 2 else "execute"
        values = None
        code = None
        for table, once in ((self.fail, True), (self.fail_always, False)):
            if (kind, path[0]) in table:
                code = table.pop((kind, path[0])) if once else table[(kind, path[0])]
                break
        where = path
        if code is None:
            try:
                response, values, where = self._serve(kind, path, request)
            except _Refused as e:
                response = reply(e.code)
            code = response.code
        else:
            response = reply(code)
        op = ModelOp(kind, where, values, secure, code)
        self.ops.append(op)
        if self.journal is not None:
            self.journal.append((self.name, op))
        if self.mute.get((kind, path[0])):
            self.mute[(kind, path[0])] -= 1
            return None
        return response

    def _records(self, request, base, new_iid=None):
        from lwm2m.formats import tlv, senml_cbor, senml_json, lwm2m_cbor, text, opaque
        from coap.numbers import SENML_CBOR, SENML_JSON, LWM2M_CBOR, TEXT_PLAIN, OCTET_STREAM
        codecs = {LWM2M_TLV: tlv, SENML_CBOR: senml_cbor, SENML_JSON: senml_json,
                  LWM2M_CBOR: lwm2m_cbor, TEXT_PLAIN: text, OCTET_STREAM: opaque}
        cf = request.content_format
        if cf is None:
            raise _Refused(BAD_REQUEST)
        if cf not in codecs:
            raise _Refused(UNSUPPORTED_CONTENT_FORMAT)
        payload = bytes(request.payload)
        try:
            if cf == LWM2M_TLV and new_iid is not None:
                return tlv.decode(payload, base, self.type_of, new_iid)
            return codecs[cf].decode(payload, base, self.type_of)
        except (KeyError, ValueError):
            raise _Refused(BAD_REQUEST)

    @staticmethod
    def _values(records, oid, iid):
        out = {}
        for p, v in ((r[0], r[1]) for r in records):
            if p[0] != oid or len(p) < 3 or p[1] != iid:
                raise _Refused(BAD_REQUEST)
            if len(p) == 4:
                out.setdefault(p[2], {})[p[3]] = v
            else:
                out[p[2]] = v
        return out

    def _serve(self, kind, path, request):
        insts = self.objects[path[0]]
        if kind == "create":
            free = 0
            while free in insts:
                free += 1
            records = self._records(request, path, free)
            iids = set(r[0][1] for r in records)
            if len(iids) > 1:
                raise _Refused(BAD_REQUEST)         # one instance per Create
            iid = iids.pop() if iids else free
            if iid in insts:
                raise _Refused(BAD_REQUEST)         # instance exists
            values = self._values(records, path[0], iid)
            missing = [rid for rid in MANDATORY.get(path[0], ()) if rid not in values]
            if missing:
                raise _Refused(BAD_REQUEST)
            insts[iid] = values
            msg = reply(CREATED)
            msg.add(LOCATION_PATH, str(path[0]))
            msg.add(LOCATION_PATH, str(iid))
            return msg, values, (path[0], iid)
        if len(path) >= 2 and path[1] not in insts:
            raise _Refused(NOT_FOUND)
        if kind == "delete":
            if len(path) != 2:
                raise _Refused(METHOD_NOT_ALLOWED)
            del insts[path[1]]
            return reply(DELETED), None, path
        if kind == "read":
            return self._read(path), None, path
        if kind in ("write", "update"):
            if len(path) < 2:
                raise _Refused(METHOD_NOT_ALLOWED)
            values = self._values(self._records(request, path), path[0], path[1])
            inst = insts[path[1]]
            if kind == "write" and len(path) == 2:
                inst.clear()
            for rid, v in values.items():
                if isinstance(v, dict) and len(path) == 4:
                    inst.setdefault(rid, {}).update(v)
                else:
                    inst[rid] = v
            return reply(CHANGED), values, path
        raise _Refused(METHOD_NOT_ALLOWED)

    def _read(self, path):
        from lwm2m.formats import tlv
        if path[0] == 21:
            raise _Refused(UNAUTHORIZED)
        records = []
        for iid, inst in sorted(self.objects[path[0]].items()):
            if len(path) >= 2 and iid != path[1]:
                continue
            for rid, v in sorted(inst.items()):
                if (path[0], rid) == (11000, 5) or (len(path) >= 3 and rid != path[2]):
                    continue
                if isinstance(v, dict):
                    records.extend(((path[0], iid, rid, riid), x) for riid, x in sorted(v.items()))
                else:
                    records.append(((path[0], iid, rid), v))
        return reply(CONTENT, bytes(tlv.encode(records, path, self.type_of)), LWM2M_TLV)


class _Refused(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class StandIn:
    """`radio`: the fake radio; `addr`: this client's address; `seed` for
    tokens and MIDs. Attributes: `seen` (requests from the server),
    `responses` (answers to our own requests, (response, error) pairs)."""

    def __init__(self, radio, addr=("node1", 5683), seed=11, server=SERVER, oscore=None,
                 model=None):
        """`oscore`: an oscore SecurityContext shared with the server; then
        our requests are protected with it and the server's requests must be.
        `model`: a DataModel serving the objects it owns."""
        self.radio = radio
        self.oscore = oscore
        self.model = model
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
            if self.model is not None and self.model.owns(request):
                return self.model.handle(request)
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
           "CREATED", "DELETED", "LOCATION_PATH", "GET", "DataModel", "ModelOp"]
