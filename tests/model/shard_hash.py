#!/usr/bin/env python3
"""A tenant's shard as lethe.shard_of computes it (sql/0027_shard_placement.sql), worked out
independently from the uuid's 16 bytes: PostgreSQL's uuid_hash is hash_bytes (Bob Jenkins's
lookup3, src/common/hashfn.c) over them, read as little-endian words on this machine; Citus
cuts its int32 range into 32 equal ranges, and the bucket is the range's number.

As a program: reads "UUID N" lines and prints "UUID N SHARD" for each."""
import struct
import sys
import uuid

M = 0xFFFFFFFF
BUCKETS = 32


def _rot(x, k):
    return ((x << k) | (x >> (32 - k))) & M


def _mix(a, b, c):
    a = (a - c) & M; a ^= _rot(c, 4);  c = (c + b) & M
    b = (b - a) & M; b ^= _rot(a, 6);  a = (a + c) & M
    c = (c - b) & M; c ^= _rot(b, 8);  b = (b + a) & M
    a = (a - c) & M; a ^= _rot(c, 16); c = (c + b) & M
    b = (b - a) & M; b ^= _rot(a, 19); a = (a + c) & M
    c = (c - b) & M; c ^= _rot(b, 4);  b = (b + a) & M
    return a, b, c


def _final(a, b, c):
    c ^= b; c = (c - _rot(b, 14)) & M
    a ^= c; a = (a - _rot(c, 11)) & M
    b ^= a; b = (b - _rot(a, 25)) & M
    c ^= b; c = (c - _rot(b, 16)) & M
    a ^= c; a = (a - _rot(c, 4)) & M
    b ^= a; b = (b - _rot(a, 14)) & M
    c ^= b; c = (c - _rot(b, 24)) & M
    return c


def uuid_hash(u):
    """PostgreSQL's uuid_hash(u), as a signed 32-bit integer."""
    w = struct.unpack("<4I", uuid.UUID(str(u)).bytes)
    a = b = c = (0x9E3779B9 + 16 + 3923095) & M
    a, b, c = _mix((a + w[0]) & M, (b + w[1]) & M, (c + w[2]) & M)
    c = _final((a + w[3]) & M, b, c)
    return c - (1 << 32) if c >= 1 << 31 else c


def bucket(u):
    """The tenant's Citus shard among 32: which 32nd of the int32 range its hash falls in."""
    return (uuid_hash(u) + (1 << 31)) * BUCKETS >> 32


def shard_of(u, n):
    return bucket(u) % n


if __name__ == "__main__":
    for line in sys.stdin:
        if line.strip():
            u, n = line.split()
            print(u, n, shard_of(u, int(n)))
