/* od_http: orderd's HTTP API routes (docs/API-orderd.md). */
#ifndef OD_HTTP_H
#define OD_HTTP_H
#include "cc_http.h"
#include "od_app.h"

/* Register every /v1 route on http with app as the handlers' context. 0/-1. */
int od_http_routes(od_app_t *app, cc_http_t *http);

#endif
