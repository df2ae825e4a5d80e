#!/usr/bin/env python3
"""A reflector for the NAT lab: tells a client the address and port it is seen from.

  lab-echo.py server --bind ADDR [--bind ADDR...] PORT [PORT...]
      Answers every UDP datagram to each ADDR:PORT with "seen IP PORT" from
      that ADDR:PORT, and TCP connections to each ADDR and the first PORT the
      same way. A datagram that starts with "other" is also answered from the
      same ADDR and another of the ports, first ("other IP PORT"): a NAT that
      filters by address and port drops that one.
  lab-echo.py udp [--local-port P] [--other] HOST:PORT [HOST:PORT...]
      From one UDP socket (bound to P), asks each HOST:PORT in turn and prints
      "HOST:PORT seen IP PORT" (or "HOST:PORT timeout"); with --other also
      "HOST:PORT other yes|no". Exits 1 if a destination never answered.
  lab-echo.py tcp [--local-port P] HOST:PORT
      Prints "HOST:PORT seen IP PORT"; exits 1 when the connection fails.
  lab-echo.py recv --local-port P [--timeout S]
      Waits for one UDP datagram on port P (default 5 s); prints
      "from IP PORT TEXT", exits 1 when none came.
  lab-echo.py send HOST:PORT [--count N] [TEXT]
      Sends TEXT N times (default 10, 0.1 s apart) to HOST:PORT, unasked.
  lab-echo.py punch --local-port P [--timeout S] HOST:PORT
      Hole punching, run on both sides: sends to HOST:PORT from port P every
      0.2 s until something comes back (and a few more, for the other side),
      or S seconds pass (default 5); prints "from IP PORT" or "timeout".

Every wait is bounded: 3 tries of 1 s per UDP destination, 5 s for TCP.
"""
import argparse
import select
import socket
import sys
import time


def split_endpoint(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def serve(addresses, ports):
    udp = {}  # socket → the socket of the same address and the next port
    tcp = []
    for address in addresses:
        group = []
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((address, port))
            group.append(sock)
        for i, sock in enumerate(group):
            udp[sock] = group[(i + 1) % len(group)]
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, ports[0]))
        listener.listen(16)
        tcp.append(listener)
    print("lab-echo: listening on", " ".join(addresses), "ports",
          " ".join(str(p) for p in ports), flush=True)
    while True:
        readable, _, _ = select.select(list(udp) + tcp, [], [])
        for sock in readable:
            if sock in tcp:
                conn, peer = sock.accept()
                with conn:
                    conn.settimeout(2)
                    try:
                        conn.sendall(f"seen {peer[0]} {peer[1]}\n".encode())
                    except OSError:
                        pass
                continue
            try:
                data, peer = sock.recvfrom(2048)
            except OSError:
                continue
            reply = f"{peer[0]} {peer[1]}\n".encode()
            if data.startswith(b"other") and udp[sock] is not sock:
                udp[sock].sendto(b"other " + reply, peer)
            sock.sendto(b"seen " + reply, peer)


def ask_udp(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.local_port))
    failed = False
    for endpoint in args.endpoints:
        host, port = split_endpoint(endpoint)
        seen = None
        other = False
        for _ in range(3):
            sock.sendto(b"other" if args.other else b"hello", (host, port))
            deadline = time.monotonic() + 1.0
            while seen is None and time.monotonic() < deadline:
                ready, _, _ = select.select([sock], [], [], max(0, deadline - time.monotonic()))
                if not ready:
                    break
                data, _ = sock.recvfrom(2048)
                words = data.decode(errors="replace").split()
                if len(words) == 3 and words[0] == "seen":
                    seen = words[1:]
                elif len(words) == 3 and words[0] == "other":
                    other = True
            if seen is not None:
                break
        if seen is None:
            print(f"{endpoint} timeout", flush=True)
            failed = True
            continue
        print(f"{endpoint} seen {seen[0]} {seen[1]}", flush=True)
        if args.other:
            # sent before "seen" on the same path: a short grace is plenty
            deadline = time.monotonic() + 0.5
            while not other and time.monotonic() < deadline:
                ready, _, _ = select.select([sock], [], [], max(0, deadline - time.monotonic()))
                if not ready:
                    break
                data, _ = sock.recvfrom(2048)
                other = data.startswith(b"other")
            print(f"{endpoint} other {'yes' if other else 'no'}", flush=True)
    return 1 if failed else 0


def ask_tcp(args):
    host, port = split_endpoint(args.endpoint)
    try:
        sock = socket.create_connection(
            (host, port), timeout=5, source_address=("0.0.0.0", args.local_port)
        )
        with sock:
            sock.settimeout(5)
            words = sock.recv(256).decode(errors="replace").split()
    except OSError as error:
        print(f"{args.endpoint} failed {error}", flush=True)
        return 1
    if len(words) != 3 or words[0] != "seen":
        print(f"{args.endpoint} failed bad-answer", flush=True)
        return 1
    print(f"{args.endpoint} seen {words[1]} {words[2]}", flush=True)
    return 0


def receive(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.local_port))
    print(f"lab-echo: waiting on {args.local_port}", flush=True)
    ready, _, _ = select.select([sock], [], [], args.timeout)
    if not ready:
        print("timeout", flush=True)
        return 1
    data, peer = sock.recvfrom(2048)
    print(f"from {peer[0]} {peer[1]} {data.decode(errors='replace')}", flush=True)
    return 0


def send(args):
    host, port = split_endpoint(args.endpoint)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(args.count):
        sock.sendto(args.text.encode(), (host, port))
        time.sleep(0.1)
    return 0


def punch(args):
    host, port = split_endpoint(args.endpoint)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.local_port))
    deadline = time.monotonic() + args.timeout
    got = None
    sent_after = 0
    while time.monotonic() < deadline and sent_after < 5:
        sock.sendto(b"punch", (host, port))
        if got is not None:
            sent_after += 1
        ready, _, _ = select.select([sock], [], [], 0.2)
        if ready:
            try:
                _, peer = sock.recvfrom(2048)
            except OSError:  # an ICMP error from an earlier datagram
                continue
            if got is None:
                got = peer
    if got is None:
        print("timeout", flush=True)
        return 1
    print(f"from {got[0]} {got[1]}", flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server")
    server.add_argument("--bind", action="append", required=True)
    server.add_argument("ports", type=int, nargs="+")
    udp = commands.add_parser("udp")
    udp.add_argument("--local-port", type=int, default=0)
    udp.add_argument("--other", action="store_true")
    udp.add_argument("endpoints", nargs="+")
    tcp = commands.add_parser("tcp")
    tcp.add_argument("--local-port", type=int, default=0)
    tcp.add_argument("endpoint")
    recv = commands.add_parser("recv")
    recv.add_argument("--local-port", type=int, required=True)
    recv.add_argument("--timeout", type=float, default=5.0)
    sender = commands.add_parser("send")
    sender.add_argument("--count", type=int, default=10)
    sender.add_argument("endpoint")
    sender.add_argument("text", nargs="?", default="hello")
    puncher = commands.add_parser("punch")
    puncher.add_argument("--local-port", type=int, required=True)
    puncher.add_argument("--timeout", type=float, default=5.0)
    puncher.add_argument("endpoint")
    args = parser.parse_args()
    if args.command == "server":
        serve(args.bind, args.ports)
        return 0
    if args.command == "udp":
        return ask_udp(args)
    if args.command == "recv":
        return receive(args)
    if args.command == "send":
        return send(args)
    if args.command == "punch":
        return punch(args)
    return ask_tcp(args)


if __name__ == "__main__":
    sys.exit(main())
