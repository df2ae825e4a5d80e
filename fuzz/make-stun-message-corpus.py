#!/usr/bin/env python3
"""Writes the seed corpus of fuzz-stun-message into fuzz/corpus/stun-message/.

An input is one datagram from a STUN or TURN server (RFC 5389/8489, 5766,
5780), as netcheck/pl-stun-message.c reads it; the target also reads it as a
TCP stream of messages. The seeds: the four RFC 5769 test vectors, byte for
byte; the answers netcheck's probes get (Binding success with the RFC 5780
addresses, Binding error, TURN 401 and 438, Allocate and Refresh success
signed with the long-term key fuzz-stun-message.c uses: RFC 5769's user and
password, realm "example.org"); and a few truncated or odd ones. Files named
fuzz-* (new coverage kept from a run, fuzz/README.md) and regress-* (fuzzer
findings) are not written here.

Usage: fuzz/make-stun-message-corpus.py [DIRECTORY]
"""
import hashlib
import hmac
import os
import struct
import sys
import zlib

COOKIE = 0x2112A442
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")

BINDING_REQUEST, BINDING_RESPONSE, BINDING_ERROR = 0x0001, 0x0101, 0x0111
ALLOCATE_RESPONSE, ALLOCATE_ERROR = 0x0103, 0x0113
REFRESH_RESPONSE = 0x0104

MAPPED_ADDRESS = 0x0001
CHANGED_ADDRESS = 0x0005
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
LIFETIME = 0x000D
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
XOR_MAPPED_ADDRESS = 0x0020
SOFTWARE = 0x8022
FINGERPRINT = 0x8028
RESPONSE_ORIGIN = 0x802B
OTHER_ADDRESS = 0x802C

# RFC 5769 2.4, as in fuzz-stun-message.c
USERNAME = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9".encode()
PASSWORD = b"TheMatrIX"
REALM_TEXT = b"example.org"
NONCE_TEXT = b"f//499k954d6OL34oL9FSTvy64sA"
LONG_TERM_KEY = hashlib.md5(USERNAME + b":" + REALM_TEXT + b":" + PASSWORD).digest()

# RFC 5769 2.1 to 2.4
RFC5769 = {
    "rfc5769-request": """
        000100582112a442b7e7a701bc34d686fa87dfae802200105354554e20746573
        7420636c69656e74002400046e0001ff80290008932ff9b151263b3600060009
        6576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249
        c1b571a280280004e57a3bcf""",
    "rfc5769-ipv4-response": """
        0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563
        746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f9
        2af9ba53f06be7d780280004c07d4c96""",
    "rfc5769-ipv6-response": """
        010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563
        746f7220002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014
        a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c""",
    "rfc5769-long-term-request": """
        000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383
        aae38383e382afe382b900000015001c662f2f3439396b39353464364f4c3334
        6f4c394653547679363473410014000b6578616d706c652e6f72670000080014
        f67024656dd64a3e02b8e0712e85c9a28ca89666""",
}


def attr(kind, value):
    return struct.pack(">HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def address(family, port, ip, xor=False, tid=TID):
    if xor:
        port ^= COOKIE >> 16
        mask = struct.pack(">I", COOKIE) + tid
        ip = bytes(a ^ b for a, b in zip(ip, mask))
    return struct.pack(">BBH", 0, family, port) + ip


def ipv4(text):
    return bytes(int(x) for x in text.split("."))


def error_code(code, reason):
    return struct.pack(">HBB", 0, code // 100, code % 100) + reason


def message(kind, attrs, tid=TID, integrity_key=None, fingerprint=True):
    """attrs as built by attr(); MESSAGE-INTEGRITY and FINGERPRINT added last, as RFC 5389 15.4, 15.5"""
    body = b"".join(attrs)

    def header(length):
        return struct.pack(">HHI", kind, length, COOKIE) + tid

    if integrity_key is not None:
        digest = hmac.new(integrity_key, header(len(body) + 24) + body, hashlib.sha1).digest()
        body += attr(MESSAGE_INTEGRITY, digest)
    if fingerprint:
        crc = zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E
        body += attr(FINGERPRINT, struct.pack(">I", crc))
    return header(len(body)) + body


SOFTWARE_ATTR = attr(SOFTWARE, b"Coturn-4.6.1 'Gorst'")
BINDING_RFC5780 = message(BINDING_RESPONSE, [
    attr(XOR_MAPPED_ADDRESS, address(1, 40000, ipv4("203.0.113.7"), xor=True)),
    attr(MAPPED_ADDRESS, address(1, 40000, ipv4("203.0.113.7"))),
    attr(RESPONSE_ORIGIN, address(1, 3478, ipv4("198.51.100.1"))),
    attr(OTHER_ADDRESS, address(1, 3479, ipv4("198.51.100.2"))),
    SOFTWARE_ATTR,
])
ALLOCATE_SUCCESS = message(ALLOCATE_RESPONSE, [
    attr(XOR_RELAYED_ADDRESS, address(1, 50000, ipv4("198.51.100.1"), xor=True)),
    attr(XOR_MAPPED_ADDRESS, address(1, 40000, ipv4("203.0.113.7"), xor=True)),
    attr(LIFETIME, struct.pack(">I", 600)),
    SOFTWARE_ATTR,
], integrity_key=LONG_TERM_KEY)

SEEDS = {
    # RFC 5780 server: all the addresses a NAT test reads
    "binding-rfc5780": BINDING_RFC5780,
    # RFC 3489 server: MAPPED-ADDRESS and CHANGED-ADDRESS only, no FINGERPRINT
    "binding-rfc3489": message(BINDING_RESPONSE, [
        attr(MAPPED_ADDRESS, address(1, 40000, ipv4("203.0.113.7"))),
        attr(CHANGED_ADDRESS, address(1, 3479, ipv4("198.51.100.2"))),
    ], fingerprint=False),
    "binding-ipv6-other": message(BINDING_RESPONSE, [
        attr(XOR_MAPPED_ADDRESS, address(2, 40000, bytes.fromhex("20010db8000000000000000000000007"),
                                         xor=True)),
        attr(OTHER_ADDRESS, address(2, 3479, bytes.fromhex("20010db8000000000000000000000002"))),
    ]),
    # CHANGE-REQUEST refused: 420 with the attribute it did not understand
    "binding-error-420": message(BINDING_ERROR, [
        attr(ERROR_CODE, error_code(420, b"Unknown Attribute")),
        attr(UNKNOWN_ATTRIBUTES, struct.pack(">H", 0x0003)),
        SOFTWARE_ATTR,
    ]),
    "binding-error-400-bad-utf8": message(BINDING_ERROR, [
        attr(ERROR_CODE, error_code(400, b"Bad \xff\xfe Request \xe3\x83")),
    ]),
    # TURN: the first Allocate, unsigned, asks for credentials
    "allocate-401": message(ALLOCATE_ERROR, [
        attr(ERROR_CODE, error_code(401, b"Unauthorized")),
        attr(NONCE, NONCE_TEXT),
        attr(REALM, REALM_TEXT),
        SOFTWARE_ATTR,
    ]),
    "allocate-438-stale-nonce": message(ALLOCATE_ERROR, [
        attr(ERROR_CODE, error_code(438, b"Stale Nonce")),
        attr(NONCE, b"a-fresh-nonce-0123456789"),
        attr(REALM, REALM_TEXT),
    ], integrity_key=LONG_TERM_KEY),
    "allocate-success": ALLOCATE_SUCCESS,
    "allocate-wrong-integrity": message(ALLOCATE_RESPONSE, [
        attr(XOR_RELAYED_ADDRESS, address(1, 50000, ipv4("198.51.100.1"), xor=True)),
        attr(LIFETIME, struct.pack(">I", 600)),
    ], integrity_key=b"not our key"),
    "refresh-success": message(REFRESH_RESPONSE, [
        attr(LIFETIME, struct.pack(">I", 0)),
    ], integrity_key=LONG_TERM_KEY),
    # TCP: two messages in one read, then the start of a third
    "stream-two-and-a-half": BINDING_RFC5780 + ALLOCATE_SUCCESS + ALLOCATE_SUCCESS[:30],
    # odd ones
    "header-only": message(BINDING_RESPONSE, [], fingerprint=False),
    "truncated-header": BINDING_RFC5780[:19],
    "truncated-attribute": BINDING_RFC5780[:20 + 6],
    "length-too-long": BINDING_RFC5780[:2] + b"\x01\x00" + BINDING_RFC5780[4:],
    "no-cookie": BINDING_RFC5780[:4] + b"\x21\x12\xa4\x43" + BINDING_RFC5780[8:],
    "wrong-fingerprint": BINDING_RFC5780[:-1] + bytes([BINDING_RFC5780[-1] ^ 1]),
    "after-fingerprint": (lambda m: m[:2] + struct.pack(">H", len(m) - 20 + 8) + m[4:]
                          + attr(LIFETIME, b"\0\0\0\1"))(BINDING_RFC5780),
    "after-integrity": message(ALLOCATE_RESPONSE, [
        attr(MESSAGE_INTEGRITY, b"\0" * 20),
        attr(XOR_RELAYED_ADDRESS, address(9, 1, b"")),
        attr(LIFETIME, b"\0"),
    ]),
    "duplicates-unknown": message(BINDING_RESPONSE, [
        attr(0x0021, b"comprehension-required"),
        attr(XOR_MAPPED_ADDRESS, address(1, 1, ipv4("192.0.2.1"), xor=True)),
        attr(XOR_MAPPED_ADDRESS, address(1, 2, ipv4("192.0.2.2"), xor=True)),
        attr(ERROR_CODE, error_code(699, b"")),
        attr(ERROR_CODE, error_code(300, b"second")),
        attr(REALM, b""),
    ]),
    "nonce-max-size": message(ALLOCATE_ERROR, [
        attr(ERROR_CODE, error_code(401, b"Unauthorized")),
        attr(REALM, REALM_TEXT),
        attr(NONCE, b"n" * 763),
    ]),
    "request-type": message(0x0002, []),
    "first-bits": bytes([0x41]) + message(ALLOCATE_ERROR, [], fingerprint=False)[1:],
    "length-not-multiple-of-4": struct.pack(">HHI", ALLOCATE_ERROR, 2, COOKIE) + TID + b"ab",
    # TCP: an empty message of every type the codec knows
    "stream-every-type": b"".join(message(kind, [], fingerprint=False) for kind in (
        BINDING_REQUEST, BINDING_RESPONSE, BINDING_ERROR, 0x0003, ALLOCATE_RESPONSE,
        ALLOCATE_ERROR, 0x0004, REFRESH_RESPONSE, 0x0114)),
    # TCP: one malformed attribute per message, each refused alone
    "stream-bad-attributes": b"".join(message(kind, attrs, fingerprint=False) for kind, attrs in (
        (BINDING_RESPONSE, [attr(XOR_MAPPED_ADDRESS, address(3, 1, ipv4("192.0.2.1")))]),
        (BINDING_RESPONSE, [attr(XOR_MAPPED_ADDRESS, address(2, 1, ipv4("192.0.2.1")))]),
        (BINDING_RESPONSE, [attr(XOR_MAPPED_ADDRESS, b"")]),
        (BINDING_RESPONSE, [attr(OTHER_ADDRESS, b"\0\1")]),
        (BINDING_ERROR, [attr(ERROR_CODE, error_code(700, b"x"))]),
        (BINDING_ERROR, [attr(ERROR_CODE, struct.pack(">HBB", 0, 4, 100))]),
        (BINDING_ERROR, [attr(ERROR_CODE, b"")]),
        (ALLOCATE_ERROR, [attr(REALM, b"exa\0mple.org")]),
        (ALLOCATE_ERROR, [attr(NONCE, b"\xf8\xf8\xf8\xf8")]),
        (ALLOCATE_ERROR, [attr(REALM, b"r" * 764)]),
        (ALLOCATE_RESPONSE, [attr(LIFETIME, b"\0")]),
        (ALLOCATE_RESPONSE, [attr(MESSAGE_INTEGRITY, b"\0")]),
        (ALLOCATE_RESPONSE, [attr(FINGERPRINT, b"\0")]),
        (ALLOCATE_RESPONSE, [attr(SOFTWARE, b"abcd")[:2] + struct.pack(">H", 0x100) + b"abcd"]),
    )),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "stun-message")
    os.makedirs(out, exist_ok=True)
    seeds = {name: bytes.fromhex("".join(text.split())) for name, text in RFC5769.items()}
    seeds.update(SEEDS)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
