"""Client requests on top of `Endpoint` with block-wise transfers (RFC 7959)
and Observe (RFC 7641) handled for the caller.

`Client.request(peer, msg, callback, now_ms)` sends `msg` (method, options,
payload). A payload larger than the block size goes out as Block1 blocks; a
Block2 response is fetched block by block and delivered whole. With
`observe=True` the request registers (Observe=0) and `callback` runs for every
fresh notification (§3.4 reordering rule applied; a notification larger than
a block is completed with plain GETs, §3.4 of RFC 7959). `callback(response,
error)` gets the assembled response, or None and an error: `TIMEOUT`/`RESET`
from the endpoint, or a string for block-wise and security failures.

A 4.01 (Unauthorized) response carrying Echo is answered once by sending the
request again with that Echo value (RFC 9175 §2.3); a second 4.01 goes to the
caller.

`security` (e.g. oscore.secure.Protection) protects every request the
operation sends -- the first, each Block1 block, each Block2 continuation, a
retry with Echo, the deregistration -- with `protect(msg) -> (outer, state)`,
and verifies each response with `unprotect(response, state)`, which returns
the inner response, None to drop it silently (an out-of-order notification),
or raises ValueError: the operation then fails with str(error), except for a
notification of an observation that already delivered one, which is just
dropped (a forgery must not end it).
"""
from coap.numbers import CON, GET, OBSERVE, BLOCK1, BLOCK2, ECHO, UNAUTHORIZED
from coap.message import Message
from coap.observe import is_fresh
from coap import block


def _ignore(response, error):
    pass


def copy_request(template, mtype=None):
    msg = Message(template.mtype if mtype is None else mtype, template.code)
    msg.options = list(template.options)      # the (number, value) pairs are shared
    return msg


class Operation:
    """One logical request; `cancel()` stops it (and an observation)."""

    def __init__(self, client, peer, template, body, callback, observe, szx,
                 security=None):
        self.client = client
        self.security = security
        self.peer = peer
        self.template = template
        self.body = body
        self.callback = callback
        self.observe = observe
        self.szx = szx
        self.token = None           # of the observe registration
        self.last = None            # (sequence, time) of the last notification
        self.collector = None
        self.sender = None
        self.done = False
        self.timeout_ms = None      # wait for a separate response (None: Params)

    def cancel(self, now_ms=None, deregister=False):
        """Stop; with `deregister`, tell the server too (GET Observe=1, §3.6)."""
        self.done = True
        ep = self.client.endpoint
        if self.token is not None:
            ep.cancel(self.peer, self.token)
            if deregister:
                msg = copy_request(self.template, CON)
                msg.code = GET
                msg.token = self.token
                msg.set(OBSERVE, 1)
                self._send(msg, _ignore, ep.now_ms if now_ms is None else now_ms, False)

    # -- flow --------------------------------------------------------------
    def start(self, now_ms):
        if len(self.body) > block.block_size(self.szx):
            self.sender = block.Block1Sender(self.body, self.szx)
            self._send_block1(self.sender.first(), now_ms)
            return
        msg = copy_request(self.template)
        msg.payload = self.body
        if self.observe:
            msg.set(OBSERVE, 0)
        token = self._send(msg, self._on_response, now_ms)
        self.token = token if self.observe else None

    def _send(self, msg, handler, now_ms, echo_retry=True):
        """Send one request of this operation (protected with `security` when
        set); `handler(response, error)` gets its verified response(s). A
        4.01 with Echo is retried once. Returns the token, or None when the
        request could not be protected (`handler` then got the error)."""
        ep = self.client.endpoint
        sec = self.security
        out = msg
        state = None
        if sec is not None:
            try:
                out, state = sec.protect(msg)
            except Exception as e:          # no sequence number (exhausted, store failed)
                handler(None, "cannot protect request: %s" % e)
                return None

        delivered = False

        def on_response(response, error):
            nonlocal delivered
            if response is not None and sec is not None:
                live = (delivered and out.observe == 0 and response.has(OBSERVE)
                        and response.code < 128)
                try:
                    response = sec.unprotect(response, state)
                except ValueError as e:
                    if live:                # a forged or broken notification
                        return
                    response, error = None, str(e)
                else:
                    if response is None:    # an older notification
                        return
            if (echo_retry and response is not None and response.code == UNAUTHORIZED
                    and response.has(ECHO)):
                again = copy_request(msg)
                again.payload = msg.payload
                again.set(ECHO, response.get(ECHO))
                token = self._send(again, handler, ep.now_ms, False)
                if self.observe and msg.observe == 0:
                    self.token = token
                return
            delivered = True
            handler(response, error)
        return ep.request(self.peer, out, on_response, now_ms, self.timeout_ms)

    def _send_block1(self, step, now_ms):
        value, chunk, more = step
        msg = copy_request(self.template)
        msg.set(BLOCK1, value)
        msg.payload = chunk
        self._send(msg, self._on_block1, now_ms)

    def _on_block1(self, response, error):
        if self.done:
            return
        if response is None:
            return self._fail(error)
        status = self.sender.on_response(response)
        if status == block.NEED_MORE:
            self._send_block1(self.sender.next(), self.client.endpoint.now_ms)
        elif status == block.DONE:
            self._on_body(response)
        else:
            self._finish(response, None)     # the server's error response

    def _on_response(self, response, error):
        if self.done:
            return
        if response is None:
            return self._fail(error)
        if self.observe and response.has(OBSERVE):
            seq = response.observe
            now = self.client.endpoint.now_ms
            if self.last is not None and not is_fresh(self.last[0], self.last[1], seq, now):
                return                       # stale or reordered: discard (§3.4)
            self.last = (seq, now)
        self._on_body(response)

    def _on_body(self, response):
        if not response.has(BLOCK2):
            return self._finish(response, None)
        self.collector = block.Block2Collector(self.client.max_body)
        self._on_block2(response, None, response)

    def _on_block2(self, response, error, head):
        if self.done:
            return
        if response is None:
            return self._fail(error)
        status, value = self.collector.feed(response)
        if status == block.DONE:
            head.payload = value
            head.remove(BLOCK2)
            return self._finish(head, None)
        if status == block.TOO_LARGE:
            return self._fail("response body too large")
        if status == block.FAILED:
            return self._fail("block-wise transfer failed")
        num, szx = value
        msg = copy_request(self.template, CON)
        msg.code = GET
        msg.remove(OBSERVE)
        msg.set(BLOCK2, block.block_value(num, False, szx))
        self._send(msg, lambda r, e: self._on_block2(r, e, head),
                   self.client.endpoint.now_ms)

    def _finish(self, response, error):
        if not (self.observe and response is not None and response.has(OBSERVE)):
            self.done = True
        self.callback(response, error)

    def _fail(self, error):
        self.done = True
        if self.token is not None:           # an observation may still be open
            self.client.endpoint.cancel(self.peer, self.token)
        self.callback(None, error)


class Client:
    def __init__(self, endpoint, max_body=8192, szx=6):
        self.endpoint = endpoint
        self.max_body = max_body
        self.szx = szx

    def request(self, peer, msg, callback, now_ms, observe=False, security=None,
                timeout_ms=None):
        """Start a request (protected through `security` when given, see the
        module docstring); returns its `Operation`. `timeout_ms`: how long
        each of its requests waits for a separate (or NON) response once
        acknowledged; None = the endpoint's `response_timeout_ms`."""
        body = bytes(msg.payload)
        template = copy_request(msg)
        op = Operation(self, peer, template, body, callback, observe, self.szx, security)
        op.timeout_ms = timeout_ms
        op.start(now_ms)
        return op

