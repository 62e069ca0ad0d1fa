/* dd_http: the caregiver app and dispatcher board API (docs/API-dispatchd.md). */
#ifndef DD_HTTP_H
#define DD_HTTP_H
#include "dd_app.h"

/* Register every /v1 route on app->http with app as the handlers' context,
 * and dd_http_ready as its /readyz check. 0/-1. */
int dd_http_routes(dd_app_t *app);
/* The /readyz check; arg is the dd_app_t. 1 when the working set is loaded,
 * both connections are up, the log serves and orderd's log is caught up. */
int dd_http_ready(void *arg);

#endif
