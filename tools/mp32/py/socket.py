"""Stub `socket` for the wasm build run by tools/mp32/run.mjs, which has none:
the constants lib/transport/udp.py reads, and calls that raise OSError. Lets
modules that import socket load (for heap measurements on the fake radio);
no network. Imported by run.mjs before the script (outside its heap delta),
as a board's socket module is C."""
AF_INET = 2
AF_INET6 = 10
SOCK_DGRAM = 2
SOCK_STREAM = 1
SOL_SOCKET = 1
SO_REUSEADDR = 2
IPPROTO_UDP = 17


def _none(*args):
    raise OSError(95)       # EOPNOTSUPP


socket = getaddrinfo = _none
