/* UUIDs for tenants, items, batches and runs, through libuuid. Always lower-case text. */
#ifndef LETHE_IDS_H
#define LETHE_IDS_H

#include <stdbool.h>

#define UUID_TEXT_LEN 37
#define NIL_UUID "00000000-0000-0000-0000-000000000000"

/* Validates and normalises to lower case; false for anything that is not a UUID. */
bool id_parse(const char *text, char out[UUID_TEXT_LEN]);
void id_generate(char out[UUID_TEXT_LEN]);

#endif
