"""The LwM2M 1.1 client engine: sans-IO, like the CoAP layer below it.

    sec, srv = Security(), Server()        # factory configuration, used
    sec.add("coap://[::1]:5683", ssid=1)   # only while the store holds none
    srv.add(1, lifetime=300)
    node = Client("node-1", [sec, srv, AccessControlObject(), Oscore(),
                             device, temperature, ...],
                  transport, store=FileStore("/state"),
                  resolve=transport.udp.resolve_peer)
    node.receive(datagram, peer, now_ms)   # what arrived
    node.step(now_ms) -> next deadline ms  # do what is due
    node.deregister_all(now_ms)            # on SIGINT/SIGTERM, then step
                                           # until node.stopped()
    node.address_changed()                 # our address changed: Update

Owns one coap Endpoint (server side: requests from servers and the
Bootstrap-Server; client side through a coap Client: Register, Update,
Bootstrap-Request...), the Model of objects, the Registrar (lwm2m.registration),
the Bootstrap state machine (lwm2m.bootstrap), the access rules
(lwm2m.access) and the reporting hook (lwm2m.observe.Reporter unless another
is given). Configuration objects (0, 1, 2, 21 and the C2C 11000-11002) are
persisted in `store` on every change (not during a bootstrap: at its Finish)
and loaded back at construction, so a restarted node keeps its accounts; the
registrations persist their location themselves.

Incoming requests. The caller is identified by `callers.resolvers`
(lwm2m.callers), a list of `fn(request, peer, security) -> caller or None`
tried in order: a server account by its OSCORE context or, for a NoSec
account, by source address == resolved Security URI; the Bootstrap-Server
likewise. The C2C extension appends its own resolver for peers
(`engine.callers.resolvers.append(fn)`). Unknown callers get 4.01, built
by the `unauthorized(request, caller)` hook when one is set (C2C: the
server hint), which also answers a peer caller's (`caller.peer`) 4.01s.
`extensions` (lwm2m.c2c) hear of every change (`changed(oid, iid, rid)`,
all None after a bootstrap) and are stepped (`step(now_ms)`).
Then: a Bootstrap-Server's request goes to lwm2m.bootstrap; GET with Observe
goes to `reporting.observe`, GET with Accept 40 to `reporting.discover`, PUT
with only Uri-Query and no payload to `reporting.write_attributes`, anything
else to DeviceManagement. Block-wise requests and responses (RFC 7959) are
handled here, around all of them.

OSCORE (Transport V1.1 §5.5): a Security instance whose resource 17 links an
OSCORE instance is an OSCORE account: the engine builds its SecurityContext
(SSN persisted in `store`), protects its requests to that server and
accepts that server's requests only through that context (oscore.secure's
SecureHandler sits in front of the handler once an OSCORE request arrives).
`oscore_context(iid)` gives the context of any OSCORE instance (C2C peers).
"""
import os
from coap.endpoint import Endpoint
from coap.client import Client as CoapClient
from coap.numbers import (GET, PUT, OSCORE as OSCORE_OPTION, OBSERVE, BLOCK1,
                          LINK_FORMAT, UNAUTHORIZED, BAD_REQUEST, CONTENT)
from coap.server import reply
from coap import block
from lwm2m.model import Error, parse_path
from lwm2m.dm import Model, DeviceManagement, READ, supported
from lwm2m.access import AccessControl, DISCOVER
from lwm2m.registration import Registrar
from lwm2m.bootstrap import Bootstrap, CONFIG
from lwm2m.callers import Callers, ServerCaller
from lwm2m.observe import Reporter
from lwm2m.store import pack_instances, unpack_instances
from lwm2m import accounts, links
from lwm2m.objects.security import Security
from lwm2m.objects.server import (Server, SSID, UPDATE_TRIGGER, DISABLE,
                                  BOOTSTRAP_TRIGGER, DISABLE_TIMEOUT,
                                  DEFAULT_DISABLE_TIMEOUT)


class Client:
    def __init__(self, endpoint_name, objects, transport=None, store=None,
                 rand=os.urandom, resolve=None, reporting=None, params=None,
                 log=None, bootstrap_timeout_ms=None, max_body=4096, dedup_size=32):
        """objects: LwObjects or a Model (Security and Server are added when
        missing). resolve(host, port) -> peer for server URIs (default: the
        host as written). reporting: a factory `fn(engine)` of the reporting
        hook (default lwm2m.observe.Reporter, its interface).
        params: coap.endpoint.Params. dedup_size: requests the coap Endpoint
        remembers for duplicate detection (a burst beyond it within
        MAX_TRANSMIT_SPAN is answered 5.03). log: fn(text) for one-line
        events."""
        self.endpoint_name = endpoint_name
        self.model = objects if isinstance(objects, Model) else Model(objects)
        if 0 not in self.model:
            self.model.add(Security())
        if 1 not in self.model:
            self.model.add(Server())
        self.store = store
        self.resolve = resolve or accounts.default_resolve
        self._log = log
        self._rand = rand
        self.now_ms = 0
        self.endpoint = Endpoint(transport, self._entry, params, rand, dedup_size)
        self.client = CoapClient(self.endpoint)
        self.dm = DeviceManagement(self.model, self)
        self.access = AccessControl(self.model, lambda: len(self.accounts()))
        self.callers = Callers(self)
        self.extensions = []         # lwm2m.c2c: changed(oid, iid, rid), step(now_ms)
        self.unauthorized = None     # fn(request, caller) -> the 4.01 (C2C hint)
        self.uploads = block.Block1Receiver(max_body=max_body)
        self._accounts = None
        self._stopping = False
        self._no_account_logged = False
        self._config_dirty = not self._load_config()
        changed = self._changed      # one bound method for all (32 B each)
        for oid in self.model.oids():
            self.model.get(oid).on_change = changed
        self.registrar = Registrar(self)
        if bootstrap_timeout_ms is None:
            self.bootstrap = Bootstrap(self)
        else:
            self.bootstrap = Bootstrap(self, bootstrap_timeout_ms)
        reporting = reporting or Reporter
        if isinstance(reporting, type) or not hasattr(reporting, "observe"):
            reporting = reporting(self)          # a class or a factory
        self.reporting = reporting

    # -- wiring -------------------------------------------------------------------
    @property
    def transport(self):
        return self.endpoint.transport

    @transport.setter
    def transport(self, value):
        self.endpoint.transport = value

    def add(self, obj):
        """Add an object after construction (Register/Update follow)."""
        self.model.add(obj)
        obj.on_change = self._changed
        self.registrar.objects_changed()

    def log(self, text):
        if self._log is not None:
            self._log(text)

    # -- sans-IO entry points -----------------------------------------------------
    def receive(self, datagram, peer, now_ms):
        self.now_ms = now_ms
        self.endpoint.receive(datagram, peer, now_ms)

    def step(self, now_ms):
        self.now_ms = now_ms
        self.endpoint.step(now_ms)          # timeouts first: their callbacks
        self._run_executes(now_ms)          # may change what is due below
        nxt = None
        if not self.bootstrap.active and not self._stopping:
            self.registrar.sync(self.accounts())
            if not self._any_usable():
                if not self.bootstrap.start(now_ms, "no LwM2M Server account"):
                    if not self._no_account_logged:
                        self.log("no server account and no Bootstrap-Server account")
                        self._no_account_logged = True
            if not self.bootstrap.active:
                nxt = self.registrar.step(now_ms)
        nxt = _earlier(nxt, self.bootstrap.step(now_ms))
        if self._config_dirty and not self.bootstrap.active:
            self.save_config()
        nxt = _earlier(nxt, self.reporting.step(now_ms))
        for ext in self.extensions:
            nxt = _earlier(nxt, ext.step(now_ms))
        return _earlier(nxt, self.endpoint.step(now_ms))   # what was just sent

    def deregister_all(self, now_ms):
        """De-register from every server (firmware: on SIGINT/SIGTERM), then
        keep calling step() until stopped() or a timeout."""
        self.now_ms = now_ms
        self._stopping = True
        self.bootstrap._end()
        self.registrar.deregister_all(now_ms)

    def stopped(self):
        return self._stopping and self.registrar.done()

    def address_changed(self):
        """Our address changed (new network, DHCP lease...): every server
        gets an Update (Core V1.1 §6.2.2)."""
        self._accounts = None
        self.registrar.address_changed()

    def status(self):
        """{ssid: registration state name, "bootstrap": state name}."""
        out = dict((ssid, reg.name()) for ssid, reg in self.registrar.regs.items())
        out["bootstrap"] = self.bootstrap.name()
        return out

    # -- accounts -------------------------------------------------------------------
    def accounts(self):
        """{ssid: accounts.Account} of the server accounts (cached)."""
        if self._accounts is None:
            self._accounts = accounts.server_accounts(self.model)
        return self._accounts

    def usable_accounts(self):
        return [a for a in self.accounts().values() if a.usable()]

    def _any_usable(self):
        for a in self.accounts().values():     # step(): no list each time
            if a.usable():
                return True
        return False

    def register_links(self):
        return links.register(self.model, supported())

    def request(self, account, msg, callback, now_ms):
        """Send a request of ours to `account` (coap Client, block-wise),
        protected with its OSCORE context when it has one."""
        peer = account.resolve(self.resolve)
        security = self.callers.protection(account)
        if security is not None:
            return self.client.request(peer, msg, callback, now_ms, security=security)
        return self.client.request(peer, msg, callback, now_ms)

    def oscore_context(self, iid):
        """The SecurityContext of OSCORE instance `iid` (see lwm2m.callers)."""
        return self.callers.context(iid)

    # -- requests ----------------------------------------------------------------------
    def _entry(self, request, peer, now_ms):
        self.now_ms = now_ms
        if request.has(OSCORE_OPTION):
            return self.callers.secure_handler(self._handle).handle(request, peer, now_ms)
        return self._handle(request, peer, now_ms)

    def _handle(self, request, peer, now_ms):
        caller = self.callers.identify(request, peer)
        if caller is None:
            return self._denied(request, None)
        if request.has(BLOCK1):
            status, body = self.uploads.feed(peer, request, request.path_str(), now_ms)
            if status == block.CONTINUE:
                return self.uploads.continue_response(request)
            if status != block.COMPLETE:
                return self.uploads.error_response(status, now_ms)
            request.payload = body
        if caller.bootstrap:
            response = self.bootstrap.handle(request, caller, now_ms)
        else:
            response = self._dm_request(request, caller, peer, now_ms)
        if (response is not None and response.code == UNAUTHORIZED
                and getattr(caller, "peer", False)):
            response = self._denied(request, caller)
        if request.has(BLOCK1):
            self.uploads.echo(response, request)
        if response is not None and response.code == CONTENT:
            error = block.serve_block2(response, response.payload, request)
            if error is not None:
                return reply(error)
        return response

    def _denied(self, request, caller):
        if self.unauthorized is None:
            return reply(UNAUTHORIZED)
        return self.unauthorized(request, caller)

    def _dm_request(self, request, caller, peer, now_ms):
        code = request.code
        try:
            if code == GET and request.has(OBSERVE):
                path = parse_path(request.path())
                self._check(caller, READ, path)
                return self.reporting.observe(caller, peer, request, now_ms)
            if code == GET and request.accept == LINK_FORMAT:
                path = parse_path(request.path())
                if len(path) > 3:
                    raise Error(BAD_REQUEST, "Discover on a resource instance")
                self._check(caller, DISCOVER, path)
                return self.reporting.discover(caller, path, request)
            if (code == PUT and request.query() and not request.payload
                    and request.content_format is None):
                path = parse_path(request.path())
                self._check(caller, READ, path)
                return self.reporting.write_attributes(caller, path, request)
        except Error as e:
            return reply(e.code)
        return self.dm.handle(request, caller)

    def _check(self, caller, op, path):
        if not caller.allowed(op, path[0], path[1] if len(path) > 1 else None):
            raise Error(UNAUTHORIZED, "access denied")

    # -- DM listener (lwm2m.dm) -------------------------------------------------------
    def created(self, caller, oid, iid):
        if not caller.bootstrap and getattr(caller, "ssid", None) is not None:
            self.access.created(caller.ssid, oid, iid)

    def deleted(self, caller, oid, iid):
        self.access.deleted(oid, iid)

    # -- changes ------------------------------------------------------------------------
    def _changed(self, oid, iid, rid):
        self.reporting.changed(oid, iid, rid)
        if oid in CONFIG:
            self._config_dirty = True
            if oid in (0, 1, 21):
                self._accounts = None
            if oid == 21:
                self.callers.drop(iid)
        if rid is None:
            self.registrar.objects_changed()
        for ext in self.extensions:
            ext.changed(oid, iid, rid)

    def config_changed(self):
        """Configuration objects were replaced wholesale (bootstrap)."""
        self._accounts = None
        self._config_dirty = True
        self.callers.drop()
        self.registrar.objects_changed()
        for ext in self.extensions:
            ext.changed(None, None, None)

    def _run_executes(self, now_ms):
        """Server Executes (1/x/4, 8, 9), acted on after their 2.04 went out."""
        srv = self.model.get(1)
        if not srv.pending:
            return
        pending, srv.pending = srv.pending, []
        for iid, rid in pending:
            ssid = srv.get(iid, SSID)
            if rid == UPDATE_TRIGGER:
                self.registrar.trigger_update(ssid)
            elif rid == DISABLE:
                reg = self.registrar.regs.get(ssid)
                if reg is not None:
                    timeout = srv.value(iid, DISABLE_TIMEOUT, DEFAULT_DISABLE_TIMEOUT)
                    reg.deregister(now_ms, timeout * 1000)
            elif rid == BOOTSTRAP_TRIGGER:
                self.bootstrap.start(now_ms, "Bootstrap-Request Trigger")

    # -- persistence -------------------------------------------------------------------
    def _load_config(self):
        """Configuration objects from the store; False when none was stored."""
        if self.store is None:
            return True
        found = False
        for oid in CONFIG:
            obj = self.model.find(oid)
            data = self.store.load("obj.%d" % oid) if obj is not None else None
            if data is not None:
                obj.instances = unpack_instances(obj, data)
                found = True
        return found

    def save_config(self):
        """Persist the configuration objects. A failing store (flash full, or
        no heap for the JSON) is logged; the next change tries again."""
        self._config_dirty = False
        if self.store is None:
            return
        for oid in CONFIG:
            obj = self.model.find(oid)
            if obj is not None:
                try:
                    self.store.save("obj.%d" % oid, pack_instances(obj))
                except (OSError, MemoryError) as e:
                    self.log("store: cannot save object %d: %r" % (oid, e))

    def factory_reset(self):
        """Forget the stored configuration and registrations (the objects
        keep what they hold until the next start)."""
        if self.store is None:
            return
        for oid in CONFIG:
            self.store.delete("obj.%d" % oid)
        for reg in self.registrar.regs.values():
            self.store.delete(reg._key())

    # -- events from registration and bootstrap -------------------------------------------
    def registration_failed(self, ssid, now_ms):
        """A registration failed for good: bootstrap if we can (True)."""
        return self.bootstrap.start(now_ms, "registration with server %d failed" % ssid)

    def bootstrap_started(self):
        for reg in self.registrar.regs.values():
            reg.stop()
            self.server_online(reg.ssid, False)

    def bootstrap_finished(self, now_ms):
        self.config_changed()
        self.save_config()
        self.registrar.reset()

    def bootstrap_abandoned(self, now_ms):
        self.registrar.reset()

    def server_online(self, ssid, online):
        """Tell the reporting hook a server is (un)reachable: notifications
        are stored meanwhile (Notification Storing When Disabled or Offline)."""
        hook = getattr(self.reporting, "set_online", None)
        if hook is not None:
            hook(ssid, online)

    def server_gone(self, ssid):
        """A server's account or registration ended: drop its observations."""
        hook = getattr(self.reporting, "cancel_server", None)
        if hook is not None:
            hook(ssid)

    def send(self, ssid, paths, callback, now_ms):
        """LwM2M Send (Core V1.1 §6.4.6) of `paths` to server `ssid`, through
        the reporting hook (lwm2m.observe.Reporter has it). Returns the
        operation, or None when the server is not registered."""
        reg = self.registrar.regs.get(ssid)
        if reg is None or not reg.registered:
            return None
        acc = reg.account
        return self.reporting.send(ServerCaller(self.access, acc), acc.resolve(self.resolve),
                                   paths, callback, now_ms,
                                   security=self.callers.protection(acc))


def _earlier(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a if a < b else b
