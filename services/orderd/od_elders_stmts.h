/* od_elders' statements (od_elders.h), expanded inside od_store.c's
 * od_stmts table (where S_ELDER_COLS is defined); their indexes are the
 * OD_ST_EL_* entries of od_st_t. */
#ifndef OD_ELDERS_STMTS_H
#define OD_ELDERS_STMTS_H

/* The elder's issue-13 columns od_elders_json_more reads: status,
 * categories, rev, contacts (sealed values as hex). */
#define OD_ELDERS_COLS                                                                         \
    ", e.status, to_json(e.categories)::text, e.rev, (SELECT coalesce(json_agg("              \
    "json_build_object('contact_id', c.id, 'priority', c.priority, 'relation', c.relation, "  \
    "'name', encode(c.name_enc, 'hex'), 'phone', encode(c.phone_enc, 'hex')) "                \
    "ORDER BY c.priority), '[]') FROM elder_contacts c WHERE c.elder_id = e.id)::text"
#define OD_ELDERS_COL0 15

#define OD_ELDERS_STMTS                                                                        \
    [OD_ST_EL_CHANGE] = { "od_elder_change", W, "od_elder_change", "outcome, rev, changes",    \
        NULL,                                                                                  \
        { { "id", CC_T_UUID }, { "rev", CC_T_INT8 }, { "who", CC_T_TEXT },                     \
          { "action", CC_T_TEXT }, { "set", CC_T_JSONB }, { "key", CC_T_INT4 },                \
          { "name", CC_T_BYTEA }, { "name_idx", CC_T_BYTEA }, { "id_number", CC_T_BYTEA },     \
          { "id_number_idx", CC_T_BYTEA }, { "phone", CC_T_BYTEA },                            \
          { "phone_idx", CC_T_BYTEA }, { "address", CC_T_BYTEA },                              \
          { "address_idx", CC_T_BYTEA }, { "contacts", CC_T_JSONB } }, NULL },                 \
    [OD_ST_EL_STATUS] = { "od_elder_set_status", W, "od_elder_set_status", "outcome, rev",     \
        NULL,                                                                                  \
        { { "id", CC_T_UUID }, { "status", CC_T_TEXT }, { "reason", CC_T_TEXT },               \
          { "who", CC_T_TEXT } }, NULL },                                                      \
    [OD_ST_EL_IMPORT_BATCH] = { "od_elder_import_batch", W, "od_elder_import_batch",           \
        "row_no, outcome, elder_id", NULL,                                                     \
        { { "import", CC_T_UUID }, { "who", CC_T_TEXT }, { "key", CC_T_INT4 },                 \
          { "rows", CC_T_JSONB }, { "last", CC_T_BOOL } }, NULL },                             \
    [OD_ST_EL_INDEX_FILL] = { "od_elder_index_fill", W, "od_elder_index_fill", "outcome",      \
        NULL,                                                                                  \
        { { "id", CC_T_UUID }, { "name_idx", CC_T_BYTEA }, { "address_idx", CC_T_BYTEA } },    \
        NULL },                                                                                \
    [OD_ST_EL_INDEX_ROWS] = { "od_elder_index_rows", R, NULL, NULL,                            \
        "SELECT id, name_enc, address_enc FROM elders WHERE pii_key IS NOT NULL "              \
        "AND (name_idx IS NULL OR address_idx IS NULL) LIMIT $1::integer",                     \
        { { "limit", CC_T_INT4 } }, NULL },                                                    \
    [OD_ST_EL_IMPORT_NEW] = { "od_elder_import_new", W, NULL, NULL,                            \
        "INSERT INTO elder_imports (id, who, total, done, rejected, state, finished_at) "       \
        "VALUES ($1::uuid, $2::text, $3::integer, $4::integer, $5::jsonb, $6::text, "          \
        "CASE WHEN $6::text = 'done' THEN clock_timestamp() END) "                             \
        "RETURNING state, total, jsonb_array_length(rejected)",                                \
        { { "id", CC_T_UUID }, { "who", CC_T_TEXT }, { "total", CC_T_INT4 },                   \
          { "done", CC_T_INT4 }, { "rejected", CC_T_JSONB }, { "state", CC_T_TEXT } }, NULL }, \
    [OD_ST_EL_IMPORT_CUT] = { "od_elder_import_cut", W, NULL, NULL,                            \
        "UPDATE elder_imports SET state = 'interrupted', finished_at = clock_timestamp() "     \
        "WHERE state = 'running' AND ($1::uuid IS NULL OR id = $1::uuid)",                     \
        { { "id", CC_T_UUID } }, NULL },                                                       \
    [OD_ST_EL_IMPORT_LOOKUP] = { "od_elder_import_lookup", W, NULL, NULL,                      \
        "SELECT encode(id_number_idx, 'hex'), id FROM elders WHERE id_number_idx = "           \
        "ANY (SELECT decode(unnest($1::text[]), 'hex'))",                                      \
        { { "idx", CC_T_TEXT_ARRAY } }, NULL },                                                \
    [OD_ST_EL_IMPORT_GET] = { "od_elder_import_get", R, NULL, NULL,                            \
        "SELECT id, who, state, total, done, created, updated, unchanged, rejected::text, "    \
        "od_us(started_at), od_us(finished_at) FROM elder_imports WHERE id = $1::uuid",        \
        { { "id", CC_T_UUID } }, NULL },                                                       \
    [OD_ST_EL_HISTORY] = { "od_elder_history", R, NULL, NULL,                                  \
        "SELECT e.id, h.id, h.who, h.action, od_us(h.at), h.changes::text FROM elders e "      \
        "LEFT JOIN elder_history h ON h.elder_id = e.id AND h.id > $2::bigint "                \
        "WHERE e.id = $1::uuid ORDER BY h.id LIMIT $3::integer",                               \
        { { "id", CC_T_UUID }, { "after", CC_T_INT8 }, { "limit", CC_T_INT4 } }, NULL },       \
    [OD_ST_EL_SEARCH] = { "od_elder_search", R, NULL, NULL,                                    \
        "SELECT " S_ELDER_COLS " FROM elders e WHERE CASE $1::text "            \
        "WHEN 'phone' THEN e.phone_idx WHEN 'id_number' THEN e.id_number_idx "                 \
        "ELSE e.name_idx END = $2::bytea AND e.id > $3::uuid ORDER BY e.id LIMIT $4::integer", \
        { { "key", CC_T_TEXT }, { "idx", CC_T_BYTEA }, { "after", CC_T_UUID },                 \
          { "limit", CC_T_INT4 } }, NULL },                                                    \
    [OD_ST_EL_CONTACTS_OLD] = { "od_elder_contacts_old", R, NULL, NULL,                       \
        "SELECT id, name_enc, phone_enc FROM elder_contacts WHERE pii_key = $1::integer "      \
        "LIMIT $2::integer", { { "key", CC_T_INT4 }, { "limit", CC_T_INT4 } }, NULL },         \
    [OD_ST_EL_CONTACT_RESEAL] = { "od_elder_contact_reseal", W, NULL, NULL,                    \
        "UPDATE elder_contacts SET pii_key = $3::integer, name_enc = $4::bytea, "              \
        "phone_enc = $5::bytea WHERE id = $1::uuid AND pii_key = $2::integer",                 \
        { { "id", CC_T_UUID }, { "from", CC_T_INT4 }, { "key", CC_T_INT4 },                    \
          { "name", CC_T_BYTEA }, { "phone", CC_T_BYTEA } }, NULL },                           \
    [OD_ST_EL_DECEASED_OPEN] = { "od_elder_deceased_open", R, NULL, NULL,                      \
        "SELECT o.id FROM orders o JOIN elders e ON e.id = o.elder_id "                        \
        "WHERE e.status = 'deceased' AND NOT od_state_final(o.state)",                         \
        { { NULL, CC_T_NONE } }, NULL },

#endif
