#!/usr/bin/env python3
# The verify floor of `make bench`: a short third-party script that checks an export's hash
# chains as README documents them (hash = SHA-256 of prev_hash + "\n" + the line without its
# "hash" member, the last one; each record's prev_hash is its chain's previous hash).
import hashlib, sys
heads, n = {}, 0
with open(sys.argv[1], 'rb') as f:
    for line in f:
        if line.startswith(b'{"kind":"export_header'):
            continue
        i = line.rindex(b',"hash":"')
        canonical, digest = line[:i] + b'}', line[i + 9:i + 73]
        t = line.index(b'"tenant_id":"') + 13
        tenant = line[t:t + 36]
        p = line.index(b'"prev_hash":"') + 13
        prev = line[p:p + 64]
        if tenant in heads and heads[tenant] != prev:
            sys.exit('line %d: broken link' % (n + 1))
        if hashlib.sha256(prev + b'\n' + canonical).hexdigest().encode() != digest:
            sys.exit('line %d: bad hash' % (n + 1))
        heads[tenant] = digest
        n += 1
print('%d records, %d chains' % (n, len(heads)))
