"""Numbers and bytes as text, the same on MicroPython and CPython.

float_text(x): the shortest decimal that reads back as exactly x, laid out as
CPython's repr() does ("22.5", "0.1", "1e-05", "1e+16"). MicroPython's own
repr is not always shortest ("77.01000000000001"), so the digits are found
here with exact integer arithmetic (for binary32 on single-precision ports). parse_int/parse_float check the grammar
first (int() and float() accept spaces and more); b64encode/b64decode wrap
binascii, whose decoder skips junk characters, with a strict check.
"""
import struct
import binascii
from lwm2m.formats.types import FormatError

_INF = float("inf")
SINGLE = 1.0 + 2.0 ** -30 == 1.0       # this port's floats are 32-bit


# ---------------------------------------------------------------- floats

def float_text(x, single=SINGLE):
    """Shortest round-trip text of a finite float (CPython repr layout).
    single=True: of the float as IEEE 754 binary32, for ports whose floats
    are 32-bit (ESP32, RP2), so 22.1 reads "22.1" there too."""
    if x != x or x == _INF or x == -_INF:
        raise FormatError("NaN and infinity have no decimal text")
    if single:
        bits = struct.unpack(">I", struct.pack(">f", x))[0]
        neg, be, frac = bits >> 31, (bits >> 23) & 0xFF, bits & 0x7FFFFF
        m, e = (frac | 0x800000, be - 150) if be else (frac, -149)
    else:
        bits = struct.unpack(">Q", struct.pack(">d", x))[0]
        neg, be, frac = bits >> 63, (bits >> 52) & 0x7FF, bits & 0xFFFFFFFFFFFFF
        m, e = (frac | 0x10000000000000, be - 1075) if be else (frac, -1074)
    sign = "-" if neg else ""
    if m == 0:
        return sign + "0.0"
    ds, k = _shortest(m, e, frac == 0 and be > 1)
    if -4 <= k < 16:
        if k >= 0:
            ip = ds[:k + 1]
            ip += "0" * (k + 1 - len(ip))
            return sign + ip + "." + (ds[k + 1:] or "0")
        return sign + "0." + "0" * (-k - 1) + ds
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return "%s%se%s%02d" % (sign, mant, "-" if k < 0 else "+", abs(k))


def _cmp(n, a, d, b):
    """Sign of n*2**a - d*10**b, exactly."""
    left = n << a if a > 0 else n
    right = d << -a if a < 0 else d
    if b > 0:
        right *= 10 ** b
    elif b < 0:
        left *= 10 ** -b
    return (left > right) - (left < right)


def _shortest(m, e, narrow_below):
    """Digits (no trailing zeros) and decimal exponent of the first digit of
    the shortest decimal inside the rounding interval of m*2**e."""
    # In units of 2**(e-2): x is 4m, the interval is [4m-1 or 4m-2, 4m+2].
    x4 = 4 * m
    lo, hi = x4 - (1 if narrow_below else 2), x4 + 2
    closed = m % 2 == 0         # round-half-even reads the ends back as x
    bits = 0
    while m >> bits:
        bits += 1
    k = ((e + bits - 1) * 30103) // 100000
    while _cmp(m, e, 1, k) < 0:
        k -= 1
    while _cmp(m, e, 1, k + 1) >= 0:
        k += 1
    for p in range(1, 18):
        q = k - p + 1
        num = m << e if e > 0 else m
        den = 1 << -e if e < 0 else 1
        if q > 0:
            den *= 10 ** q
        elif q < 0:
            num *= 10 ** -q
        d, r = divmod(num, den)
        if 2 * r > den or (2 * r == den and d & 1):
            d += 1
        best = None
        for c in (d, d + 1, d - 1):
            if c <= 0:
                continue
            a, b = _cmp(lo, e - 2, c, q), _cmp(hi, e - 2, c, q)
            if (a < 0 and b > 0) or (closed and a <= 0 and b >= 0):
                best = c
                break
        if best is not None:
            ds = str(best)
            k = q + len(ds) - 1
            return ds.rstrip("0"), k
    raise FormatError("no shortest form")  # unreachable: 17 digits always do


# ---------------------------------------------------------------- parsing

def _scan_digits(s, i):
    j = i
    while j < len(s) and "0" <= s[j] <= "9":
        j += 1
    return j


def parse_int(s):
    """Decimal integer text with an optional sign, nothing else."""
    i = 1 if s[:1] in ("+", "-") else 0
    if i == len(s) or _scan_digits(s, i) != len(s):
        raise FormatError("not an integer: %r" % s[:20])
    return int(s)


def parse_float(s):
    """[+-]digits[.digits][e[+-]digits] (".5" and "5." too) as a finite float."""
    i = 1 if s[:1] in ("+", "-") else 0
    j = _scan_digits(s, i)
    n = j - i
    if j < len(s) and s[j] == ".":
        k = _scan_digits(s, j + 1)
        n += k - j - 1
        j = k
    if n == 0:
        raise FormatError("not a number: %r" % s[:20])
    if j < len(s) and s[j] in "eE":
        j += 1
        if j < len(s) and s[j] in "+-":
            j += 1
        k = _scan_digits(s, j)
        if k == j:
            raise FormatError("bad exponent: %r" % s[:20])
        j = k
    if j != len(s):
        raise FormatError("not a number: %r" % s[:20])
    x = float(s)
    if x == _INF or x == -_INF:
        raise FormatError("number out of range")
    return x


# ---------------------------------------------------------------- base64

def b64encode(data, url=False):
    """RFC 4648 base64 with padding, or base64url without padding (url=True)."""
    s = binascii.b2a_base64(data).decode()[:-1]
    if url:
        s = s.replace("+", "-").replace("/", "_").rstrip("=")
    return s


def b64decode(s):
    """Base64 or base64url, padded or not; FormatError for anything else
    (stray characters, a dangling sixth bit group, non-zero spare bits)."""
    body = s.rstrip("=")
    pad = len(s) - len(body)
    if pad > 2 or len(body) % 4 == 1 or (pad and (len(body) + pad) % 4):
        raise FormatError("bad base64 length")
    std = body.replace("-", "+").replace("_", "/")
    for c in std:
        if not ("A" <= c <= "Z" or "a" <= c <= "z" or "0" <= c <= "9" or c in "+/"):
            raise FormatError("bad base64 character")
    std += "=" * (-len(std) % 4)
    try:
        data = binascii.a2b_base64(std)
    except ValueError:
        raise FormatError("bad base64")
    if b64encode(data) != std:
        raise FormatError("non-canonical base64")
    return data
