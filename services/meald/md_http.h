/* md_http: meald's HTTP API (docs/API-meald.md). Reads answer from memory;
 * writes are decided against memory, written with one SQL call on the
 * batching writer and answered from its result callback (after COMMIT). */
#ifndef MD_HTTP_H
#define MD_HTTP_H
#include "md_app.h"

/* The route table (cc_rt_spec_t.routes); handlers get the md_app_t. */
extern const cc_http_route_t md_http_routes[];

#endif
