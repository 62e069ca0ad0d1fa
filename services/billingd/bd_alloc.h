/* bd_alloc: the allocator of billingd's in-memory modules (bd_ledger,
 * bd_pricing; bd_alloc_test routes the ledger's cc_maps here too, with
 * cc_map_set_alloc_hook). It is libc's, plus a test hook that fails the Nth
 * allocation, so every constructor and insert is tested for running out of
 * memory (STYLE.md: fail-the-Nth-allocation tests). Free with free(). */
#ifndef BD_ALLOC_H
#define BD_ALLOC_H
#include <stddef.h>

void *bd_malloc(size_t size);
void *bd_calloc(size_t n, size_t size);
void *bd_realloc(void *p, size_t size);
char *bd_strdup(const char *s);

/* Tests: the allocation numbered n (0 = the next one) fails, once; n < 0
 * turns failing off. */
void bd_alloc_fail_nth(long n);
/* Allocations attempted since the last bd_alloc_fail_nth. */
long bd_alloc_count(void);

#endif
