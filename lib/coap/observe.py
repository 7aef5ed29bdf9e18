"""CoAP Observe (RFC 7641): the server's list of observers and the client's
freshness rule.

Server side: `Observers` keeps one entry per (client, resource) (§4.1). The
resource supplies `render(request)` -> response `Message`; `notify(key)` sends
the current representation to every observer of `key` with a fresh 24-bit
sequence number. Notifications are NON unless asked otherwise, with a CON at
least every 24 hours (§4.5). While a CON notification is in flight, a newer
state waits and goes out when it is acknowledged (§4.5.2), so the client ends
with the latest state. An observer is removed when it rejects a notification
with RST, when a CON notification times out, on deregistration (GET with
Observe=1, §3.6) or when `cancel()` is called.

An observation may have a `wrap(msg) -> msg` (e.g. OSCORE protection, which
gives each notification the server's own Partial IV): it is applied to each
notification once its Observe option, type and token are set. If it raises,
the observation ends.

Client side: `is_fresh()` is the §3.4 reordering rule.
"""
from micropython import const
from coap.numbers import CON, NON, OBSERVE
from coap.endpoint import RESET, TIMEOUT

_SEQ_MASK = const(0xFFFFFF)
_HALF = const(1 << 23)
_DAY_MS = const(86400000)
_FRESH_MS = const(128000)


def is_fresh(v1, t1_ms, v2, t2_ms):
    """True when notification (v2, t2) is newer than (v1, t1) (RFC 7641 §3.4)."""
    return ((v1 < v2 and v2 - v1 < _HALF) or (v1 > v2 and v1 - v2 > _HALF)
            or t2_ms > t1_ms + _FRESH_MS)


class Observation:
    """One observer of one resource."""
    __slots__ = ("peer", "key", "request", "render", "last_con_ms",
                 "in_flight", "dirty", "confirmable", "wrap")

    def __init__(self, peer, key, request, render, confirmable, now_ms, wrap=None):
        self.peer = peer
        self.key = key
        self.request = request          # registration request (token, options)
        self.render = render
        self.confirmable = confirmable
        self.wrap = wrap                # None, or msg -> msg applied last
        self.last_con_ms = now_ms
        self.in_flight = False
        self.dirty = False


class Observers:
    def __init__(self, endpoint, max_observers=8):
        self.endpoint = endpoint
        self.max_observers = max_observers
        self._list = []
        self._seq = 1

    def __len__(self):
        return len(self._list)

    def find(self, peer, key):
        for obs in self._list:
            if obs.peer == peer and obs.key == key:
                return obs
        return None

    def register(self, peer, request, key, render, now_ms, confirmable=False, wrap=None):
        """Add or replace the entry for (peer, key) after a GET with Observe=0.
        Returns the Observe value for the first response, or None when the
        table is full (the resource then answers without Observe, §4.1)."""
        obs = self.find(peer, key)
        if obs is None:
            if len(self._list) >= self.max_observers:
                return None
            obs = Observation(peer, key, request, render, confirmable, now_ms, wrap)
            self._list.append(obs)
        else:
            obs.request = request
            obs.render = render
            obs.confirmable = confirmable
            obs.wrap = wrap
        return self._next_seq()

    def deregister(self, peer, key):
        obs = self.find(peer, key)
        if obs is not None:
            self._list.remove(obs)

    def cancel(self, predicate):
        """Remove every observation for which `predicate(obs)` is true."""
        self._list = [o for o in self._list if not predicate(o)]

    def keys(self):
        return [o.key for o in self._list]

    def notify(self, key, now_ms):
        """Send the current state of `key` to each of its observers."""
        for obs in self._list[:]:
            if obs.key == key:
                self._send(obs, now_ms)

    def _send(self, obs, now_ms):
        if obs.in_flight:
            obs.dirty = True
            return
        msg = obs.render(obs.request)
        if msg is None:
            return
        if msg.code >= 128:                 # an error ends the observation (§4.2)
            self._list.remove(obs)
        else:
            msg.set(OBSERVE, self._next_seq())
        con = obs.confirmable or now_ms - obs.last_con_ms >= _DAY_MS
        msg.mtype = CON if con else NON
        msg.token = obs.request.token
        if obs.wrap is not None:
            try:
                msg = obs.wrap(msg)
            except Exception:               # e.g. no sequence number left: stop
                if obs in self._list:
                    self._list.remove(obs)
                return
        if con:
            obs.last_con_ms = now_ms
            obs.in_flight = True

        def done(result):
            obs.in_flight = False
            if result == RESET or result == TIMEOUT:
                if obs in self._list:
                    self._list.remove(obs)
            elif obs.dirty:
                obs.dirty = False
                if obs in self._list:
                    self._send(obs, self.endpoint.now_ms)
        try:
            self.endpoint.send(obs.peer, msg, now_ms, done)
        except OverflowError:               # too much in flight: retry on next change
            obs.in_flight = False
            obs.dirty = True

    def _next_seq(self):
        self._seq = (self._seq + 1) & _SEQ_MASK
        return self._seq
