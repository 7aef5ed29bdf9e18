"""Transports: the objects handed to the sans-IO engines as `transport.send(peer, datagram)`.

- `transport.udp` -- a non-blocking UDP socket (unix port, boards, CPython), with peers
  normalized to ("host", port) tuples on every interpreter.

The fake radio used by tests and the simulator lives host-side in `tools/sim/radio.py`.
Nothing is imported here, so a board pulls in only the transport it uses.
"""
