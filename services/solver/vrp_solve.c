/*  vrp_solve.c: command-line front end of libvrp (vrp-solve). See --help and docs/SOLVER.md. */
#include "vrp.h"
#include "vrp_read.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_usage(FILE *out)
{
    fprintf(out,
        "usage: vrp-solve INSTANCE [options]\n"
        "\n"
        "Solve a vehicle routing problem with time windows and print the routes.\n"
        "INSTANCE is a Solomon text file (../shared/data/solomon/instances/*.txt) or a JSON\n"
        "file (first character '{'; format in docs/SOLVER.md). '-' reads standard input.\n"
        "\n"
        "options:\n"
        "  --time-limit S     wall-clock seconds to search (default 1; decimals allowed)\n"
        "  --iterations N     stop after N ruin-and-recreate iterations; with --time-limit 0\n"
        "                     the run is fully reproducible for a seed (default: no limit)\n"
        "  --seed N           random seed, unsigned 64-bit (default 1)\n"
        "  --objective O      distance: minimise distance (the cost of the JSON \"costs\");\n"
        "                     hierarchical: fewest vehicles first, then distance (default\n"
        "                     distance)\n"
        "  --no-local-search  do not polish new best solutions with local search\n"
        "  --quiet            omit the '#' summary comment lines\n"
        "  -h, --help         this text\n"
        "\n"
        "output (standard output): one line per used vehicle, 'Route K: ID ID ...', customers\n"
        "in visiting order without the depot (Solomon: customer numbers; JSON: job ids), then\n"
        "'# unassigned ID REASON' per unserved job and '# vehicles=V distance=D cost=C'.\n"
        "exit status: 0 solved (even with unassigned jobs), 1 error in input, 2 usage,\n"
        "3 internal error.\n");
}

static char *s_slurp(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len < cap - 1) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        cap *= 2;
        char *more = realloc(buf, cap);
        if (!more) {
            free(buf);
            buf = NULL;
        }
        buf = more;
    }
    if (buf)
        buf[len] = '\0';
    if (f != stdin)
        fclose(f);
    return buf;
}

static int s_parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0))
        return -1;
    *out = v;
    return 0;
}

static int s_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = (uint64_t) v;
    return 0;
}

int main(int argc, char **argv)
{
    vrp_params_t params;
    vrp_params_init(&params);
    int quiet = 0;
    static const struct option opts[] = {
        {"time-limit", required_argument, NULL, 't'},
        {"iterations", required_argument, NULL, 'i'},
        {"seed", required_argument, NULL, 's'},
        {"objective", required_argument, NULL, 'o'},
        {"no-local-search", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
            case 't':
                if (s_parse_double(optarg, &params.time_limit)) {
                    fprintf(stderr, "vrp-solve: bad --time-limit '%s'\n", optarg);
                    return 2;
                }
                break;
            case 'i':
                if (s_parse_u64(optarg, &params.max_iterations)) {
                    fprintf(stderr, "vrp-solve: bad --iterations '%s'\n", optarg);
                    return 2;
                }
                break;
            case 's':
                if (s_parse_u64(optarg, &params.seed)) {
                    fprintf(stderr, "vrp-solve: bad --seed '%s'\n", optarg);
                    return 2;
                }
                break;
            case 'o':
                if (strcmp(optarg, "distance") == 0)
                    params.objective = VRP_OBJ_DISTANCE;
                else if (strcmp(optarg, "hierarchical") == 0)
                    params.objective = VRP_OBJ_HIERARCHICAL;
                else {
                    fprintf(stderr, "vrp-solve: --objective is distance or hierarchical\n");
                    return 2;
                }
                break;
            case 'n':
                params.local_search = 0;
                break;
            case 'q':
                quiet = 1;
                break;
            case 'h':
                s_usage(stdout);
                return 0;
            default:
                s_usage(stderr);
                return 2;
        }
    }
    if (optind != argc - 1) {
        s_usage(stderr);
        return 2;
    }
    if (params.time_limit == 0 && params.max_iterations == 0) {
        fprintf(stderr, "vrp-solve: --time-limit 0 needs --iterations\n");
        return 2;
    }
    char *text = s_slurp(argv[optind]);
    if (!text) {
        fprintf(stderr, "vrp-solve: %s: %s\n", argv[optind], strerror(errno));
        return 1;
    }
    char err[256] = "";
    vrp_instance_t *inst = vrp_read_any(text, err, sizeof err);
    free(text);
    if (!inst) {
        fprintf(stderr, "vrp-solve: %s: %s\n", argv[optind], err);
        return 1;
    }
    vrp_plan_t *plan = NULL;
    if (vrp_solve(inst->problem, &params, &plan)) {
        fprintf(stderr, "vrp-solve: out of memory\n");
        vrp_instance_destroy(&inst);
        return 3;
    }
    int rc = 0;
    if (vrp_plan_check(plan, err, sizeof err)) {
        //  Never print a plan the library itself cannot re-verify.
        fprintf(stderr, "vrp-solve: internal error, plan infeasible: %s\n", err);
        rc = 3;
    }
    int k = 0;
    for (int v = 0; v < vrp_problem_vehicles(inst->problem) && rc == 0; v++) {
        int len = vrp_plan_route_length(plan, v);
        if (len <= 0)
            continue;
        printf("Route %d:", ++k);
        for (int i = 0; i < len; i++)
            printf(" %s", inst->job_ids[vrp_plan_route_job(plan, v, i)]);
        printf("\n");
        //  A JSON fleet is heterogeneous: say which vehicle drives the route, and when.
        if (inst->is_json && !quiet) {
            printf("# route %d vehicle %s arrivals", k, inst->vehicle_ids[v]);
            for (int i = 0; i < len; i++) {
                double arrival, start;
                vrp_plan_stop_times(plan, v, i, &arrival, &start);
                printf(" %.2f", arrival);
            }
            printf("\n");
        }
    }
    if (rc == 0 && !quiet) {
        for (int j = 0; j < inst->n_jobs; j++)
            if (vrp_plan_reason(plan, j) != VRP_REASON_NONE)
                printf("# unassigned %s %s\n", inst->job_ids[j],
                       vrp_reason_str(vrp_plan_reason(plan, j)));
        printf("# vehicles=%d distance=%.2f cost=%.2f\n", vrp_plan_vehicles_used(plan),
               vrp_plan_distance(plan), vrp_plan_cost(plan));
    }
    vrp_plan_destroy(&plan);
    vrp_instance_destroy(&inst);
    return rc;
}
