"""Client-to-client (C2C) extension of the engine (docs c2c-extension.md):
plugs the peer objects, caller resolution, access rules and the requester
API into an lwm2m.engine.Client, and runs the peer accounts' lifecycle.

    c2c = C2C(node)                          # or C2C(node, allow_nosec=True)
    op = node.peer_request("switch-1", GET, "/3342/0/5500", callback,
                           observe=True)     # = c2c.request(...)
    op.cancel()                              # Cancel Observation (GET Observe=1)
    c2c.read(ep, path, cb) / write(ep, path, payload, cf, cb) / execute /
    observe / discover / create / delete / write_attributes / authorize

`callback(response, error)` as in coap.client; the third-party
authorization (4.01 + hint -> `POST /ac` -> retry once) happens inside,
see lwm2m.requester (`c2c.trace = fn(op, kind, detail)` hears of its
steps). The host side -- peers served through the engine's own DM code,
identified and checked by lwm2m.peers -- needs nothing more.

What `C2C(node)` installs (the engine's hooks, nothing else changes):
- objects 11000, 11001, 11002 (and 21) when missing, with what the store
  holds for them (the engine only loads objects it was built with);
- `Peers.resolve` after the server resolvers, `Peers.unauthorized` as the
  engine's 4.01 answer, itself in `engine.extensions`;
- a check on OSCORE (21) Sender and Recipient IDs: a Create or Write that
  would give two contexts of this node the same ID fails with 4.00 (the
  SecureHandler could not tell them apart; design.md pitfalls).

Lifecycle (**ours**, see the doc's last section), on every change of
21/11000/11001/11002 (`changed()`) and in `step()`:
- a peer account that disappears or changes (revocation, re-grant) has its
  observations ended with a last 4.01 notification, its attributes
  forgotten and its old OSCORE context dropped from the SecureHandler; a
  new one has its context loaded at once, so its first request verifies;
- an observation whose peer lost R on its path (11002 changed) ends too;
- 11001 Lifetime: an account older than its Lifetime (0 = never) is
  removed -- 11001, 11000 and 21 instances deleted, its ACL entries gone.
  Boards have no clock: the remaining seconds are saved in the store
  (key "c2c.lifetime") at every change and periodically (`checkpoint_ms`,
  or an eighth of the shortest Lifetime, at least 10 s), and a reboot
  resumes from there (time spent off is not counted);
- 11001 Disable: the peer is refused for Disable Timeout seconds;
- an object instance deleted: the 11002 instances protecting it go too.
"""
from micropython import const
from coap.numbers import GET, PUT, POST, DELETE, LINK_FORMAT, UNAUTHORIZED, BAD_REQUEST
from lwm2m.model import Error
from lwm2m.store import unpack_instances
from lwm2m.peers import Peers, key_of, CONFIG
from lwm2m.dm import READ
from lwm2m.objects.oscore import Oscore, SENDER_ID, RECIPIENT_ID
from lwm2m.objects.client_security import ClientSecurity
from lwm2m.objects.client import (Client, LIFETIME, DISABLE_TIMEOUT,
                                  DEFAULT_DISABLE_TIMEOUT)
from lwm2m.objects.client_access import ClientAccessControl
from lwm2m.requester import PeerRequest, authorize

CHECKPOINT_MS = const(3600000)
_LIFETIME_KEY = "c2c.lifetime"
_PEER_OBJECTS = (21, 11000, 11001, 11002)


def unique_ids(osc):
    """A `validate` for the OSCORE object refusing a Sender or Recipient ID
    that another of its instances holds."""
    base = osc.validate

    def validate(iid, rid, value):
        base(iid, rid, value)
        if rid in (SENDER_ID, RECIPIENT_ID):
            for other in osc.iids():
                if other != iid and osc.get(other, rid) == value:
                    raise Error(BAD_REQUEST, "OSCORE ID in use")
    return validate


class C2C:
    def __init__(self, engine, allow_nosec=False, checkpoint_ms=CHECKPOINT_MS):
        self.engine = engine
        model = engine.model
        for cls in (Oscore, ClientSecurity, Client, ClientAccessControl):
            if cls.oid not in model:
                obj = cls()
                data = engine.store.load("obj.%d" % obj.oid) if engine.store else None
                if data is not None:
                    obj.instances = unpack_instances(obj, data)
                engine.add(obj)
        model.get(11000).model = model
        osc = model.get(21)
        osc.validate = unique_ids(osc)
        self.peers = Peers(engine, allow_nosec)
        self.checkpoint_ms = checkpoint_ms
        self.synced = {}            # scid -> the PeerAccount of the last sync
        self.expiry = {}            # 11001 iid -> deadline (ms)
        self.disabled = {}          # scid -> end of its Disable (ms)
        saved = engine.store.load(_LIFETIME_KEY) if engine.store else None
        self._resume = saved or {}  # "iid" -> remaining s, until the first step
        self._started = False
        self._checkpoint = None
        self._stamp = 0
        self.trace = None           # fn(op, kind, detail): lwm2m.requester's steps
        engine.callers.resolvers.append(self.peers.resolve)
        engine.unauthorized = self.peers.unauthorized
        engine.extensions.append(self)
        engine.c2c = self
        engine.peer_request = self.request
        self._sync()

    # -- requester API ------------------------------------------------------------
    def request(self, endpoint, method, path, callback, payload=b"", cf=None,
                accept=None, observe=False, query=(), grants=None, address=None,
                ssid=None, authorize=True):
        """Send a DM request to peer `endpoint` (see lwm2m.requester)."""
        op = PeerRequest(self, endpoint, method, path, callback, payload, cf,
                         accept, observe, query, grants, address, ssid, authorize)
        op.start()
        return op

    def read(self, endpoint, path, callback, accept=None, **kw):
        return self.request(endpoint, GET, path, callback, accept=accept, **kw)

    def observe(self, endpoint, path, callback, accept=None, **kw):
        return self.request(endpoint, GET, path, callback, accept=accept,
                            observe=True, **kw)

    def discover(self, endpoint, path, callback, **kw):
        return self.request(endpoint, GET, path, callback, accept=LINK_FORMAT, **kw)

    def write(self, endpoint, path, payload, cf, callback, partial=False, **kw):
        return self.request(endpoint, POST if partial else PUT, path, callback,
                            payload, cf, **kw)

    def write_attributes(self, endpoint, path, query, callback, **kw):
        return self.request(endpoint, PUT, path, callback, query=query, **kw)

    def execute(self, endpoint, path, callback, args="", **kw):
        return self.request(endpoint, POST, path, callback, args.encode(), **kw)

    def create(self, endpoint, path, payload, cf, callback, **kw):
        return self.request(endpoint, POST, path, callback, payload, cf, **kw)

    def delete(self, endpoint, path, callback, **kw):
        return self.request(endpoint, DELETE, path, callback, **kw)

    def authorize(self, endpoint, grants, callback, ssid=None, credentials=True):
        """Step 3 directly: `POST /ac?ep=endpoint[&c]` with `grants`
        {(oid,) or (oid, iid): bits} to server `ssid` (default: the first
        registered one); callback(response, error) gets its answer."""
        return authorize(self, endpoint, grants, callback, ssid, credentials)

    # -- engine extension -----------------------------------------------------------
    def changed(self, oid, iid, rid):
        if oid is None or oid in _PEER_OBJECTS:
            self.peers.changed()
            if oid is None or (oid == 11001 and rid in (None, LIFETIME)):
                self._lifetimes(iid if oid is not None else None)
            self._sync()
        elif rid is None and iid is not None:
            obj = self.engine.model.find(oid)
            if obj is not None and iid not in obj.instances:
                self._forget_instance(oid, iid)

    def step(self, now_ms):
        if not self._started:
            self._started = True
            self._lifetimes(None, self._resume)
            self._checkpoint = now_ms + self._interval()
        cli = self.engine.model.get(11001)
        pending, cli.pending = cli.pending, []
        for iid in pending:
            self._disable(iid, now_ms)
        for scid, until in list(self.disabled.items()):
            if now_ms >= until:
                del self.disabled[scid]
                self.peers.inactive.discard(scid)
        for iid, at in list(self.expiry.items()):
            if now_ms >= at:
                self.engine.log("C2C: peer account (11001/%d) expired" % iid)
                self.remove(iid)
        if now_ms >= self._checkpoint:
            if self.expiry:
                self._save_lifetimes()
            self._checkpoint = now_ms + self._interval()
        nxt = self._checkpoint if self.expiry else None
        for t in list(self.expiry.values()) + list(self.disabled.values()):
            if nxt is None or t < nxt:
                nxt = t
        return nxt

    # -- accounts ------------------------------------------------------------------------
    def remove(self, cli_iid):
        """Remove the peer account of 11001 instance `cli_iid`: its 11001,
        11000 and OSCORE instances and its ACL entries (expiry)."""
        model = self.engine.model
        cli, sec, osc = model.get(11001), model.get(11000), model.get(21)
        scid = cli.get(cli_iid, 0)
        self.expiry.pop(cli_iid, None)
        sec_iid = sec.find(scid) if scid is not None else None
        osc_iid = sec.oscore_iid(sec_iid) if sec_iid is not None else None
        cli.delete(cli_iid)
        if sec_iid is not None:
            sec.delete(sec_iid)
        if osc_iid is not None and osc_iid in osc.instances and not sec.linked(osc_iid):
            osc.delete(osc_iid)
        if scid is not None:
            model.get(11002).forget(scid)
        self._save_lifetimes()

    def _sync(self):
        """Bring observations and contexts in line with the accounts."""
        eng = self.engine
        accs = self.peers.accounts()
        gone = []
        for scid, old in self.synced.items():
            acc = accs.get(scid)
            if acc is None or acc.key() != old.key():
                gone.append((scid, old))
        for scid, old in gone:
            del self.synced[scid]
            self.peers.stamp.pop(scid, None)
            self._end(lambda o, k=key_of(scid): o.key == k)
            forget = getattr(eng.reporting, "attributes", None)
            if forget is not None:
                forget.forget(key_of(scid))
            osc_iid = old.oscore_iid
            if osc_iid is not None and not eng.model.get(11000).linked(osc_iid):
                eng.callers.drop(osc_iid)
        for scid, acc in accs.items():
            old = self.synced.get(scid)
            if old is None or old.key() != acc.key():
                self._stamp += 1
                self.peers.stamp[scid] = self._stamp
            self.synced[scid] = acc     # the cached account itself: no key tuple kept
            if acc.oscore() and acc.oscore_iid not in eng.callers.contexts:
                try:
                    eng.callers.context(acc.oscore_iid)
                except (ValueError, Error) as e:   # incomplete, or an ID in use
                    eng.log("C2C peer %d: OSCORE instance %d unusable: %s"
                            % (scid, acc.oscore_iid, e))
        self._end(lambda o: isinstance(o.key, str) and o.caller is not None
                  and not o.caller.allowed(READ, o.path[0],
                                           o.path[1] if len(o.path) > 1 else None))

    def _end(self, pred):
        end = getattr(self.engine.reporting, "end_where", None)
        if end is not None:
            end(pred, UNAUTHORIZED, self.engine.now_ms)

    def _forget_instance(self, oid, iid):
        aco = self.engine.model.get(11002)
        for aci in aco.find_all(oid, iid):
            aco.delete(aci)

    def _disable(self, cli_iid, now_ms):
        cli = self.engine.model.get(11001)
        scid = cli.get(cli_iid, 0)
        if scid is None:
            return
        timeout = cli.get(cli_iid, DISABLE_TIMEOUT, DEFAULT_DISABLE_TIMEOUT)
        self.disabled[scid] = now_ms + timeout * 1000
        self.peers.inactive.add(scid)
        self._end(lambda o, k=key_of(scid): o.key == k)

    # -- lifetimes -----------------------------------------------------------------------
    def _lifetimes(self, iid=None, remaining=None):
        """(Re)start the Lifetime of 11001 instance `iid` (all with None);
        `remaining`: {"iid": seconds} saved before a reboot."""
        cli = self.engine.model.get(11001)
        now = self.engine.now_ms
        for i in ([iid] if iid is not None else cli.iids()):
            lifetime = cli.get(i, LIFETIME)
            if not lifetime or i not in cli.instances:
                self.expiry.pop(i, None)
                continue
            if remaining is not None:
                lifetime = min(lifetime, remaining.get(str(i), lifetime))
            elif iid is None and i in self.expiry:
                continue
            self.expiry[i] = now + lifetime * 1000
        self.expiry = dict((i, t) for i, t in self.expiry.items() if i in cli.instances)
        self._save_lifetimes()
        if self._checkpoint is not None:
            self._checkpoint = min(self._checkpoint, now + self._interval())

    def _interval(self):
        """Checkpoint period: `checkpoint_ms`, or an eighth of the shortest
        Lifetime (at least 10 s) so a reboot extends none by much."""
        cli = self.engine.model.get(11001)
        short = min([cli.get(i, LIFETIME) for i in self.expiry] or [0]) * 125
        return min(self.checkpoint_ms, max(10000, short)) if short else self.checkpoint_ms

    def _save_lifetimes(self):
        store = self.engine.store
        if store is None:
            return
        now = self.engine.now_ms
        data = dict((str(i), max(0, (t - now + 999) // 1000))
                    for i, t in self.expiry.items())
        try:
            store.save(_LIFETIME_KEY, data)
        except OSError as e:
            self.engine.log("C2C: cannot save lifetimes: %s" % e)
