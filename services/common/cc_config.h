/* cc_config: one typed table drives defaults, config file, environment,
 * flags and --help (the PgBouncer cf_parser idea).
 * Precedence, lowest first: default < file < environment < flag.
 * File: --config FILE (or env <DAEMON>_CONFIG, then CC_CONFIG, then the
 * default of a "config" entry if the table has one): lines "name = value",
 * whole-line '#' or ';' comments, value optionally in matching quotes; an
 * unknown name is an error. --config is accepted even if not in the table.
 * Environment: <DAEMON>_<NAME> upper-cased with '-' -> '_', e.g. ORDERD_HTTP_PORT.
 * Flags: --name=value or --name value; a bool flag alone means true and
 * --no-name false; bools take 1/0, true/false, yes/no, on/off.
 * --help (or -h) prints the table to stdout; the caller then exits 0. */
#ifndef CC_CONFIG_H
#define CC_CONFIG_H
#include <stdint.h>
#include <stdbool.h>

typedef enum { CC_CFG_STR, CC_CFG_INT, CC_CFG_BOOL } cc_cfg_type_t;

typedef struct {
    const char *name;      /* flag name without "--", e.g. "http-port" */
    cc_cfg_type_t type;
    void *ptr;             /* char ** (heap, freed by cc_config_free), int64_t *, bool * */
    const char *def;       /* default as text; NULL means "" / 0 / false */
    const char *help;      /* one line for --help */
    /* Checked after every source is read (a bad value stops start-up with a
     * message naming the parameter). INT: min..max when min < max. STR:
     * choices "a|b|c" when set; CC_CFG_NONEMPTY refuses "". */
    int64_t min, max;
    const char *choices;
    unsigned flags;
} cc_cfg_param_t;

#define CC_CFG_NONEMPTY 1u

/* params is terminated by an entry with name == NULL.
 * Returns 0 on success, 1 when --help was printed (caller exits 0),
 * -1 on error (a message naming the parameter is on stderr).
 * On success every CC_CFG_STR slot holds a heap string (never NULL) that
 * cc_config_free releases; the slots' previous values are overwritten, not
 * freed. On 1 or -1 every string slot is NULL. */
int cc_config_load(cc_cfg_param_t *params, const char *daemon, const char *summary,
                   int argc, char **argv);
/* Free the strings cc_config_load allocated. */
void cc_config_free(cc_cfg_param_t *params);

#endif
