/*  vrp_read.h: build a vrp_problem_t from Solomon text or from our JSON form (docs/SOLVER.md).
    Parses memory buffers only; the caller reads the file. Used by vrp-solve and the tests, not
    part of libvrp (it needs jansson, the daemons build problems from their own data).
*/
#ifndef VRP_READ_H_INCLUDED
#define VRP_READ_H_INCLUDED

#include "vrp.h"

typedef struct {
    vrp_problem_t *problem;    //  owned
    char name[128];            //  instance name
    int n_jobs;
    char **job_ids;            //  owned; Solomon: the customer number as text
    int n_vehicles;
    char **vehicle_ids;        //  owned
    int is_json;               //  1 if read from JSON (vehicles then have their own ids)
} vrp_instance_t;

//  Parse. Return the instance, or NULL with a message in err (if not NULL).
vrp_instance_t *vrp_read_solomon(const char *text, char *err, size_t err_size);
vrp_instance_t *vrp_read_json(const char *text, char *err, size_t err_size);

//  Guess the format from the first non-blank character ('{' means JSON).
vrp_instance_t *vrp_read_any(const char *text, char *err, size_t err_size);

void vrp_instance_destroy(vrp_instance_t **self_p);

#endif
