"""IEEE 802.15.4 per-hop cost model: what one hop of a 6LoWPAN mesh costs a UDP datagram.

`Phy154(...).hop(nbytes, rng)` takes the size of a UDP payload (what an engine hands to
the radio) and one seeded Rng (tools/sim/radio.py, the xorshift32 of lib/drivers/sim.py;
never `random`), and plays out on a virtual clock in integer microseconds: 6LoWPAN
fragmentation, unslotted CSMA/CA for every transmission attempt, link-layer ACK and
retries. It returns Hop(delivered, delay_us, frames, transmissions) and adds to the
model's counters. `Radio.link(a, b, phy=Phy154())` makes a radio hop take its delay and
loss from it. Runs unchanged under CPython and the unix-port MicroPython (plain ints, no
typing/dataclasses), and one seed gives the same numbers on both.

Physical layer: 2.4 GHz O-QPSK (IEEE 802.15.4-2006 §6.5, 2011 §10.1)
    250 kbit/s, 62.5 ksymbol/s, 4 bits per symbol:
    SYMBOL_US        16 µs per symbol
    BYTE_US          32 µs per byte (4 µs per bit)
    PHY_OVERHEAD      6 bytes: SHR = preamble 4 + SFD 1, plus PHR 1 (frame length)
    MAX_PHY_PAYLOAD 127 bytes: aMaxPHYPacketSize (largest PSDU = MPDU, FCS included)
    airtime_us(psdu) = (6 + psdu) * 32 µs; a 127-byte frame takes 4256 µs.

MAC (IEEE 802.15.4-2006 §7.2, §7.4.2, §7.5.1.4, §7.5.6.4; same values in 2011)
    mac_overhead     11 bytes by default (parameter): frame control 2 + sequence number 1
                     + destination PAN ID 2 + short destination address 2 + short source
                     address 2 (source PAN ID elided: PAN ID compression) + FCS 2. The
                     range is 9 (no source address) .. 23 (both addresses extended, PAN ID
                     compressed); pass 23 for EUI-64 link-layer addressing as many RIOT
                     boards use, 25 without PAN ID compression.
    ACK_PSDU          5 bytes: frame control 2 + sequence number 1 + FCS 2 (352 µs on air)
    TURNAROUND_US   192 µs: aTurnaroundTime 12 symbols (RX<->TX switch)
    ACK_WAIT_US     864 µs: macAckWaitDuration = aUnitBackoffPeriod + aTurnaroundTime
                     + phySHRDuration + ceil(6 * phySymbolsPerOctet) = 20 + 12 + 10 + 12
                     = 54 symbols (2.4 GHz)
    BACKOFF_US      320 µs: aUnitBackoffPeriod 20 symbols
    CCA_US          128 µs: CCA detection time 8 symbols
    MIN_BE 3, MAX_BE 5, MAX_CSMA_BACKOFFS 4, MAX_FRAME_RETRIES 3: the defaults of
                     macMinBE, macMaxBE, macMaxCSMABackoffs, macMaxFrameRetries.

Network adaptation: 6LoWPAN (RFC 4944, RFC 6282)
    ip_header        13 bytes by default (parameter): the compressed IPv6 + UDP headers.
                     IPv6 by IPHC (RFC 6282 §3): 2 bytes IPHC, traffic class / flow label
                     / hop limit elided, stateful context 0 for the prefix with 16-bit
                     interface identifiers inline (SAM = DAM = 10, 2 + 2 bytes) = 6 bytes;
                     UDP by NHC (RFC 6282 §4.3): 1 byte NHC, length elided, both ports
                     inline (5683 is outside the 0xF0Bx range that compresses) 4 bytes,
                     checksum 2 bytes = 7 bytes. Link-local addresses derived from the MAC
                     addresses would save 4 (9 bytes); 64-bit IIDs inline add 12 (25).
    UNCOMPRESSED_IP  48 bytes: IPv6 40 + UDP 8, the header size fragment offsets count
    FRAG1_HEADER      4 bytes, FRAGN_HEADER 5 bytes (RFC 4944 §5.3)
    mtu            1280 bytes (parameter): the IPv6 datagram size 6LoWPAN must carry
                     (RFC 4944 §4); a larger datagram is not sent (Hop delivered False,
                     0 frames). datagram_size is an 11-bit field, so mtu <= 2047.
    A datagram goes in one frame when mac_overhead + ip_header + payload <= 127. Else it
    is fragmented: the first fragment carries FRAG1 + the compressed headers + as much
    payload as fits in a multiple of 8 bytes (the uncompressed headers, 48 bytes, are a
    multiple of 8, so the next datagram_offset is whole 8-byte units); each following
    fragment carries FRAGN + a multiple of 8 payload bytes, the last one the rest. With
    the defaults: 103 payload bytes fit one frame; else 96 in the first fragment and 104
    in each further one (a 300-byte payload: 96 + 104 + 100, three frames).

One frame (fragment) on one hop:
    attempt = CSMA/CA, then the data frame on the air, then the ACK or the wait for it.
    CSMA/CA (unslotted, 2006 §7.5.1.4): NB = 0, BE = MIN_BE; wait upto(2**BE - 1) unit
    backoff periods, CCA; the channel is busy with probability `cca_busy` (contention,
    default 0). Clear: RX->TX turnaround, transmit. Busy: NB += 1, BE = min(BE + 1,
    MAX_BE); NB > MAX_CSMA_BACKOFFS is a channel access failure: the frame is given up
    without retries, as the standard reports CHANNEL_ACCESS_FAILURE to the next layer.
    An attempt gets through with probability 1 - `loss` (one draw covers the data frame
    and its ACK). Through: + TURNAROUND_US + ACK airtime. Not: + ACK_WAIT_US, and the
    frame is sent again (a new CSMA/CA) up to MAX_FRAME_RETRIES more times.
    With no contention one attempt's CSMA/CA takes 0..7 * 320 µs + 128 + 192 µs.
One datagram on one hop:
    delivered only if every fragment is; the sender gives up the datagram at the first
    fragment that fails (later fragments are not sent). delay_us = the sum over the
    fragments sent of their attempts (back-offs + CCA + airtime + ACK or ACK wait): the
    receiver can forward only after sending the last ACK (half-duplex).
    Not modelled: other traffic's frames (only the `cca_busy` probability), hidden
    terminals, duplicate suppression after a lost ACK, inter-frame spacing (LIFS/SIFS),
    radio wake-up, fragment reassembly timeouts (lost means lost).

Counters (cumulative, for the energy proxy; one model shared by links sums them):
    datagrams      hop() calls            delivered    of them delivered
    frames         fragments attempted    transmissions data frames put on the air
    acks           ACK frames sent        cca          CCAs performed
    cca_failures   channel access failures
    tx_us          airtime of the data frames sent   (ACKs: acks * ack_airtime_us())
"""
from collections import namedtuple

SYMBOL_US = 16
BYTE_US = 32
PHY_OVERHEAD = 6
MAX_PHY_PAYLOAD = 127
ACK_PSDU = 5
TURNAROUND_US = 12 * SYMBOL_US          # 192
ACK_WAIT_US = 54 * SYMBOL_US            # 864
BACKOFF_US = 20 * SYMBOL_US             # 320
CCA_US = 8 * SYMBOL_US                  # 128
MIN_BE = 3
MAX_BE = 5
MAX_CSMA_BACKOFFS = 4
MAX_FRAME_RETRIES = 3
MAC_OVERHEAD = 11
IP_HEADER = 13
UNCOMPRESSED_IP = 48
FRAG1_HEADER = 4
FRAGN_HEADER = 5
MTU = 1280

# What one hop() did: delivered (bool), delay_us (int), frames (fragments attempted),
# transmissions (data frames put on the air).
Hop = namedtuple("Hop", ("delivered", "delay_us", "frames", "transmissions"))


def airtime_us(psdu):
    """Time on the air of a frame with `psdu` bytes of PHY payload (MPDU incl. FCS)."""
    return (PHY_OVERHEAD + psdu) * BYTE_US


def ack_airtime_us():
    """Time on the air of an immediate ACK frame (352 µs)."""
    return airtime_us(ACK_PSDU)


class Phy154:
    """One 802.15.4 link model; see the module docstring for the model and the values.

    loss:          probability 0..1 that a transmission attempt is not acknowledged.
    cca_busy:      probability 0..1 that a CCA finds the channel busy (contention).
    mac_overhead:  MAC header + footer bytes per data frame (default 11).
    ip_header:     compressed IPv6 + UDP header bytes (default 13).
    max_retries:   macMaxFrameRetries (default 3).
    mtu:           largest IPv6 datagram carried (default 1280).
    """

    def __init__(self, loss=0.0, cca_busy=0.0, mac_overhead=MAC_OVERHEAD,
                 ip_header=IP_HEADER, max_retries=MAX_FRAME_RETRIES, mtu=MTU):
        if not (0 <= loss <= 1 and 0 <= cca_busy <= 1):
            raise ValueError("probability out of 0..1")
        if max_retries < 0 or not 0 < UNCOMPRESSED_IP < mtu <= 2047:
            raise ValueError("bad max_retries or mtu")
        room = MAX_PHY_PAYLOAD - mac_overhead
        if mac_overhead < 5 or (room - FRAG1_HEADER - ip_header) < 8 or room - FRAGN_HEADER < 8:
            raise ValueError("headers leave no room for a fragment")
        self.loss = loss
        self.cca_busy = cca_busy
        self.mac_overhead = mac_overhead
        self.ip_header = ip_header
        self.max_retries = max_retries
        self.mtu = mtu
        self.reset()

    def reset(self):
        """Zero the counters."""
        self.datagrams = self.delivered = 0
        self.frames = self.transmissions = self.acks = 0
        self.cca = self.cca_failures = 0
        self.tx_us = 0

    def counters(self):
        return {"datagrams": self.datagrams, "delivered": self.delivered,
                "frames": self.frames, "transmissions": self.transmissions,
                "acks": self.acks, "cca": self.cca, "cca_failures": self.cca_failures,
                "tx_us": self.tx_us}

    def frame_sizes(self, nbytes):
        """PSDU sizes (bytes, MAC overhead included) of the frames that carry a UDP payload
        of `nbytes`: one entry when it fits a frame, else one per 6LoWPAN fragment.
        None when the IPv6 datagram (48 + nbytes) exceeds the mtu."""
        if nbytes < 0:
            raise ValueError("negative size")
        if UNCOMPRESSED_IP + nbytes > self.mtu:
            return None
        mac = self.mac_overhead
        room = MAX_PHY_PAYLOAD - mac
        if self.ip_header + nbytes <= room:
            return [mac + self.ip_header + nbytes]
        first = (room - FRAG1_HEADER - self.ip_header) // 8 * 8
        chunk = (room - FRAGN_HEADER) // 8 * 8
        sizes = [mac + FRAG1_HEADER + self.ip_header + first]
        left = nbytes - first
        while left > 0:
            k = chunk if left > chunk else left
            sizes.append(mac + FRAGN_HEADER + k)
            left -= k
        return sizes

    def max_csma_us(self):
        """Longest CSMA/CA of one attempt when every CCA is clear: 7 * 320 + 128 + 192."""
        return ((1 << MIN_BE) - 1) * BACKOFF_US + CCA_US + TURNAROUND_US

    def _csma(self, rng):
        """One unslotted CSMA/CA: (µs spent, True when the channel was found clear)."""
        t = 0
        be = MIN_BE
        nb = 0
        while True:
            t += rng.upto((1 << be) - 1) * BACKOFF_US + CCA_US
            self.cca += 1
            if not rng.chance(self.cca_busy):
                return t + TURNAROUND_US, True
            nb += 1
            if nb > MAX_CSMA_BACKOFFS:
                self.cca_failures += 1
                return t, False
            be = be + 1 if be < MAX_BE else MAX_BE

    def _frame(self, psdu, rng):
        """One frame with retries: (µs spent, delivered, transmissions)."""
        t = 0
        air = airtime_us(psdu)
        for tx in range(self.max_retries + 1):
            spent, clear = self._csma(rng)
            t += spent
            if not clear:
                return t, False, tx
            t += air
            self.transmissions += 1
            self.tx_us += air
            if not rng.chance(self.loss):
                self.acks += 1
                return t + TURNAROUND_US + ack_airtime_us(), True, tx + 1
            t += ACK_WAIT_US
        return t, False, self.max_retries + 1

    def hop(self, nbytes, rng):
        """Send a UDP payload of `nbytes` over one hop; returns a Hop."""
        self.datagrams += 1
        sizes = self.frame_sizes(nbytes)
        if sizes is None:
            return Hop(False, 0, 0, 0)
        delay = frames = txs = 0
        for psdu in sizes:
            spent, ok, n = self._frame(psdu, rng)
            delay += spent
            frames += 1
            txs += n
            self.frames += 1
            if not ok:
                return Hop(False, delay, frames, txs)
        self.delivered += 1
        return Hop(True, delay, frames, txs)

    def __repr__(self):
        return "Phy154(loss=%r, cca_busy=%r, mac_overhead=%r, ip_header=%r)" % (
            self.loss, self.cca_busy, self.mac_overhead, self.ip_header)
