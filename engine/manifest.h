/* Manifests on the spool (SPEC §4): spool/<location>/<batch_id>.jsonl, written to a
 * temporary name, fsynced, renamed, and the directory fsynced. Paths are built only from a
 * validated geo name and a parsed UUID, never from other database text. */
#ifndef LETHE_MANIFEST_H
#define LETHE_MANIFEST_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "executor.h"

bool manifest_valid_location(const char *location);
/* Fills path with spool/<location>/<batch_id>.jsonl; false when either part is unsafe. */
bool manifest_path(const char *spool, const char *location, const char *batch_id, char *path,
                   size_t len);
/* Streams the batch's lines from the database into the manifest, atomically, and records its
 * locators' HMACs under KEY (none without a key) before the manifest is installed. ITEMS (may
 * be NULL) gets the item ids the manifest names, sealed. */
bool manifest_write(PGconn *db, const struct audit_key *key, const char *spool,
                    const char *location, const char *batch_id, char *path, size_t len,
                    struct exec_items *items);
/* Removes manifests of batches closed more than `keep` ago; returns how many. */
long manifest_prune(PGconn *db, const char *spool, const char *keep_interval);

#endif
