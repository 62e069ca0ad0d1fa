/* bd_alloc: see bd_alloc.h. Single-threaded like the daemon. */
#include "bd_alloc.h"
#include <stdlib.h>
#include <string.h>

static long s_fail_at = -1;   /* allocation number to fail, -1 none */
static long s_count;          /* allocations since bd_alloc_fail_nth */

static int s_fail(void)
{
    return s_count++ == s_fail_at;
}

void *bd_malloc(size_t size)
{
    return s_fail() ? NULL : malloc(size);
}

void *bd_calloc(size_t n, size_t size)
{
    return s_fail() ? NULL : calloc(n, size);
}

void *bd_realloc(void *p, size_t size)
{
    return s_fail() ? NULL : realloc(p, size);
}

char *bd_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = bd_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void bd_alloc_fail_nth(long n)
{
    s_fail_at = n;
    s_count = 0;
}

long bd_alloc_count(void)
{
    return s_count;
}
