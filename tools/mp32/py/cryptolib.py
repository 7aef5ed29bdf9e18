"""Stand-in for MicroPython's `cryptolib`, absent from the wasm build that
tools/mp32/run.mjs runs: AES (128/192/256-bit keys) in ECB mode, encryption
only -- all lib/oscore/ccm.py uses. Under run.mjs the blocks are encrypted by
node:crypto (module mp32js, on the buffers' addresses); elsewhere in pure
Python (slow). Either way nothing is allocated per call, as with a C cryptolib;
an instance keeps its key and key schedule (~230 B of heap, about what a C
cryptolib object takes).
run.mjs imports it before the script, so its tables sit outside any heap
delta the script measures; on a board cryptolib is C."""
MODE_ECB = 1
try:
    import uctypes
    import mp32js                   # run.mjs: AES-ECB from node:crypto
    _ecb = mp32js.aes_ecb           # looked up once: a lookup makes a proxy object
except ImportError:
    _ecb = None

_SBOX = bytearray(256)


def _init():
    # S-box from the multiplicative inverse in GF(2^8) and the affine map (FIPS-197 5.1.1).
    p = q = 1
    while True:
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)      # p *= 3
        q ^= q << 1                                                # q /= 3
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ (((q << 1) | (q >> 7)) & 0xFF) ^ (((q << 2) | (q >> 6)) & 0xFF) \
            ^ (((q << 3) | (q >> 5)) & 0xFF) ^ (((q << 4) | (q >> 4)) & 0xFF)
        _SBOX[p] = x ^ 0x63
        if p == 1:
            break
    _SBOX[0] = 0x63


_init()


def _xt(b):
    return ((b << 1) ^ 0x1B) & 0xFF if b & 0x80 else b << 1


_M2 = bytearray(_xt(b) for b in _SBOX)
_M3 = bytearray(m ^ b for m, b in zip(_M2, _SBOX))


class aes:
    def __init__(self, key, mode, IV=None):
        if mode != MODE_ECB:
            raise ValueError("mp32 cryptolib: MODE_ECB only")
        nk = len(key) // 4
        if len(key) not in (16, 24, 32):
            raise ValueError("key")
        self._nr = nr = nk + 6
        w = bytearray(16 * (nr + 1))
        w[:len(key)] = key
        rcon = 1
        for i in range(nk, 4 * (nr + 1)):
            t = bytearray(w[4 * i - 4:4 * i])
            if i % nk == 0:
                t = bytearray((_SBOX[t[1]] ^ rcon, _SBOX[t[2]], _SBOX[t[3]], _SBOX[t[0]]))
                rcon = _xt(rcon)
            elif nk > 6 and i % nk == 4:
                t = bytearray(_SBOX[b] for b in t)
            for j in range(4):
                w[4 * i + j] = w[4 * (i - nk) + j] ^ t[j]
        self._key = bytes(key)
        self._w = w
        self._s = bytearray(16)
        self._t = bytearray(16)

    def encrypt(self, data, out=None):
        if len(data) % 16:
            raise ValueError("data must be a multiple of 16 bytes")
        res = out if out is not None else bytearray(len(data))
        if _ecb is not None:
            _ecb(uctypes.addressof(self._key), len(self._key), uctypes.addressof(data),
                 uctypes.addressof(res), len(data))
            return None if out is not None else bytes(res)
        for o in range(0, len(data), 16):
            self._block(data, o, res)
        return None if out is not None else bytes(res)

    def decrypt(self, data, out=None):
        raise NotImplementedError("mp32 cryptolib: encryption only")

    def _block(self, data, o, res):
        # Allocation-free (no tuples, slices or iterators: a C cryptolib allocates
        # nothing either, and this build collects only between steps).
        s = self._s
        t = self._t
        w = self._w
        for i in range(16):
            s[i] = data[o + i] ^ w[i]
        nr = self._nr
        for r in range(1, nr, 2):           # nr is even: rounds r (s -> t) and r + 1 (t -> s)
            _round(s, t, w, 16 * r, _SBOX, _M2, _M3)
            if r + 1 < nr:
                _round(t, s, w, 16 * r + 16, _SBOX, _M2, _M3)
        _last(t, s, w, 16 * nr, _SBOX)
        for i in range(16):
            res[o + i] = s[i]


def _round(s, d, w, k, sb, m2, m3):
    # SubBytes, ShiftRows, MixColumns and AddRoundKey from s into d (column-major
    # state: byte i is row i % 4 of column i // 4; row j of column c comes from
    # column c + j); m2 / m3: the S-box times 2 / 3 in GF(2^8).
    d[0] = m2[s[0]] ^ m3[s[5]] ^ sb[s[10]] ^ sb[s[15]] ^ w[k]
    d[1] = sb[s[0]] ^ m2[s[5]] ^ m3[s[10]] ^ sb[s[15]] ^ w[k + 1]
    d[2] = sb[s[0]] ^ sb[s[5]] ^ m2[s[10]] ^ m3[s[15]] ^ w[k + 2]
    d[3] = m3[s[0]] ^ sb[s[5]] ^ sb[s[10]] ^ m2[s[15]] ^ w[k + 3]
    d[4] = m2[s[4]] ^ m3[s[9]] ^ sb[s[14]] ^ sb[s[3]] ^ w[k + 4]
    d[5] = sb[s[4]] ^ m2[s[9]] ^ m3[s[14]] ^ sb[s[3]] ^ w[k + 5]
    d[6] = sb[s[4]] ^ sb[s[9]] ^ m2[s[14]] ^ m3[s[3]] ^ w[k + 6]
    d[7] = m3[s[4]] ^ sb[s[9]] ^ sb[s[14]] ^ m2[s[3]] ^ w[k + 7]
    d[8] = m2[s[8]] ^ m3[s[13]] ^ sb[s[2]] ^ sb[s[7]] ^ w[k + 8]
    d[9] = sb[s[8]] ^ m2[s[13]] ^ m3[s[2]] ^ sb[s[7]] ^ w[k + 9]
    d[10] = sb[s[8]] ^ sb[s[13]] ^ m2[s[2]] ^ m3[s[7]] ^ w[k + 10]
    d[11] = m3[s[8]] ^ sb[s[13]] ^ sb[s[2]] ^ m2[s[7]] ^ w[k + 11]
    d[12] = m2[s[12]] ^ m3[s[1]] ^ sb[s[6]] ^ sb[s[11]] ^ w[k + 12]
    d[13] = sb[s[12]] ^ m2[s[1]] ^ m3[s[6]] ^ sb[s[11]] ^ w[k + 13]
    d[14] = sb[s[12]] ^ sb[s[1]] ^ m2[s[6]] ^ m3[s[11]] ^ w[k + 14]
    d[15] = m3[s[12]] ^ sb[s[1]] ^ sb[s[6]] ^ m2[s[11]] ^ w[k + 15]


def _last(s, d, w, k, sb):
    # The last round: no MixColumns.
    d[0] = sb[s[0]] ^ w[k]
    d[1] = sb[s[5]] ^ w[k + 1]
    d[2] = sb[s[10]] ^ w[k + 2]
    d[3] = sb[s[15]] ^ w[k + 3]
    d[4] = sb[s[4]] ^ w[k + 4]
    d[5] = sb[s[9]] ^ w[k + 5]
    d[6] = sb[s[14]] ^ w[k + 6]
    d[7] = sb[s[3]] ^ w[k + 7]
    d[8] = sb[s[8]] ^ w[k + 8]
    d[9] = sb[s[13]] ^ w[k + 9]
    d[10] = sb[s[2]] ^ w[k + 10]
    d[11] = sb[s[7]] ^ w[k + 11]
    d[12] = sb[s[12]] ^ w[k + 12]
    d[13] = sb[s[1]] ^ w[k + 13]
    d[14] = sb[s[6]] ^ w[k + 14]
    d[15] = sb[s[11]] ^ w[k + 15]


if _ecb is not None:
    aes(bytes(16), MODE_ECB).encrypt(bytearray(16))     # the first call allocates once
