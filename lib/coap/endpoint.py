"""CoAP message layer for one transport (RFC 7252 §4, §5.3).

Owns: Confirmable retransmission with randomized exponential back-off,
duplicate detection, piggybacked and separate responses, RST handling,
message IDs and tokens, request/response matching by (peer, token), and
NSTART per peer with a queue. Sans-IO: `receive()` is fed datagrams, `step()`
runs the timers and returns the next deadline; the only output is
`transport.send(peer, datagram)`.

Server side: `handler(request, peer, now_ms)` returns a response `Message`
(code, options, payload; type, MID and token are filled in here), `None` for
no response, or `SEPARATE` to answer later with `send_response()`.

Client side: `request(peer, msg, callback, now_ms)`; `callback(response,
error)` gets the response, or `None` and `TIMEOUT`/`RESET`. A request carrying
Observe=0 stays matched after its first response while the responses carry an
Observe option (notifications); `cancel()` forgets it.

Bounded tables (documented sizes, constructor arguments): the duplicate cache
(see `_remember`; a request that finds it full of recent entries is executed
without an entry when that is safe, `_safe_unremembered`, else gets 5.03),
in-flight CONs plus
queue, and open exchanges (a `request()` beyond it raises `OverflowError`).
"""
import os
from micropython import const
from coap.numbers import (CON, NON, ACK, RST, EMPTY, OBSERVE, OSCORE, KNOWN_OPTIONS,
                          GET, PUT, DELETE, FETCH, BAD_OPTION, INTERNAL_SERVER_ERROR,
                          SERVICE_UNAVAILABLE, MAX_AGE, is_request)
from coap.message import Message, FormatError, decode, empty

TIMEOUT = const(1)
RESET = const(2)
SEPARATE = "separate"

_MAX_MESSAGE = const(1152)   # §4.6 upper bound for a message without Block


class Params:
    """Transmission parameters (RFC 7252 §4.8, §4.8.2), in milliseconds."""

    def __init__(self, ack_timeout_ms=2000, ack_random_factor_pct=150,
                 max_retransmit=4, nstart=1, response_timeout_ms=93000):
        self.ack_timeout_ms = ack_timeout_ms
        self.ack_random_factor_pct = ack_random_factor_pct
        self.max_retransmit = max_retransmit
        self.nstart = nstart
        # How long a request waits for a separate or NON response; defaults
        # to MAX_TRANSMIT_WAIT.
        self.response_timeout_ms = response_timeout_ms
        factor = ack_random_factor_pct
        span = ack_timeout_ms * ((1 << max_retransmit) - 1) * factor // 100
        max_latency = 100000
        # MAX_TRANSMIT_SPAN, EXCHANGE_LIFETIME and NON_LIFETIME (§4.8.2),
        # PROCESSING_DELAY = ACK_TIMEOUT
        self.max_transmit_span_ms = span
        self.exchange_lifetime_ms = span + 2 * max_latency + ack_timeout_ms
        self.non_lifetime_ms = span + max_latency


class _Transmission:
    """A Confirmable message we sent (or queued) and that awaits ACK/RST."""
    __slots__ = ("peer", "mid", "data", "deadline", "timeout", "tries", "on_done")

    def __init__(self, peer, mid, data, on_done):
        self.peer = peer
        self.mid = mid
        self.data = data
        self.on_done = on_done
        self.deadline = 0
        self.timeout = 0
        self.tries = 0


class _Exchange:
    """A request of ours that awaits its response(s)."""
    __slots__ = ("callback", "deadline", "observe", "mid")

    def __init__(self, callback, deadline, observe, mid):
        self.callback = callback
        self.deadline = deadline
        self.observe = observe
        self.mid = mid          # of the CON request while it may be in flight


def _safe_unremembered(request):
    """May `request` run without a duplicate-detection entry? RFC 7252 §4.5 lets
    a server relax deduplication for idempotent requests (GET, PUT, DELETE,
    FETCH: a duplicate executed again changes nothing); an OSCORE request's
    replay window (RFC 8613 §7.4) already refuses a second copy (with 4.01,
    where a remembered one would get the first answer again)."""
    return request.code in (GET, PUT, DELETE, FETCH) or request.has(OSCORE)


class Endpoint:
    def __init__(self, transport, handler=None, params=None, rand=os.urandom,
                 dedup_size=32, max_transmissions=16, max_exchanges=16,
                 token_length=4, buffer_size=_MAX_MESSAGE):
        self.transport = transport
        self.handler = handler
        self.params = params or Params()
        self._rand = rand
        self._mid = int.from_bytes(rand(2), "big")
        self._token_length = token_length
        self._buf = bytearray(buffer_size)
        self._view = memoryview(self._buf)     # sliced per datagram sent
        self._inflight = []      # _Transmission awaiting ACK/RST
        self._queue = []         # (_Transmission) waiting for NSTART
        self._max_tx = max_transmissions
        self._exchanges = {}     # (peer, token) -> _Exchange
        self._max_exchanges = max_exchanges
        # (peer, mid) -> (first seen ms, the reply datagram kept for duplicates): a
        # CON's ACK or piggybacked response; None for a NON (answered at most
        # once, a duplicate is dropped), which also gives its lifetime (_expiry).
        self._dedup = {}
        self._dedup_size = dedup_size
        self._recent_non = []    # (peer, mid, on_done) of NON sent with on_done
        self.now_ms = 0
        self.last_error = None
        # Counters for tests, benchmarks and the simulator.
        self.sent = self.received = self.retransmissions = 0
        self.duplicates = self.rejected = 0

    # -- public API -------------------------------------------------------
    def request(self, peer, msg, callback, now_ms, timeout_ms=None):
        """Send request `msg` (CON or NON as set in msg.mtype). A random token
        is chosen when msg.token is empty. Returns the token."""
        if len(self._exchanges) >= self._max_exchanges:
            raise OverflowError("too many open exchanges")
        if not msg.token:
            msg.token = self._new_token(peer)
        observe = msg.observe == 0
        wait = self.params.response_timeout_ms if timeout_ms is None else timeout_ms
        ex = _Exchange(callback, None if msg.mtype == CON else now_ms + wait, observe, None)
        key = (peer, msg.token)
        self._exchanges[key] = ex
        if msg.mtype == CON:
            def on_done(result):
                if result is None:
                    if ex.deadline is None and self._exchanges.get(key) is ex:
                        ex.deadline = self.now_ms + wait   # separate response follows
                else:
                    self._finish(key, ex, None, result)
            self.send(peer, msg, now_ms, on_done)
            ex.mid = msg.mid
        else:
            self.send(peer, msg, now_ms)
        return msg.token

    def cancel(self, peer, token):
        """Forget a request; later responses to it are rejected with RST."""
        self._exchanges.pop((peer, token), None)

    def send(self, peer, msg, now_ms, on_done=None):
        """Send a message with a fresh MID. CON messages are retransmitted and
        respect NSTART; `on_done(result)` then gets None (acknowledged),
        RESET or TIMEOUT. Used for requests, separate responses and
        notifications."""
        self.now_ms = now_ms
        msg.mid = self._next_mid()
        if msg.mtype != CON:
            self._transmit(peer, msg)
            if on_done is not None:         # a RST may still reject it (RFC 7641 §3.6)
                recent = self._recent_non
                recent.append((peer, msg.mid, on_done))
                if len(recent) > 8:
                    recent.pop(0)
            return
        if len(self._inflight) + len(self._queue) >= self._max_tx:
            raise OverflowError("too many Confirmable messages in flight")
        tx = _Transmission(peer, msg.mid, msg.to_bytes(), on_done)
        if self._active(peer) < self.params.nstart:
            self._start(tx, now_ms)
        else:
            self._queue.append(tx)

    def send_response(self, peer, request, response, now_ms, on_done=None):
        """A separate response (§5.2.2) to `request`: CON unless `response.mtype`
        is set to NON."""
        response.token = request.token
        self.send(peer, response, now_ms, on_done)

    def receive(self, datagram, peer, now_ms):
        """Process one datagram. Never raises for bad input."""
        self.now_ms = now_ms
        self.received += 1
        try:
            msg = decode(datagram)
        except FormatError as e:
            self.rejected += 1
            if e.mtype == CON:              # §4.2: reject with RST
                self._transmit(peer, empty(RST, e.mid))
            return                          # NON/ACK/RST: silently ignored (§4.3)
        if msg.mtype == ACK or msg.mtype == RST:
            self._on_ack_or_reset(msg, peer, now_ms)
        elif msg.code == EMPTY:             # CoAP ping (CON) or nonsense (NON)
            if msg.mtype == CON:
                self._transmit(peer, empty(RST, msg.mid))
        elif self._is_duplicate(msg, peer, now_ms):
            self.duplicates += 1
        elif is_request(msg.code):
            self._on_request(msg, peer, now_ms)
        else:
            self._on_response(msg, peer, now_ms)

    def step(self, now_ms):
        """Run due retransmissions and timeouts; return the next deadline."""
        self.now_ms = now_ms
        # Copies (the loops change the tables) only when there is something:
        # an idle node's step allocates nothing here.
        for tx in self._inflight[:] if self._inflight else ():
            if now_ms >= tx.deadline:
                if tx.tries >= self.params.max_retransmit:
                    self._tx_done(tx, TIMEOUT)
                    continue
                tx.tries += 1
                tx.timeout *= 2
                tx.deadline = now_ms + tx.timeout
                self.retransmissions += 1
                self._raw_send(tx.peer, tx.data)
        for key, ex in list(self._exchanges.items()) if self._exchanges else ():
            if ex.deadline is not None and now_ms >= ex.deadline:
                self._finish(key, ex, None, TIMEOUT)
        nxt = None
        for tx in self._inflight:
            if nxt is None or tx.deadline < nxt:
                nxt = tx.deadline
        for ex in self._exchanges.values() if self._exchanges else ():
            d = ex.deadline
            if d is not None and (nxt is None or d < nxt):
                nxt = d
        return nxt

    def pending(self):
        """Number of open exchanges plus messages in flight or queued."""
        return len(self._exchanges) + len(self._inflight) + len(self._queue)

    # -- receiving ----------------------------------------------------------
    def _is_duplicate(self, msg, peer, now_ms):
        """Duplicate detection over EXCHANGE/NON_LIFETIME (§4.5). A duplicate
        CON gets the cached reply again; the handler is not run twice."""
        entry = self._dedup.get((peer, msg.mid))
        if entry is not None and self._expiry(entry) > now_ms:
            if entry[1] is not None:
                self._raw_send(peer, entry[1])
            return True
        return False

    def _expiry(self, entry):
        """Entries live EXCHANGE_LIFETIME (CON: a reply is kept) or NON_LIFETIME."""
        p = self.params
        return entry[0] + (p.non_lifetime_ms if entry[1] is None else p.exchange_lifetime_ms)

    def _remember(self, peer, mid, now_ms):
        """Make room for a dedup entry: False when the cache is full. The
        caller then stores `(now_ms, reply)` under `(peer, mid)` (`_keep`).

        When the table is full, expired entries go first, then the oldest
        entry if it was first seen more than MAX_TRANSMIT_SPAN ago: a sender's
        last retransmission leaves within that span, so only a copy delayed
        beyond it could slip through. With neither, the caller goes on without
        an entry or answers 5.03 (`_safe_unremembered`)."""
        table = self._dedup
        if len(table) >= self._dedup_size:
            oldest = None
            for k, e in list(table.items()):
                if self._expiry(e) <= now_ms:
                    del table[k]
                elif oldest is None or e[0] < table[oldest][0]:
                    oldest = k
            if len(table) >= self._dedup_size:
                if now_ms - table[oldest][0] < self.params.max_transmit_span_ms:
                    return False
                del table[oldest]
        return True

    def _keep(self, peer, mid, now_ms, reply):
        self._dedup[(peer, mid)] = (now_ms, reply)

    def _on_request(self, msg, peer, now_ms):
        keep = self._remember(peer, msg.mid, now_ms)
        if not keep and not _safe_unremembered(msg):   # cannot promise at-most-once:
            busy = Message(code=SERVICE_UNAVAILABLE).add(MAX_AGE, 5)    # refuse
            self._reply(peer, msg, busy, False, now_ms)
            return
        response = None
        for number, _ in msg.options:
            if number & 1 and number not in KNOWN_OPTIONS:
                response = Message(code=BAD_OPTION)     # §5.4.1
                break
        if response is None:
            try:
                response = self.handler(msg, peer, now_ms) if self.handler else None
            except Exception as e:          # a handler bug must not kill the node
                self.last_error = e
                response = Message(code=INTERNAL_SERVER_ERROR)
        if response is SEPARATE or response is None:
            reply = None
            if msg.mtype == CON:            # §5.2.2: empty ACK now
                reply = self._transmit(peer, empty(ACK, msg.mid), True)
            if keep:
                self._keep(peer, msg.mid, now_ms, reply)
            return
        self._reply(peer, msg, response, keep, now_ms)

    def _reply(self, peer, request, response, keep, now_ms):
        """Piggyback on the ACK for CON, a NON for NON (§5.2.1, §5.2.3); with
        `keep`, the request gets its dedup entry (the ACK kept for duplicates)."""
        response.token = request.token
        reply = None
        if request.mtype == CON:
            response.mtype = ACK
            response.mid = request.mid
            reply = self._transmit(peer, response, keep)
        else:
            response.mtype = NON
            response.mid = self._next_mid()
            self._transmit(peer, response)
        if keep:
            self._keep(peer, request.mid, now_ms, reply)

    def _on_response(self, msg, peer, now_ms):
        key = (peer, msg.token)
        ex = self._exchanges.get(key)
        if ex is None:                      # unexpected: reject (§4.2, §4.3)
            self._transmit(peer, empty(RST, msg.mid))
            return
        if msg.mtype == CON:
            keep = self._remember(peer, msg.mid, now_ms)
            reply = self._transmit(peer, empty(ACK, msg.mid), keep)
            if keep:
                self._keep(peer, msg.mid, now_ms, reply)
        tx = self._find_inflight(peer, ex.mid)
        if tx is not None:                  # response before the ACK: ACK was lost
            tx.on_done = None               # (§5.2.2); stop retransmitting
            self._tx_done(tx, None)
        self._deliver(key, ex, msg)

    def _on_ack_or_reset(self, msg, peer, now_ms):
        tx = self._find_inflight(peer, msg.mid)
        if tx is None:
            if msg.mtype == RST:
                for entry in self._recent_non:
                    if entry[1] == msg.mid and entry[0] == peer:
                        self._recent_non.remove(entry)
                        entry[2](RESET)
                        break
            return                          # late or stray ACK/RST: ignore
        if msg.mtype == RST:
            self._tx_done(tx, RESET)
            return
        self._tx_done(tx, None)
        if msg.code != EMPTY:               # piggybacked response
            key = (peer, msg.token)
            ex = self._exchanges.get(key)
            if ex is not None:
                self._deliver(key, ex, msg)

    def _deliver(self, key, ex, msg):
        ex.mid = None
        keep = ex.observe and msg.has(OBSERVE) and msg.code < 128
        if keep:
            ex.deadline = None
        else:
            self._exchanges.pop(key, None)
        ex.callback(msg, None)

    def _finish(self, key, ex, msg, error):
        if self._exchanges.get(key) is ex:
            del self._exchanges[key]
        ex.callback(msg, error)

    def _find_inflight(self, peer, mid):
        for tx in self._inflight:
            if tx.mid == mid and tx.peer == peer:
                return tx
        return None

    # -- sending --------------------------------------------------------------
    def _active(self, peer):
        n = 0
        for tx in self._inflight:
            if tx.peer == peer:
                n += 1
        return n

    def _start(self, tx, now_ms):
        p = self.params
        spread = p.ack_timeout_ms * (p.ack_random_factor_pct - 100) // 100
        r = int.from_bytes(self._rand(2), "big")
        tx.timeout = p.ack_timeout_ms + spread * r // 65535
        tx.deadline = now_ms + tx.timeout
        self._inflight.append(tx)
        self._raw_send(tx.peer, tx.data)

    def _tx_done(self, tx, result):
        self._inflight.remove(tx)
        for i in range(len(self._queue)):   # NSTART: start the next for that peer
            if self._queue[i].peer == tx.peer:
                self._start(self._queue.pop(i), self.now_ms)
                break
        if tx.on_done is not None:
            tx.on_done(result)

    def _transmit(self, peer, msg, keep=False):
        """Encode into the shared buffer and send; return a copy if `keep`."""
        n = msg.encode_into(self._buf)
        data = self._view[:n]
        self._raw_send(peer, data)
        return bytes(data) if keep else None

    def _raw_send(self, peer, data):
        self.sent += 1
        self.transport.send(peer, data)

    def _next_mid(self):
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    def _new_token(self, peer):
        while True:
            token = self._rand(self._token_length)
            if (peer, token) not in self._exchanges:
                return token
