/* od_intake: ZeroMQ ROUTER taking PlaceOrder from telephony/CTI systems
 * (see od_intake.c for framing, caps and counters). */
#ifndef OD_INTAKE_H
#define OD_INTAKE_H
#include "od_app.h"

typedef struct od_intake od_intake_t;

/* Bind a ROUTER at endpoint on app's loop. NULL on failure (logged). */
od_intake_t *od_intake_new(od_app_t *app, const char *endpoint);
void od_intake_destroy(od_intake_t **self_p);
const char *od_intake_endpoint(const od_intake_t *self);

#endif
