/* UUID helpers over libuuid. */
#include "ids.h"

#include <string.h>
#include <uuid/uuid.h>

bool id_parse(const char *text, char out[UUID_TEXT_LEN])
{
    uuid_t u;
    if (!text || strlen(text) != 36 || uuid_parse(text, u) != 0)
        return false;
    uuid_unparse_lower(u, out);
    return true;
}

void id_generate(char out[UUID_TEXT_LEN])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}
