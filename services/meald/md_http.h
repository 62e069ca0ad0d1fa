/* md_http: meald's HTTP API (docs/API-meald.md). Reads answer from memory;
 * writes are decided against memory, written with one SQL call on the
 * batching writer and answered from its result callback (after COMMIT). */
#ifndef MD_HTTP_H
#define MD_HTTP_H
#include "md_app.h"

/* Register the routes and the readiness check on app->http. 0/-1. */
int md_http_routes(md_app_t *app);

#endif
