/* What every job receives: the parsed global options, the config and, when the command
 * table says so, an open database session. Owned by main(); jobs never free it. */
#ifndef LETHE_CTX_H
#define LETHE_CTX_H

#include <libpq-fe.h>

#include "config.h"
#include "ids.h"

struct lethe_ctx {
    const char *command;
    const char *config_file; /* --config, or NULL */
    const char *db_override; /* --db, or NULL */
    /* -d, -h, -p, -U: override those parts of the conninfo; NULL when not given */
    const char *db_name, *db_host, *db_port, *db_user;
    int verbosity;
    struct lethe_config cfg;
    struct audit_key audit_key; /* read only for the commands that use it (NEEDS_AUDIT_KEY) */
    PGconn *db;
    /* Set while the options are checked before the database is connected: a job returns
     * EXIT_DONE once its options and arguments are judged, before anything else. */
    bool parse_only;
    char session_id[UUID_TEXT_LEN]; /* names the session in application_name */
};

#endif
