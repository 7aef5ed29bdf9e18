"""OSCORE message protection (RFC 8613 sections 4, 5 and 8), sans-IO, both roles.

    outer, binding = protect_request(ctx, request)                    # client, 8.1
    inner, ctx, binding = unprotect_request(lookup, outer)            # server, 8.2
    outer = protect_response(ctx, response, binding, own_piv=None)    # server, 8.3
    inner, piv = unprotect_response(ctx, outer, binding)              # client, 8.4
    reply = error_response(request, err)                              # unprotected 4.xx

Messages in and out are `coap.message.Message`; the caller's message is never changed.
Failures raise `OscoreError(code, diagnostic)` (section 8.2: 4.02 "Failed to decode COSE",
4.01 "Security context not found", 4.01 "Replay detected", 4.00 "Decryption failed");
they leave the SSN and the replay window untouched -- the window is updated only after
a request decrypted (8.2 step 6). OSCORE errors are answered unprotected (8.3), see
`error_response`. Only a caller mistake (a message OSCORE cannot carry) is a ValueError.

`Binding` is the request state both sides keep for the responses (section 8: request
kid and Partial IV for the AAD, the request nonce, whether it was an Observe request).
`lookup(kid, kid_context)` returns the context whose Recipient ID is `kid` (and whose ID
Context is `kid_context` when that is not None), or None; see context.find_context.

Option classes (section 4.1, Figure 5): Uri-Host, Uri-Port, Proxy-Scheme and Proxy-Uri
are Class U (outer only) and OSCORE is outer by nature; every other option -- including
those that are both E and U (Observe, Max-Age, Block1/2, Size1/2, No-Response, and
RFC 9175's Echo and Request-Tag) and any unknown option (section 4.1) -- is Class E and
goes inside. Observe is special (4.1.3.5): a request carries it inside and outside with
the same value; a notification carries the original value outside and an empty Inner
Observe (4.1.3.5.2). Outer options that a caller or proxy adds after protection (Outer
Block, an Outer Max-Age 0) need no crypto: no Class I options exist, so the AAD's
`options` is always h''. A receiver discards the outer Code and every Class E outer
option (8.2/8.4 step 1); outer Block options must have been reassembled before.

Observe notifications: `protect_response` uses the server's own Partial IV for any
response carrying Observe or answering an Observe request (8.3.1, and the design's
pitfall: the client orders notifications by it); `unprotect_response` returns that PIV
(None if absent) for the client's Notification Number check (7.4.1), and sets the
Observe value to its three low bytes (allowed by 4.1.3.5.2) so RFC 7641 ordering works.
"""
from micropython import const
from coap.message import FormatError, Message, decode, response_for
from coap.numbers import (BAD_OPTION, BAD_REQUEST, CHANGED, CONTENT, FETCH, MAX_AGE,
                          OBSERVE, OSCORE, POST, PROXY_SCHEME, PROXY_URI, UNAUTHORIZED, URI_HOST,
                          URI_PORT, is_request, is_response)
from oscore.ccm import TAG_LEN
from oscore.cose import OscoreError, aad, decode_option, encode_option, piv_bytes

_HDR_PAD = const(3)      # see _seal / _open: the plaintext sits at offset 3 of a buffer
_PT_HEAD = const(0x40)   # CoAP version 1, type CON, no token


class Binding:
    """What a request leaves behind for its response(s) (sections 7.1 and 8):
    kid     the request 'kid' (the client's Sender ID; the context's own bytes
            object where the context is known, not a copy)
    piv     the request Partial IV (bytes); `seq` is its value
    nonce   the request AEAD nonce; None where no response may use it: a
            request with Observe, whose every response gets the server's own
            Partial IV (8.3.1) -- an observation keeps its binding for its life
    observe the (inner) request had an Observe option
    unsynced    server: accepted without replay check (B.1.2)
    nonce_used  a response was sealed/opened with the request nonce
    last_piv    client: Partial IV of the newest notification (7.4.1)
The last three are class attributes until set: an instance holds only what
differs (one is kept per observation and per request in flight)."""
    unsynced = False
    nonce_used = False
    last_piv = None

    def __init__(self, kid, piv, nonce, observe, unsynced=False):
        self.kid = kid
        self.piv = piv
        self.nonce = nonce
        self.observe = observe
        if unsynced:
            self.unsynced = True

    @property
    def seq(self):
        return int.from_bytes(self.piv, "big")

    def __repr__(self):
        return "<Binding kid=%s piv=%s observe=%s>" % (
            bytes(self.kid).hex(), bytes(self.piv).hex(), self.observe)


def _outer_only(number):
    # Class U only (Figure 5). OSCORE itself is handled separately.
    return (number == URI_HOST or number == URI_PORT or number == PROXY_URI
            or number == PROXY_SCHEME)


def _check_plain(msg):
    for number, _ in msg.options:
        if number == OSCORE:
            raise ValueError("message already has an OSCORE option (4.1.3.7)")
        if number == PROXY_URI:
            raise ValueError("decompose Proxy-Uri before protecting (4.1.3.3)")


# Scratch message for encoding plaintexts: allocated once, cleared after each use (this
# makes `_seal` non-re-entrant, like the AesCcm objects it uses).
_PLAIN = Message()
_EMPTY_OBSERVE = (OBSERVE, b"")


def _seal(ccm, nonce, msg, aad_bytes, option_value, outer_code, notification):
    """Build the OSCORE message: Class U options outside, code + Class E options +
    payload encrypted into the payload (sections 4, 5.3).

    The plaintext (code, options, 0xFF, payload) is produced by the CoAP encoder: a
    header-only message whose MID equals the code puts the code in header byte 3, right
    before the options, so the plaintext is buf[3:size]. It is then encrypted in place
    and the outer payload is a view of the same buffer (plaintext + 8-byte tag)."""
    inner = _PLAIN
    inner.code = inner.mid = msg.code
    inner.payload = msg.payload
    inner_opts = inner.options
    outer = Message(msg.mtype, outer_code, msg.mid, msg.token)
    outer_opts = outer.options
    placed = False
    for opt in msg.options:
        number = opt[0]
        if number > OSCORE and not placed:
            outer_opts.append((OSCORE, option_value))
            placed = True
        if _outer_only(number):
            outer_opts.append(opt)
            continue
        if number == OBSERVE:
            outer_opts.append(opt)                 # Outer Observe (4.1.3.5)
            if notification:
                opt = _EMPTY_OBSERVE               # Inner Observe empty (4.1.3.5.2)
        inner_opts.append(opt)
    if not placed:
        outer_opts.append((OSCORE, option_value))
    try:
        size = inner.encoded_size()
        buf = bytearray(size + TAG_LEN)
        inner.encode_into(buf)
    finally:
        inner.options.clear()      # keep no reference to the caller's data
        inner.payload = b""
    sealed = memoryview(buf)[_HDR_PAD:]
    ccm.encrypt_into(nonce, sealed[:size - _HDR_PAD], aad_bytes, sealed)
    outer.payload = sealed
    return outer


def _oscore_option(outer):
    value = None
    n = 0
    for number, v in outer.options:     # counted in place: no list per message
        if number == OSCORE:
            value = v
            n += 1
    if n != 1 or not outer.payload:
        # A repeated option, or an OSCORE option without payload: malformed (section 2)
        raise OscoreError(BAD_OPTION, "Failed to decode COSE")
    return decode_option(value)


def _open(ccm, nonce, aad_bytes, ciphertext):
    """Decrypt into a new buffer, leaving 3 bytes in front for `_parse`."""
    n = len(ciphertext) - TAG_LEN
    if n < 1:   # not even the Code fits
        raise OscoreError(BAD_REQUEST, "Decryption failed")
    buf = bytearray(_HDR_PAD + n)
    try:
        ccm.decrypt_into(nonce, ciphertext, aad_bytes, memoryview(buf)[_HDR_PAD:])
    except ValueError:
        raise OscoreError(BAD_REQUEST, "Decryption failed")
    return buf


def _parse(buf, outer, want_request):
    """Plaintext (at buf[3:]) + outer message -> the original message (8.2/8.4 step 7).
    Writing a CoAP header over buf[0:3] lets the CoAP decoder parse the options."""
    code = buf[_HDR_PAD]
    buf[0] = _PT_HEAD
    buf[1] = code
    buf[2] = 0
    try:
        plain = decode(buf)
    except FormatError:
        plain = None
    if plain is None or not (is_request(code) if want_request else is_response(code)):
        # authentic but not a well-formed request/response plaintext (5.3)
        raise OscoreError(BAD_REQUEST, "Decryption failed")
    # Header fields come from the outer message (4.2). Step 1: the outer Code and every
    # Class E outer option are dropped; Class U ones are kept.
    plain.mtype = outer.mtype
    plain.mid = outer.mid
    plain.token = outer.token
    kept = None
    for opt in outer.options:
        if _outer_only(opt[0]):
            if kept is None:
                kept = []
            kept.append(opt)
    if kept:
        plain.options = _merge(kept, plain.options)
    return plain


def _merge(a, b):
    """Merge two option lists sorted by number, `a` first among equal numbers (stable,
    unlike MicroPython's list.sort)."""
    out = []
    i = 0
    na = len(a)
    for opt in b:
        while i < na and a[i][0] <= opt[0]:
            out.append(a[i])
            i += 1
        out.append(opt)
    out.extend(a[i:])
    return out


# -- client: requests ------------------------------------------------------------

def protect_request(ctx, msg, kid_context=True):
    """Protect a request with ctx's Sender Context (8.1): a new Partial IV from the SSN
    (persisted first, see context.py), 'kid' = Sender ID, and 'kid context' = ID Context
    when the context has one and `kid_context` is true. Outer code POST, or FETCH when
    the request has Observe (4.1.3.5). -> (outer Message, Binding)."""
    if not is_request(msg.code):
        raise ValueError("not a request")
    _check_plain(msg)
    piv = piv_bytes(ctx.next_seq())
    sid = ctx.sender_id
    nonce = ctx.nonce(sid, piv)
    observe = msg.has(OBSERVE)
    value = encode_option(piv, sid, ctx.id_context if kid_context else None)
    outer = _seal(ctx.sender_ccm, nonce, msg, aad(sid, piv), value,
                  FETCH if observe else POST, False)
    return outer, Binding(sid, piv, nonce, observe)


def unprotect_response(ctx, outer, binding):
    """Verify a response to the request in `binding` (8.4) -> (inner Message, piv) where
    piv is the response's own Partial IV as an int, or None when it reused the request
    nonce (accepted once per request). Raises OscoreError; the caller drops the message."""
    piv, _, _ = _oscore_option(outer)
    if piv is None:
        if binding.nonce_used:   # 8.4.2: the request nonce was already used once
            raise OscoreError(UNAUTHORIZED, "Replay detected")
        nonce = binding.nonce
    else:
        nonce = ctx.nonce(ctx.recipient_id, piv)
    buf = _open(ctx.recipient_ccm, nonce, aad(binding.kid, binding.piv), outer.payload)
    msg = _parse(buf, outer, False)
    has_observe = msg.has(OBSERVE)
    if has_observe and not binding.observe:
        # 4.1.3.5.2: Inner Observe in a response to a non-Observe request -> stop
        raise OscoreError(BAD_REQUEST, "Unexpected Observe")
    if piv is None:
        binding.nonce_used = True
        return msg, None
    seq = int.from_bytes(piv, "big")
    if has_observe:
        msg.set(OBSERVE, seq & 0xFFFFFF)
    return msg, seq


# -- server: requests and responses --------------------------------------------------

def unprotect_request(lookup, outer):
    """Verify an OSCORE request (8.2) -> (inner Message, ctx, Binding).

    Raises OscoreError with the code to answer (unprotected, see `error_response`). If
    ctx's replay window is unsynchronised (after a reboot, B.1.2) a request that
    decrypts is returned with `binding.unsynced` set and the window untouched: the
    caller must demand Echo before acting on it, then call ctx.replay_sync(binding.seq).
    """
    piv, kid, kid_context = _oscore_option(outer)
    if piv is None or kid is None:   # both SHALL be present in requests (section 5)
        raise OscoreError(BAD_OPTION, "Failed to decode COSE")
    ctx = lookup(kid, kid_context)
    if ctx is None or (kid_context is not None and ctx.id_context != kid_context):
        raise OscoreError(UNAUTHORIZED, "Security context not found")
    seq = int.from_bytes(piv, "big")
    synced = ctx.replay_synced
    if synced and ctx.replay_seen(seq):
        raise OscoreError(UNAUTHORIZED, "Replay detected")
    nonce = ctx.nonce(ctx.recipient_id, piv)
    buf = _open(ctx.recipient_ccm, nonce, aad(kid, piv), outer.payload)
    if synced:
        ctx.replay_mark(seq)   # only after successful decryption (8.2 step 6)
    msg = _parse(buf, outer, True)
    observe = msg.has(OBSERVE)
    return msg, ctx, Binding(ctx.recipient_id, piv, None if observe else nonce, observe,
                             not synced)


def protect_response(ctx, msg, binding, own_piv=None):
    """Protect a response to the request in `binding` (8.3).

    own_piv=None chooses: the server's own Partial IV when the response carries Observe,
    answers an Observe request (8.3.1, 4.1.3.5) or the request nonce was already used;
    otherwise the request nonce, with no Partial IV in the message. True forces an own
    Partial IV (e.g. the 4.01 + Echo of B.1.2); False forces the request nonce and raises
    ValueError if it was already used (a nonce is never used twice with one key) or the
    binding keeps none (an Observe request's, see Binding).
    Outer code 2.04, or 2.05 for a response with Observe (4.1.3.5)."""
    if not is_response(msg.code):
        raise ValueError("not a response")
    _check_plain(msg)
    observe = msg.has(OBSERVE)
    if own_piv is None:
        own_piv = observe or binding.observe or binding.nonce_used
    if own_piv:
        piv = piv_bytes(ctx.next_seq())
        nonce = ctx.nonce(ctx.sender_id, piv)
        value = encode_option(piv)
    else:
        if binding.nonce is None:
            raise ValueError("an Observe request's responses carry their own Partial IV")
        if binding.nonce_used:
            raise ValueError("the request nonce was already used")
        nonce = binding.nonce
        value = b""
    outer = _seal(ctx.sender_ccm, nonce, msg, aad(binding.kid, binding.piv), value,
                  CONTENT if observe else CHANGED, observe)
    if not own_piv:
        binding.nonce_used = True
    return outer


def error_response(request, err):
    """The unprotected error response to an OSCORE request that failed verification
    (8.2, 8.3): err.code with err.diagnostic as diagnostic payload and an Outer Max-Age 0
    so that intermediaries do not cache it (4.1.3.1)."""
    reply = response_for(request, err.code, err.diagnostic.encode())
    reply.add(MAX_AGE, 0)
    return reply
