/* od_elders: elder records that live (issue 13; docs/API-orderd.md
 * "Elder records"): PATCH, contacts, status (a death cancels the elder's
 * open orders), search by name, phone or ID number, history, and the bulk
 * import of a county roster (CSV) in batches on the loop.
 *
 * Personal values are sealed as POST /v1/elders seals them (od_pii.h);
 * a contact's name and phone are sealed with the CONTACT's id as the
 * "elder id" and the columns "contact_name" and "contact_phone"; during a
 * key rotation od_elders moves them to the active key in the background
 * (log pii_contacts_rotation_done, as od_reseal's pii_rotation_done for the
 * elders' rows: the old key may go when both are logged).
 *
 * Plans and duties generate only for status = 'active' elders (they read
 * elders.status): nothing here calls into them.
 *
 * od_elders_req.c holds the pure parts (bodies, CSV) the unit tests cover;
 * od_elders.c the handlers and the store calls. */
#ifndef OD_ELDERS_H
#define OD_ELDERS_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "cc_json.h"
#include "cc_http.h"
#include <libpq-fe.h>

/* Special-difficulty categories (../shared/policies/001_96a20b76e7fbf74d.txt
 * §14; sql/orderd/014_elder_records.sql), NULL-terminated, in the order
 * stored lists keep. */
extern const char *const od_category_names[];
/* elder_contacts.relation values, NULL-terminated. */
extern const char *const od_relation_names[];
/* elders.status values, NULL-terminated. */
extern const char *const od_elder_status_names[];

#define OD_CONTACTS_MAX 9

typedef struct {
    const char *name, *phone;          /* borrowed from the body */
    const char *relation;
    int priority;                      /* 1..9, unique in the list */
} od_contact_req_t;

/* A PATCH /v1/elders/{id} body. Sealed fields are NULL when not given;
 * set holds the plain fields by column (the store's p_set, a new
 * reference, json_decref it); contacts given: has_contacts. */
typedef struct {
    const char *name, *id_number, *phone, *address;   /* borrowed */
    char id_number_norm[19];           /* upper-case X */
    json_t *set;
    int has_rev;
    int64_t rev;
    int has_contacts;
    int ncontacts;
    od_contact_req_t contacts[OD_CONTACTS_MAX];
} od_elder_patch_t;

/* Validate a PATCH body: every bad field -> -1 with err naming it (400,
 * 422 for a well-formed value the rules refuse); unknown fields 400; an
 * empty change 400 (field null). 0 and p filled. */
int od_elder_patch_from_json(json_t *body, int64_t now_us, od_elder_patch_t *p, cc_err_t *err);
void od_elder_patch_clear(od_elder_patch_t *p);

/* categories: a JSON array of od_category_names -> the canonical list (in
 * od_category_names order, no repeats), a new reference; NULL with err
 * naming field. */
json_t *od_categories_from_json(json_t *v, const char *field, cc_err_t *err);

/* ---- CSV (RFC 4180: quotes, "" inside quotes, CRLF or LF) ---------------- */
/* One record: its fields (NUL-terminated copies, the callback's to read
 * only) and its number in the file (the header is 1). Return 0 to go on. */
typedef int (od_csv_fn)(int record, char **fields, int n, void *arg);
/* Parse text (len bytes; NULs refused). 0, or -1 with err: 400
 * invalid_csv naming "row <n>" for an unterminated quote, a character after
 * a closing quote or more than max_fields fields; or the callback's -1. */
int od_csv_parse(const char *text, size_t len, int max_fields, od_csv_fn *fn, void *arg,
                 cc_err_t *err);

/* A roster parsed and checked: rows (each {"row", "name", "id_number"
 * (normal form), "phone", "address", "set": {plain fields}}) and rejected
 * ({"row", "field", "reason"}: never the value). total counts data
 * records. */
typedef struct {
    json_t *rows;
    json_t *rejected;
    int total;
} od_roster_t;

/* Columns of a roster (docs/API-orderd.md "Bulk import"), NULL-terminated. */
extern const char *const od_roster_columns[];
/* The CSV roster -> r. -1 with err (400) when the file as a whole is
 * unusable: no header, an unknown, repeated or missing required column, a
 * malformed record, no data rows, more than max_rows rows. A row with a
 * bad field (or an ID number already in an earlier row) is rejected, the
 * others kept. 0 and r filled (free with od_roster_clear). */
int od_roster_parse(const char *csv, size_t len, int64_t now_us, int max_rows, od_roster_t *r,
                    cc_err_t *err);
void od_roster_clear(od_roster_t *r);

/* Row columns col.. of S_ELDER_COLS (od_elders_stmts.h: status,
 * categories, rev, contacts) into the elder's JSON o; contacts' names and
 * phones opened with pii (null, warned, if one does not open). */
struct od_pii;
void od_elders_json_more(json_t *o, PGresult *res, int r, int col, const struct od_pii *pii);

/* ---- handlers (od_http.c's route table) and lifecycle ------------------- */
void od_elders_patch(cc_http_req_t *req, void *arg);
void od_elders_status(cc_http_req_t *req, void *arg);
void od_elders_history(cc_http_req_t *req, void *arg);
void od_elders_search(cc_http_req_t *req, void *arg);
void od_elders_import(cc_http_req_t *req, void *arg);
void od_elders_import_get(cc_http_req_t *req, void *arg);

/* After the working set is loaded (od_app_start): mark imports a restart
 * cut short interrupted, fill missing blind indexes in the background,
 * cancel open orders of deceased elders (a death whose cancels a crash
 * cut short), move contacts under the old key to the active one. 0/-1. */
struct od_app;
int od_elders_start(struct od_app *app);
void od_elders_stop(struct od_app *app);

#endif
