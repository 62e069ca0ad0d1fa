/* cc_stmt: see cc_stmt.h. */
#include "cc_stmt.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_log.h"

const char *
cc_type_sql(cc_type_t t)
{
    switch (t) {
    case CC_T_TEXT: return "text";
    case CC_T_UUID: return "uuid";
    case CC_T_INT2: return "smallint";
    case CC_T_INT4: return "integer";
    case CC_T_INT8: return "bigint";
    case CC_T_FLOAT8: return "double precision";
    case CC_T_BOOL: return "boolean";
    case CC_T_BYTEA: return "bytea";
    case CC_T_DATE: return "date";
    case CC_T_TSTZ: return "timestamp with time zone";
    case CC_T_JSONB: return "jsonb";
    case CC_T_TEXT_ARRAY: return "text[]";
    case CC_T_INT8_ARRAY: return "bigint[]";
    case CC_T_UUID_ARRAY: return "uuid[]";
    case CC_T_BYTEA_ARRAY: return "bytea[]";
    case CC_T_NONE: break;
    }
    return "?";
}

int
cc_stmt_nparams(const cc_stmt_t *st)
{
    int n = 0;
    while (n < CC_STMT_MAX_PARAMS && st->params[n].type != CC_T_NONE)
        n++;
    return n;
}

const char *
cc_stmt_text(cc_stmt_t *st)
{
    if (!st->fn)
        return st->sql;
    if (st->text)
        return st->text;
    size_t cap = 64 + strlen(st->fn) + (st->cols ? strlen(st->cols) : 1);
    int n = cc_stmt_nparams(st);
    for (int i = 0; i < n; i++)
        cap += 8 + strlen(cc_type_sql(st->params[i].type)) + 4;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    size_t off = (size_t) snprintf(t, cap, "SELECT %s FROM %s(", st->cols ? st->cols : "*",
                                   st->fn);
    for (int i = 0; i < n; i++)
        off += (size_t) snprintf(t + off, cap - off, "%s$%d::%s", i ? ", " : "", i + 1,
                                 cc_type_sql(st->params[i].type));
    snprintf(t + off, cap - off, ")");
    st->text = t;
    return t;
}

#define S_CATALOG "cc_stmt_catalog"
/* Is it a prepared statement, name, parameter names, parameter types.
 * Functions: IN parameter names and base types (a domain counts as its base
 * type: the C side sends text). Prepared statements: inferred types. */
#define S_CATALOG_SQL                                                                         \
    "SELECT false, p.proname::text, "                                                         \
    "  coalesce((SELECT string_agg(coalesce(u.n, ''), ',' ORDER BY u.i) FROM unnest("        \
    "    p.proargnames, coalesce(p.proargmodes, array_fill('i'::\"char\", "                   \
    "    ARRAY[coalesce(cardinality(p.proargnames), 0)]))) WITH ORDINALITY AS u(n, m, i) "                 \
    "    WHERE u.m IN ('i', 'b', 'v')), ''), "                                                \
    "  coalesce((SELECT string_agg(format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype " \
    "    ELSE t.oid END, NULL), ',' ORDER BY a.i) FROM unnest(p.proargtypes::oid[]) "         \
    "    WITH ORDINALITY AS a(o, i) JOIN pg_type t ON t.oid = a.o), '') "                    \
    "FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "                   \
    "UNION ALL "                                                                              \
    "SELECT true, s.name, '', coalesce((SELECT string_agg(format_type(x.t, NULL), ',' "      \
    "  ORDER BY x.i) FROM unnest(s.parameter_types::oid[]) WITH ORDINALITY AS x(t, i)), '') " \
    "FROM pg_prepared_statements s"
static const char s_catalog_sql[] = S_CATALOG_SQL;

int
cc_stmt_prepare(cc_db_t *db, cc_stmt_t *table, unsigned which)
{
    if (cc_db_prepare(db, S_CATALOG, s_catalog_sql) != 0)
        return -1;
    for (cc_stmt_t *st = table; st->name; st++) {
        if (!(st->conn & which))
            continue;
        const char *text = cc_stmt_text(st);
        if (!text || cc_db_prepare(db, st->name, text) != 0)
            return -1;
    }
    return 0;
}

void
cc_stmt_free(cc_stmt_t *table)
{
    for (cc_stmt_t *st = table; st && st->name; st++) {
        free(st->text);
        st->text = NULL;
    }
}

/* ---- the catalogue check ------------------------------------------------ */

/* Next comma-separated item of *p into buf; 0 at the end. */
static int
s_next(const char **p, char *buf, size_t size)
{
    if (!*p || !**p)
        return 0;
    const char *c = strchr(*p, ',');
    size_t len = c ? (size_t) (c - *p) : strlen(*p);
    snprintf(buf, size, "%.*s", (int) (len < size ? len : size - 1), *p);
    *p = c ? c + 1 : *p + len;
    return 1;
}

int
cc_stmt_compare(const cc_stmt_t *st, const cc_catalog_row_t *rows, size_t nrows, char *why,
                size_t whylen)
{
    const char *want = st->fn ? st->fn : st->name;
    const cc_catalog_row_t *row = NULL;
    size_t found = 0;
    /* Functions and prepared statements are two namespaces: a statement
     * named as a function (its own or another) is no overload of it. */
    for (size_t i = 0; i < nrows; i++)
        if ((rows[i].prepared != 0) == (st->fn == NULL) && strcmp(rows[i].name, want) == 0) {
            row = &rows[i];
            found++;
        }
    if (!row) {
        snprintf(why, whylen, "statement %s: %s %s not found", st->name,
                 st->fn ? "function" : "prepared statement", want);
        return -1;
    }
    if (found > 1) {
        snprintf(why, whylen, "statement %s: function %s has %zu overloads", st->name, want,
                 found);
        return -1;
    }
    const char *names = row->argnames ? row->argnames : "";
    const char *types = row->argtypes ? row->argtypes : "";
    int n = cc_stmt_nparams(st);
    char name[96], type[96];
    for (int i = 0; i < n; i++) {
        const cc_sparam_t *p = &st->params[i];
        if (!s_next(&types, type, sizeof type)) {
            snprintf(why, whylen, "statement %s: parameter %s ($%d): the database has only %d",
                     st->name, p->name, i + 1, i);
            return -1;
        }
        if (st->fn) {
            if (!s_next(&names, name, sizeof name))
                name[0] = '\0';
            const char *bare = strncmp(name, "p_", 2) == 0 ? name + 2 : name;
            if (strcmp(bare, p->name) != 0) {
                snprintf(why, whylen, "statement %s: parameter $%d is %s here but %s in %s()",
                         st->name, i + 1, p->name, name[0] ? name : "(unnamed)", st->fn);
                return -1;
            }
        }
        if (strcmp(type, cc_type_sql(p->type)) != 0) {
            snprintf(why, whylen, "statement %s: parameter %s ($%d) is %s here but %s in the "
                     "database", st->name, p->name, i + 1, cc_type_sql(p->type), type);
            return -1;
        }
    }
    if (s_next(&types, type, sizeof type)) {
        snprintf(why, whylen, "statement %s: the database has more than %d parameters (next: "
                 "%s)", st->name, n, type);
        return -1;
    }
    return 0;
}


typedef struct {
    cc_stmt_t *table;
    unsigned which;
    cc_stmt_checked_fn *done;
    void *arg;
} s_check_t;

static void
s_on_catalog(PGresult *res, void *arg)
{
    s_check_t *c = arg;
    int ok = 1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        cc_error("statement_check_failed", "sqlstate", st ? st : "");
        ok = 0;
    } else {
        size_t n = (size_t) PQntuples(res);
        cc_catalog_row_t *rows = calloc(n ? n : 1, sizeof *rows);
        if (!rows) {
            ok = 0;
        } else {
            for (size_t i = 0; i < n; i++) {
                rows[i].prepared = strcmp(PQgetvalue(res, (int) i, 0), "t") == 0;
                rows[i].name = PQgetvalue(res, (int) i, 1);
                rows[i].argnames = PQgetvalue(res, (int) i, 2);
                rows[i].argtypes = PQgetvalue(res, (int) i, 3);
            }
            char why[400];
            for (cc_stmt_t *st = c->table; st->name; st++) {
                if (!(st->conn & c->which))
                    continue;
                if (cc_stmt_compare(st, rows, n, why, sizeof why) != 0) {
                    cc_error("statement_mismatch", "statement", st->name, "why", why);
                    ok = 0;
                }
            }
            free(rows);
        }
    }
    cc_stmt_checked_fn *done = c->done;
    void *darg = c->arg;
    free(c);
    if (done)
        done(ok, darg);
}

int
cc_stmt_check(cc_db_t *db, cc_stmt_t *table, unsigned which, cc_stmt_checked_fn *done,
              void *arg)
{
    s_check_t *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->table = table;
    c->which = which;
    c->done = done;
    c->arg = arg;
    if (cc_db_exec(db, S_CATALOG, 0, NULL, NULL, NULL, s_on_catalog, c) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- calls ------------------------------------------------------------- */

void
cc_args_init(cc_args_t *a, const cc_stmt_t *st)
{
    a->st = st;
    a->n = cc_stmt_nparams(st);
    a->set = 0;
    a->next = 0;
}

static int
s_index(cc_args_t *a, const char *name)
{
    /* Callers mostly fill parameters in declaration order, and the linker
     * merges equal string literals: try the next position and the pointer
     * before comparing text (this runs for every parameter of every call). */
    int i = a->next < a->n ? a->next : 0;
    for (int k = 0; k < a->n; k++, i = i + 1 < a->n ? i + 1 : 0)
        if (a->st->params[i].name == name || strcmp(a->st->params[i].name, name) == 0) {
            a->set |= 1u << i;
            a->lengths[i] = 0;
            a->formats[i] = 0;
            a->next = i + 1;
            return i;
        }
    /* A name the statement does not declare: our bug. */
    fprintf(stderr, "cc_args: statement %s has no parameter %s\n", a->st->name, name);
    assert(!"unknown statement parameter");
    abort();
}

void
cc_args_text(cc_args_t *a, const char *name, const char *v)
{
    int i = s_index(a, name);
    assert(a->st->params[i].type != CC_T_BYTEA);
    a->values[i] = v;
}

void
cc_args_null(cc_args_t *a, const char *name)
{
    a->values[s_index(a, name)] = NULL;
}

void
cc_args_int(cc_args_t *a, const char *name, int64_t v)
{
    int i = s_index(a, name);
    cc_type_t t = a->st->params[i].type;
    assert(t == CC_T_INT2 || t == CC_T_INT4 || t == CC_T_INT8);
    (void) t;
    snprintf(a->num[i], sizeof a->num[i], "%" PRId64, v);
    a->values[i] = a->num[i];
}

void
cc_args_float(cc_args_t *a, const char *name, double v)
{
    int i = s_index(a, name);
    assert(a->st->params[i].type == CC_T_FLOAT8);
    snprintf(a->num[i], sizeof a->num[i], "%.17g", v);
    a->values[i] = a->num[i];
}

void
cc_args_bool(cc_args_t *a, const char *name, int v)
{
    int i = s_index(a, name);
    assert(a->st->params[i].type == CC_T_BOOL);
    a->values[i] = v ? "true" : "false";
}

void
cc_args_bytes(cc_args_t *a, const char *name, const void *v, size_t len)
{
    int i = s_index(a, name);
    assert(a->st->params[i].type == CC_T_BYTEA);
    a->values[i] = v;
    a->lengths[i] = (int) len;
    a->formats[i] = 1;
}

int
cc_db_call(cc_db_t *db, const cc_args_t *a, cc_db_fn *fn, void *arg)
{
    uint32_t all = a->n == 32 ? UINT32_MAX : ((1u << a->n) - 1);
    if (a->set != all) {
        for (int i = 0; i < a->n; i++)
            if (!(a->set & (1u << i)))
                fprintf(stderr, "cc_db_call: statement %s: parameter %s not given\n",
                        a->st->name, a->st->params[i].name);
        assert(!"statement parameter not given");
        abort();
    }
    return cc_db_exec(db, a->st->name, a->n, a->values, a->lengths, a->formats, fn, arg);
}
