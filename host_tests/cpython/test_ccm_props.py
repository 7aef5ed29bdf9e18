"""Property tests (CPython only): lib/oscore/ccm.py and hkdf.py against `cryptography`.

Our AES-CCM (on the ECB shim) must agree byte for byte with cryptography's AESCCM
(tag_length=8) and open what it produces; our HKDF must agree with cryptography's HKDF.
"""
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tests.support.check import raises
from oscore.ccm import AesCcm
from oscore.hkdf import hkdf, hmac_sha256

keys = st.binary(min_size=16, max_size=16)
nonces = st.binary(min_size=13, max_size=13)
payloads = st.binary(min_size=0, max_size=300)


@settings(max_examples=300, deadline=None)
@given(keys, nonces, payloads, payloads)
def test_ccm_matches_cryptography(key, nonce, plaintext, aad):
    ref = AESCCM(key, tag_length=8)
    ours = AesCcm(key)
    expected = ref.encrypt(nonce, plaintext, aad)
    assert bytes(ours.encrypt(nonce, plaintext, aad)) == expected
    assert bytes(ours.decrypt(nonce, expected, aad)) == plaintext
    assert ref.decrypt(nonce, bytes(ours.encrypt(nonce, plaintext, aad)), aad) == plaintext


@settings(max_examples=200, deadline=None)
@given(keys, nonces, payloads, payloads, st.data())
def test_ccm_rejects_any_single_bit_flip(key, nonce, plaintext, aad, data):
    ours = AesCcm(key)
    sealed = bytearray(ours.encrypt(nonce, plaintext, aad))
    i = data.draw(st.integers(0, len(sealed) - 1))
    sealed[i] ^= 1 << data.draw(st.integers(0, 7))
    with raises(ValueError):
        ours.decrypt(nonce, bytes(sealed), aad)


def test_ccm_long_aad_length_forms_match_cryptography():
    # around the switch from the 2-byte to the 6-byte AAD length encoding (2^16 - 2^8)
    key, nonce = bytes(range(16)), bytes(range(13))
    for alen in (0xFEFF, 0xFF00, 0xFF01, 0x10000, 0x12345):
        aad = bytes(i & 0xFF for i in range(alen))
        expected = AESCCM(key, tag_length=8).encrypt(nonce, b"payload", aad)
        assert bytes(AesCcm(key).encrypt(nonce, b"payload", aad)) == expected, alen


def test_ccm_long_messages_match_cryptography():
    # message lengths past one length byte, up to the L = 2 limit
    key, nonce = bytes(range(16)), bytes(range(13))
    for plen in (255, 256, 257, 4096, 0xFFFF):
        pt = bytes((i * 5) & 0xFF for i in range(plen))
        expected = AESCCM(key, tag_length=8).encrypt(nonce, pt, b"aad")
        ours = AesCcm(key)
        assert bytes(ours.encrypt(nonce, pt, b"aad")) == expected, plen
        assert bytes(ours.decrypt(nonce, expected, b"aad")) == pt, plen


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100), st.binary(max_size=200), st.binary(max_size=100),
       st.integers(1, 255 * 32))
def test_hkdf_matches_cryptography(salt, ikm, info, length):
    ref = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info)
    assert hkdf(salt, ikm, info, length) == ref.derive(ikm)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_matches_stdlib(key, data):
    assert hmac_sha256(key, data) == hmac.new(key, data, hashlib.sha256).digest()
