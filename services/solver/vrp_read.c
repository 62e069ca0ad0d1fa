/*  vrp_read.c: Solomon text and JSON instance parsers (memory buffers, no file I/O). */
#include "vrp_read.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Solomon files name their fleet (25 for 100 customers, 250 for 1000): far below this.
#define S_SOLOMON_MAX_VEHICLES 100000
//  Coordinates, demands and times: integers well inside what a long and a double hold exactly.
#define S_SOLOMON_MAX_NUMBER 1e15

static void s_err(char *err, size_t size, const char *fmt, ...)
{
    if (!err || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

void vrp_instance_destroy(vrp_instance_t **self_p)
{
    assert(self_p);
    vrp_instance_t *self = *self_p;
    if (!self)
        return;
    vrp_problem_destroy(&self->problem);
    if (self->job_ids)
        for (int i = 0; i < self->n_jobs; i++)
            free(self->job_ids[i]);
    if (self->vehicle_ids)
        for (int i = 0; i < self->n_vehicles; i++)
            free(self->vehicle_ids[i]);
    free(self->job_ids);
    free(self->vehicle_ids);
    free(self);
    *self_p = NULL;
}

static char *s_strdup_int(long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", v);
    return strdup(buf);
}

//  Split text into lines in place (handles CRLF). Returns the count, fills lines (malloc'd).
static int s_lines(char *text, char ***out)
{
    int cap = 256, n = 0;
    char **lines = malloc((size_t) cap * sizeof *lines);
    if (!lines)
        return -1;
    char *p = text;
    while (*p) {
        if (n == cap) {
            cap *= 2;
            char **more = realloc(lines, (size_t) cap * sizeof *lines);
            if (!more) {
                free(lines);
                return -1;
            }
            lines = more;
        }
        lines[n++] = p;
        char *e = strchr(p, '\n');
        if (!e)
            break;
        *e = '\0';
        if (e > p && e[-1] == '\r')
            e[-1] = '\0';
        p = e + 1;
    }
    *out = lines;
    return n;
}

static bool s_blank(const char *s)
{
    while (*s && isspace((unsigned char) *s))
        s++;
    return *s == '\0';
}

vrp_instance_t *vrp_read_solomon(const char *text, char *err, size_t err_size)
{
    assert(text);
    char *copy = strdup(text);
    char **lines = NULL;
    double *xy = NULL;
    long *rows = NULL;   //  id, demand, ready, due, service per node
    vrp_instance_t *self = NULL;
    if (!copy) {
        s_err(err, err_size, "out of memory");
        return NULL;
    }
    int n_lines = s_lines(copy, &lines);
    if (n_lines < 0) {
        s_err(err, err_size, "out of memory");
        goto fail;
    }
    int li = 0;
    while (li < n_lines && s_blank(lines[li]))
        li++;
    if (li == n_lines) {
        s_err(err, err_size, "empty instance");
        goto fail;
    }
    self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    {
        const char *s = lines[li];
        while (isspace((unsigned char) *s))
            s++;
        snprintf(self->name, sizeof self->name, "%s", s);
        size_t len = strlen(self->name);
        while (len > 0 && isspace((unsigned char) self->name[len - 1]))
            self->name[--len] = '\0';
    }
    long k = -1, q = -1;
    for (li++; li < n_lines; li++)
        if (sscanf(lines[li], "%ld %ld", &k, &q) == 2)
            break;
    if (li == n_lines || k <= 0 || q < 0) {
        s_err(err, err_size, "no vehicle number and capacity line");
        goto fail;
    }
    //  The fleet is allocated up front and the capacity is an int (found by fuzzing:
    //  tests/fuzz/solver/regress/solomon_vehicles_overflow).
    if (k > S_SOLOMON_MAX_VEHICLES || q > INT_MAX) {
        s_err(err, err_size, "vehicle number above %d or capacity above %d",
              S_SOLOMON_MAX_VEHICLES, INT_MAX);
        goto fail;
    }
    int n_nodes = 0, cap_nodes = 128;
    xy = malloc((size_t) cap_nodes * 2 * sizeof *xy);
    rows = malloc((size_t) cap_nodes * 5 * sizeof *rows);
    if (!xy || !rows)
        goto oom;
    for (li++; li < n_lines; li++) {
        double v[7];
        int got = sscanf(lines[li], "%lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3],
                         &v[4], &v[5], &v[6]);
        if (got != 7) {
            if (s_blank(lines[li]) || n_nodes == 0)
                continue;   //  headers before the table, blank lines anywhere
            s_err(err, err_size, "line %d: expected 7 numbers", li + 1);
            goto fail;
        }
        if (n_nodes == cap_nodes) {
            cap_nodes *= 2;
            double *mx = realloc(xy, (size_t) cap_nodes * 2 * sizeof *xy);
            if (!mx)
                goto oom;
            xy = mx;
            long *mr = realloc(rows, (size_t) cap_nodes * 5 * sizeof *rows);
            if (!mr)
                goto oom;
            rows = mr;
        }
        //  Every number is converted to long (demand to int): NaN or one out of range
        //  would be undefined (tests/fuzz/solver/regress/solomon_demand_1e300, _due_nan).
        bool in_range = v[3] <= INT_MAX;
        for (int i = 0; i < 7; i++)
            in_range = in_range && isfinite(v[i]) && fabs(v[i]) <= S_SOLOMON_MAX_NUMBER;
        if (!in_range) {
            s_err(err, err_size, "line %d: a number is not finite or out of range", li + 1);
            goto fail;
        }
        if (v[3] < 0 || v[4] > v[5] || v[6] < 0) {
            s_err(err, err_size, "line %d: negative demand/service or ready > due", li + 1);
            goto fail;
        }
        xy[2 * n_nodes] = v[1];
        xy[2 * n_nodes + 1] = v[2];
        long *r = rows + 5 * n_nodes;
        r[0] = (long) v[0];
        r[1] = (long) v[3];
        r[2] = (long) v[4];
        r[3] = (long) v[5];
        r[4] = (long) v[6];
        n_nodes++;
    }
    if (n_nodes < 1) {
        s_err(err, err_size, "no customer rows");
        goto fail;
    }
    self->problem = vrp_problem_new_euclidean(n_nodes, xy, 1.0);
    if (!self->problem)
        goto oom;
    self->n_jobs = n_nodes - 1;
    self->job_ids = calloc((size_t) n_nodes, sizeof *self->job_ids);
    self->n_vehicles = (int) k;
    self->vehicle_ids = calloc((size_t) k, sizeof *self->vehicle_ids);
    if (!self->job_ids || !self->vehicle_ids)
        goto oom;
    for (int i = 1; i < n_nodes; i++) {
        const long *r = rows + 5 * i;
        vrp_job_t job;
        vrp_job_init(&job, i);
        job.n_windows = 1;
        job.windows[0].start = (double) r[2];
        job.windows[0].end = (double) r[3];
        job.service = (double) r[4];
        job.demand[0] = (int) r[1];
        if (vrp_problem_add_job(self->problem, &job) < 0) {
            s_err(err, err_size, "customer %ld rejected", r[0]);
            goto fail;
        }
        if (!(self->job_ids[i - 1] = s_strdup_int(r[0])))
            goto oom;
    }
    for (int v = 0; v < k; v++) {
        vrp_vehicle_t veh;
        vrp_vehicle_init(&veh, 0, 0);
        veh.shift_start = (double) rows[2];
        veh.shift_end = (double) rows[3];
        veh.capacity[0] = (int) q;
        if (vrp_problem_add_vehicle(self->problem, &veh) < 0) {
            s_err(err, err_size, "bad depot row");
            goto fail;
        }
        if (!(self->vehicle_ids[v] = s_strdup_int(v + 1)))
            goto oom;
    }
    free(copy);
    free(lines);
    free(xy);
    free(rows);
    return self;
oom:
    s_err(err, err_size, "out of memory");
fail:
    vrp_instance_destroy(&self);
    free(copy);
    free(lines);
    free(xy);
    free(rows);
    return NULL;
}

//  ---------------------------------------------------------------------------------------------
//  JSON

static bool s_num(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return true;   //  optional: keep the default
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

static bool s_int_array(const json_t *obj, const char *key, int *out, int max, int *count)
{
    json_t *arr = json_object_get(obj, key);
    if (!arr)
        return true;
    if (!json_is_array(arr) || (int) json_array_size(arr) > max)
        return false;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        if (!json_is_integer(x))
            return false;
        out[i] = (int) json_integer_value(x);
    }
    if (count)
        *count = (int) json_array_size(arr);
    return true;
}

static bool s_skills(const json_t *obj, uint64_t *out)
{
    json_t *arr = json_object_get(obj, "skills");
    if (!arr)
        return true;
    if (!json_is_array(arr))
        return false;
    uint64_t bits = 0;
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 63)
            return false;
        bits |= (uint64_t) 1 << json_integer_value(x);
    }
    *out = bits;
    return true;
}

static char *s_id(const json_t *obj, long fallback)
{
    json_t *id = json_object_get(obj, "id");
    if (json_is_string(id))
        return strdup(json_string_value(id));
    if (json_is_integer(id))
        return s_strdup_int((long) json_integer_value(id));
    return s_strdup_int(fallback);
}

static double *s_matrix(const json_t *m, int n)
{
    if (!json_is_array(m) || (int) json_array_size(m) != n)
        return NULL;
    double *out = malloc((size_t) n * n * sizeof *out);
    if (!out)
        return NULL;
    for (int a = 0; a < n; a++) {
        json_t *row = json_array_get(m, (size_t) a);
        if (!json_is_array(row) || (int) json_array_size(row) != n) {
            free(out);
            return NULL;
        }
        for (int b = 0; b < n; b++) {
            json_t *x = json_array_get(row, (size_t) b);
            if (!json_is_number(x)) {
                free(out);
                return NULL;
            }
            out[(size_t) a * n + b] = json_number_value(x);
        }
    }
    return out;
}

static vrp_problem_t *s_json_locations(const json_t *loc, char *err, size_t err_size)
{
    if (!json_is_object(loc)) {
        s_err(err, err_size, "\"locations\" must be an object");
        return NULL;
    }
    json_t *coords = json_object_get(loc, "coordinates");
    if (coords) {
        if (!json_is_array(coords) || json_array_size(coords) == 0) {
            s_err(err, err_size, "\"coordinates\" must be a non-empty array");
            return NULL;
        }
        int n = (int) json_array_size(coords);
        double *xy = malloc((size_t) n * 2 * sizeof *xy);
        if (!xy)
            return NULL;
        for (int i = 0; i < n; i++) {
            json_t *pt = json_array_get(coords, (size_t) i);
            if (!json_is_array(pt) || json_array_size(pt) != 2
                || !json_is_number(json_array_get(pt, 0))
                || !json_is_number(json_array_get(pt, 1))) {
                free(xy);
                s_err(err, err_size, "coordinate %d must be [x, y]", i);
                return NULL;
            }
            xy[2 * i] = json_number_value(json_array_get(pt, 0));
            xy[2 * i + 1] = json_number_value(json_array_get(pt, 1));
        }
        const char *metric = json_string_value(json_object_get(loc, "metric"));
        double speed = 1.0, detour = 1.3;
        if (!s_num(loc, "speed", &speed) || !s_num(loc, "detour", &detour)) {
            free(xy);
            s_err(err, err_size, "\"speed\"/\"detour\" must be numbers");
            return NULL;
        }
        vrp_problem_t *p;
        if (!metric || strcmp(metric, "euclidean") == 0)
            p = vrp_problem_new_euclidean(n, xy, speed);
        else if (strcmp(metric, "geo") == 0)
            p = vrp_problem_new_geo(n, xy, detour, speed);
        else {
            free(xy);
            s_err(err, err_size, "unknown metric \"%s\"", metric);
            return NULL;
        }
        free(xy);
        if (!p)
            s_err(err, err_size, "bad coordinates, speed or detour");
        return p;
    }
    json_t *tm = json_object_get(loc, "time");
    if (!tm) {
        s_err(err, err_size, "\"locations\" needs \"coordinates\" or \"time\"");
        return NULL;
    }
    int n = json_is_array(tm) ? (int) json_array_size(tm) : 0;
    double *t = s_matrix(tm, n);
    json_t *dm = json_object_get(loc, "distance");
    double *d = dm ? s_matrix(dm, n) : NULL;
    vrp_problem_t *p = NULL;
    if (t && (!dm || d))
        p = vrp_problem_new(n, t, d);
    free(t);
    free(d);
    if (!p)
        s_err(err, err_size, "bad \"time\"/\"distance\" matrix (square, non-negative)");
    return p;
}

vrp_instance_t *vrp_read_json(const char *text, char *err, size_t err_size)
{
    assert(text);
    if (err && err_size)
        err[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        s_err(err, err_size, "JSON line %d: %s", jerr.line, jerr.text);
        return NULL;
    }
    vrp_instance_t *self = calloc(1, sizeof *self);
    if (!self) {
        json_decref(root);
        return NULL;
    }
    json_t *jobs = json_object_get(root, "jobs"), *vehs = json_object_get(root, "vehicles");
    if (!json_is_object(root) || !json_is_array(jobs) || !json_is_array(vehs)) {
        s_err(err, err_size, "need an object with \"locations\", \"jobs\" and \"vehicles\"");
        goto fail;
    }
    self->is_json = 1;
    const char *name = json_string_value(json_object_get(root, "name"));
    snprintf(self->name, sizeof self->name, "%s", name ? name : "json");
    self->problem = s_json_locations(json_object_get(root, "locations"), err, err_size);
    if (!self->problem)
        goto fail;
    json_t *costs = json_object_get(root, "costs");
    if (costs) {
        vrp_costs_t c = {1.0, 0.0, 1e6, 0.0, 0.0};
        if (!json_is_object(costs) || !s_num(costs, "per_distance", &c.per_distance)
            || !s_num(costs, "per_time", &c.per_time)
            || !s_num(costs, "unassigned_penalty", &c.unassigned_penalty)
            || !s_num(costs, "non_preferred_penalty", &c.non_preferred_penalty)
            || !s_num(costs, "balance", &c.balance)) {
            s_err(err, err_size, "bad \"costs\"");
            goto fail;
        }
        vrp_problem_set_costs(self->problem, &c);
    }
    size_t nj = json_array_size(jobs), nv = json_array_size(vehs);
    self->job_ids = calloc(nj ? nj : 1, sizeof *self->job_ids);
    self->vehicle_ids = calloc(nv ? nv : 1, sizeof *self->vehicle_ids);
    if (!self->job_ids || !self->vehicle_ids)
        goto fail;
    size_t i;
    json_t *x;
    json_array_foreach(jobs, i, x) {
        vrp_job_t job;
        vrp_job_init(&job, -1);
        json_t *loc = json_object_get(x, "location");
        json_t *win = json_object_get(x, "windows");
        double prio = 0;
        bool ok = json_is_object(x) && json_is_integer(loc);
        if (ok)
            job.location = (int) json_integer_value(loc);
        ok = ok && s_num(x, "service", &job.service) && s_num(x, "priority", &prio)
             && s_num(x, "max_lateness", &job.max_lateness)
             && s_num(x, "lateness_cost", &job.lateness_cost)
             && s_int_array(x, "demand", job.demand, VRP_DIMS, NULL) && s_skills(x, &job.skills)
             && s_int_array(x, "preferred", job.preferred, VRP_MAX_PREFERRED, &job.n_preferred);
        job.priority = (int) prio;
        if (ok && win) {
            ok = json_is_array(win) && json_array_size(win) <= VRP_MAX_WINDOWS;
            size_t w;
            json_t *wx;
            json_array_foreach(win, w, wx) {
                if (!ok)
                    break;
                ok = json_is_array(wx) && json_array_size(wx) == 2
                     && json_is_number(json_array_get(wx, 0))
                     && json_is_number(json_array_get(wx, 1));
                if (ok) {
                    job.windows[w].start = json_number_value(json_array_get(wx, 0));
                    job.windows[w].end = json_number_value(json_array_get(wx, 1));
                }
            }
            job.n_windows = ok ? (int) json_array_size(win) : 0;
        }
        if (!ok || vrp_problem_add_job(self->problem, &job) < 0) {
            s_err(err, err_size, "job %zu is invalid (see docs/SOLVER.md)", i);
            goto fail;
        }
        self->job_ids[self->n_jobs++] = s_id(x, (long) i + 1);
        if (!self->job_ids[self->n_jobs - 1])
            goto fail;
    }
    json_array_foreach(vehs, i, x) {
        vrp_vehicle_t veh;
        json_t *start = json_object_get(x, "start"), *end = json_object_get(x, "end");
        json_t *shift = json_object_get(x, "shift");
        bool ok = json_is_object(x) && json_is_integer(start);
        if (ok) {
            int s = (int) json_integer_value(start);
            int e = json_is_integer(end) ? (int) json_integer_value(end) : s;
            vrp_vehicle_init(&veh, s, e);
        }
        if (ok && shift) {
            ok = json_is_array(shift) && json_array_size(shift) == 2
                 && json_is_number(json_array_get(shift, 0))
                 && json_is_number(json_array_get(shift, 1));
            if (ok) {
                veh.shift_start = json_number_value(json_array_get(shift, 0));
                veh.shift_end = json_number_value(json_array_get(shift, 1));
            }
        }
        int n_cap = 0;
        ok = ok && s_int_array(x, "capacity", veh.capacity, VRP_DIMS, &n_cap)
             && s_skills(x, &veh.skills) && s_num(x, "max_duration", &veh.max_duration)
             && s_num(x, "max_ride", &veh.max_ride) && s_num(x, "fixed_cost", &veh.fixed_cost)
             && s_num(x, "time_factor", &veh.time_factor);
        //  An absent skills list means "no skills", not "all skills": be explicit in the file.
        if (ok && !json_object_get(x, "skills"))
            veh.skills = 0;
        if (!ok || vrp_problem_add_vehicle(self->problem, &veh) < 0) {
            s_err(err, err_size, "vehicle %zu is invalid (see docs/SOLVER.md)", i);
            goto fail;
        }
        self->vehicle_ids[self->n_vehicles++] = s_id(x, (long) i + 1);
        if (!self->vehicle_ids[self->n_vehicles - 1])
            goto fail;
    }
    json_decref(root);
    return self;
fail:
    if (err && err_size && !err[0])
        s_err(err, err_size, "out of memory");
    json_decref(root);
    vrp_instance_destroy(&self);
    return NULL;
}

vrp_instance_t *vrp_read_any(const char *text, char *err, size_t err_size)
{
    const char *s = text;
    while (*s && isspace((unsigned char) *s))
        s++;
    if (*s == '{')
        return vrp_read_json(text, err, err_size);
    return vrp_read_solomon(text, err, err_size);
}
