"""The registration directory: who is registered, until when, with what.

Owns: `Registration` (one client's registration: endpoint name, lifetime,
LwM2M version, binding, queue mode, SMS number, its objects and content
formats, the peer address, and the `security` slot that binds it to a
security context), `Registry` (the table, keyed by registration ID and by
endpoint name, with lifetime expiry), and the validation of the Uri-Query
parameters of Register and Update (OMA-TS-LightweightM2M_Core V1.1 §6.2.1,
§6.2.2; the CoAP mapping is in _Transport V1.1 §6.2).

No CoAP and no clock here: the caller passes `now_ms` and turns `ParamError`
into a response code. `security` is opaque to this module; it is never
printed or logged (it may hold keys).
"""
import os

from coap.numbers import BAD_REQUEST, PRECONDITION_FAILED

DEFAULT_LIFETIME_S = 86400          # Core V1.1 §6.2.1: lt absent -> 86400 s
SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")
_BINDINGS = "UTSNMH"                # Core V1.1 §5.3.1.1 binding letters (+ Q for 1.0)
_MAX_EP = 255


class ParamError(ValueError):
    """A Register/Update parameter is missing or malformed; `code` is the
    CoAP response code to answer with."""

    def __init__(self, reason, code=BAD_REQUEST):
        super().__init__(reason)
        self.code = code


def parse_query(items, allowed):
    """{name: value or None} from Uri-Query items ("lt=60", "Q"). ParamError
    for an unknown or repeated parameter: Core V1.1 §6.2.1/§6.2.2 answer
    4.00 when "an unknown parameter is specified"."""
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if name not in allowed:
            raise ParamError("unknown parameter %r" % name)
        if name in out:
            raise ParamError("parameter %r repeated" % name)
        out[name] = value if eq else None
    return out


def check_lifetime(value):
    if value is None or not value.isdigit() or len(value) > 10:
        raise ParamError("lt must be a number of seconds")
    return int(value)


def check_binding(value):
    """Binding letters (b=U, UQ, ...). Core V1.1 moved queue mode to its own
    parameter Q; the 1.0 form 'UQ' is still accepted and read as queue mode."""
    if not value or len(set(value)) != len(value):
        raise ParamError("bad binding %r" % value)
    for c in value:
        if c not in _BINDINGS and c != "Q":
            raise ParamError("bad binding %r" % value)
    return value


def check_version(value):
    parts = value.split(".") if value else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ParamError("bad lwm2m version %r" % value)
    if value not in SUPPORTED_VERSIONS:
        # Core V1.1 §6.2.1: 4.12 when the server does not support the version
        raise ParamError("unsupported lwm2m version %s" % value, PRECONDITION_FAILED)
    return value


def peer_text(peer):
    """'host:port' ('[v6]:port') of a ("host", port) peer; str() of others."""
    if isinstance(peer, tuple) and len(peer) == 2 and isinstance(peer[1], int):
        host = str(peer[0])
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, peer[1])
    return str(peer)


class Registration:
    """One registered client. Attributes are plain; the server updates them."""

    def __init__(self, reg_id, endpoint, peer, now_ms):
        self.id = reg_id
        self.endpoint = endpoint
        self.peer = peer
        self.security = None        # e.g. an OSCORE context; None = NoSec
        self.lifetime_s = DEFAULT_LIFETIME_S
        self.version = "1.0"
        self.binding = "U"
        self.queue = False
        self.sms = None
        self.objects = None         # linkformat.RegisteredObjects
        self.registered_ms = now_ms
        self.updated_ms = now_ms
        self.observations = {}      # path tuple -> operations.Observation
        self.extra = {}             # room for extensions (grants, ...)

    @property
    def location(self):
        """Location-Path segments handed to the client: ['rd', id]."""
        return ["rd", self.id]

    @property
    def root(self):
        return self.objects.root if self.objects is not None else ""

    @property
    def formats(self):
        return self.objects.formats if self.objects is not None else []

    def expires_ms(self):
        """When the registration lapses; None for lifetime 0 (no expiry: the
        Server object's Lifetime resource, 0 = infinite)."""
        if not self.lifetime_s:
            return None
        return self.updated_ms + self.lifetime_s * 1000

    def has(self, oid, iid=None):
        return self.objects is not None and self.objects.has(oid, iid)

    def supports(self, cf):
        return cf in self.formats

    def describe(self):
        """One line for the console and the log (never the security context)."""
        line = "%s id=%s peer=%s lt=%d lwm2m=%s b=%s%s sec=%s" % (
            self.endpoint, self.id, peer_text(self.peer), self.lifetime_s, self.version, self.binding,
            " Q" if self.queue else "", "nosec" if self.security is None else "oscore")
        if self.formats:
            line += " ct=%s" % ",".join(str(c) for c in self.formats)
        if self.objects is not None:
            line += " objects=" + self.objects.link_text()
        return line

    def __repr__(self):
        return "<Registration %s id=%s>" % (self.endpoint, self.id)


class Registry:
    """Registrations by ID and by endpoint name. `max_clients` bounds the
    table (a Register beyond it gets ParamError 5.03 from `register`)."""

    def __init__(self, rand=os.urandom, max_clients=1024):
        self._rand = rand
        self.max_clients = max_clients
        self._by_id = {}
        self._by_ep = {}

    def __len__(self):
        return len(self._by_id)

    def __iter__(self):
        return iter(sorted(self._by_id.values(), key=lambda r: r.endpoint))

    def get(self, reg_id):
        return self._by_id.get(reg_id)

    def by_endpoint(self, endpoint):
        return self._by_ep.get(endpoint)

    def by_peer(self, peer):
        for reg in self._by_id.values():
            if reg.peer == peer:
                return reg
        return None

    def by_security(self, security):
        if security is None:
            return None
        for reg in self._by_id.values():
            if reg.security is security:
                return reg
        return None

    def new_id(self):
        while True:
            reg_id = self._rand(4).hex()
            if reg_id not in self._by_id:
                return reg_id

    def add(self, reg):
        """Insert `reg`; returns the registration it replaces (same endpoint
        name) or None. The replaced one is gone from the table."""
        old = self._by_ep.get(reg.endpoint)
        if old is not None:
            self.remove(old.id)
        elif len(self._by_id) >= self.max_clients:
            from coap.numbers import SERVICE_UNAVAILABLE
            raise ParamError("registration table full", SERVICE_UNAVAILABLE)
        self._by_id[reg.id] = reg
        self._by_ep[reg.endpoint] = reg
        return old

    def remove(self, reg_id):
        reg = self._by_id.pop(reg_id, None)
        if reg is not None and self._by_ep.get(reg.endpoint) is reg:
            del self._by_ep[reg.endpoint]
        return reg

    def expired(self, now_ms):
        """Registrations whose lifetime has passed (not removed here)."""
        out = []
        for reg in self._by_id.values():
            end = reg.expires_ms()
            if end is not None and now_ms >= end:
                out.append(reg)
        return out

    def next_expiry(self):
        soonest = None
        for reg in self._by_id.values():
            end = reg.expires_ms()
            if end is not None and (soonest is None or end < soonest):
                soonest = end
        return soonest
