/* cc_stmt: SQL statements as a table, with named, typed parameters checked
 * against the database's own catalogue.
 *
 * A daemon declares each statement once: its name, the connection(s) it is
 * prepared on, and either
 *   - fn: an SQL function of the daemon's schema, called as
 *     SELECT <cols> FROM fn($1::t1, ..., $n::tn); its parameters must be the
 *     function's IN parameters, in order, named as the function names them
 *     less a "p_" prefix, with the same (base) types; or
 *   - sql: a statement text using $1..$n in the order of params; PostgreSQL's
 *     inferred parameter types (pg_prepared_statements) must be params' types.
 * cc_stmt_check() compares a connection's statements with the catalogue
 * after each (re)connect (cc_rt does this): a mismatch is reported naming the
 * statement and the parameter, and the daemon stops.
 *
 * Calls fill parameters by name (cc_args_*); a name or type the statement
 * does not declare, or a parameter left unset, is a programming error
 * (assert). */
#ifndef CC_STMT_H
#define CC_STMT_H
#include <stddef.h>
#include <stdint.h>
#include "cc_db.h"

/* At most 32: cc_args_t.set has a bit per parameter. */
#define CC_STMT_MAX_PARAMS 32

typedef enum {
    CC_T_NONE = 0,      /* ends a params list */
    CC_T_TEXT,
    CC_T_UUID,
    CC_T_INT2,
    CC_T_INT4,
    CC_T_INT8,
    CC_T_FLOAT8,
    CC_T_BOOL,
    CC_T_BYTEA,         /* sent in binary */
    CC_T_DATE,
    CC_T_TSTZ,
    CC_T_JSONB,
    CC_T_TEXT_ARRAY,    /* text[]: an array literal as text ({"a","b"}) */
    CC_T_INT8_ARRAY,    /* bigint[]: {1,-2} */
    CC_T_UUID_ARRAY,    /* uuid[], as text */
    CC_T_BYTEA_ARRAY,   /* bytea[], as text: elements in hex ("\\x00ff") */
} cc_type_t;

typedef struct {
    const char *name;
    cc_type_t type;
} cc_sparam_t;

#define CC_STMT_WRITER 0x1u
#define CC_STMT_READER 0x2u

typedef struct {
    const char *name;           /* prepared statement name, unique per daemon */
    unsigned conn;              /* CC_STMT_WRITER and/or CC_STMT_READER */
    const char *fn;             /* SQL function called, or NULL */
    const char *cols;           /* fn: result columns ("*" when NULL) */
    const char *sql;            /* !fn: the statement text */
    cc_sparam_t params[CC_STMT_MAX_PARAMS + 1];   /* ended by type CC_T_NONE */
    char *text;                 /* fn: generated text, set by cc_stmt_prepare */
} cc_stmt_t;

/* SQL name of a type ("uuid", "bigint", "timestamp with time zone" ...). */
const char *cc_type_sql(cc_type_t t);
int cc_stmt_nparams(const cc_stmt_t *st);
/* The statement's text (generated for fn statements, cached in st->text). */
const char *cc_stmt_text(cc_stmt_t *st);

/* Prepare every statement of table (ended by name NULL) whose conn has
 * which set, on db. 0/-1. */
int cc_stmt_prepare(cc_db_t *db, cc_stmt_t *table, unsigned which);
/* Free the generated texts. */
void cc_stmt_free(cc_stmt_t *table);

/* Compare the statements of table prepared for `which` with the catalogue
 * seen on db, asynchronously. done(ok, arg) gets 1, or 0 after each
 * mismatch has been logged (event "statement_mismatch", with statement,
 * parameter, declared and found). Returns 0/-1 (could not queue). */
typedef void (cc_stmt_checked_fn)(int ok, void *arg);
int cc_stmt_check(cc_db_t *db, cc_stmt_t *table, unsigned which, cc_stmt_checked_fn *done,
                  void *arg);
/* The pure comparison behind cc_stmt_check, for tests: catalogue rows as
 * text, one per function or prepared statement: name, comma-separated
 * parameter names (fn; "" otherwise), comma-separated type names and which
 * of the two it is (fn statements match functions only, others prepared
 * statements only). On the first mismatch fills why (statement, parameter
 * and the difference) and returns -1. */
typedef struct {
    const char *name;           /* function name, or "statement <name>" */
    const char *argnames;       /* "p_order,p_key" (functions) */
    const char *argtypes;       /* "uuid,text" */
    int prepared;               /* 1: a prepared statement, 0: a function */
} cc_catalog_row_t;
int cc_stmt_compare(const cc_stmt_t *st, const cc_catalog_row_t *rows, size_t nrows,
                    char *why, size_t whylen);

/* ---- calls with named parameters --------------------------------------- */
typedef struct {
    const cc_stmt_t *st;
    int n;
    uint32_t set;                                  /* bit i: params[i] given */
    int next;                                      /* where the next name likely is */
    const char *values[CC_STMT_MAX_PARAMS];
    int lengths[CC_STMT_MAX_PARAMS];
    int formats[CC_STMT_MAX_PARAMS];
    char num[CC_STMT_MAX_PARAMS][32];              /* numbers as text */
} cc_args_t;

void cc_args_init(cc_args_t *a, const cc_stmt_t *st);
/* Text-format value for any type except BYTEA; NULL is SQL NULL. Borrowed
 * until the call is queued (cc_db copies). */
void cc_args_text(cc_args_t *a, const char *name, const char *v);
void cc_args_null(cc_args_t *a, const char *name);
void cc_args_int(cc_args_t *a, const char *name, int64_t v);     /* INT2/4/8 */
void cc_args_float(cc_args_t *a, const char *name, double v);    /* FLOAT8 */
void cc_args_bool(cc_args_t *a, const char *name, int v);        /* BOOL */
void cc_args_bytes(cc_args_t *a, const char *name, const void *v, size_t len);  /* BYTEA */

/* Queue the call on db (asserts every parameter was given). */
int cc_db_call(cc_db_t *db, const cc_args_t *a, cc_db_fn *fn, void *arg);

#endif
