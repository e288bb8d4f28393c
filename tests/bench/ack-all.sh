#!/bin/sh
# The bench's executor: a "deleted" receipt for every item of the manifest it is given, without
# touching any storage, so that `make bench` measures lethe and PostgreSQL, not a deleter.
tail -n +2 "$1" | sed 's/^{"item_id":"\([^"]*\)".*/deleted \1/'
