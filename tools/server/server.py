"""The reference LwM2M 1.1 server engine (sans-IO, on our CoAP core).

Owns: the CoAP side of the server — one `Endpoint` (message layer) with a
`Client` (block-wise, observe) for the requests we send, request routing by
first Uri-Path segment (`/rd` registration interface, `/dp` Send, and room for
more: `add_route()`, e.g. the C2C `/ac` service of authz.py, whose handler
may answer later: SEPARATE), work deferred to the next `step()` (`defer()`:
requests that must not start inside the receive() of another), Block1
reassembly of large Register/Send payloads, the Register / Update / De-register handling
(OMA-TS-LightweightM2M_Core V1.1 §6.2), Send (§6.4.6), lifetime expiry in
`step()`, events, and the one exit for requests to clients: `request()`,
which hands the registration's `security` to the channel.

Drive it like every engine here: `receive(datagram, peer, now_ms)`,
`step(now_ms) -> next deadline`; tools/server/driver.py runs it on UDP or on
the fake radio and gives `wait()` its blocking form.

Security seam (OSCORE from lib/oscore/secure.py):
- incoming: `handle(request, peer, now_ms)` is the endpoint's handler, or the
  inner handler of an `oscore.secure.SecureHandler` (`enable_oscore()`
  installs one); a verified request carries `security` (its context and
  binding). A Register binds that context to the registration
  (`reg.security`, the SecurityContext itself; None = NoSec); Update,
  De-register and Send are only accepted under the same context (a NoSec
  registration from NoSec requests).
- outgoing: every request goes through `channel.request(peer, msg, callback,
  now_ms, observe=False, security=None)`, which returns the coap Operation
  (its `token`, `cancel()`). `Channel` passes the registration's context to
  coap.client as an `oscore.secure.Protection`, so each request, block and
  observation to an OSCORE client is protected with it.
Keys are never logged: registrations print only "nosec"/"oscore".
"""
import logging
import os
from collections import deque

from coap.numbers import (GET, POST, DELETE, CREATED, CHANGED, DELETED, CONTENT,
                          BAD_REQUEST, FORBIDDEN, NOT_FOUND, METHOD_NOT_ALLOWED,
                          UNSUPPORTED_CONTENT_FORMAT, LOCATION_PATH, LINK_FORMAT,
                          BLOCK1)
from coap.endpoint import Endpoint, Params, SEPARATE
from coap.client import Client
from coap.server import reply
from coap import block

from tools.server import formats, linkformat
from tools.server.objects import ObjectTable
from tools.server.registry import (Registry, Registration, ParamError, parse_query,
                                   check_lifetime, check_binding, check_version,
                                   DEFAULT_LIFETIME_S)
from tools.server.operations import Device, NotRegistered

REGISTER_PARAMS = ("ep", "lt", "lwm2m", "b", "sms", "Q")    # Core V1.1 §6.2.1
UPDATE_PARAMS = ("lt", "b", "sms", "Q")                     # Core V1.1 §6.2.2
EVENTS = ("registered", "updated", "deregistered", "expired", "send")


def context_of(security):
    """The security context of a request's `security` (oscore.secure.Security
    carries it as .ctx), or the context itself; None for NoSec."""
    return getattr(security, "ctx", security)


class Channel:
    """How requests reach a client: through the coap Client, protected with
    the registration's security context when it has one."""

    def __init__(self, client):
        self.client = client

    def request(self, peer, msg, callback, now_ms, observe=False, security=None):
        hook = None
        if security is not None:
            if hasattr(security, "protect") and hasattr(security, "unprotect"):
                hook = security                 # already a client-side hook
            else:
                from oscore.secure import Protection
                hook = Protection(security)
        return self.client.request(peer, msg, callback, now_ms, observe=observe,
                                   security=hook)

    def follow_up(self, operation, msg, callback, now_ms):
        """Send `msg` with the token of `operation` and under its protection
        (the GET with Observe=1 of a proactive cancel, RFC 7641 §3.6), with
        its response to `callback`. coap.client.Operation.cancel(deregister=
        True) sends the same message but drops the answer, hence its _send."""
        msg.token = operation.token
        return operation._send(msg, callback, now_ms, False)


class Event:
    """One entry of `Server.events`: kind, endpoint name, registration ID,
    time and a one-line text (what the log shows)."""
    __slots__ = ("kind", "endpoint", "reg_id", "t_ms", "text")

    def __init__(self, kind, endpoint, reg_id, t_ms, text):
        self.kind = kind
        self.endpoint = endpoint
        self.reg_id = reg_id
        self.t_ms = t_ms
        self.text = text

    def __repr__(self):
        return "<Event %s %s>" % (self.kind, self.text)


class Server:
    """transport: the object the Endpoint sends with (UDP or a radio Port);
    or pass a ready `endpoint`. objects: an ObjectTable (default: loaded from
    the OMA XML). rand: os.urandom or a seeded stand-in (tokens, MIDs, IDs).
    max_clients bounds the registry; max_body the Register/Send payloads we
    reassemble; grace_ms is added to every lifetime before it expires."""

    def __init__(self, transport=None, endpoint=None, objects=None, rand=os.urandom,
                 params=None, max_clients=1024, max_body=16384, grace_ms=0,
                 channel=None, log=None, max_events=1000):
        if endpoint is None:
            endpoint = Endpoint(transport, rand=rand, params=params or Params(),
                                dedup_size=1024, max_transmissions=256,
                                max_exchanges=512)
        self.endpoint = endpoint
        endpoint.handler = self.handle
        self.client = Client(endpoint, max_body=65536)
        self.channel = channel or Channel(self.client)
        self.secure = None          # oscore.secure.SecureHandler once enable_oscore()
        self.registry = Registry(rand, max_clients)
        self.objects = objects if objects is not None else ObjectTable.load()
        self.uploads = block.Block1Receiver(max_body=max_body, max_transfers=16)
        self.grace_ms = grace_ms
        self.log = log or logging.getLogger("tools.server")
        self.events = deque(maxlen=max_events)
        self.routes = {}            # first Uri-Path segment -> (handler, link attributes)
        self._listeners = []        # f(event, reg, info)
        self._send_listeners = []   # f(reg, records, result)
        self.driver = None
        self.clock = None           # () -> now_ms for requests started outside receive/step
        self.wake = None            # () -> None: ask the driver to step us soon
        self.authz = None           # the C2C /ac service once installed (tools/server/authz.py)
        self._deferred = []         # f() to run at the next step(), see defer()
        self.add_route("rd", self._rd, 'rt="core.rd"')
        self.add_route("dp", self._dp)

    # -- engine interface -----------------------------------------------------------
    def receive(self, datagram, peer, now_ms):
        self.endpoint.receive(datagram, peer, now_ms)

    def step(self, now_ms):
        """Run deferred work, expire registrations, run the CoAP timers;
        return the next deadline."""
        for _ in range(64):         # deferred work may defer more; bounded per step
            if not self._deferred:
                break
            work, self._deferred = self._deferred, []
            for fn in work:
                try:
                    fn()
                except Exception:
                    self.log.exception("deferred work failed")
        for reg in self.registry.expired(now_ms - self.grace_ms):
            self._drop(reg, "expired", now_ms)
        deadline = self.endpoint.step(now_ms)
        if self._deferred:
            deadline = now_ms
        expiry = self.registry.next_expiry()
        if expiry is not None:
            expiry += self.grace_ms
            if deadline is None or expiry < deadline:
                deadline = expiry
        return deadline

    def now(self):
        return self.clock() if self.clock is not None else self.endpoint.now_ms

    def defer(self, fn):
        """Run `fn()` at the next step(), outside the receive() in progress
        (e.g. requests that must not overtake the response being built)."""
        self._deferred.append(fn)
        if self.wake is not None:
            self.wake()

    # -- listeners -----------------------------------------------------------------------
    def on_event(self, callback):
        """callback(kind, registration, info) for registered / updated /
        deregistered / expired / send; info is a dict (e.g. 'replaced')."""
        self._listeners.append(callback)

    def on_send(self, callback):
        """callback(registration, records, content_format) for each Send."""
        self._send_listeners.append(callback)

    def _emit(self, kind, reg, now_ms, text, **info):
        event = Event(kind, reg.endpoint, reg.id, now_ms, text)
        self.events.append(event)
        self.log.info("%s %s", kind, text)
        for listener in list(self._listeners):
            listener(kind, reg, info)

    # -- the API for operations ------------------------------------------------------------
    def device(self, endpoint):
        """Device handle for a registered client; NotRegistered otherwise."""
        if self.registry.by_endpoint(endpoint) is None:
            raise NotRegistered("%s is not registered" % endpoint)
        return Device(self, endpoint)

    def request(self, reg, msg, callback, observe=False):
        """Send `msg` to the client of `reg` under its security; returns the
        coap Operation. Every request to a client leaves through here."""
        op = self.channel.request(reg.peer, msg, callback, self.now(),
                                  observe=observe, security=reg.security)
        if self.wake is not None:
            self.wake()
        return op

    def follow_up(self, reg, operation, msg, callback):
        """Send `msg` within an earlier request's `operation` (same token,
        same security): the proactive cancel of an observation."""
        out = self.channel.follow_up(operation, msg, callback, self.now())
        if self.wake is not None:
            self.wake()
        return out

    def wait(self, pending, timeout_ms=None):
        """Run the driver until `pending` is done (or timeout_ms); returns its
        result, or None when it is still open."""
        if not pending.done:
            if self.driver is None:
                raise RuntimeError("no driver attached: use callbacks, or attach a driver")
            self.driver.run(lambda: pending.done, timeout_ms)
        return pending.result

    def bind_security(self, endpoint, security):
        """Bind a registered client to a security context (or None = NoSec)."""
        reg = self.registry.by_endpoint(endpoint)
        if reg is None:
            raise NotRegistered("%s is not registered" % endpoint)
        reg.security = security

    # -- routing ---------------------------------------------------------------------------------
    def add_route(self, segment, handler, link_attrs=""):
        """Serve requests whose first Uri-Path segment is `segment`:
        handler(request, peer, now_ms, security, path) -> response Message,
        or coap.endpoint.SEPARATE to answer later (empty ACK now; then
        `endpoint.send_response()`, protected with `request.security` when
        the request came through OSCORE). Request bodies arrive reassembled
        (Block1). `link_attrs` go into
        /.well-known/core (e.g. 'rt="lwm2m.auth"')."""
        self.routes[segment] = (handler, link_attrs)

    def enable_oscore(self, contexts=(), rand=os.urandom):
        """Accept OSCORE requests protected with any of `contexts` (more with
        `self.secure.add(ctx)`): the endpoint's handler becomes a SecureHandler
        around `handle`. Returns that handler."""
        if self.secure is None:
            from oscore.secure import SecureHandler
            self.secure = SecureHandler(self.handle, (), rand)
            self.endpoint.handler = self.secure.handle
        for ctx in contexts:
            self.secure.add(ctx)
        return self.secure

    def handle(self, request, peer, now_ms, security=None):
        """Answer one request; `security` (or the request's own, set by the
        OSCORE layer) says which security context it came through."""
        if security is None:
            security = getattr(request, "security", None)
        security = context_of(security)
        path = request.path()
        if path == [".well-known", "core"]:
            if request.code != GET:
                return reply(METHOD_NOT_ALLOWED)
            links = ",".join("</%s>%s" % (seg, ";" + attrs if attrs else "")
                             for seg, (_, attrs) in sorted(self.routes.items()))
            return reply(CONTENT, links.encode(), LINK_FORMAT)
        route = self.routes.get(path[0]) if path else None
        if route is None:
            return reply(NOT_FOUND)
        if request.has(BLOCK1):
            status, body = self.uploads.feed(peer, request, "/".join(path), now_ms)
            if status == block.CONTINUE:
                return self.uploads.continue_response(request)
            if status != block.COMPLETE:
                return self.uploads.error_response(status)
            request.payload = body
        response = route[0](request, peer, now_ms, security, path)
        if request.has(BLOCK1) and response is not SEPARATE and response is not None:
            self.uploads.echo(response, request)
        return response

    # -- registration interface (Core V1.1 §6.2) ------------------------------------------------
    def _rd(self, request, peer, now_ms, security, path):
        try:
            if len(path) == 1:
                if request.code != POST:
                    return reply(METHOD_NOT_ALLOWED)
                return self._register(request, peer, now_ms, security)
            reg = self.registry.get(path[1]) if len(path) == 2 else None
            if reg is None or reg.security != security:
                # unknown location, or not the security context that registered
                # it: 4.04, which makes a real client register again (§6.2.2)
                return reply(NOT_FOUND)
            if request.code == POST:
                return self._update(reg, request, peer, now_ms)
            if request.code == DELETE:
                self._drop(reg, "deregistered", now_ms)
                return reply(DELETED)
            return reply(METHOD_NOT_ALLOWED)
        except ParamError as e:
            self.log.debug("rd refused from %s: %s", peer, e)
            return reply(e.code)

    def _objects(self, request, required):
        """The payload's objects (None when absent and not required)."""
        payload = bytes(request.payload)
        cf = request.content_format
        if not payload:
            if required:
                raise ParamError("Register needs the objects in its payload")
            return None
        if cf is not None and cf != LINK_FORMAT:
            # the registration table lists only 4.00 for bad Register/Update input
            raise ParamError("payload is not application/link-format")
        try:
            return linkformat.parse_registration(payload)
        except ValueError as e:
            raise ParamError(str(e))

    def _register(self, request, peer, now_ms, security):
        q = parse_query(request.query(), REGISTER_PARAMS)
        ep = q.get("ep")
        if not ep or len(ep.encode()) > 255:
            raise ParamError("ep missing or too long")
        lifetime = check_lifetime(q["lt"]) if "lt" in q else DEFAULT_LIFETIME_S
        version = check_version(q["lwm2m"]) if "lwm2m" in q else "1.0"
        binding = check_binding(q["b"]) if "b" in q else "U"
        if "Q" in q and q["Q"] is not None:
            raise ParamError("Q takes no value")
        if "sms" in q and not q["sms"]:
            raise ParamError("sms needs a value")
        objects = self._objects(request, True)
        reg = Registration(self.registry.new_id(), ep, peer, now_ms)
        reg.security = security
        reg.lifetime_s = lifetime
        reg.version = version
        reg.binding = binding.replace("Q", "")
        reg.queue = "Q" in q or "Q" in binding
        reg.sms = q.get("sms")
        reg.objects = objects
        old = self.registry.add(reg)
        if old is not None:
            # Core V1.1 §6.2.1: a Register with the name of an existing
            # registration replaces it; its observations go with it.
            self._stop_observations(old)
        self._emit("registered", reg, now_ms, reg.describe(),
                   replaced=None if old is None else old.id)
        response = reply(CREATED)
        for seg in reg.location:
            response.add(LOCATION_PATH, seg)
        return response

    def _update(self, reg, request, peer, now_ms):
        q = parse_query(request.query(), UPDATE_PARAMS)
        # check everything before changing anything
        lifetime = check_lifetime(q["lt"]) if "lt" in q else None
        binding = check_binding(q["b"]) if "b" in q else None
        if "Q" in q and q["Q"] is not None:
            raise ParamError("Q takes no value")
        if "sms" in q and not q["sms"]:
            raise ParamError("sms needs a value")
        objects = self._objects(request, False)
        if lifetime is not None:
            reg.lifetime_s = lifetime
        if binding is not None:
            reg.binding = binding.replace("Q", "")
            reg.queue = "Q" in binding or "Q" in q
        elif "Q" in q:
            reg.queue = True
        if "sms" in q:
            reg.sms = q["sms"]
        if objects is not None:
            reg.objects = objects
        if reg.peer != peer:
            # §6.2.2: the Update tells the server the client's current address
            self.log.debug("%s moved from %s to %s", reg.endpoint, reg.peer, peer)
            reg.peer = peer
        reg.updated_ms = now_ms
        self._emit("updated", reg, now_ms, reg.describe(),
                   objects_changed=objects is not None)
        return reply(CHANGED)

    def _drop(self, reg, kind, now_ms):
        """Remove a registration (de-registered or expired) and its observations."""
        if self.registry.get(reg.id) is not reg:
            return
        self.registry.remove(reg.id)
        self._stop_observations(reg)
        self._emit(kind, reg, now_ms, "%s id=%s" % (reg.endpoint, reg.id))

    def _stop_observations(self, reg):
        for obs in list(reg.observations.values()):
            obs.stop()
        reg.observations.clear()

    def deregister(self, endpoint, now_ms=None):
        """Drop a registration from the server side (console/tests)."""
        reg = self.registry.by_endpoint(endpoint)
        if reg is None:
            raise NotRegistered("%s is not registered" % endpoint)
        self._drop(reg, "deregistered", self.now() if now_ms is None else now_ms)

    # -- Send (Core V1.1 §6.4.6) -----------------------------------------------------------------
    def sender(self, peer, security):
        """The registration a request comes from: by security context when
        it is protected, else by source address."""
        if security is not None:
            return self.registry.by_security(security)
        reg = self.registry.by_peer(peer)
        return reg if reg is not None and reg.security is None else None

    def _dp(self, request, peer, now_ms, security, path):
        if len(path) != 1:
            return reply(NOT_FOUND)
        if request.code != POST:
            return reply(METHOD_NOT_ALLOWED)
        reg = self.sender(peer, security)
        if reg is None:
            # data from someone who is not registered (or not under the
            # context it registered with) has no owner: refuse it
            return reply(FORBIDDEN)
        cf = request.content_format
        if cf is None:
            return reply(BAD_REQUEST)
        if cf not in formats.SEND_FORMATS:
            return reply(UNSUPPORTED_CONTENT_FORMAT)
        payload = bytes(request.payload)
        if not payload:
            return reply(BAD_REQUEST)
        records, why = formats.decode(cf, payload, (), self.objects.type_of)
        if not records:
            self.log.debug("send from %s refused: %s", reg.endpoint, why or "no records")
            return reply(BAD_REQUEST)
        self._emit("send", reg, now_ms, "%s %d record(s) %s" % (
            reg.endpoint, len(records), formats.label(cf)), records=records)
        for listener in list(self._send_listeners):
            listener(reg, records, cf)
        return reply(CHANGED)

