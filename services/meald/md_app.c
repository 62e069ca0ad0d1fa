/* md_app: process-wide helpers shared by meald's modules. See md_app.h. */
#include "md_app.h"

#include <stdlib.h>

#include "cc_log.h"

void md_app_gauges(md_app_t *app)
{
    cc_metric_set(app->m_open, (double)md_open_count(app->state));
    cc_metric_set(app->m_points, (double)md_point_count(app->state));
}

void md_app_die(md_app_t *app, const char *what, PGresult *res)
{
    (void)app;
    /* sqlstate and constraint only: messages and details may quote values. */
    cc_error("write_failed_exiting", "what", what, "sqlstate",
             res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL, "constraint",
             res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL, "status",
             res ? PQresStatus(PQresultStatus(res)) : NULL);
    exit(1);
}
