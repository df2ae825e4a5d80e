#!/usr/bin/env python3
"""A paced writer for the NAT lab: feeds a long-running stream so that a test
can change the network while data flows, or keep a session open and idle.

  lab-pace.py [--rate BYTES_PER_S] [--chunk BYTES] [--pause-at BYTES:FLAG]...
              [--hold FLAG] [--max-wait S] SOURCE DEST

Opens DEST for writing (typically a FIFO that `peerlinkctl connect` reads as
its stdin; opening waits for the reader) and copies SOURCE to it, CHUNK bytes
at a time (default 16384), no faster than RATE bytes per second (default: as
fast as DEST takes it). With --pause-at N:FLAG it stops once N bytes are
written until the file FLAG exists (the session stays open and idle); with
--hold FLAG it waits for FLAG after the last byte before closing DEST (the
session stays open until the test has looked at it). Every wait ends after
--max-wait seconds (default 300) with exit status 2.

It prints "wrote N" about every second and at each pause, "paused at N",
"resumed at N", "done N" and "closed", each with a monotonic timestamp, to
stdout (the lab's log of it). Exit 1 if DEST went away (EPIPE).
"""
import argparse
import os
import sys
import time


def log(text):
    print(f"{time.monotonic():.3f} {text}", flush=True)


def wait_for(flag, max_wait):
    deadline = time.monotonic() + max_wait
    while not os.path.exists(flag):
        if time.monotonic() >= deadline:
            log(f"gave up waiting for {flag}")
            sys.exit(2)
        time.sleep(0.05)


def parse_pause(text):
    count, _, flag = text.partition(":")
    if not flag:
        raise argparse.ArgumentTypeError("write --pause-at BYTES:FLAG")
    return int(count), flag


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0, help="bytes per second, 0: no limit")
    parser.add_argument("--chunk", type=int, default=16384)
    parser.add_argument("--pause-at", type=parse_pause, action="append", default=[])
    parser.add_argument("--hold")
    parser.add_argument("--max-wait", type=float, default=300)
    parser.add_argument("source")
    parser.add_argument("dest")
    args = parser.parse_args()

    with open(args.source, "rb") as source:
        data = source.read()
    pauses = sorted(args.pause_at)
    written = 0
    last_report = 0.0
    try:
        with open(args.dest, "wb", buffering=0) as dest:
            log("opened")
            start = time.monotonic()
            paced_from, paced_bytes = start, 0
            while written < len(data):
                if pauses and written >= pauses[0][0]:
                    _, flag = pauses.pop(0)
                    log(f"paused at {written}")
                    wait_for(flag, args.max_wait)
                    log(f"resumed at {written}")
                    paced_from, paced_bytes = time.monotonic(), 0
                end = len(data)
                if pauses:
                    end = min(end, pauses[0][0])
                end = min(end, written + args.chunk)
                if end <= written:
                    continue
                dest.write(data[written:end])
                paced_bytes += end - written
                written = end
                now = time.monotonic()
                if now - last_report >= 1:
                    log(f"wrote {written}")
                    last_report = now
                if args.rate > 0:
                    due = paced_from + paced_bytes / args.rate
                    if due > now:
                        time.sleep(due - now)
            log(f"done {written}")
            if args.hold:
                wait_for(args.hold, args.max_wait)
        log("closed")
    except BrokenPipeError:
        log(f"the reader went away after {written} bytes")
        sys.exit(1)


if __name__ == "__main__":
    main()
