"""OSCORE security context (RFC 8613 section 3) as plain, persistable data.

Owns one Common/Sender/Recipient context triple:
- key derivation: Sender Key, Recipient Key and Common IV from the Master Secret, Master
  Salt (default empty), Sender ID, Recipient ID and optional ID Context with HKDF-SHA256
  for AES-CCM-16-64-128 (alg 10), section 3.2.1;
- the AEAD nonce (section 5.2) and one AesCcm instance per key;
- the Sender Sequence Number (SSN) with reboot safety (Appendix B.1.1, below);
- the Recipient's replay window (section 7.4): the anti-replay sliding window of
  RFC 6347 section 4.1.2.6, `window` entries (default 32, section 3.2.2) kept as
  (highest PIV seen, bitmap int); bit i of the bitmap means "top - i was received";
- `to_dict()` / `SecurityContext.from_dict()` for the store. Byte strings are stored as
  hex text so any store (JSON, CBOR, a key/value file) can keep them. The Master Secret is
  in the dict -- the context must survive a reboot -- but `repr()` never shows key material.

Sequence numbers across reboots (Appendix B.1.1). With a `store` (anything with
`save(key, value)` and `load(key)`; `load` returns None or raises KeyError when unset), the
context keeps a persisted limit L: every SSN below L may have been used. Before it uses
an SSN >= L it calls `store.save(self.key, ssn + k_ssn)` and only then uses the number, so
a save precedes the use of SSN 0, K, 2K, ... (counted in `ssn_writes`). A context built
from `from_dict()` (or with a store that already holds a limit) resumes at the larger
of the dict's "ssn" and the stored limit, so no (Sender ID, Partial IV) pair is ever
reused. K_SSN (default 64) trades flash writes (one per K messages) against sequence
numbers skipped on each reboot (at most K). This is the B.1.1 procedure with F = 0, which
assumes `store.save` is durable when it returns; if it raises, the SSN is not used.

Replay window after a reboot (Appendix B.1.2): a restored context starts with
`replay_synced = False`. Requests that decrypt are then NOT checked against (or entered
into) the window; protect.unprotect_request flags them `binding.unsynced`, and the layer
above answers 4.01 with an Echo option (RFC 9175), protected with the server's own
Partial IV. When a later request proves fresh by echoing the value, that layer calls
`replay_sync(seq)`: the request's PIV becomes the window's lower limit. So that a
reboot is recognised even for a context that never sent a Partial IV of its own (a
server that answers with the request nonce), the first request accepted into the window
is preceded by a save too (`replay_mark`).
"""
from micropython import const
import binascii
from coap.numbers import INTERNAL_SERVER_ERROR
from oscore.ccm import AesCcm
from oscore.cose import ALG_AES_CCM_16_64_128, OscoreError, kdf_info
from oscore.hkdf import hkdf_expand, hkdf_extract

_KEY_LEN = const(16)
NONCE_LEN = const(13)
_ID_MAX = const(7)             # nonce length - 6 (sections 3.3 and 5.2)
K_SSN = const(64)              # default persistence step (Appendix B.1.1)
REPLAY_WINDOW = const(32)      # default window size (section 3.2.2)
MAX_SSN = (1 << 40) - 1        # sections 7.2.1, 12.6 (no const: a long int on 32-bit)


def _hex(data):
    return None if data is None else binascii.hexlify(data).decode()


def _unhex(text):
    return None if text is None else binascii.unhexlify(text)


class SecurityContext:
    """One OSCORE security context. Not re-entrant (the AesCcm objects are shared).

    Memory (a node holds one context per server and per C2C peer): the Master
    Secret, Salt and IDs are the caller's bytes objects, not copies (bytes() of a
    bytes object is that object), the Sender and Recipient Keys live only in the
    AesCcm key schedules (the `sender_key` / `recipient_key` properties derive
    them again), and the algorithm, K_SSN and window size stay class attributes
    unless they differ from the defaults."""
    alg = ALG_AES_CCM_16_64_128     # the only algorithm supported
    k_ssn = K_SSN
    window = REPLAY_WINDOW
    _mask = (1 << REPLAY_WINDOW) - 1

    def __init__(self, master_secret, sender_id, recipient_id, master_salt=b"",
                 id_context=None, alg=ALG_AES_CCM_16_64_128, store=None, key=None,
                 k_ssn=K_SSN, ssn=0, window=REPLAY_WINDOW, replay_synced=True):
        if alg != ALG_AES_CCM_16_64_128:
            raise ValueError("only AES-CCM-16-64-128 (alg 10) is supported")
        if len(sender_id) > _ID_MAX or len(recipient_id) > _ID_MAX:
            raise ValueError("Sender/Recipient ID longer than 7 bytes")
        if k_ssn < 1 or window < 1:
            raise ValueError("k_ssn and window must be positive")
        self.master_secret = bytes(master_secret)
        self.master_salt = bytes(master_salt or b"")
        self.sender_id = bytes(sender_id)
        self.recipient_id = bytes(recipient_id)
        self.id_context = None if id_context is None else bytes(id_context)
        # Section 3.2.1: one Extract, then one Expand per output parameter.
        prk = hkdf_extract(self.master_salt, self.master_secret)
        self.sender_ccm = AesCcm(self._derive(prk, self.sender_id, b"Key", _KEY_LEN))
        self.recipient_ccm = AesCcm(self._derive(prk, self.recipient_id, b"Key", _KEY_LEN))
        self.common_iv = self._derive(prk, b"", b"IV", NONCE_LEN)
        # Sender Sequence Number and its persisted limit
        self.store = store
        self.key = key or "oscore.%s.%s.%s" % (_hex(self.id_context or b""),
                                                _hex(self.sender_id), _hex(self.recipient_id))
        if k_ssn != K_SSN:
            self.k_ssn = k_ssn
        self.ssn_writes = 0
        if store is not None:
            try:
                saved = store.load(self.key)
            except KeyError:
                saved = None
            if saved is not None:
                ssn = max(ssn, int(saved))
                replay_synced = False   # the context was in use before: B.1.2
        self._stored = store is not None and saved is not None
        self.ssn = ssn
        self._limit = ssn               # nothing at or above `ssn` is covered by a save yet
        # Replay window (Recipient side)
        if window != REPLAY_WINDOW:
            self.window = window
            self._mask = (1 << window) - 1
        self._top = -1                  # highest PIV received; -1: none yet
        self._bits = 0
        self.replay_synced = replay_synced

    def _derive(self, prk, ident, label, length):
        return hkdf_expand(prk, kdf_info(ident, self.id_context, label, length), length)

    @property
    def sender_key(self):
        return self._derive(hkdf_extract(self.master_salt, self.master_secret),
                            self.sender_id, b"Key", _KEY_LEN)

    @property
    def recipient_key(self):
        return self._derive(hkdf_extract(self.master_salt, self.master_secret),
                            self.recipient_id, b"Key", _KEY_LEN)

    def __repr__(self):
        return "<SecurityContext sid=%s rid=%s idctx=%s ssn=%d replay=%s>" % (
            _hex(self.sender_id), _hex(self.recipient_id), _hex(self.id_context),
            self.ssn, "synced" if self.replay_synced else "unsynchronised")

    # -- nonce (section 5.2) --------------------------------------------------
    def nonce(self, id_piv, piv):
        """AEAD nonce from the Sender ID of the endpoint that generated the Partial IV
        (`id_piv`) and the Partial IV (bytes, at most 5): S || pad7(ID) || pad5(PIV),
        XORed with the Common IV. Returns a new 13-byte bytearray."""
        idl = len(id_piv)
        pl = len(piv)
        if idl > _ID_MAX or pl > 5:
            raise ValueError("ID or Partial IV too long for the nonce")
        out = bytearray(NONCE_LEN)
        out[0] = idl
        out[8 - idl:8] = id_piv
        out[NONCE_LEN - pl:NONCE_LEN] = piv
        iv = self.common_iv
        for i in range(NONCE_LEN):
            out[i] ^= iv[i]
        return out

    # -- Sender Sequence Number (sections 7.2, 8.1, B.1.1) --------------------
    def next_seq(self):
        """Take the next SSN: persist the limit first when needed, then return the SSN
        and advance. Raises OscoreError(5.00) once the SSN passed 2^40 - 1; whatever
        `store.save` raises propagates and leaves the context unchanged."""
        seq = self.ssn
        if seq > MAX_SSN:
            raise OscoreError(INTERNAL_SERVER_ERROR, "Sequence numbers exhausted")
        if self.store is not None and seq >= self._limit:
            self._reserve(seq)                 # BEFORE `seq` is used (B.1.1)
        self.ssn = seq + 1
        return seq

    def _reserve(self, seq):
        limit = seq + self.k_ssn
        self.store.save(self.key, limit)
        self._limit = limit
        self._stored = True
        self.ssn_writes += 1

    # -- replay window (sections 7.4, 3.2.2; RFC 6347 section 4.1.2.6) ---------
    def replay_seen(self, seq):
        """True if a request with this sequence number must be rejected: received before,
        or older than the window. Only meaningful while `replay_synced`."""
        top = self._top
        if seq > top:
            return False
        back = top - seq
        if back >= self.window:
            return True
        return bool((self._bits >> back) & 1)

    def replay_mark(self, seq):
        """Enter a verified request's sequence number into the window. With a store
        that holds nothing for this context yet, a first save precedes it: a server
        that only ever reuses request nonces would otherwise leave no trace, and
        after a reboot accept old requests again instead of going through B.1.2."""
        if self.store is not None and not self._stored:
            self._reserve(self.ssn)
        top = self._top
        if seq > top:
            shift = seq - top
            if shift >= self.window:
                self._bits = 1
            else:
                self._bits = ((self._bits << shift) | 1) & self._mask
            self._top = seq
        else:
            self._bits |= 1 << (top - seq)

    def replay_sync(self, seq):
        """Appendix B.1.2: a request proven fresh (Echo) sets the window's lower limit;
        it and every older sequence number count as received."""
        self._top = seq
        self._bits = self._mask
        self.replay_synced = True

    def replay_state(self):
        """(synced, highest PIV received or -1, bitmap) -- for tests and diagnostics."""
        return self.replay_synced, self._top, self._bits

    # -- persistence --------------------------------------------------------------
    def to_dict(self):
        """Plain data for the store (bytes as hex text). "ssn" is where a restored
        context may safely resume given what this context has used or persisted."""
        return {
            "ms": _hex(self.master_secret), "salt": _hex(self.master_salt),
            "sid": _hex(self.sender_id), "rid": _hex(self.recipient_id),
            "idctx": _hex(self.id_context), "alg": self.alg,
            "ssn": max(self.ssn, self._limit), "k": self.k_ssn, "w": self.window,
            "key": self.key,
        }

    @classmethod
    def from_dict(cls, data, store=None):
        """Rebuild a context after a restart: the SSN resumes at max(data["ssn"], the
        limit in `store`), and the replay window is unsynchronised (B.1.2)."""
        return cls(_unhex(data["ms"]), _unhex(data["sid"]), _unhex(data["rid"]),
                   _unhex(data.get("salt") or ""), _unhex(data.get("idctx")),
                   data.get("alg", ALG_AES_CCM_16_64_128), store, data.get("key"),
                   data.get("k", K_SSN), data.get("ssn", 0),
                   data.get("w", REPLAY_WINDOW), False)


def find_context(contexts, kid, kid_context=None):
    """The context whose Recipient ID is `kid` and, when a 'kid context' was received,
    whose ID Context equals it (section 5.1); None if there is none. A ready-made
    `lookup` for protect.unprotect_request over a list of contexts."""
    for ctx in contexts:
        if ctx.recipient_id == kid and (kid_context is None
                                        or ctx.id_context == kid_context):
            return ctx
    return None
