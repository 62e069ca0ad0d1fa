/* od_http: orderd's HTTP API routes (docs/API-orderd.md). */
#ifndef OD_HTTP_H
#define OD_HTTP_H
#include "cc_http.h"
#include "od_app.h"

/* Every /v1 route (the runtime registers it with the app as context). */
extern const cc_http_route_t od_http_routes[];
/* Register the HTTP metrics (once, at init). */
void od_http_init_metrics(void);

#endif
