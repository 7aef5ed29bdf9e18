"""CPython stand-in for MicroPython's `cryptolib`: AES in ECB mode only.

lib/ builds CCM on AES-ECB (the unix port and many boards have nothing else),
so ECB is all this shim has to provide. Backed by the `cryptography` package.
"""
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1


class aes:
    def __init__(self, key, mode, IV=None):
        if mode != MODE_ECB:
            raise ValueError("shim supports MODE_ECB only")
        cipher = Cipher(algorithms.AES(bytes(key)), modes.ECB())
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    def encrypt(self, data, out=None):
        return self._run(self._enc, data, out)

    def decrypt(self, data, out=None):
        return self._run(self._dec, data, out)

    @staticmethod
    def _run(ctx, data, out):
        if len(data) % 16:
            raise ValueError("data must be a multiple of 16 bytes")
        result = ctx.update(bytes(data))
        if out is None:
            return result
        out[: len(result)] = result
        return None
