"""AES-CCM-16-64-128 (COSE algorithm 10, the OSCORE default AEAD) on AES-ECB.

Owns: CCM (RFC 3610) with the parameters OSCORE uses -- 16-byte key, 13-byte nonce
(L = 2, so messages up to 65535 bytes) and 8-byte tag (M = 8) -- built only on
`cryptolib.aes(key, 1)` (ECB encryption of 16-byte blocks), which is all the unix port
and most boards offer. Under CPython `tools/shims/cryptolib.py` provides that.

    ccm = AesCcm(key)
    ct = ccm.encrypt(nonce, plaintext, aad)        # ciphertext || 8-byte tag
    pt = ccm.decrypt(nonce, ct, aad)               # ValueError if not authentic
    n = ccm.encrypt_into(nonce, plaintext, aad, out)   # no allocation of the result
    n = ccm.decrypt_into(nonce, ct, aad, out)

Results are bytearrays. `decrypt*` never hands out unauthenticated plaintext: on a bad
tag the bytes it wrote are zeroed and ValueError is raised.

Memory: an instance holds one AES object (the key schedule is computed once per key);
the three 16-byte working blocks every call uses are module-level, shared by all
instances (a node holds two instances per OSCORE context, one context per server and
per C2C peer: per-instance blocks cost 192 bytes each on the 64-bit unix port).
`encrypt`/`decrypt` allocate their result and nothing else; `*_into` allocate nothing
(the tests check this under `micropython.heap_lock()` on the unix port). Because the
working blocks are shared, the module is NOT re-entrant: never let two calls overlap,
on the same instance or on different ones (threads, or a call from an interrupt
handler). Each call runs to completion, so a single-threaded node (asyncio included)
is safe.

Speed: the AES itself is native; the Python work is one XOR per byte for CBC-MAC and one
per byte for CTR, in loops over bytearrays with no per-block allocation.
"""
from micropython import const
import cryptolib

_AES_ECB = const(1)
_KEY_LEN = const(16)
_NONCE_LEN = const(13)     # 15 - L
TAG_LEN = const(8)         # M
_MAX_MSG = const(0xFFFF)   # L = 2: the length field has two bytes
_B0_FLAGS = const(0x19)    # 8 * (M - 2) / 2 + (L - 1)
_ADATA = const(0x40)       # B0 flag: there is associated data
_A_FLAGS = const(0x01)     # L - 1
_AAD_SHORT = const(0xFF00)  # 2^16 - 2^8: below this the AAD length takes 2 bytes

# The working blocks (see Memory above).
_X = bytearray(16)      # CBC-MAC chaining value
_A = bytearray(16)      # counter block A_i
_S = bytearray(16)      # key stream block S_i = E(A_i)


class AesCcm:
    """AES-CCM with M = 8, L = 2 for one 16-byte key. Not re-entrant (see module doc)."""

    def __init__(self, key):
        if len(key) != _KEY_LEN:
            raise ValueError("AES-CCM key must be 16 bytes")
        self._aes = cryptolib.aes(key, _AES_ECB)

    def encrypt(self, nonce, plaintext, aad=b""):
        """-> bytearray ciphertext || tag (len(plaintext) + 8 bytes)."""
        out = bytearray(len(plaintext) + TAG_LEN)
        self.encrypt_into(nonce, plaintext, aad, out)
        return out

    def decrypt(self, nonce, data, aad=b""):
        """data = ciphertext || tag -> bytearray plaintext; ValueError if not authentic."""
        n = len(data) - TAG_LEN
        if n < 0:
            raise ValueError("AES-CCM input shorter than the tag")
        out = bytearray(n)
        self.decrypt_into(nonce, data, aad, out)
        return out

    def encrypt_into(self, nonce, plaintext, aad, out):
        """Write ciphertext || tag to the start of `out` (bytearray or memoryview);
        return its length. `out` may be the plaintext buffer itself (in place)."""
        n = len(plaintext)
        if n > _MAX_MSG:
            raise ValueError("AES-CCM plaintext too long")
        if len(out) < n + TAG_LEN:
            raise ValueError("output buffer too small")
        self._begin(nonce, aad, n)
        self._ctr(plaintext, out, n, False)
        x = _X
        s = self._tag_stream()
        for j in range(TAG_LEN):
            out[n + j] = x[j] ^ s[j]
        return n + TAG_LEN

    def decrypt_into(self, nonce, data, aad, out):
        """Check and decrypt `data` (ciphertext || tag) into the start of `out`; return
        the plaintext length. `out` may be `data` itself. On a bad tag the bytes
        written are zeroed and ValueError is raised."""
        n = len(data) - TAG_LEN
        if n < 0:
            raise ValueError("AES-CCM input shorter than the tag")
        if n > _MAX_MSG:
            raise ValueError("AES-CCM ciphertext too long")
        if len(out) < n:
            raise ValueError("output buffer too small")
        self._begin(nonce, aad, n)
        self._ctr(data, out, n, True)
        x = _X
        s = self._tag_stream()
        diff = 0
        for j in range(TAG_LEN):  # no early exit: the time does not depend on the data
            diff |= x[j] ^ s[j] ^ data[n + j]
        if diff:
            for j in range(n):
                out[j] = 0
            raise ValueError("AES-CCM authentication failed")
        return n

    def _begin(self, nonce, aad, n):
        # X_1 = E(B_0), then CBC-MAC over the encoded AAD; sets up A_i.
        if len(nonce) != _NONCE_LEN:
            raise ValueError("AES-CCM nonce must be 13 bytes")
        alen = len(aad)
        x = _X
        aes = self._aes  # aes.encrypt(...) below: a method call, no bound-method object
        x[0] = (_B0_FLAGS | _ADATA) if alen else _B0_FLAGS
        x[1:14] = nonce
        x[14] = n >> 8
        x[15] = n & 0xFF
        aes.encrypt(x, x)
        a = _A
        a[0] = _A_FLAGS
        a[1:14] = nonce
        if not alen:
            return
        # l(a) encoding (RFC 3610 2.2), XORed into the first block of B_1...
        if alen < _AAD_SHORT:
            x[0] ^= alen >> 8
            x[1] ^= alen & 0xFF
            pos = 2
        elif alen < 0x100000000:
            x[0] ^= 0xFF
            x[1] ^= 0xFE
            x[2] ^= alen >> 24
            x[3] ^= (alen >> 16) & 0xFF
            x[4] ^= (alen >> 8) & 0xFF
            x[5] ^= alen & 0xFF
            pos = 6
        else:
            raise ValueError("AES-CCM aad too long")
        # ...followed by the AAD; zero padding of the last block is a no-op for XOR.
        o = 0
        while o < alen:
            k = alen - o
            if k > 16 - pos:
                k = 16 - pos
            for j in range(k):
                x[pos + j] ^= aad[o + j]
            o += k
            aes.encrypt(x, x)
            pos = 0

    def _ctr(self, src, dst, n, decrypting):
        # CTR with A_1, A_2, ... and CBC-MAC over the plaintext, one block at a time.
        x = _X
        a = _A
        s = _S
        aes = self._aes
        i = 1
        o = 0
        while o < n:
            a[14] = i >> 8
            a[15] = i & 0xFF
            aes.encrypt(a, s)
            k = n - o
            if k > 16:
                k = 16
            if decrypting:
                for j in range(k):
                    p = src[o + j] ^ s[j]
                    dst[o + j] = p
                    x[j] ^= p
            else:
                for j in range(k):
                    p = src[o + j]
                    dst[o + j] = p ^ s[j]
                    x[j] ^= p
            aes.encrypt(x, x)
            o += k
            i += 1

    def _tag_stream(self):
        # S_0 = E(A_0), which masks the CBC-MAC value T into the tag U.
        a = _A
        a[14] = 0
        a[15] = 0
        self._aes.encrypt(a, _S)
        return _S
