"""The requester side of the C2C third-party authorization (docs
c2c-extension.md, "Third-party authorization", steps 1, 3 and 6).

`PeerRequest` (built by lwm2m.c2c.C2C.request) sends one DM request to a
peer named by its endpoint name and reports through `callback(response,
error)` (coap.client's convention; `error` is a one-line reason):
1. With an OSCORE account for the peer (11000 + 11001 whose Endpoint Name
   is the peer's, 11000 resource 17 linking a 21 instance) the request goes
   protected to 11000 resource 0. With a NoSec account it goes plain, with
   `ep=<our endpoint>`, only where the node allows insecure C2C. Without an
   account it goes plain to `address` (a URI) -- step 1 of the doc; without
   an address either, straight to step 3 (the server then writes the peer's
   URI into our 11000 resource 0).
2. A 4.01 carrying the CBOR hint `{1: URI}`: the URI is matched against our
   own Security instances (**ours**). None matching: reported, nothing
   sent (a forged or stale hint must not make us talk to anyone).
3. CON `POST /ac?ep=<peer>[&c]` to that server over our (OSCORE) session
   with it, Content-Format 60, payload the CBOR map {[oid, iid]: bits}
   (`wanted()`: the bits the request needs, or the application's
   `grants`); `c` when we have no credentials for the peer yet (or the
   peer no longer knows the ones we have).
6. 2.01: the request is sent again, protected with the context the server
   just provisioned -- once. (Also when the /ac exchange failed -- its 2.01
   lost -- but an account for the peer was provisioned meanwhile.) Any other answer to /ac, and a 4.01 to the
   retry (rights narrower than asked), is reported; never a loop.
A protected request the peer cannot verify any more (unprotected 4.01
"Security context not found": the host dropped our account) is sent once
plainly to obtain the hint -- that is step 1 again, which the protocol sends
in the clear anyway.

For an observation, every notification reaches `callback`; a 4.01 after
the first one (the host revoked us) ends it and is reported; `cancel()`
deregisters (GET Observe=1, protected like the registration).

The /ac request waits `AC_TIMEOUT_MS` (300 s) for its separate answer,
not the CoAP default of MAX_TRANSMIT_WAIT (93 s): the server answers only
once it provisioned both clients, a dozen CON exchanges. With tools/server
on the fake radio at 30% loss on both server links (39 seeds), 35 grants
took 6-146 s (median 25 s) and 4 roll-backs ended in 4.03 after 108-136 s:
5 of 39 answers came after 93 s, which a shorter wait would have missed.

`c2c.trace`, when set, hears of each step as `trace(op, kind, detail)`:
"send" ("oscore"/"plain"), "denied" (the hint URI or None), "ac" (the
server URI), "ac-answer" (code text or error) -- for logs and demos.
"""
from coap.numbers import (CON, GET, PUT, POST, DELETE, CREATED, UNAUTHORIZED,
                          URI_QUERY, CONTENT_FORMAT, ACCEPT, CBOR, OBSERVE,
                          code_text)
from coap.message import Message
from oscore.secure import Protection
from lwm2m.dm import READ, WRITE, EXECUTE, DELETE_OP, CREATE
from lwm2m.model import Error, parse_path
from lwm2m.accounts import parse_uri
from lwm2m.peers import parse_hint
import cbor

_STALE = "OSCORE: unprotected 4.01"
AC_TIMEOUT_MS = 300000      # wait for the separate answer to /ac (see above)


def wanted(method, path, query=(), payload=b""):
    """{(oid,) or (oid, iid): bits} a request on `path` (tuple of IDs) needs
    (the doc's mapping of operations to access bits)."""
    if method == GET:
        bit = READ
    elif method == PUT:
        bit = READ if query and not payload else WRITE
    elif method == POST:
        bit = (CREATE, WRITE, EXECUTE)[min(len(path), 3) - 1]
    elif method == DELETE:
        bit = DELETE_OP
    else:
        raise ValueError("not a DM method")
    return {tuple(path[:1] if len(path) == 1 else path[:2]): bit}


def ac_request(endpoint, grants, credentials):
    """The CON POST /ac?ep=<endpoint>[&c] with the CBOR grant map."""
    msg = Message(CON, POST).set_path("/ac")
    msg.add(URI_QUERY, "ep=" + endpoint)
    if credentials:
        msg.add(URI_QUERY, "c")
    msg.add(CONTENT_FORMAT, CBOR)
    msg.payload = cbor.dumps(dict((tuple(k), v) for k, v in grants.items()),
                             deterministic=True)
    return msg


def same_uri(a, b):
    """Two server URIs name the same server (scheme, host, port)."""
    if a == b:
        return True
    try:
        sa, ha, pa = parse_uri(a)
        sb, hb, pb = parse_uri(b)
    except ValueError:
        return False
    return sa == sb and ha.lower() == hb.lower() and pa == pb


def server_for(engine, uri=None, ssid=None):
    """Our usable server account whose URI is `uri`; else the one of
    `ssid`; else the first registered one. None when there is none."""
    accs = engine.accounts()
    if uri is not None:
        for s in sorted(accs):
            if accs[s].usable() and same_uri(accs[s].uri, uri):
                return accs[s]
        return None
    if ssid is not None:
        acc = accs.get(ssid)
        return acc if acc is not None and acc.usable() else None
    for s in sorted(accs):
        reg = engine.registrar.regs.get(s)
        if reg is not None and reg.registered and accs[s].usable():
            return accs[s]
    return None


def send_ac(engine, acc, msg, callback):
    """engine.request() for the /ac request: to server account `acc`, under
    its OSCORE context, waiting AC_TIMEOUT_MS for the separate answer."""
    peer = acc.resolve(engine.resolve)
    return engine.client.request(peer, msg, callback, engine.now_ms,
                                 security=engine.callers.protection(acc),
                                 timeout_ms=AC_TIMEOUT_MS)


def authorize(c2c, endpoint, grants, callback, ssid=None, credentials=True):
    """Send the /ac request alone (step 3); returns the coap Operation."""
    eng = c2c.engine
    acc = server_for(eng, ssid=ssid)
    if acc is None:
        callback(None, "no registered server to ask")
        return None
    try:
        return send_ac(eng, acc, ac_request(endpoint, grants, credentials), callback)
    except (OverflowError, OSError, ValueError) as e:
        callback(None, "cannot send /ac: %s" % e)
        return None


class PeerRequest:
    def __init__(self, c2c, endpoint, method, path, callback, payload=b"",
                 cf=None, accept=None, observe=False, query=(), grants=None,
                 address=None, ssid=None, authorize=True):
        self.c2c = c2c
        self.engine = c2c.engine
        self.endpoint = endpoint
        self.method = method
        self.path = path if isinstance(path, str) else "/".join(str(p) for p in path)
        try:
            ids = parse_path([p for p in self.path.split("/") if p])
        except Error:
            raise ValueError("not an LwM2M path: %r" % (path,))
        self.callback = callback
        self.payload = bytes(payload)
        self.cf = cf
        self.accept = accept
        self.observe = observe
        self.query = tuple(query)
        self.grants = grants or wanted(method, ids, self.query, self.payload)
        self.address = address
        self.ssid = ssid
        self.authorize = authorize
        self.op = None
        self.peer = None
        self.secure = False         # the last direct attempt was protected
        self.asked = False          # /ac was sent: no second time
        self._mark = 0              # newest account stamp when /ac was sent
        self.probed = False         # the plain probe after a stale context
        self.live = False           # an observation delivered a notification
        self.done = False

    def start(self):
        self._attempt()

    def cancel(self, now_ms=None):
        """Stop; an established observation is deregistered at the peer."""
        was_live = self.live and not self.done
        self.done = True
        if self.op is not None and not self.op.done:
            self.op.cancel(self.engine.now_ms if now_ms is None else now_ms,
                           deregister=was_live)

    # -- attempts -----------------------------------------------------------------
    def _attempt(self):
        peers = self.c2c.peers
        acc = peers.by_endpoint(self.endpoint)
        security = None
        extra = ()
        if acc is not None and acc.oscore():
            try:
                security = Protection(self.engine.callers.context(acc.oscore_iid))
            except (ValueError, Error) as e:
                return self._finish(None, "peer credentials unusable: %s" % e)
            peer = self._resolve(acc.uri) or self._resolve(self.address)
        elif acc is not None and acc.nosec() and peers.allow_nosec:
            peer = self._resolve(acc.uri) or self._resolve(self.address)
            extra = ("ep=" + self.engine.endpoint_name,)
        elif acc is not None:
            return self._finish(None, "peer account not usable (NoSec not allowed or PSK)")
        elif self.asked:
            return self._finish(None, "no credentials for %s after the grant" % self.endpoint)
        else:
            peer = self._resolve(self.address)
        if peer is None:
            if self.asked or not self.authorize:
                return self._finish(None, "no address for %s" % self.endpoint)
            return self._ask(server_for(self.engine, ssid=self.ssid), True)
        self._send(peer, security, extra)

    def _send(self, peer, security, extra=()):
        msg = Message(CON, self.method).set_path(self.path)
        for q in self.query + extra:
            msg.add(URI_QUERY, q)
        if self.cf is not None:
            msg.add(CONTENT_FORMAT, self.cf)
        if self.accept is not None:
            msg.add(ACCEPT, self.accept)
        msg.payload = self.payload
        self.peer = peer
        self.secure = security is not None
        self._trace("send", "oscore" if self.secure else "plain")
        try:
            self.op = self.engine.client.request(peer, msg, self._on_response,
                                                 self.engine.now_ms, observe=self.observe,
                                                 security=security)
        except OverflowError:
            self._finish(None, "too many requests in flight")

    def _resolve(self, address):
        if isinstance(address, tuple):
            return address
        if not address:
            return None
        try:
            _, host, port = parse_uri(address)
            return self.engine.resolve(host, port)
        except (OSError, ValueError):
            return None

    def _on_response(self, response, error):
        if self.done:
            return
        if response is not None and response.code == UNAUTHORIZED:
            if self.live:
                return self._finish(response, "unauthorized: the peer ended the observation")
            return self._denied(response)
        if (response is None and not self.live and not self.asked and not self.probed
                and self.secure and isinstance(error, str) and error.startswith(_STALE)):
            # `error` is a text from the OSCORE layer, or TIMEOUT/RESET (ints) from coap
            self.probed = True          # the peer lost our context: ask for the hint
            return self._send(self.peer, None)
        if response is not None and self.observe and response.has(OBSERVE) \
                and response.code < 128:
            self.live = True
            return self.callback(response, error)
        self._finish(response, error)

    def _denied(self, response):
        if not self.authorize:
            return self._finish(response, "unauthorized")
        if self.asked:
            return self._finish(response, "still unauthorized after the grant")
        uri = parse_hint(response)
        self._trace("denied", uri)
        if uri is None:
            return self._finish(response, "4.01 without a server hint")
        acc = server_for(self.engine, uri=uri)
        if acc is None:
            return self._finish(response, "hint names no server of ours: %s" % uri)
        self._ask(acc, not self.secure)

    def _ask(self, acc, credentials):
        if acc is None:
            return self._finish(None, "no registered server to ask")
        self.asked = True
        self._mark = max(list(self.c2c.peers.stamp.values()) or [0])
        msg = ac_request(self.endpoint, self.grants, credentials)
        self._trace("ac", acc.uri)
        try:
            send_ac(self.engine, acc, msg, self._on_ac)
        except (OverflowError, OSError, ValueError) as e:
            self._finish(None, "cannot send /ac: %s" % e)

    def _on_ac(self, response, error):
        if self.done:
            return
        self._trace("ac-answer", code_text(response.code) if response is not None else error)
        if response is not None and response.code == CREATED:
            return self._attempt()
        if response is None and self._provisioned():
            return self._attempt()          # the 2.01 was lost, the grant was not
        self._finish(response, "/ac refused: %s" % (
            code_text(response.code) if response is not None else error))

    def _provisioned(self):
        acc = self.c2c.peers.by_endpoint(self.endpoint)
        return acc is not None and self.c2c.peers.stamp.get(acc.scid, 0) > self._mark

    def _trace(self, kind, detail):
        trace = self.c2c.trace
        if trace is not None:
            trace(self, kind, detail)

    def _finish(self, response, error):
        self.done = True
        self.callback(response, error)
