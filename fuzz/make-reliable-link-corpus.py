#!/usr/bin/env python3
"""Writes the seed corpus of fuzz-reliable-link into fuzz/corpus/reliable-link/.

An input is a mode byte (fuzz-reliable-link.c: bit 0 passive link, bit 1 path
changed after the datagrams, bit 2 closed before them, bit 3 abort at the end), then datagrams, each a length byte and that
many bytes. The datagrams follow the wire format of session/pl-reliable-link.c
and the state fuzz-reliable-link.c sets up: the link sent a hello (packet 1)
and ten data packets (2 to 11, 1356 bytes each), the peer's packets 1 to 4
came in (data [0, 500) and [1000, 1500), an ack of 2 x 1356 bytes with a SACK
block), so the peer's next packet number is 5.

Usage: fuzz/make-reliable-link-corpus.py [DIRECTORY]
"""
import os
import struct
import sys

CONVERSATION = 0x7E570001
MSS = 1408 - 52
HELLO, FIN, RST, PING = 0x01, 0x02, 0x04, 0x08
PASSIVE, PATH_CHANGED, CLOSE, ABORT = 0x01, 0x02, 0x04, 0x08


def packet(pn, ack=0, window=65536, largest=0, delay=100, offset=0, flags=0,
           blocks=(), payload=b"", version=1, conversation=CONVERSATION, n_blocks=None):
    """blocks are absolute stream offsets; the wire has them relative to ack"""
    header = struct.pack(">BBBBIQQQQIQ", version, flags,
                         len(blocks) if n_blocks is None else n_blocks, 0,
                         conversation, pn, ack, window, largest, delay, offset)
    body = b"".join(struct.pack(">II", start - ack, end - ack) for start, end in blocks)
    return header + body + payload


def seed(mode, *datagrams):
    out = bytes([mode])
    for datagram in datagrams:
        assert len(datagram) <= 255, len(datagram)
        out += bytes([len(datagram)]) + datagram
    return out


def pattern(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


SEEDS = {
    # more of the flight acknowledged, then all of it
    "ack-sack": seed(0,
                     packet(5, ack=3 * MSS, largest=6, blocks=[(4 * MSS, 5 * MSS)]),
                     packet(6, ack=3 * MSS, largest=9,
                            blocks=[(4 * MSS, 5 * MSS), (6 * MSS, 8 * MSS)]),
                     packet(7, ack=10 * MSS, largest=11)),
    # duplicate acks: the packet threshold declares a loss
    "ack-duplicates": seed(0, *(packet(5 + i, ack=2 * MSS, largest=6 + i,
                                       blocks=[(3 * MSS, (4 + i) * MSS)]) for i in range(4))),
    # the peer's data fills the gap, then ends with a FIN
    "data-gap-fin": seed(0,
                         packet(5, offset=500, payload=pattern(200)),
                         packet(6, offset=700, payload=pattern(200)),
                         packet(7, offset=900, payload=pattern(100)),
                         packet(8, offset=1500, flags=FIN, payload=pattern(50))),
    # the app closed first: the rest of the flight and our FIN acknowledged (the
    # ack one past the end), the gap filled, the peer's FIN: an orderly close
    "close-both": seed(CLOSE,
                       packet(5, ack=10 * MSS, largest=11),
                       packet(6, ack=16384 + 1, largest=13),
                       packet(7, offset=500, payload=pattern(200)),
                       packet(8, offset=700, payload=pattern(200)),
                       packet(9, offset=900, payload=pattern(100)),
                       packet(10, offset=1500, flags=FIN)),
    "reset": seed(0, packet(5, flags=RST)),
    # the window closes, is probed, opens wide
    "window-ping": seed(0,
                        packet(5, ack=10 * MSS, window=0, largest=11, flags=PING),
                        packet(6, ack=10 * MSS, window=2**64 - 1, largest=11)),
    # the most SACK blocks a header holds
    "max-blocks": seed(0, packet(5, ack=MSS, largest=11,
                                 blocks=[(MSS * (i + 1) + 100 * i + 10,
                                          MSS * (i + 1) + 100 * i + 60) for i in range(16)])),
    # a passive link: the hello, data and a FIN
    "passive-hello": seed(PASSIVE,
                          packet(1, flags=HELLO),
                          packet(2, payload=pattern(150)),
                          packet(3, offset=150, flags=FIN)),
    # what must be refused: version, conversation, short, packet number 0, too many blocks
    "refused": seed(0,
                    packet(5, version=2),
                    packet(5, conversation=CONVERSATION + 1),
                    packet(5)[:51],
                    packet(0, flags=PING),
                    packet(5, n_blocks=17),
                    packet(5, n_blocks=2, blocks=[(MSS, 2 * MSS)])),
    "path-changed-abort": seed(PATH_CHANGED | ABORT,
                               packet(5, ack=3 * MSS, largest=6, blocks=[(4 * MSS, 5 * MSS)])),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "reliable-link")
    os.makedirs(directory, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
