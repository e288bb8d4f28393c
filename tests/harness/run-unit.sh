#!/bin/sh
# Runs each Check suite binary; each prints Check's own summary line.
rc=0
for t in "$@"; do
    CK_DEFAULT_TIMEOUT=60 "$t" || rc=1
done
exit $rc
