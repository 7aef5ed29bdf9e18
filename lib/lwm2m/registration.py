"""Client Registration interface (OMA-TS-LightweightM2M_Core V1.1 §6.2): one
state machine per LwM2M Server account, all driven by the engine's step().

- Register (§6.2.1): `POST /rd?ep=NAME&lt=LT&lwm2m=1.1&b=BINDING` with the
  CoRE link payload of lwm2m.links.register(); the Location-Path of the 2.01
  is kept and persisted (store key "reg.<ssid>") with what was sent.
- Update (§6.2.2): `POST <location>` with only the parameters that changed
  (lt, b) and the link payload only when the objects/instances changed.
  Sent before the lifetime expires (the TS only says "before"): at lifetime -
  MAX_TRANSMIT_WAIT like Wakaama's registration_step, so even an Update that
  needs every CoAP retransmission arrives in time; but at half the lifetime
  when the lifetime is under twice MAX_TRANSMIT_WAIT (Wakaama switches only
  under one MAX_TRANSMIT_WAIT, which for 100 s refreshes every 7 s); and at once
  on a Registration Update Trigger (1/x/8), a Lifetime/Binding write, a
  Create/Delete, or `address_changed()`. A 4.04 means the server forgot us:
  Register again (§6.2.2); any other failure also falls back to Register.
- De-register (§6.2.3): `DELETE <location>` on `deregister_all()` and on
  Disable (1/x/4), which then keeps the account silent for Disable Timeout.
- Retries (§6.2.1.1): a failed Register is retried after Communication
  Retry Timer * 2^(attempt-1) seconds, Communication Retry Count attempts
  make a sequence; sequences are Communication Sequence Delay Timer apart,
  and after Communication Sequence Retry Count sequences the registration
  has failed: the client bootstraps when Bootstrap on Registration Failure
  (1/x/16, default true) is set and a Bootstrap-Server account exists, and
  otherwise starts over after the sequence delay (it never gives up).
  Initial Registration Delay Timer (1/x/14) delays the first Register.
- A restarted node finds its location in the store and sends an Update
  instead of a Register; a 4.04 (or a failure) sends it back to Register.
"""
from micropython import const
from coap.message import Message
from coap.numbers import (CON, POST, DELETE, CREATED, CHANGED, URI_QUERY,
                          CONTENT_FORMAT, LINK_FORMAT)
from lwm2m.objects import server as srv

IDLE = const(0)          # not started yet (or resuming a stored registration)
WAITING = const(1)       # a Register is due at `due`
REGISTERING = const(2)
REGISTERED = const(3)
UPDATING = const(4)
DEREGISTERING = const(5)
DEREGISTERED = const(6)
DISABLED = const(7)      # silent until `due`, then Register
FAILED = const(8)        # registration failed; bootstrap was asked for
NAMES = ("idle", "waiting", "registering", "registered", "updating",
         "deregistering", "deregistered", "disabled", "failed")


class Registration:
    """The registration with one server account."""

    def __init__(self, registrar, account):
        self.reg = registrar
        self.account = account
        self.ssid = account.ssid
        self.state = IDLE
        self.location = None        # Location-Path segments of the 2.01
        self.sent = None            # {"lt", "b", "links"} as last sent
        self.registered_ms = 0      # when the last Register/Update succeeded
        self.due = 0
        self.attempt = 0            # failed attempts in this sequence
        self.sequence = 0           # failed sequences
        self.update_wanted = False
        self.disable_after = None   # Disable: silent this long after de-registering
        self.op = None              # the Register/Update/De-register in flight
        self.registers = self.updates = self.failures = 0
        self._load()

    # -- persistence ----------------------------------------------------------
    def _key(self):
        return "reg.%d" % self.ssid

    def _load(self):
        store = self.reg.engine.store
        data = store.load(self._key()) if store is not None else None
        if data and data.get("uri") == self.account.uri and data.get("loc"):
            self.location = data["loc"]
            self.sent = {"lt": data.get("lt"), "b": data.get("b"),
                         "links": data.get("links")}

    def _save(self):
        store = self.reg.engine.store
        if store is None:
            return
        try:
            if self.location is None:
                store.delete(self._key())
            else:
                store.save(self._key(), {"uri": self.account.uri, "loc": self.location,
                                         "lt": self.sent["lt"], "b": self.sent["b"],
                                         "links": self.sent["links"]})
        except OSError as e:                # a restart then registers anew
            self.reg.engine.log("store: %s" % e)

    # -- parameters from the Server object ----------------------------------------
    def param(self, rid, default):
        return self.reg.engine.model.get(1).value(self.account.srv_iid, rid, default)

    def lifetime(self):
        return self.param(srv.LIFETIME, srv.DEFAULT_LIFETIME)

    def binding(self):
        return self.param(srv.BINDING, "U")

    def update_delay_ms(self, lifetime):
        """When to refresh a registration of `lifetime` s (see the module doc)."""
        mtw = self.reg.max_transmit_wait_ms
        lt = lifetime * 1000
        return lt - mtw if lt > 2 * mtw else lt // 2

    def name(self):
        return NAMES[self.state]

    @property
    def registered(self):
        return self.state in (REGISTERED, UPDATING)

    # -- the state machine --------------------------------------------------------
    def step(self, now_ms):
        """Do what is due; return when to be stepped next (None: on an event)."""
        st = self.state
        if st == IDLE:
            if self.location is not None:
                self._update(now_ms)            # resume after a restart
            else:
                self._wait(now_ms + self.param(srv.INITIAL_DELAY, 0) * 1000)
                st = WAITING
        if (st == WAITING or st == DISABLED) and now_ms >= self.due:
            self._register(now_ms)
        elif st == REGISTERED:
            lt = self.lifetime()
            if (self.update_wanted or lt != self.sent["lt"] or self.binding() != self.sent["b"]
                    or self.reg.links() != self.sent["links"]
                    or (lt > 0 and now_ms >= self.update_due())):
                self._update(now_ms)
        return self.deadline()

    def update_due(self):
        return self.registered_ms + self.update_delay_ms(self.lifetime())

    def deadline(self):
        st = self.state
        if st == WAITING or st == DISABLED:
            return self.due
        if st == REGISTERED and self.lifetime() > 0:
            return self.update_due()
        return None

    def _wait(self, due):
        self.state = WAITING
        self.due = due

    def _request(self, msg, callback, now_ms):
        """Send through the engine (OSCORE-protected when the account is);
        False when the server address cannot be resolved."""
        try:
            op = self.reg.engine.request(self.account, msg, callback, now_ms)
        except (OSError, ValueError) as e:      # unresolvable URI, no context...
            self.reg.engine.log("server %d: %s" % (self.ssid, e))
            return False
        # Kept only while in flight (a finished one would hold its request,
        # body and callback for the registration's lifetime): its callback
        # drops it, or already ran (a request that could not be protected).
        self.op = None if op.done else op
        return True

    def _register(self, now_ms):
        eng = self.reg.engine
        lt = self.lifetime()
        b = self.binding()
        links = self.reg.links()
        msg = Message(CON, POST).set_path(["rd"])
        msg.add(URI_QUERY, "ep=" + eng.endpoint_name)
        if lt:
            msg.add(URI_QUERY, "lt=%d" % lt)
        msg.add(URI_QUERY, "lwm2m=1.1")
        msg.add(URI_QUERY, "b=" + b)
        msg.add(CONTENT_FORMAT, LINK_FORMAT)
        msg.payload = links.encode()
        self.state = REGISTERING
        self.registers += 1
        params = {"lt": lt, "b": b, "links": links}
        if not self._request(msg, lambda r, e: self._on_register(r, e, params), now_ms):
            self._failed(now_ms)

    def _on_register(self, response, error, params):
        if self.state != REGISTERING:
            return                              # cancelled meanwhile
        self.op = None
        now = self.reg.engine.now_ms
        if response is not None and response.code == CREATED and response.location_path():
            self.location = response.location_path()
            self.sent = params
            self.state = REGISTERED
            self.registered_ms = now
            self.attempt = self.sequence = 0
            self.update_wanted = False
            self._save()
            self.reg.engine.server_online(self.ssid, True)
            self.reg.engine.log("server %d: registered at /%s" % (
                self.ssid, "/".join(self.location)))
        else:
            self.reg.engine.log("server %d: Register failed (%s)" % (
                self.ssid, error if response is None else response.code))
            self._failed(now)

    def _failed(self, now_ms):
        """One more failed attempt (§6.2.1.1)."""
        self.reg.engine.server_online(self.ssid, False)
        self.failures += 1
        self.attempt += 1
        if self.attempt < self.param(srv.RETRY_COUNT, srv.DEFAULT_RETRY_COUNT):
            timer = self.param(srv.RETRY_TIMER, srv.DEFAULT_RETRY_TIMER)
            self._wait(now_ms + timer * 1000 * (1 << (self.attempt - 1)))
            return
        self.attempt = 0
        self.sequence += 1
        delay = self.param(srv.SEQUENCE_DELAY, srv.DEFAULT_SEQUENCE_DELAY) * 1000
        if self.sequence < self.param(srv.SEQUENCE_RETRY_COUNT, srv.DEFAULT_SEQUENCE_RETRY_COUNT):
            self._wait(now_ms + delay)
            return
        self.sequence = 0
        if (self.param(srv.BOOTSTRAP_ON_FAILURE, True)
                and self.reg.engine.registration_failed(self.ssid, now_ms)):
            self.state = FAILED
        else:
            self._wait(now_ms + delay)

    def _update(self, now_ms):
        lt = self.lifetime()
        b = self.binding()
        links = self.reg.links()
        sent = self.sent or {}
        msg = Message(CON, POST).set_path(self.location)
        if lt != sent.get("lt"):
            msg.add(URI_QUERY, "lt=%d" % lt)
        if b != sent.get("b"):
            msg.add(URI_QUERY, "b=" + b)
        if links != sent.get("links"):
            msg.add(CONTENT_FORMAT, LINK_FORMAT)
            msg.payload = links.encode()
        self.state = UPDATING
        self.update_wanted = False
        self.updates += 1
        params = {"lt": lt, "b": b, "links": links}
        if not self._request(msg, lambda r, e: self._on_update(r, e, params), now_ms):
            self._reregister(now_ms)

    def _on_update(self, response, error, params):
        if self.state != UPDATING:
            return
        self.op = None
        now = self.reg.engine.now_ms
        if response is not None and response.code == CHANGED:
            changed = params != self.sent
            self.sent = params
            self.state = REGISTERED
            self.registered_ms = now
            if changed:
                self._save()
            self.reg.engine.server_online(self.ssid, True)
            return
        self.reg.engine.log("server %d: Update failed (%s), registering again" % (
            self.ssid, error if response is None else response.code))
        self._reregister(now)

    def _reregister(self, now_ms):
        """The server no longer knows us (4.04, §6.2.2) or cannot be reached:
        forget the location and Register from scratch."""
        self.location = None
        self._save()
        self.reg.engine.server_online(self.ssid, False)
        self.attempt = self.sequence = 0
        self._wait(now_ms)

    def deregister(self, now_ms, disable_for_ms=None):
        """De-register (§6.2.3); with `disable_for_ms` stay silent that long
        afterwards (Disable, 1/x/4), else stay de-registered."""
        self.disable_after = disable_for_ms
        if self.op is not None:
            self.op.cancel()
            self.op = None
        if self.location is None or self.state not in (REGISTERED, UPDATING, IDLE):
            self._deregistered(now_ms)
            return
        msg = Message(CON, DELETE).set_path(self.location)
        self.state = DEREGISTERING
        if not self._request(msg, lambda r, e: self._deregistered(self.reg.engine.now_ms),
                             now_ms):
            self._deregistered(now_ms)

    def _deregistered(self, now_ms):
        self.location = None
        self._save()
        self.op = None
        if self.disable_after is not None:
            self.state = DISABLED           # observations wait (Notification Storing)
            self.due = now_ms + self.disable_after
            self.disable_after = None
            self.reg.engine.server_online(self.ssid, False)
        else:
            self.state = DEREGISTERED
            self.reg.engine.server_gone(self.ssid)

    def stop(self):
        """Forget this registration without telling the server."""
        if self.op is not None:
            self.op.cancel()
            self.op = None
        self.state = DEREGISTERED


class Registrar:
    """The registrations of all server accounts (one each, in parallel;
    Registration Priority Order (1/x/13) is not used)."""

    def __init__(self, engine):
        self.engine = engine
        self.regs = {}
        self._links = None
        p = engine.endpoint.params
        self.max_transmit_wait_ms = (p.ack_timeout_ms * ((1 << (p.max_retransmit + 1)) - 1)
                                     * p.ack_random_factor_pct // 100)

    def links(self):
        """The Register payload (cached until objects/instances change)."""
        if self._links is None:
            self._links = self.engine.register_links()
        return self._links

    def sync(self, accounts):
        """Follow the set of accounts: new ones start, removed or changed
        ones are dropped (the server is not told: its account is gone)."""
        for ssid in list(self.regs):
            reg = self.regs[ssid]
            acc = accounts.get(ssid)
            if acc is None or (acc is not reg.account and acc.key() != reg.account.key()):
                reg.stop()
                del self.regs[ssid]
                if acc is None and self.engine.store is not None:
                    self.engine.store.delete(reg._key())
                self.engine.server_gone(ssid)
        for ssid, acc in accounts.items():
            if ssid not in self.regs and acc.usable():
                self.regs[ssid] = Registration(self, acc)

    def reset(self):
        """Drop every registration and its stored state (new configuration)."""
        regs, self.regs = self.regs, {}
        for reg in regs.values():
            reg.stop()
            if self.engine.store is not None:
                self.engine.store.delete(reg._key())
            self.engine.server_gone(reg.ssid)

    def step(self, now_ms):
        nxt = None
        for reg in list(self.regs.values()):
            d = reg.step(now_ms)
            if d is not None and (nxt is None or d < nxt):
                nxt = d
        return nxt

    def objects_changed(self):
        self._links = None

    def trigger_update(self, ssid=None):
        for reg in self.regs.values():
            if ssid is None or reg.ssid == ssid:
                reg.update_wanted = True

    def address_changed(self):
        for reg in self.regs.values():
            reg.account.peer = None
            reg.update_wanted = True

    def deregister_all(self, now_ms):
        for reg in self.regs.values():
            reg.deregister(now_ms)

    def done(self):
        """True when no registration is in flight or held (after
        deregister_all: every server was told, or gave up)."""
        for reg in self.regs.values():
            if reg.state not in (DEREGISTERED, DISABLED, FAILED):
                return False
        return True
