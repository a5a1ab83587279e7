/* assets.c — lookup of the files compiled into the binary. */
#include "http/assets.h"

#include <string.h>

const kp_asset_t *kp_asset_find(const char *name)
{
        for (const kp_asset_t *a = kp_assets; a->name; a++)
                if (!strcmp(a->name, name))
                        return a;
        return NULL;
}
