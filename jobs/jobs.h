/* One function per command, each in its own file under jobs/. main() and the command table
 * are in jobs/lethe.c. */
#ifndef LETHE_JOBS_H
#define LETHE_JOBS_H

#include "ctx.h"

int job_migrate(struct lethe_ctx *ctx, int argc, char **argv);
int job_run(struct lethe_ctx *ctx, int argc, char **argv);
int job_status(struct lethe_ctx *ctx, int argc, char **argv);
int job_explain(struct lethe_ctx *ctx, int argc, char **argv);
int job_ack(struct lethe_ctx *ctx, int argc, char **argv);
int job_rerun(struct lethe_ctx *ctx, int argc, char **argv);
int job_request(struct lethe_ctx *ctx, int argc, char **argv);
int job_hold(struct lethe_ctx *ctx, int argc, char **argv);
int job_batches(struct lethe_ctx *ctx, int argc, char **argv);
int job_export(struct lethe_ctx *ctx, int argc, char **argv);
int job_verify(struct lethe_ctx *ctx, int argc, char **argv);
/* replay's reading of an export: a format 1 window's chains that start after seq 1 are taken
 * as given (with a warning), not refused; what replay appends must continue the database's
 * own chains. */
void verify_take_format1_windows(bool take);
int job_replay(struct lethe_ctx *ctx, int argc, char **argv);
int job_reconcile(struct lethe_ctx *ctx, int argc, char **argv);

#endif
