/* cc_config: typed configuration table. See cc_config.h.
 *
 * Layers are applied in precedence order (default, file, environment,
 * flags), each overwriting the last, so the value left is the strongest.
 * Errors go to stderr as plain text: logging is configured from the result. */
#include "cc_config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_FLAG "config"    /* --config FILE, accepted even if not in the table */

static const char *
s_type_meta(cc_cfg_type_t type)
{
    switch (type) {
    case CC_CFG_INT: return "INT";
    case CC_CFG_BOOL: return "BOOL";
    case CC_CFG_STR: default: return "TEXT";
    }
}

/* "<DAEMON>_<NAME>", upper-cased, '-' and other non-alnum -> '_'. */
static void
s_env_name(char *buf, size_t size, const char *daemon, const char *name)
{
    snprintf(buf, size, "%s_%s", daemon, name);
    for (char *p = buf; *p; p++)
        *p = isalnum((unsigned char) *p) ? (char) toupper((unsigned char) *p) : '_';
}

static cc_cfg_param_t *
s_find(cc_cfg_param_t *params, const char *name, size_t len)
{
    for (cc_cfg_param_t *p = params; p->name; p++)
        if (strlen(p->name) == len && strncmp(p->name, name, len) == 0)
            return p;
    return NULL;
}

static int
s_parse_int(const char *text, int64_t *out)
{
    if (!text || !*text || isspace((unsigned char) *text))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int
s_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on", NULL };
    static const char *const no[] = { "0", "false", "no", "off", NULL };
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Set p from text. from names the source for the error message. */
static int
s_set(cc_cfg_param_t *p, const char *text, const char *daemon, const char *from)
{
    if (!text)
        text = "";
    switch (p->type) {
    case CC_CFG_INT: {
        int64_t v;
        if (s_parse_int(text, &v) != 0) {
            fprintf(stderr, "%s: %s: invalid integer for %s: '%s'\n", daemon, from, p->name,
                    text);
            return -1;
        }
        *(int64_t *) p->ptr = v;
        return 0;
    }
    case CC_CFG_BOOL: {
        bool v;
        if (s_parse_bool(text, &v) != 0) {
            fprintf(stderr, "%s: %s: invalid boolean for %s: '%s' (true/false)\n", daemon,
                    from, p->name, text);
            return -1;
        }
        *(bool *) p->ptr = v;
        return 0;
    }
    case CC_CFG_STR:
    default: {
        char *copy = strdup(text);
        if (!copy) {
            fprintf(stderr, "%s: out of memory for %s\n", daemon, p->name);
            return -1;
        }
        char **slot = p->ptr;
        free(*slot);
        *slot = copy;
        return 0;
    }
    }
}

/* 1 if value is one of choices ("a|b|c"). */
static int
s_choice(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *c = choices; c && *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t) (bar - c) : strlen(c);
        if (len == n && strncmp(c, value, n) == 0)
            return 1;
        c = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* Range, choices and non-empty rules of one parameter, on its final value. */
static int
s_check(const cc_cfg_param_t *p, const char *daemon)
{
    if (p->type == CC_CFG_INT && p->min < p->max) {
        int64_t v = *(int64_t *) p->ptr;
        if (v < p->min || v > p->max) {
            fprintf(stderr, "%s: --%s must be %" PRId64 "..%" PRId64 " (got %" PRId64 ")\n",
                    daemon, p->name, p->min, p->max, v);
            return -1;
        }
    }
    if (p->type == CC_CFG_STR) {
        const char *v = *(char **) p->ptr;
        if ((p->flags & CC_CFG_NONEMPTY) && !*v) {
            fprintf(stderr, "%s: --%s must not be empty\n", daemon, p->name);
            return -1;
        }
        if (p->choices && !s_choice(p->choices, v)) {
            fprintf(stderr, "%s: --%s must be one of %s (got '%s')\n", daemon, p->name,
                    p->choices, v);
            return -1;
        }
    }
    return 0;
}

/* The default as text: NULL means "", 0 or false. */
static const char *
s_default(const cc_cfg_param_t *p)
{
    if (p->def)
        return p->def;
    return p->type == CC_CFG_INT ? "0" : p->type == CC_CFG_BOOL ? "false" : "";
}

static void
s_print_help(const cc_cfg_param_t *params, const char *daemon, const char *summary)
{
    char env[160];
    int has_config = 0;
    printf("Usage: %s [--NAME=VALUE | --NAME VALUE]...\n", daemon);
    if (summary && *summary)
        printf("%s\n", summary);
    printf("\nPrecedence: default < config file < environment < flag.\n\nParameters:\n");
    for (const cc_cfg_param_t *p = params; p->name; p++) {
        if (strcmp(p->name, CONFIG_FLAG) == 0)
            has_config = 1;
        s_env_name(env, sizeof env, daemon, p->name);
        char range[96] = "";
        if (p->type == CC_CFG_INT && p->min < p->max)
            snprintf(range, sizeof range, "%" PRId64 "..%" PRId64 "; ", p->min, p->max);
        else if (p->type == CC_CFG_STR && p->choices)
            snprintf(range, sizeof range, "%s; ", p->choices);
        printf("  --%s=%s\n      %s (%sdefault: %s; env %s)\n", p->name, s_type_meta(p->type),
               p->help ? p->help : "", range,
               p->type == CC_CFG_STR && !*s_default(p) ? "\"\"" : s_default(p),
               env);
    }
    if (!has_config) {
        s_env_name(env, sizeof env, daemon, CONFIG_FLAG);
        printf("  --%s=FILE\n      config file, lines \"name = value\", '#' comments "
               "(default: none; env %s or CC_CONFIG)\n", CONFIG_FLAG, env);
    }
    printf("  --help\n      print this help and exit\n");
    fflush(stdout);
}

static char *
s_trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char) s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int
s_load_file(cc_cfg_param_t *params, const char *daemon, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open config file %s: %s\n", daemon, path,
                strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    int rc = 0;
    char from[300];
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *s = s_trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        snprintf(from, sizeof from, "%s:%d", path, lineno);
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "%s: %s: expected \"name = value\"\n", daemon, from);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = s_trim(s);
        char *value = s_trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        cc_cfg_param_t *p = s_find(params, name, strlen(name));
        if (!p) {
            if (strcmp(name, CONFIG_FLAG) == 0)
                continue;   /* a file cannot name another file */
            fprintf(stderr, "%s: %s: unknown parameter '%s'\n", daemon, from, name);
            rc = -1;
            break;
        }
        rc = s_set(p, value, daemon, from);
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "%s: error reading %s\n", daemon, path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* Config file path from the strongest layer that names one; NULL if none. */
static const char *
s_config_path(cc_cfg_param_t *params, const char *daemon, int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strncmp(a, "--" CONFIG_FLAG "=", sizeof CONFIG_FLAG + 2) == 0)
            path = a + sizeof CONFIG_FLAG + 2;
        else if (strcmp(a, "--" CONFIG_FLAG) == 0 && i + 1 < argc)
            path = argv[++i];
    }
    if (path)
        return path;
    char env[160];
    s_env_name(env, sizeof env, daemon, CONFIG_FLAG);
    if ((path = getenv(env)) != NULL)
        return path;
    if ((path = getenv("CC_CONFIG")) != NULL)
        return path;
    cc_cfg_param_t *p = s_find(params, CONFIG_FLAG, strlen(CONFIG_FLAG));
    if (p && p->type == CC_CFG_STR && p->def && *p->def)
        return p->def;
    return NULL;
}

static int
s_load_flags(cc_cfg_param_t *params, const char *daemon, int argc, char **argv)
{
    char from[160];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", daemon, a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t) (eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        snprintf(from, sizeof from, "--%.*s", (int) nlen, name);
        cc_cfg_param_t *p = s_find(params, name, nlen);
        int negated = 0;
        if (!p && !eq && nlen > 3 && strncmp(name, "no-", 3) == 0) {
            p = s_find(params, name + 3, nlen - 3);
            if (p && p->type == CC_CFG_BOOL)
                negated = 1;
            else
                p = NULL;
        }
        if (!p && nlen == strlen(CONFIG_FLAG) && strncmp(name, CONFIG_FLAG, nlen) == 0) {
            if (!eq)
                i++;    /* builtin --config: already read by s_config_path */
            if (i >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", daemon, from);
                return -1;
            }
            continue;
        }
        if (!p) {
            fprintf(stderr, "%s: unknown flag %s (try --help)\n", daemon, from);
            return -1;
        }
        if (p->type == CC_CFG_BOOL && !value)
            value = negated ? "false" : "true";
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", daemon, from);
                return -1;
            }
            value = argv[++i];
        }
        if (s_set(p, value, daemon, from) != 0)
            return -1;
    }
    return 0;
}

void
cc_config_free(cc_cfg_param_t *params)
{
    if (!params)
        return;
    for (cc_cfg_param_t *p = params; p->name; p++) {
        if (p->type == CC_CFG_STR && p->ptr) {
            char **slot = p->ptr;
            free(*slot);
            *slot = NULL;
        }
    }
}

int
cc_config_load(cc_cfg_param_t *params, const char *daemon, const char *summary,
               int argc, char **argv)
{
    assert(params);
    if (!daemon)
        daemon = "daemon";
    /* String slots are ours from here on (cc_config_free). */
    for (cc_cfg_param_t *p = params; p->name; p++) {
        assert(p->ptr);
        if (p->type == CC_CFG_STR)
            *(char **) p->ptr = NULL;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_print_help(params, daemon, summary);
            return 1;
        }
    }

    int rc = 0;
    for (cc_cfg_param_t *p = params; p->name && rc == 0; p++)
        rc = s_set(p, s_default(p), daemon, "default");

    if (rc == 0) {
        const char *path = s_config_path(params, daemon, argc, argv);
        if (path && *path)
            rc = s_load_file(params, daemon, path);
    }
    char env[160];
    for (cc_cfg_param_t *p = params; p->name && rc == 0; p++) {
        s_env_name(env, sizeof env, daemon, p->name);
        const char *value = getenv(env);
        if (value)
            rc = s_set(p, value, daemon, env);
    }
    if (rc == 0)
        rc = s_load_flags(params, daemon, argc, argv);
    for (cc_cfg_param_t *p = params; p->name && rc == 0; p++)
        rc = s_check(p, daemon);
    if (rc != 0) {
        cc_config_free(params);
        return -1;
    }
    return 0;
}
