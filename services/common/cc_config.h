/* cc_config: one typed table drives defaults, config file, environment,
 * flags and --help (the PgBouncer cf_parser idea).
 * Precedence, lowest first: default < file < environment < flag.
 * File: --config FILE (or env CC_CONFIG): lines "name = value", '#' comments.
 * Environment: <DAEMON>_<NAME> upper-cased with '-' -> '_', e.g. ORDERD_HTTP_PORT.
 * Flags: --name=value or --name value; --help prints the table and exits 0. */
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
} cc_cfg_param_t;

/* params is terminated by an entry with name == NULL.
 * Returns 0 on success, 1 when --help was printed (caller exits 0),
 * -1 on error (a message naming the parameter is on stderr). */
int cc_config_load(cc_cfg_param_t *params, const char *daemon, const char *summary,
                   int argc, char **argv);
/* Free the strings cc_config_load allocated. */
void cc_config_free(cc_cfg_param_t *params);

#endif
