/* lethe explain: not built yet. It says so and exits 1; it never pretends to work. */
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

int job_explain(struct lethe_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    log_error("'explain' is not built yet");
    return EXIT_RUNTIME;
}
