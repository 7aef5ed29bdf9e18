"""Information Reporting: Observe, Notify, Cancel Observation and Notification
Storing When Disabled or Offline (OMA-TS-LightweightM2M_Core V1.1 §6.4,
RFC 7641), plus the engine's entry points for Discover and Write-Attributes
(lwm2m.attributes) and Send (lwm2m.send).

`Reporter(engine)` (or `Reporter(model, endpoint, ...)`) is the engine's
reporting hook: lwm2m.engine.Client hands it every Observe, Discover and
Write-Attributes request and tells it of every value change (its default;
`Client(..., reporting=fn)` plugs in another hook, `fn(engine)`, with the
same methods):

    observe(caller, peer, request, now_ms) -> response Message
        GET with an Observe option (0 register, 1 cancel), caller already
        allowed to read (R bit, Core V1.1 §7.3); the response carries the
        Observe option when an observation was registered.
    discover(caller, path, request) -> response (GET Accept 40, Core §6.3.2)
    write_attributes(caller, path, request) -> response (PUT with only
        Uri-Query and no payload, Core §6.3.4)
    changed(oid, iid, rid)   only marks what changed (rid None: instance
        created/deleted); notifications are built in step()
    step(now_ms) -> next deadline in ms, or None
    set_online(key, online)  registered / offline (disabled, registration
        lost): notifications are stored meanwhile (optional for a hook)
    cancel_server(key)       account removed or de-registered (optional)
    send(caller, peer, paths, callback, now_ms, security=None)
        LwM2M Send, used by engine.send() (optional)

Errors are returned as responses. A caller has `allowed(op, oid, iid)`,
`key` (the Short Server ID) and `account` ((1, iid) or (11001, iid): Default
Min/Max Period 2/3, Notification Storing 6, Mute Send 23 are read there);
`key` and `account` are optional.

Observations: one per (server key, path), at most `max_observations` (default
8) in all. A registration beyond that gets the value without Observe (RFC
7641 §4.1 lets a server do so; the LwM2M server sees the observation was not
established). GET Observe=1, a RST to a notification or a CON notification
that times out (RFC 7641 §3.6, §4.5) ends one; so does a value that can no
longer be read (the error goes out as the last notification, §4.2).

When a notification goes out (V1.1 Table 5.1.2-2):
- a change (changed(), or a sample taken every epmax) is evaluated at once,
  but not sooner than epmin after the previous evaluation;
- an evaluation triggers a notification when the value differs from the last
  notified one; on a numeric resource with gt, lt or st in force only when
  |new - last| >= st, or when "value > gt" (or "value < lt") holds for one
  of last and new but not the other: the value crossed the threshold, either
  way;
- a triggered notification waits until pmin after the previous one and then
  carries the value of that moment (changes in between are coalesced);
- pmax after the previous notification one goes out whatever the value.
Object and instance observations trigger on any change below them; gt, lt
and st attached to resources below do not apply to them.

Notifications are NON, with a CON at least every 24 h (RFC 7641 §4.5), or all
CON with `confirmable=True`. While a CON one is in flight a newer one waits
for its ACK (§4.5.2). Sequence numbers come from one 24-bit counter.

Offline (set_online(key, False)): due notifications are encoded and kept in a
queue per server, at most `max_stored` (default 16; the oldest is dropped),
when the account's Notification Storing (resource 6) is true or absent; when
false they are dropped and, back online, each observation that lost one is
notified again. Back online, the queue is sent first, in order, as CON one at
a time, and new notifications of that server queue behind it: the newest
value is always the last one the server receives. With a `clock` (callable:
Unix time in seconds or None when unknown) stored notifications in SenML
formats carry their time.
"""
from micropython import const
from coap.numbers import (CON, NON, CONTENT, OBSERVE, NOT_FOUND, SENML_JSON, SENML_CBOR,
                          BLOCK2, SIZE2)
from coap.message import Message
from coap.endpoint import RESET, TIMEOUT
from coap.server import reply
from coap import block
from lwm2m.model import Error, parse_path
from lwm2m.dm import choose_format, encode
from lwm2m.attributes import (Attributes, account_defaults, check_access,
                              PMIN, PMAX, GT, LT, ST, EPMIN, EPMAX)

_SEQ_MASK = const(0xFFFFFF)
_DAY_MS = const(86400000)
_RES_STORING = const(6)


_NO_BLOCKS = Message()      # a registering request without Block2/Size2 options


def _blocks(request):
    """What notifications use of the registering request's options besides its
    token: its Block2/Size2 options (block.serve_block2), as a Message, or None
    when it has none (most observations: then no Message is kept). Its path,
    other options and payload would stay in the heap for the observation's
    lifetime."""
    opts = [o for o in request.options if o[0] == BLOCK2 or o[0] == SIZE2]
    if not opts:
        return None
    kept = Message()
    kept.options = opts
    return kept


def _in_force(attrs):
    """The attributes of Attributes.effective() that are set (pmin always is):
    the cache an observation keeps, the names of the unset ones left out."""
    out = {}
    for name, value in attrs.items():
        if value is not None:
            out[name] = value
    return out


class Observation:
    """One server's observation of one path.

    The fields most observations never change are class attributes until set
    (`blocks`, `wrap`, the CON and offline flags): the instance keeps only the
    others (an instance map of 18 fields takes 416 bytes on the 64-bit unix port,
    of 13 to 17 fields 320)."""
    blocks = None       # Block2/Size2 options of the registering request (_blocks)
    wrap = None         # protects a notification (OSCORE: the request's binding)
    in_flight = False   # a CON notification awaits its ACK
    resend = False      # ...and a newer one waits for it
    dropped = False     # a notification was dropped offline

    def __init__(self, reporter, key, path, now_ms):
        self.reporter = reporter
        self.key = key
        self.path = path
        self.caller = self.peer = self.token = self.cf = None
        self.last = {}              # {path: value} last notified
        self.last_ms = now_ms       # time of the last notification
        self.eval_ms = now_ms       # time of the last evaluation
        self.dirty = False          # changed() since the last evaluation
        self.pending = False        # triggered, waits for pmin
        self.con_ms = now_ms        # time of the last CON (24 h rule)
        self.attrs = None           # attributes in force (cache, see _in_force)

    def rejected(self, result):
        """The endpoint's on_done of a NON notification, which it calls only
        for a RST (RFC 7641 §3.6): the observation ends. A bound method per
        notification, not a closure: the endpoint keeps the last ones."""
        self.reporter._remove(self)


def _numeric(v):
    return isinstance(v, (int, float)) and v is not True and v is not False


def triggers(attrs, last, values, resource_level=True):
    """True when `values` ({path: value}) must be notified after `last`."""
    gt, lt, st = attrs.get(GT), attrs.get(LT), attrs.get(ST)
    if not resource_level or (gt is None and lt is None and st is None):
        return values != last
    if len(values) != len(last):
        return True
    for p, v in values.items():
        if p not in last:
            return True
        old = last[p]
        if v == old:
            continue
        if not (_numeric(v) and _numeric(old)):
            return True
        if st is not None and abs(v - old) >= st:
            return True
        if gt is not None and (old > gt) != (v > gt):
            return True
        if lt is not None and (old < lt) != (v < lt):
            return True
    return False


def _snapshot(records, path):
    """{path: value} of `records`. A record of the observed `path` itself is
    keyed by that tuple, which the observation keeps anyway, not by the
    record's own copy (this dict is kept until the next notification)."""
    out = {}
    for r in records:
        out[path if r[0] == path else r[0]] = r[1]
    return out


class Reporter:
    def __init__(self, model, endpoint=None, attributes=None, store=None,
                 client=None, max_observations=8, max_stored=16,
                 confirmable=False, max_szx=6, clock=None):
        """`Reporter(engine)` takes model, endpoint, store and client from an
        lwm2m.engine.Client (its `reporting=` factory); `Reporter(model,
        endpoint, ...)` gets them one by one."""
        if endpoint is None:
            engine = model
            model, endpoint = engine.model, engine.endpoint
            store = getattr(engine, "store", store)
            client = getattr(engine, "client", client)
        self.model = model
        self.endpoint = endpoint
        self.attributes = attributes if attributes is not None else Attributes(store)
        self.client = client
        self.max_observations = max_observations
        self.max_stored = max_stored
        self.confirmable = confirmable
        self.max_szx = max_szx
        self.clock = clock
        self.observations = []
        self.stored = {}            # key -> [(obs, payload)] oldest first
        self._offline = set()
        self._flushing = set()      # keys with a stored CON in flight
        self._seq = 0
        self._attrs_seen = -1       # attributes.version the caches match
        self.dropped = 0            # stored notifications lost to the bound

    # -- requests ----------------------------------------------------------------
    def observe(self, caller, peer, request, now_ms):
        """GET with Observe: register (0) or deregister (1), answer like Read."""
        try:
            path = parse_path(request.path())
            check_access(caller, path)
            key = _key(caller, peer)
            if request.observe == 1:
                self._remove(self.find(key, path))
            cf = choose_format(self.model, path, request.accept)
            records = self._read(path, caller)
            payload = encode(self.model, records, path, cf)
        except Error as e:
            return reply(e.code)
        response = reply(CONTENT, payload, cf)
        if request.observe == 0:
            obs = self._register(key, caller, peer, request, path, cf, now_ms)
            if obs is not None:
                obs.last = _snapshot(records, obs.path)
                response.set(OBSERVE, self._next_seq())
        return response

    def discover(self, caller, path, request):
        return self.attributes.discover_request(self.model, caller, path, request)

    def write_attributes(self, caller, path, request):
        return self.attributes.write_request(self.model, caller, path, request)

    def send(self, caller, peer, paths, callback, now_ms, security=None):
        """LwM2M Send of the values at `paths` to the server `caller` (see
        lwm2m.send.send: None and callback(None, MUTED) when muted)."""
        from lwm2m import send as _send
        records = _send.collect(self.model, paths, caller,
                                self.clock() if self.clock else None)
        return _send.send(self.client, peer, records, callback, now_ms,
                          security=security, model=self.model,
                          account=getattr(caller, "account", None))

    # -- engine events -------------------------------------------------------------
    def changed(self, oid, iid, rid):
        """Mark the observations at, above or below (oid, iid, rid) dirty;
        a deleted instance loses its attributes."""
        for obs in self.observations:
            if _overlaps(obs.path, oid, iid, rid):
                obs.dirty = True
        if oid in (1, 11001) and (rid is None or rid in (2, 3)):
            self._attrs_seen = -1             # default periods may have changed
        if rid is None and iid is not None:
            obj = self.model.objects.get(oid)
            if obj is None or iid not in obj.instances:
                self.attributes.forget(None, (oid, iid))

    def set_online(self, key, online):
        if online:
            self._offline.discard(key)
            for obs in self.observations:
                if obs.key == key and obs.dropped:
                    obs.dropped = False
                    obs.pending = True
        else:
            self._offline.add(key)

    def cancel_server(self, key):
        for obs in [o for o in self.observations if o.key == key]:
            self._remove(obs)
        self.stored.pop(key, None)
        self._flushing.discard(key)

    def end_where(self, pred, code, now_ms):
        """End every observation for which pred(obs) holds, with a last
        notification carrying `code` (RFC 7641 §4.2): e.g. 4.01 to a C2C
        peer whose rights or account were revoked (lwm2m.c2c)."""
        for obs in [o for o in self.observations if pred(o)]:
            self._end(obs, code, now_ms)

    def find(self, key, path):
        for obs in self.observations:
            if obs.key == key and obs.path == path:
                return obs
        return None

    # -- step ------------------------------------------------------------------------
    def step(self, now_ms):
        """Evaluate, notify, flush; return the next deadline (ms) or None."""
        if self._attrs_seen != self.attributes.version:
            self._attrs_seen = self.attributes.version
            for obs in self.observations:
                obs.attrs = None
        nxt = None
        for obs in self.observations[:]:
            if obs not in self.observations:
                continue
            d = self._step_one(obs, now_ms)
            if d is not None and (nxt is None or d < nxt):
                nxt = d
        for key in list(self.stored) if self.stored else ():
            if key not in self._offline:
                self._flush(key, now_ms)
        return nxt

    def _step_one(self, obs, now):
        a = obs.attrs
        if a is None:
            a = obs.attrs = _in_force(self.attributes.effective(
                obs.key, obs.path,
                account_defaults(self.model, getattr(obs.caller, "account", None))))
        epmin = a.get(EPMIN, 0) * 1000
        epmax = a.get(EPMAX)
        pmax = a.get(PMAX)
        if ((obs.dirty and now >= obs.eval_ms + epmin)
                or (epmax is not None and now >= obs.eval_ms + epmax * 1000)):
            if not self._evaluate(obs, now):
                return None
        pmin_at = obs.last_ms + a[PMIN] * 1000
        pmax_at = None if pmax is None else obs.last_ms + pmax * 1000
        if (obs.pending and now >= pmin_at) or (pmax_at is not None and now >= pmax_at):
            if obs.in_flight:           # after the ACK (RFC 7641 §4.5.2)
                obs.pending = obs.resend = True
            elif not self._notify(obs, now):
                return None
            pmin_at = obs.last_ms + a[PMIN] * 1000
            pmax_at = None if pmax is None else obs.last_ms + pmax * 1000
        nxt = pmax_at
        if obs.pending and not obs.in_flight:
            nxt = _earlier(nxt, pmin_at)
        if obs.dirty:
            nxt = _earlier(nxt, obs.eval_ms + epmin)
        if epmax is not None:
            nxt = _earlier(nxt, obs.eval_ms + epmax * 1000)
        return nxt

    def _evaluate(self, obs, now):
        try:
            records = self._read(obs.path, obs.caller)
        except Error as e:
            self._end(obs, e.code, now)
            return False
        obs.eval_ms = now
        obs.dirty = False
        if not obs.pending and triggers(obs.attrs, obs.last, _snapshot(records, obs.path),
                                        len(obs.path) >= 3):
            obs.pending = True
        return True

    def _notify(self, obs, now):
        """Build the notification of the current value; send or store it."""
        try:
            records = self._read(obs.path, obs.caller)
            offline = obs.key in self._offline
            if offline and obs.cf in (SENML_JSON, SENML_CBOR) and self.clock:
                t = self.clock()
                if t is not None:
                    records = [(r[0], r[1], t) for r in records]
            payload = encode(self.model, records, obs.path, obs.cf)
        except Error as e:
            self._end(obs, e.code, now)
            return False
        obs.last = _snapshot(records, obs.path)
        obs.last_ms = obs.eval_ms = now
        obs.pending = obs.dirty = False
        if offline:
            if self._storing(obs):
                self._store(obs, payload)
            else:
                obs.dropped = True
        elif self.stored.get(obs.key):
            self._store(obs, payload)       # keep the order behind the queue
        elif self._send(obs, payload, now) is None:
            obs.pending = True              # endpoint full: try again later
        return obs in self.observations

    # -- sending -----------------------------------------------------------------------
    def _send(self, obs, payload, now, flush=False):
        """Send one notification: True when sent, False when the observation
        ended, None when the endpoint has no room (nothing changed)."""
        msg = reply(CONTENT, b"", obs.cf)
        block.serve_block2(msg, payload, _NO_BLOCKS if obs.blocks is None else obs.blocks,
                           self.max_szx)
        if not msg.payload:
            msg.payload = payload
        msg.set(OBSERVE, (self._seq + 1) & _SEQ_MASK)
        con = flush or self.confirmable or now - obs.con_ms >= _DAY_MS
        msg.mtype = CON if con else NON
        msg.token = obs.token
        if obs.wrap is not None:
            try:
                msg = obs.wrap(msg)
            except Exception:           # e.g. OSCORE sequence numbers exhausted
                self._remove(obs)
                return False
        try:
            self.endpoint.send(obs.peer, msg, now,
                               self._acked(obs, flush) if con else obs.rejected)
        except OverflowError:
            return None
        self._next_seq()
        if con:
            obs.con_ms = now
            obs.in_flight = True
            if flush:
                self._flushing.add(obs.key)
        return True

    def _acked(self, obs, flush):
        """The on_done of a CON notification: its ACK, RST or time-out."""
        def done(result):
            obs.in_flight = False
            if flush:
                self._flushing.discard(obs.key)
            if result == RESET or result == TIMEOUT:
                self._remove(obs)
            elif obs.resend:
                obs.resend = False
                obs.pending = True
        return done

    def _end(self, obs, code, now):
        """The value cannot be read any more: last notification with the error
        (no Observe option, RFC 7641 §4.2), then the observation ends."""
        if obs.key not in self._offline and not obs.in_flight:
            msg = Message(code=code)
            msg.mtype = CON if self.confirmable else NON
            msg.token = obs.token
            try:
                if obs.wrap is not None:
                    msg = obs.wrap(msg)
                self.endpoint.send(obs.peer, msg, now)
            except Exception:
                pass
        self._remove(obs)

    def _store(self, obs, payload):
        queue = self.stored.setdefault(obs.key, [])
        if len(queue) >= self.max_stored:
            queue.pop(0)
            self.dropped += 1
        queue.append((obs, payload))

    def _flush(self, key, now):
        """Send the next stored notification of `key` (one CON at a time)."""
        queue = self.stored.get(key)
        while queue and key not in self._flushing:
            obs, payload = queue[0]
            if obs in self.observations:
                if obs.in_flight or self._send(obs, payload, now, True) is None:
                    break
            queue.pop(0)
        if not queue:
            self.stored.pop(key, None)

    def _storing(self, obs):
        acc = getattr(obs.caller, "account", None)
        if acc is None:
            return True
        try:
            v = self.model.get(acc[0]).instance(acc[1]).get(_RES_STORING)
        except Error:
            return True
        return v is not False

    # -- table ---------------------------------------------------------------------------
    def _register(self, key, caller, peer, request, path, cf, now):
        obs = self.find(key, path)
        if obs is None:
            if len(self.observations) >= self.max_observations:
                return None
            obs = Observation(self, key, path, now)
            self.observations.append(obs)
        else:                           # replaces the entry (RFC 7641 §4.1)
            obs.last_ms = obs.eval_ms = obs.con_ms = now
            obs.pending = obs.dirty = obs.resend = False
            obs.attrs = None
        obs.caller = caller
        obs.peer = peer
        obs.token = request.token
        obs.cf = cf
        blocks = _blocks(request)
        security = getattr(request, "security", None)
        wrap = None if security is None else security.protect
        # Class attributes (None) until an observation needs its own (see Observation)
        if blocks is not None or obs.blocks is not None:
            obs.blocks = blocks
        if wrap is not None or obs.wrap is not None:
            obs.wrap = wrap
        return obs

    def _remove(self, obs):
        if obs is not None and obs in self.observations:
            self.observations.remove(obs)
            queue = self.stored.get(obs.key)
            if queue:
                queue[:] = [e for e in queue if e[0] is not obs]

    def _read(self, path, caller):
        records = self.model.read_records(path, caller)
        if len(path) >= 3 and not records:
            raise Error(NOT_FOUND, "empty resource")
        return records

    def _next_seq(self):
        self._seq = (self._seq + 1) & _SEQ_MASK
        return self._seq


def _overlaps(path, oid, iid, rid):
    """True when `path` is at, above or below (oid, iid, rid) (iid/rid None:
    the object / instance itself). Compares in place: no tuples per change."""
    n = len(path)
    return (path[0] == oid and (n < 2 or iid is None or path[1] == iid)
            and (n < 3 or iid is None or rid is None or path[2] == rid))


def _key(caller, peer):
    key = getattr(caller, "key", None)
    return peer if key is None else key


def _earlier(a, b):
    return b if a is None or b < a else a
