"""Stand-in for MicroPython's `cryptolib`, absent from the wasm build that
tools/mp32/run.mjs runs: AES (128/192/256-bit keys) in ECB mode, encryption
only -- all lib/oscore/ccm.py uses. Pure Python (S-box and round keys built
once; a few small tuples per block), slow: for measuring heap, not speed.
run.mjs imports it before the script, so its tables sit outside any heap
delta the script measures; on a board cryptolib is C."""
MODE_ECB = 1

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
        self._w = w
        self._s = bytearray(16)

    def encrypt(self, data, out=None):
        if len(data) % 16:
            raise ValueError("data must be a multiple of 16 bytes")
        res = out if out is not None else bytearray(len(data))
        for o in range(0, len(data), 16):
            self._block(data, o, res)
        return None if out is not None else bytes(res)

    def decrypt(self, data, out=None):
        raise NotImplementedError("mp32 cryptolib: encryption only")

    def _block(self, data, o, res):
        s, w, sb = self._s, self._w, _SBOX
        for i in range(16):
            s[i] = data[o + i] ^ w[i]
        nr = self._nr
        for r in range(1, nr + 1):
            # SubBytes + ShiftRows (column-major state: byte i is row i % 4, column i // 4)
            a0, a1, a2, a3 = sb[s[0]], sb[s[5]], sb[s[10]], sb[s[15]]
            b0, b1, b2, b3 = sb[s[4]], sb[s[9]], sb[s[14]], sb[s[3]]
            c0, c1, c2, c3 = sb[s[8]], sb[s[13]], sb[s[2]], sb[s[7]]
            d0, d1, d2, d3 = sb[s[12]], sb[s[1]], sb[s[6]], sb[s[11]]
            k = 16 * r
            if r == nr:
                col = ((a0, a1, a2, a3), (b0, b1, b2, b3), (c0, c1, c2, c3), (d0, d1, d2, d3))
                for c in range(4):
                    for j in range(4):
                        s[4 * c + j] = col[c][j] ^ w[k + 4 * c + j]
                break
            for c, (x0, x1, x2, x3) in enumerate(((a0, a1, a2, a3), (b0, b1, b2, b3),
                                                  (c0, c1, c2, c3), (d0, d1, d2, d3))):
                t = x0 ^ x1 ^ x2 ^ x3
                i = 4 * c
                s[i] = x0 ^ t ^ _xt(x0 ^ x1) ^ w[k + i]
                s[i + 1] = x1 ^ t ^ _xt(x1 ^ x2) ^ w[k + i + 1]
                s[i + 2] = x2 ^ t ^ _xt(x2 ^ x3) ^ w[k + i + 2]
                s[i + 3] = x3 ^ t ^ _xt(x3 ^ x0) ^ w[k + i + 3]
        res[o:o + 16] = s
