"""Peers on the host side of the C2C extension (docs c2c-extension.md,
"Requests between clients"): peer accounts, who is calling, what a peer may
do, and the 4.01 answer with the server hint.

Accounts. A peer account is a Client Security (11000) instance plus the
Client (11001) instance with the same Short Client ID, as Security (0) and
Server (1) are joined by Short Server ID; `peer_accounts(model)` gives
{scid: PeerAccount}.

Who is calling (`Peers.resolve`, appended to the engine's caller resolvers
after the server ones, so a server's context is never taken for a peer):
1. OSCORE: the request verified with the context of the OSCORE (21)
   instance that an account's 11000 resource 17 links -- i.e. kid -> the 21
   instance whose Recipient ID equals it -> the 11000 instance linking it ->
   Short Client ID. The context object itself is compared, so a context
   left from a deleted account identifies nobody.
2. (DTLS PSK: no DTLS in this client.)
3. NoSec, **ours**: only when the node allows insecure C2C (off by
   default): source address == the resolved 11000 resource 0 of an account
   without OSCORE link, and an `ep=` query, when present, == 11001 resource
   9 (the query item is then removed before the DM sees the request).

What a peer may do (`PeerAccess.allowed`, the doc's mapping as the engine
and lwm2m.dm ask it): GET (Read, Observe, Discover) and Write-Attributes
-> R; PUT and POST on an instance -> W; POST on a resource -> E; DELETE ->
D; POST on an object -> C. The bits come from the 11002 instance for
(object, instance), or (object, 65535) for object-level requests and
Create: ACL[short id], else ACL[0], else nothing; no instance = nothing.
The Access Control Owner grants nothing (**ours**: no reference shortcut).
Never, whatever an ACL says: the configuration objects 0, 1, 2, 21 and
11000-11002 (a peer can never widen its own rights or read keys); nor a
peer whose account is Disabled or expired.

The answer to a denied or unknown caller (`Peers.unauthorized`, the
engine's `unauthorized` hook): 4.01, Content-Format 60, CBOR `{1: URI}`
where URI is Security resource 0 of the server owning (object 2 resource 3)
the requested instance, else of the first server. The endpoint piggybacks
it on the ACK of a CON request, sends a NON for a NON, echoes the token;
an OSCORE request gets it protected.
"""
from micropython import const
from coap.numbers import UNAUTHORIZED, CBOR, URI_QUERY
from coap.server import reply
from lwm2m.model import Error, parse_path
from lwm2m.dm import READ, CREATE
from lwm2m.accounts import parse_uri
from lwm2m.objects import client_security as cs
from lwm2m.objects import client as cl
from lwm2m.objects.access_control import OWNER
import cbor

_NO_INSTANCE = const(65535)
_DISCOVER = const(0)              # lwm2m.access.DISCOVER: covered by R here
CONFIG = (0, 1, 2, 21, 11000, 11001, 11002)
HINT_URI = const(1)               # key of the hint map


class PeerAccount:
    """One peer: Short Client ID, its 11000 and 11001 instances, URI,
    linked OSCORE instance, Security Mode and endpoint name."""

    def __init__(self, scid, sec_iid, cli_iid, uri, oscore_iid, mode, endpoint):
        self.scid = scid
        self.sec_iid = sec_iid
        self.cli_iid = cli_iid
        self.uri = uri
        self.oscore_iid = oscore_iid
        self.mode = mode
        self.endpoint = endpoint
        self.peer = None

    def key(self):
        return (self.sec_iid, self.cli_iid, self.oscore_iid, self.uri)

    def nosec(self):
        return self.mode == cs.NOSEC and self.oscore_iid is None

    def oscore(self):
        return self.mode == cs.NOSEC and self.oscore_iid is not None

    def resolve(self, resolve):
        """The peer's transport address from resource 0 (cached); raises
        OSError/ValueError when there is none."""
        if self.peer is None:
            _, host, port = parse_uri(self.uri)
            self.peer = resolve(host, port)
        return self.peer


def peer_accounts(model):
    """{scid: PeerAccount} of the complete peer accounts."""
    out = {}
    s, c = model.find(11000), model.find(11001)
    if s is None or c is None:
        return out
    for iid in s.iids():
        scid = s.get(iid, cs.SCID)
        cli = c.find(scid) if scid is not None else None
        if cli is None or scid in out:
            continue
        out[scid] = PeerAccount(scid, iid, cli, s.get(iid, cs.URI) or "",
                                s.oscore_iid(iid), s.get(iid, cs.MODE, cs.NOSEC),
                                c.get(cli, cl.ENDPOINT) or "")
    return out


def key_of(scid):
    """The Reporter/Attributes key of peer `scid` (JSON-able, never an int
    so that it cannot be taken for a Short Server ID)."""
    return "c%d" % scid


class PeerCaller:
    """A peer as a DM caller (lwm2m.dm, lwm2m.observe)."""
    bootstrap = False
    peer = True                    # the engine adds the server hint to its 4.01

    def __init__(self, peers, acc):
        self.peers = peers
        self.scid = acc.scid
        self.key = key_of(acc.scid)
        self.account = (11001, acc.cli_iid)

    def allowed(self, op, oid, iid):
        return self.peers.allowed(self.scid, op, oid, iid)

    def __repr__(self):
        return "<PeerCaller %d>" % self.scid


class Peers:
    """Peer accounts, caller resolution, access rules and the hint of one
    engine (lwm2m.c2c builds it and keeps `inactive` up to date: Short
    Client IDs refused for now -- Disabled or expired)."""

    def __init__(self, engine, allow_nosec=False):
        self.engine = engine
        self.model = engine.model
        self.allow_nosec = allow_nosec
        self.inactive = set()
        self.stamp = {}             # scid -> order in which accounts (re)appeared
        self._accounts = None

    def accounts(self):
        if self._accounts is None:
            self._accounts = peer_accounts(self.model)
        return self._accounts

    def changed(self):
        self._accounts = None

    def by_endpoint(self, endpoint):
        """The account of the peer named `endpoint`: one with an OSCORE link
        first, then the one provisioned last."""
        best = None
        for acc in self.accounts().values():
            if acc.endpoint == endpoint and (best is None or self._rank(acc) > self._rank(best)):
                best = acc
        return best

    def _rank(self, acc):
        return (acc.oscore(), self.stamp.get(acc.scid, 0), acc.sec_iid)

    # -- access --------------------------------------------------------------------
    def allowed(self, scid, op, oid, iid):
        if oid in CONFIG or scid in self.inactive or scid not in self.accounts():
            return False
        aco = self.model.find(11002)
        if aco is None:
            return False
        bit = READ if op == _DISCOVER else op
        target = _NO_INSTANCE if iid is None or op == CREATE else iid
        return bool(aco.rights(scid, oid, target) & bit)

    # -- who is calling ---------------------------------------------------------------
    def resolve(self, request, peer, security):
        if security is not None:
            contexts = self.engine.callers.contexts
            for acc in self.accounts().values():
                if acc.oscore() and contexts.get(acc.oscore_iid) is security.ctx:
                    return PeerCaller(self, acc)
            return None
        if not self.allow_nosec:
            return None
        ep = None
        for q in request.query():
            if q.startswith("ep="):
                ep = q[3:]
        for acc in self.accounts().values():
            if not acc.nosec() or (ep is not None and ep != acc.endpoint):
                continue
            try:
                if acc.resolve(self.engine.resolve) != peer:
                    continue
            except (OSError, ValueError):
                continue
            if ep is not None:
                request.options = [o for o in request.options
                                   if o[0] != URI_QUERY or not bytes(o[1]).startswith(b"ep=")]
            return PeerCaller(self, acc)
        return None

    # -- the 4.01 with the hint -----------------------------------------------------------
    def hint_uri(self, oid, iid):
        """Security resource 0 of the server owning (oid, iid), else of the
        first server account; None without any."""
        accs = self.engine.accounts()
        aco = self.model.find(2)
        if aco is not None and oid is not None:
            aci = aco.find(oid, _NO_INSTANCE if iid is None else iid)
            acc = accs.get(aco.get(aci, OWNER)) if aci is not None else None
            if acc is not None and acc.uri:
                return acc.uri
        first = None
        for acc in accs.values():
            if acc.uri and (first is None or acc.sec_iid < first.sec_iid):
                first = acc
        return None if first is None else first.uri

    def unauthorized(self, request, caller):
        """The engine's answer to an unknown caller or a peer's denied request."""
        oid = iid = None
        try:
            path = parse_path(request.path())
            oid = path[0]
            iid = path[1] if len(path) > 1 else None
        except Error:
            pass
        uri = self.hint_uri(oid, iid)
        if uri is None:
            return reply(UNAUTHORIZED)
        return reply(UNAUTHORIZED, cbor.dumps({HINT_URI: uri}), CBOR)


def parse_hint(response):
    """The server URI of a 4.01 hint, or None (no CBOR map {1: text})."""
    if response is None or response.content_format != CBOR:
        return None
    try:
        value = cbor.loads(bytes(response.payload))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    uri = value.get(HINT_URI)
    return uri if isinstance(uri, str) and uri else None
