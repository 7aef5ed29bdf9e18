"""OSCORE on the CoAP stack: the server's request handler and the client's hook.

Server. `SecureHandler(inner, contexts)` is an Endpoint handler
(`endpoint.handler = SecureHandler(site.handle, [ctx]).handle`):
- a request without an OSCORE option goes to `inner` unchanged: it is
  unprotected (`security_of(request)` is None) and `inner` decides whether
  to serve it;
- a request with one is verified (RFC 8613 8.2) with the context its 'kid'
  (and 'kid context') names among the contexts held -- a node holds its
  server's and one per peer. A failure is answered unprotected with the
  section 8.2 code and diagnostic (4.02 "Failed to decode COSE", 4.01
  "Security context not found", 4.00 "Decryption failed", 4.01 "Replay
  detected") and changes no state. A verified request reaches `inner` as a
  `SecureRequest` -- the inner Message plus `security` (a `Security`: the
  context and the request binding, i.e. who is calling) -- and the answer is
  protected (8.3). An unknown critical inner option gets a protected 4.02.
- replay window recovery after a reboot (Appendix B.1.2, RFC 9175): while a
  context's window is unsynchronised, a verified request is answered with a
  4.01 carrying a random Echo, protected with the server's own Partial IV;
  the retry that echoes it proves fresh, synchronises the window and is
  served.
Duplicates never get here: the Endpoint answers a retransmitted CON from its
cache before calling the handler, so it gets the same protected response
again rather than a 4.01 "Replay detected" (7.4).
Observe and separate responses: `Security.protect(msg)` protects one more
response to the request; coap.server.Site passes it to coap.observe as the
observation's `wrap`, so notifications carry the server's own Partial IV.

Client. `Protection(ctx)` is the `security` argument of
coap.client.Client.request: `protect(msg)` protects each request sent (every
Block1 block and Block2 continuation too, inner block-wise), `unprotect()`
verifies a response with the request's binding and enforces the order of
notifications by the server's Partial IV (7.4.1). The client retries a
4.01 + Echo once with that Echo (coap.client does that).
"""
from micropython import const
import os
from coap.endpoint import SEPARATE
from coap.message import Message
from coap.numbers import (BAD_OPTION, ECHO, INTERNAL_SERVER_ERROR, KNOWN_OPTIONS,
                          OBSERVE, OSCORE, UNAUTHORIZED, code_text)
from oscore.context import find_context
from oscore.cose import OscoreError
from oscore.protect import (error_response, protect_request, protect_response,
                            unprotect_request, unprotect_response)

_ECHO_LEN = const(8)
_DIAG_MAX = const(60)


class Security:
    """The OSCORE context and request binding a request came through."""
    __slots__ = ("ctx", "binding")

    def __init__(self, ctx, binding):
        self.ctx = ctx
        self.binding = binding

    @property
    def kid(self):
        """The caller's Sender ID (our Recipient ID): who sent the request."""
        return self.ctx.recipient_id

    @property
    def id_context(self):
        return self.ctx.id_context

    def protect(self, response):
        """Protect a(nother) response to this request: a notification (own
        Partial IV) or a separate response. May raise OscoreError (sequence
        numbers exhausted) or the store's error."""
        return protect_response(self.ctx, response, self.binding)

    def __repr__(self):
        return "<Security kid=%s>" % bytes(self.ctx.recipient_id).hex()


class SecureRequest(Message):
    """A verified OSCORE request: the inner Message plus its `security`."""
    __slots__ = ("security",)


def security_of(request):
    """The `Security` a request came through, or None when it had no OSCORE."""
    return getattr(request, "security", None)


class SecureHandler:
    """Endpoint handler that verifies OSCORE requests and protects their
    responses (see the module docstring). `contexts`: the SecurityContexts
    held; `rand(n)`: random bytes for Echo values.
    Counters: `rejected` (requests answered with an OSCORE error),
    `challenges` (4.01 + Echo sent); `last_error` holds an exception the
    inner handler raised (answered with a protected 5.00)."""

    def __init__(self, inner=None, contexts=(), rand=os.urandom):
        self.inner = inner
        self.contexts = []
        for ctx in contexts:
            self.add(ctx)
        self._rand = rand
        self._echo = {}              # context -> the Echo value it awaits (B.1.2)
        self.rejected = self.challenges = 0
        self.last_error = None

    # -- contexts -------------------------------------------------------------
    def add(self, ctx):
        """Hold one more context. ValueError when a held context has the same
        Recipient ID and ID Context: requests could not tell them apart."""
        for c in self.contexts:
            if c.recipient_id == ctx.recipient_id and c.id_context == ctx.id_context:
                raise ValueError("Recipient ID already in use")
        self.contexts.append(ctx)

    def remove(self, ctx):
        self.contexts.remove(ctx)
        self._echo.pop(ctx, None)

    def find(self, kid, kid_context=None):
        """The context a request with this 'kid' / 'kid context' would use."""
        return find_context(self.contexts, kid, kid_context)

    # -- requests -----------------------------------------------------------------
    def handle(self, request, peer, now_ms):
        if not request.has(OSCORE):
            return self.inner(request, peer, now_ms) if self.inner else None
        try:
            inner, ctx, binding = unprotect_request(self.find, request)
        except OscoreError as e:
            self.rejected += 1
            return error_response(request, e)
        security = Security(ctx, binding)
        if binding.unsynced:
            echo = self._echo.get(ctx)
            if echo is None or inner.get(ECHO) != echo:
                return self._challenge(ctx, binding)
            ctx.replay_sync(binding.seq)      # proven fresh: the window restarts here
            del self._echo[ctx]
            inner.remove(ECHO)
        for number, _ in inner.options:
            if number & 1 and number not in KNOWN_OPTIONS:
                return security.protect(Message(code=BAD_OPTION))
        req = SecureRequest(inner.mtype, inner.code, inner.mid, inner.token, inner.payload)
        req.options = inner.options
        req.security = security
        try:
            response = self.inner(req, peer, now_ms) if self.inner else None
        except Exception as e:               # never an unprotected answer from here
            self.last_error = e
            response = Message(code=INTERNAL_SERVER_ERROR)
        if response is None or response is SEPARATE:
            return response
        return security.protect(response)

    def _challenge(self, ctx, binding):
        """4.01 + Echo, protected with our own Partial IV (B.1.2)."""
        echo = self._echo.get(ctx)
        if echo is None:
            echo = self._echo[ctx] = bytes(self._rand(_ECHO_LEN))
        self.challenges += 1
        return protect_response(ctx, Message(code=UNAUTHORIZED).add(ECHO, echo),
                                binding, True)


class Protection:
    """Client side: the `security` hook of coap.client for one context."""

    def __init__(self, ctx):
        self.ctx = ctx

    def protect(self, request):
        """-> (outer request, binding); raises when no sequence number can be
        used (exhausted, or the store failed to save)."""
        return protect_request(self.ctx, request)

    def unprotect(self, response, binding):
        """The verified inner response, or None for a notification older than
        one already delivered (server Partial IV order, 7.4.1). Raises
        ValueError with a one-line reason when the response fails
        verification or is unprotected (an unprotected error from the server,
        section 8.2, is reported as such -- its code and diagnostic are not
        authenticated)."""
        if not response.has(OSCORE):
            raise ValueError("OSCORE: unprotected %s response%s" % (
                code_text(response.code), _diagnostic(response.payload)))
        try:
            inner, piv = unprotect_response(self.ctx, response, binding)
        except OscoreError as e:
            raise ValueError("OSCORE: " + e.diagnostic)
        if piv is not None and inner.has(OBSERVE):
            last = binding.last_piv
            if last is not None and piv <= last:
                return None
            binding.last_piv = piv
        return inner


def _diagnostic(payload):
    """' (text)' for a printable diagnostic payload, shortened; else ''."""
    text = bytes(payload[:_DIAG_MAX])
    if not text or any(b < 32 or b > 126 for b in text):
        return ""
    return " (%s)" % text.decode()
