"""OSCORE crypto primitives (lib/oscore/hkdf.py, lib/oscore/ccm.py) against published vectors.

Runs under pytest and under `micropython host_tests/mprun.py`. Vectors are typed in from
the RFCs cited at each group; the OSCORE ones come from host_tests/vectors/.
"""
import hashlib
import sys

from host_tests.support.check import load_vectors, raises, unhex
from oscore.ccm import AesCcm
from oscore.hkdf import hkdf, hkdf_expand, hkdf_extract, hmac_sha256


# --- HMAC-SHA256: RFC 4231 section 4 (test cases 1-4, 6, 7; 5 is truncated to 128 bits) ---

HMAC_CASES = (
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data."
     b" The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


def test_hmac_sha256_rfc4231():
    for key, data, mac in HMAC_CASES:
        assert hmac_sha256(key, data) == unhex(mac), mac


def test_hmac_sha256_rfc4231_case5_truncated():
    mac = hmac_sha256(b"\x0c" * 20, b"Test With Truncation")
    assert mac[:16] == unhex("a3b6167473100ee06e0c796c2955552b")


def test_hmac_sha256_key_exactly_one_block_is_not_hashed():
    # 64-byte key is used as is; 65 bytes is hashed first: the two must differ.
    assert hmac_sha256(b"k" * 64, b"x") != hmac_sha256(b"k" * 65, b"x")
    assert len(hmac_sha256(b"", b"")) == 32


# --- HKDF-SHA256: RFC 5869 Appendix A, test cases 1-3 ---

def _seq(start, stop):
    return bytes(range(start, stop))


HKDF_CASES = (
    (b"\x0b" * 22, _seq(0x00, 0x0d), _seq(0xf0, 0xfa), 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (_seq(0x00, 0x50), _seq(0x60, 0xb0), _seq(0xb0, 0x100), 82,
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    (b"\x0b" * 22, b"", b"", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
)


def test_hkdf_rfc5869_cases_1_to_3():
    for ikm, salt, info, length, prk, okm in HKDF_CASES:
        assert hkdf_extract(salt, ikm) == unhex(prk), prk
        assert hkdf_expand(unhex(prk), info, length) == unhex(okm), okm
        assert hkdf(salt, ikm, info, length) == unhex(okm), okm


def test_hkdf_empty_or_none_salt_is_32_zero_bytes():
    ikm = b"\x0b" * 22
    assert hkdf_extract(None, ikm) == hkdf_extract(b"", ikm) == hkdf_extract(bytes(32), ikm)


def test_hkdf_length_limits():
    assert hkdf(b"s", b"k", b"i", 0) == b""
    assert len(hkdf(b"s", b"k", b"i", 255 * 32)) == 255 * 32
    with raises(ValueError):
        hkdf(b"s", b"k", b"i", 255 * 32 + 1)


# --- AES-CCM: RFC 3610 section 8, packet vectors #1-#3 (M = 8, L = 2, 13-byte nonce) ---

CCM_KEY = unhex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf")
# (nonce, packet length; the packet is bytes 00 01 02 ..., its first 8 bytes are the
#  header = AAD), expected encrypted payload || tag.
CCM_CASES = (
    ("00000003020100a0a1a2a3a4a5", 31,
     "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0"),
    ("00000004030201a0a1a2a3a4a5", 32,
     "72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3ba091d56e10400916"),
    ("00000005040302a0a1a2a3a4a5", 33,
     "51b1e5f44a197d1da46b0f8e2d282ae871e838bb64da8596574adaa76fbd9fb0c5"),
)


def _flip(buf, i, bit=1):
    b = bytearray(buf)
    b[i] ^= bit
    return bytes(b)


def _assert_rejected(ccm, nonce, ct, aad):
    with raises(ValueError):
        ccm.decrypt(nonce, ct, aad)


def _check_tampering(ccm, nonce, ct, aad):
    """Flip bits in ciphertext, tag, aad and nonce: each must fail authentication."""
    for i in range(len(ct)):          # ciphertext bytes and the 8 tag bytes
        _assert_rejected(ccm, nonce, _flip(ct, i, 1 << (i % 8)), aad)
    for i in range(len(aad)):
        _assert_rejected(ccm, nonce, ct, _flip(aad, i, 0x80))
    for i in (0, 6, 12):
        _assert_rejected(ccm, _flip(nonce, i), ct, aad)
    _assert_rejected(ccm, nonce, ct, aad + b"\x00")   # zero padding is not the same AAD
    _assert_rejected(ccm, nonce, ct[:-1], aad)        # truncated


def test_ccm_rfc3610_packet_vectors_1_to_3():
    ccm = AesCcm(CCM_KEY)
    for nonce, length, expected in CCM_CASES:
        packet = _seq(0, length)
        aad, plaintext = packet[:8], packet[8:]
        nonce = unhex(nonce)
        ct = ccm.encrypt(nonce, plaintext, aad)
        assert ct == unhex(expected), expected
        assert ccm.decrypt(nonce, ct, aad) == plaintext
        _check_tampering(ccm, nonce, bytes(ct), aad)


def test_ccm_empty_plaintext_and_empty_aad():
    ccm = AesCcm(CCM_KEY)
    nonce = _seq(1, 14)
    for pt, aad in ((b"", b""), (b"", b"a"), (b"p", b""), (_seq(0, 16), b""), (b"", _seq(0, 14))):
        ct = ccm.encrypt(nonce, pt, aad)
        assert len(ct) == len(pt) + 8
        assert ccm.decrypt(nonce, ct, aad) == pt
        _check_tampering(ccm, nonce, bytes(ct), aad)


def test_ccm_block_boundaries_round_trip():
    ccm = AesCcm(CCM_KEY)
    nonce = _seq(0x20, 0x2d)
    for n in (1, 15, 16, 17, 31, 32, 33, 47, 48):
        pt = _seq(0, n)
        for alen in (1, 13, 14, 15, 16, 29, 30, 31):
            aad = _seq(0x80, 0x80 + alen)
            ct = ccm.encrypt(nonce, pt, aad)
            assert ccm.decrypt(nonce, ct, aad) == pt
            _assert_rejected(ccm, nonce, ct, aad[:-1] + bytes((aad[-1] ^ 1,)))


def test_ccm_failed_decrypt_never_leaves_plaintext():
    ccm = AesCcm(CCM_KEY)
    nonce = _seq(0, 13)
    pt = b"secret plaintext, 33 bytes long.."
    ct = ccm.encrypt(nonce, pt, b"hdr")
    out = bytearray(b"\xee" * 40)
    with raises(ValueError):
        ccm.decrypt_into(nonce, _flip(ct, len(ct) - 1), b"hdr", out)
    assert out[: len(pt)] == bytes(len(pt))
    assert out[len(pt):] == b"\xee" * (40 - len(pt))


def test_ccm_into_and_in_place():
    ccm = AesCcm(CCM_KEY)
    nonce, length, expected = CCM_CASES[0]
    nonce = unhex(nonce)
    packet = _seq(0, length)
    # encrypt in place: plaintext at the start of a buffer with room for the tag
    buf = bytearray(length - 8 + 8 + 5)
    buf[: length - 8] = packet[8:]
    mv = memoryview(buf)
    n = ccm.encrypt_into(nonce, mv[: length - 8], packet[:8], mv)
    assert n == length and bytes(buf[:n]) == unhex(expected)
    # decrypt in place
    m = ccm.decrypt_into(nonce, mv[:n], packet[:8], mv)
    assert m == length - 8 and bytes(buf[:m]) == packet[8:]
    with raises(ValueError):
        ccm.encrypt_into(nonce, packet[8:], packet[:8], bytearray(length - 1))
    with raises(ValueError):
        ccm.decrypt_into(nonce, unhex(expected), packet[:8], bytearray(length - 9))


def test_ccm_rejects_bad_parameters():
    with raises(ValueError):
        AesCcm(bytes(15))
    with raises(ValueError):
        AesCcm(bytes(32))
    ccm = AesCcm(CCM_KEY)
    for nonce in (bytes(12), bytes(14), b""):
        with raises(ValueError):
            ccm.encrypt(nonce, b"x", b"")
        with raises(ValueError):
            ccm.decrypt(nonce, bytes(9), b"")
    with raises(ValueError):
        ccm.decrypt(bytes(13), bytes(7), b"")      # shorter than the tag
    with raises(ValueError):
        ccm.encrypt(bytes(13), bytes(0x10000), b"")  # L = 2: at most 65535 bytes
    assert len(ccm.encrypt(bytes(13), bytes(0xFFFF), b"")) == 0xFFFF + 8


# Outputs for long inputs computed with `cryptography`'s AESCCM(key, tag_length=8) (OpenSSL)
# -- the RFC vectors are all short: these cover the high byte of the message length and
# the two AAD length encodings either side of 2^16 - 2^8 (2 bytes / 0xff 0xfe + 4 bytes).
# (plaintext length, aad length, tag, sha256 of ciphertext || tag); nonce 00 01 .. 0c,
# plaintext bytes i & 0xff, aad bytes (7 * i) & 0xff.
CCM_LONG = (
    (300, 0, "fc598af62cb16749",
     "956eb96de488719b994e3ca794883284e5410e766b1063fd35e5029c018e6a93"),
    (2, 0xFEFF, "162b2a76264f297c",
     "7c7775ca61e316444779a32891cd39119ab32f6d379096fd84f74c299ad8e219"),
    (2, 0xFF00, "1ed047a0e38cdfa4",
     "7ef93cd0383bb049dc1f8f91588d9bb8eefeed21634db409dabf571a974ac5ac"),
    (0xFFFF, 3, "8e372ecaa05540bc",
     "bbff9779c4079cba1f0ff6608f2b22cb43e8b9a7411a411dfb47e8d2c0e7067f"),
)


def test_ccm_long_inputs_known_answers():
    ccm = AesCcm(CCM_KEY)
    nonce = _seq(0, 13)
    for plen, alen, tag, digest in CCM_LONG:
        pt = bytes(i & 0xFF for i in range(plen))
        aad = bytes((7 * i) & 0xFF for i in range(alen))
        ct = ccm.encrypt(nonce, pt, aad)
        assert ct[-8:] == unhex(tag), (plen, alen)
        assert hashlib.sha256(ct).digest() == unhex(digest), (plen, alen)
        assert ccm.decrypt(nonce, ct, aad) == pt
        _assert_rejected(ccm, nonce, ct, aad + b"\x01")
        _assert_rejected(ccm, nonce, _flip(ct, plen // 2), aad)


# --- OSCORE: RFC 8613 section 3.2.1 key derivation and Appendix C ---

def _bstr(b):
    assert len(b) < 24
    return bytes((0x40 | len(b),)) + b


def _info(ident, id_context, kind, length):
    """CBOR info = [id, id_context (bstr or null), alg_aead 10, type, L], RFC 8613 3.2.1."""
    kind = kind.encode()
    assert len(kind) < 24 and length < 24
    ctx = b"\xf6" if id_context is None else _bstr(id_context)
    return (b"\x85" + _bstr(ident) + ctx + b"\x0a"
            + bytes((0x60 | len(kind),)) + kind + bytes((length,)))


def _derive(vec, ident, kind, length):
    ctx = vec["id_context"]
    ctx = None if ctx is None else unhex(ctx)
    return hkdf(unhex(vec["master_salt"]), unhex(vec["master_secret"]),
                _info(ident, ctx, kind, length), length)


def test_oscore_info_encoding_rfc8613_c11():
    # RFC 8613 C.1.1: info for the sender key, the recipient key and the common IV
    assert _info(b"", None, "Key", 16) == unhex("8540f60a634b657910")
    assert _info(b"\x01", None, "Key", 16) == unhex("854101f60a634b657910")
    assert _info(b"", None, "IV", 13) == unhex("8540f60a6249560d")


def test_oscore_key_derivation_rfc8613_appendix_c():
    vectors = load_vectors("oscore-rfc8613-appendix-c.json")["key_derivation"]
    assert len(vectors) >= 6
    for vec in vectors:
        label = vec["label"]
        assert _derive(vec, unhex(vec["sender_id"]), "Key", 16) == unhex(vec["sender_key"]), label
        assert _derive(vec, unhex(vec["recipient_id"]), "Key", 16) == unhex(vec["recipient_key"]), label
        assert _derive(vec, b"", "IV", 13) == unhex(vec["common_iv"]), label


def test_oscore_messages_rfc8613_c4_to_c8():
    data = load_vectors("oscore-rfc8613-appendix-c.json")
    contexts = {}
    for vec in data["key_derivation"]:
        contexts[vec["label"]] = vec
    checked = 0
    for msg in data["messages"]:
        label = msg["label"]
        ccm = AesCcm(unhex(contexts[msg["context"]]["sender_key"]))
        nonce, aad = unhex(msg["nonce"]), unhex(msg["aad"])
        plaintext, ciphertext = unhex(msg["plaintext"]), unhex(msg["ciphertext"])
        assert ccm.encrypt(nonce, plaintext, aad) == ciphertext, label
        assert ccm.decrypt(nonce, ciphertext, aad) == plaintext, label
        _assert_rejected(ccm, nonce, _flip(ciphertext, 0), aad)
        _assert_rejected(ccm, nonce, ciphertext, _flip(aad, len(aad) - 1))
        checked += 1
    assert checked >= 5


# --- MicroPython only: heap use per call (not defined under CPython, so never a fake pass) ---

if sys.implementation.name == "micropython":
    import gc
    import micropython

    def _heap_growth(fn):
        fn()  # warm up
        gc.collect()
        gc.disable()
        try:
            before = gc.mem_alloc()
            fn()
            return gc.mem_alloc() - before
        finally:
            gc.enable()

    def test_ccm_heap_per_encrypt_is_bounded():
        ccm = AesCcm(CCM_KEY)
        nonce, pt, aad = _seq(0, 13), _seq(0, 64), _seq(100, 120)
        out_len = len(pt) + 8
        used = _heap_growth(lambda: ccm.encrypt(nonce, pt, aad))
        # the 72-byte result bytearray (object + data, rounded to GC blocks): 128 bytes
        # measured on the 64-bit unix port; anything else allocated would show here.
        assert used <= out_len + 64, used
        ct = bytes(ccm.encrypt(nonce, pt, aad))
        used = _heap_growth(lambda: ccm.decrypt(nonce, ct, aad))
        assert used <= len(pt) + 64, used

    def test_ccm_into_does_not_allocate():
        ccm = AesCcm(CCM_KEY)
        nonce, pt, aad = _seq(0, 13), _seq(0, 64), _seq(100, 120)
        out = bytearray(72)
        back = bytearray(64)
        ccm.encrypt_into(nonce, pt, aad, out)
        micropython.heap_lock()
        try:
            n = ccm.encrypt_into(nonce, pt, aad, out)
            m = ccm.decrypt_into(nonce, out, aad, back)
        finally:
            micropython.heap_unlock()
        assert n == 72 and m == 64 and back == pt
