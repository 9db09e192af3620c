/*-------------------------------------------------------------------------
 *
 * definitions.c
 *		The catalog as a document: ws.export_definitions,
 *		ws.import_definitions, and the catalog events that carry every
 *		change of a definition to the other nodes.
 *
 * A definition is a module, a grant of a module to a role (by role
 * name), a kind, a constraint or a version of an event schema.  The
 * document lists them by section, each section sorted by the fields that
 * name a definition (in the "C" collation, whatever the database's), every
 * value in one canonical text form (jsonpath as jsonpath_out prints it,
 * intervals in ISO 8601 whatever IntervalStyle says):
 *
 *   {"format": 1, "modules": [...], "grants": [...], "kinds": [...],
 *    "constraints": [...], "event_schemas": [...]}
 *
 * so two nodes with the same catalog export the same bytes.  One SQL
 * statement per section reads its entries, all of them or the one a key
 * names; the export, the comparisons of an import and the catalog events
 * all use it, so an entry has one form everywhere.
 *
 * Importing creates each definition the document has and this node lacks
 * by calling the very function that defines it (ws.register_module,
 * ws.grant_module, ws.define_kind, ws.add_constraint,
 * ws.register_event_schema) as the calling role: the same checks, the
 * same privileges.  A definition present identically is skipped; one
 * present differently is an error naming it (strict import), or is
 * defined again when the document is a peer's catalog event, which is a
 * later change made there (ws_apply_definitions).  A grant to a role that
 * does not exist here is skipped with a NOTICE.  The whole document is
 * checked before anything is written, and an error anywhere undoes the
 * call's writes: all or nothing.
 *
 * Catalog events.  On a node of a mesh (worldstate.node_id not 0), each
 * catalog function that changes a definition also appends an event of the
 * reserved module "ws", type "definitions", without an entity, in the
 * same transaction: its patch is a document of the format above holding
 * the definition as it now is, or for a revoked grant or a dropped
 * constraint a section "revoked_grants" or "dropped_constraints" naming
 * it.  A call that changes nothing appends nothing.  Applying a peer's
 * catalog event appends none: the peers have the original.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "definitions.h"
#include "settings.h"
#include "spi.h"
#include "util.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(definitions_export);
PG_FUNCTION_INFO_V1(definitions_import);
PG_FUNCTION_INFO_V1(definitions_apply);

/* the format of the document this file writes and reads */
#define WS_DEFINITIONS_FORMAT	1

/* a field of an entry: its value in the normalized entry $1 */
#define F(k)	"($1 OPERATOR(pg_catalog.->) '" k "')"
#define FT(k)	"($1 OPERATOR(pg_catalog.->>) '" k "')"

/* the JSON type a field of an entry takes */
typedef enum DefFieldType
{
	DEF_STRING,
	DEF_INTEGER,
	DEF_BOOLEAN,
	DEF_STRINGS					/* an array of strings */
} DefFieldType;

typedef struct DefField
{
	const char *name;
	DefFieldType type;
	bool		required;
} DefField;

#define WS_DEF_MAX_FIELDS	5

/*
 * A section of the document.  The first nkeys fields name a definition.
 * select: the entries as a jsonb array in document order, all of them or
 * those whose key fields equal $1..$3 (text; NULL matches any), read as
 * the owner.  normalize: the entry $1 (jsonb, its fields checked) in
 * canonical form, as select would print it, run as the caller.  create
 * and remove: the call that defines or removes the definition of the
 * normalized entry $1, run as the caller; $2 is true for a peer's event.
 */
typedef struct DefSection
{
	const char *name;
	const char *removed;		/* the section naming removals, or NULL */
	int			nkeys;
	int			nfields;
	DefField	fields[WS_DEF_MAX_FIELDS];
	const char *select;
	const char *normalize;
	const char *create;
	const char *remove;
} DefSection;

static const DefSection sections[WS_DEF_NSECTIONS] = {
	[WS_DEF_MODULES] = {
		"modules", NULL, 1, 3,
		{{"name", DEF_STRING, true}, {"api_version", DEF_INTEGER, true},
		 {"require_event_schemas", DEF_BOOLEAN, false}},
		"SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('name', name,"
		" 'api_version', api_version, 'require_event_schemas', require_event_schemas)"
		" ORDER BY name COLLATE pg_catalog.\"C\") FROM ws.modules"
		" WHERE ($1 IS NULL OR name OPERATOR(pg_catalog.=) $1)",
		"SELECT pg_catalog.jsonb_build_object('name', " FT("name") ","
		" 'api_version', " F("api_version") "::pg_catalog.int4,"
		" 'require_event_schemas', COALESCE(" F("require_event_schemas") "::pg_catalog.bool, false))",
		"SELECT ws.register_module(" FT("name") ", " F("api_version") "::pg_catalog.int4,"
		" " F("require_event_schemas") "::pg_catalog.bool)",
		NULL
	},
	[WS_DEF_GRANTS] = {
		"grants", "revoked_grants", 2, 3,
		{{"module", DEF_STRING, true}, {"role", DEF_STRING, true},
		 {"admin", DEF_BOOLEAN, false}},
		"SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('module', g.module,"
		" 'role', r.rolname, 'admin', g.admin)"
		" ORDER BY g.module COLLATE pg_catalog.\"C\", r.rolname COLLATE pg_catalog.\"C\")"
		" FROM ws.module_grants g JOIN pg_catalog.pg_roles r"
		" ON r.oid OPERATOR(pg_catalog.=) g.role::pg_catalog.oid"
		" WHERE ($1 IS NULL OR g.module OPERATOR(pg_catalog.=) $1)"
		" AND ($2 IS NULL OR r.rolname::pg_catalog.text OPERATOR(pg_catalog.=) $2)",
		"SELECT pg_catalog.jsonb_build_object('module', " FT("module") ", 'role', " FT("role") ","
		" 'admin', COALESCE(" F("admin") "::pg_catalog.bool, false))",
		"SELECT ws.grant_module(" FT("module") ", " FT("role") "::pg_catalog.name,"
		" " F("admin") "::pg_catalog.bool)",
		"SELECT ws.revoke_module(" FT("module") ", " FT("role") "::pg_catalog.name)"
	},
	[WS_DEF_KINDS] = {
		"kinds", NULL, 1, 4,
		{{"kind", DEF_STRING, true}, {"module", DEF_STRING, true},
		 {"policy", DEF_STRING, false}, {"counters", DEF_STRINGS, false}},
		"SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', kind, 'module', module,"
		" 'policy', policy, 'counters', pg_catalog.to_jsonb(counters))"
		" ORDER BY kind COLLATE pg_catalog.\"C\") FROM ws.kinds"
		" WHERE ($1 IS NULL OR kind OPERATOR(pg_catalog.=) $1)",
		"SELECT pg_catalog.jsonb_build_object('kind', " FT("kind") ", 'module', " FT("module") ","
		" 'policy', COALESCE(" FT("policy") ", 'lww'),"
		" 'counters', COALESCE(" F("counters") ", '[]'::pg_catalog.jsonb))",
		"SELECT ws.define_kind(" FT("kind") ", " FT("module") ", " FT("policy") ","
		" ARRAY(SELECT c.v FROM pg_catalog.jsonb_array_elements_text(" F("counters") ")"
		" WITH ORDINALITY c (v, o) ORDER BY c.o))",
		NULL
	},
	[WS_DEF_CONSTRAINTS] = {
		"constraints", "dropped_constraints", 2, 3,
		{{"kind", DEF_STRING, true}, {"name", DEF_STRING, true},
		 {"predicate", DEF_STRING, true}},
		"SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', kind, 'name', name,"
		" 'predicate', predicate::pg_catalog.text)"
		" ORDER BY kind COLLATE pg_catalog.\"C\", name COLLATE pg_catalog.\"C\") FROM ws.constraints"
		" WHERE ($1 IS NULL OR kind OPERATOR(pg_catalog.=) $1)"
		" AND ($2 IS NULL OR name OPERATOR(pg_catalog.=) $2)",
		"SELECT pg_catalog.jsonb_build_object('kind', " FT("kind") ", 'name', " FT("name") ","
		" 'predicate', " FT("predicate") "::pg_catalog.jsonpath::pg_catalog.text)",
		"SELECT ws.add_constraint(" FT("kind") ", " FT("name") ","
		" " FT("predicate") "::pg_catalog.jsonpath, $2)",
		"SELECT ws.drop_constraint(" FT("kind") ", " FT("name") ")"
	},
	[WS_DEF_EVENT_SCHEMAS] = {
		"event_schemas", NULL, 3, 5,
		{{"module", DEF_STRING, true}, {"event_type", DEF_STRING, true},
		 {"version", DEF_INTEGER, true}, {"rules", DEF_STRINGS, true},
		 {"grace", DEF_STRING, false}},
		"SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('module', module,"
		" 'event_type', event_type, 'version', version,"
		" 'rules', pg_catalog.to_jsonb(rules::pg_catalog.text[]), 'grace', grace::pg_catalog.text)"
		" ORDER BY module COLLATE pg_catalog.\"C\", event_type COLLATE pg_catalog.\"C\", version) FROM ws.event_schemas"
		" WHERE ($1 IS NULL OR module OPERATOR(pg_catalog.=) $1)"
		" AND ($2 IS NULL OR event_type OPERATOR(pg_catalog.=) $2)"
		" AND ($3 IS NULL OR version::pg_catalog.text OPERATOR(pg_catalog.=) $3)",
		"SELECT pg_catalog.jsonb_build_object('module', " FT("module") ","
		" 'event_type', " FT("event_type") ", 'version', " F("version") "::pg_catalog.int4,"
		" 'rules', (SELECT COALESCE(pg_catalog.jsonb_agg(r.v::pg_catalog.jsonpath::pg_catalog.text"
		"  ORDER BY r.o), '[]'::pg_catalog.jsonb)"
		"  FROM pg_catalog.jsonb_array_elements_text(" F("rules") ") WITH ORDINALITY r (v, o)),"
		" 'grace', COALESCE(" FT("grace") ", '7 days')::pg_catalog.interval::pg_catalog.text)",
		"SELECT ws.register_event_schema(" FT("module") ", " FT("event_type") ","
		" " F("version") "::pg_catalog.int4,"
		" ARRAY(SELECT r.v::pg_catalog.jsonpath FROM pg_catalog.jsonb_array_elements_text(" F("rules") ")"
		" WITH ORDINALITY r (v, o) ORDER BY r.o), " FT("grace") "::pg_catalog.interval)",
		NULL
	},
};

/* while true, catalog changes append no events (a peer's event is applied) */
static bool events_suppressed = false;

/*
 * Fix the settings that change how values print (IntervalStyle) until
 * fixed_styles_end, so entries have one text form on every node.
 */
static int
fixed_styles_begin(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("intervalstyle", "iso_8601", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Restore the settings fixed_styles_begin fixed. */
static void
fixed_styles_end(int nest)
{
	AtEOXact_GUC(true, nest);
}

/* The jsonb of the first column of the first row of the last statement. */
static Jsonb *
result_jsonb(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/*
 * The entries of a section as a jsonb array, NULL when there are none:
 * all of them (keys NULL) or those the keys name.  Inside SPI, under
 * fixed styles.
 */
static Jsonb *
section_entries(WsDefSection s, const char *const *keys)
{
	Oid			t[WS_DEF_MAX_KEYS] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		a[WS_DEF_MAX_KEYS];
	char		n[WS_DEF_MAX_KEYS];

	for (int i = 0; i < WS_DEF_MAX_KEYS; i++)
	{
		bool		given = keys != NULL && keys[i] != NULL;

		a[i] = given ? CStringGetTextDatum(keys[i]) : (Datum) 0;
		n[i] = given ? ' ' : 'n';
	}
	ws_exec_as_owner(sections[s].select, WS_DEF_MAX_KEYS, t, a, n, SPI_OK_SELECT);
	return result_jsonb();
}

/* The entry of the one definition the keys name, or NULL. */
static Jsonb *
entry_lookup(WsDefSection s, const char *const *keys)
{
	Jsonb	   *entries = section_entries(s, keys);
	JsonbValue *v;

	if (entries == NULL)
		return NULL;
	v = getIthJsonbValueFromContainer(&entries->root, 0);
	return v ? JsonbValueToJsonb(v) : NULL;
}

/* Whether two entries are the same definition, field for field. */
static bool
jsonb_same(Jsonb *a, Jsonb *b)
{
	return compareJsonbContainers(&a->root, &b->root) == 0;
}

/* The text of a field of an entry (a string, or a number as printed). */
static char *
field_text(Jsonb *entry, const char *field)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&entry->root, field, strlen(field), NULL);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	elog(ERROR, "field \"%s\" of a definition is not a string or a number", field);
}

/* The key values of an entry, into keys (NULL past the section's keys). */
static void
entry_keys(WsDefSection s, Jsonb *entry, const char **keys)
{
	for (int i = 0; i < WS_DEF_MAX_KEYS; i++)
		keys[i] = i < sections[s].nkeys ? field_text(entry, sections[s].fields[i].name) : NULL;
}

/* The definition the keys name, for messages: 'kind "player"'. */
static char *
describe(WsDefSection s, const char *const *keys)
{
	switch (s)
	{
		case WS_DEF_MODULES:
			return psprintf("module \"%s\"", keys[0]);
		case WS_DEF_GRANTS:
			return psprintf("grant of module \"%s\" to role \"%s\"", keys[0], keys[1]);
		case WS_DEF_KINDS:
			return psprintf("kind \"%s\"", keys[0]);
		case WS_DEF_CONSTRAINTS:
			return psprintf("constraint \"%s\" of kind \"%s\"", keys[1], keys[0]);
		case WS_DEF_EVENT_SCHEMAS:
			return psprintf("version %s of event schema \"%s\" of module \"%s\"",
							keys[2], keys[1], keys[0]);
		default:
			elog(ERROR, "unknown section of definitions %d", (int) s);
	}
}

/* jsonb as text, for messages */
static char *
jsonb_text(Jsonb *j)
{
	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

/*
 * Append the catalog event whose patch is doc: module "ws", event type
 * "definitions", no entity, this node's origin and a new HLC, written by
 * the one writer of events as the owner of schema ws.
 */
static void
append_catalog_event(Jsonb *doc)
{
	Oid			caller = GetUserId();
	pg_uuid_t	event_id;
	WsAsOwner	saved;

	ws_as_owner_begin(&saved);
	ws_writer_append_unattached(&event_id, WS_CATALOG_MODULE, WS_CATALOG_EVENT_TYPE, doc, NULL,
								WS_DEFINITIONS_FORMAT, caller, NULL);
	ws_as_owner_end(&saved);
}

/*
 * Note the definition a catalog function is about to change; pair with
 * ws_definition_change_end after the change.  Inside SPI.  Costs nothing
 * on a standalone node (worldstate.node_id 0).
 */
void
ws_definition_change_begin(WsDefinitionChange *c, WsDefSection section,
						   const char *key1, const char *key2, const char *key3)
{
	c->section = section;
	c->keys[0] = key1;
	c->keys[1] = key2;
	c->keys[2] = key3;
	c->on = ws_node_id != 0 && !events_suppressed;
	c->before = NULL;
	if (c->on)
	{
		int			nest = fixed_styles_begin();

		c->before = entry_lookup(section, c->keys);
		fixed_styles_end(nest);
	}
}

/*
 * After the change: append the catalog event holding the definition as it
 * now is, or naming it as removed, unless it did not change.
 */
void
ws_definition_change_end(WsDefinitionChange *c)
{
	const DefSection *s = &sections[c->section];
	Jsonb	   *after;
	Oid			t[6] = {TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		a[6];
	char		n[6] = "      ";
	int			nest;

	if (!c->on)
		return;
	nest = fixed_styles_begin();
	after = entry_lookup(c->section, c->keys);
	fixed_styles_end(nest);
	if (after == NULL ? c->before == NULL : c->before != NULL && jsonb_same(after, c->before))
		return;
	if (after == NULL && s->removed == NULL)
		elog(ERROR, "%s was removed, which no catalog function does", describe(c->section, c->keys));
	/* the entry, or the fields that name the removed definition */
	a[0] = CStringGetTextDatum(after ? s->name : s->removed);
	a[1] = after ? JsonbPGetDatum(after) : (Datum) 0;
	n[1] = after ? ' ' : 'n';
	a[2] = CStringGetTextDatum(s->fields[0].name);
	a[3] = CStringGetTextDatum(c->keys[0]);
	a[4] = CStringGetTextDatum(s->fields[s->nkeys > 1 ? 1 : 0].name);
	a[5] = CStringGetTextDatum(c->keys[s->nkeys > 1 ? 1 : 0]);
	ws_exec("SELECT pg_catalog.jsonb_build_object('format', " CppAsString2(WS_DEFINITIONS_FORMAT) ","
			" $1, pg_catalog.jsonb_build_array(COALESCE($2, pg_catalog.jsonb_build_object($3, $4, $5, $6))))",
			6, t, a, n, SPI_OK_SELECT);
	append_catalog_event(result_jsonb());
}


/*
 * Importing.  An import first reads the whole document into its entries,
 * each checked and normalized, then applies them section by section.
 */

/* the entries of a document, per section, normalized */
typedef struct DocEntries
{
	List	   *entries[WS_DEF_NSECTIONS];	/* Jsonb *, to define */
	List	   *removed[WS_DEF_NSECTIONS];	/* Jsonb *, to revoke or drop */
} DocEntries;

static const char *const document_hint =
"Pass a document as ws.export_definitions() writes it: {\"format\": 1, \"modules\": [...], \"kinds\": [...], ...}.";

/* 22023: the document is not one an import reads */
static void
malformed(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed definitions document: %s", problem),
			 errhint("%s", document_hint)));
}

/* Whether a JSON number is a whole number. */
static bool
is_whole(JsonbValue *v)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));

	return strspn(s, "-0123456789") == strlen(s);
}

/* Whether v is an array whose elements are all strings. */
static bool
is_string_array(JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM && elem.type != jbvString)
			return false;
	return true;
}

/* Whether v has the JSON type a field of type t takes. */
static bool
field_type_ok(JsonbValue *v, DefFieldType t)
{
	switch (t)
	{
		case DEF_STRING:
			return v->type == jbvString;
		case DEF_INTEGER:
			return v->type == jbvNumeric && is_whole(v);
		case DEF_BOOLEAN:
			return v->type == jbvBool;
		case DEF_STRINGS:
			return is_string_array(v);
	}
	return false;
}

static const char *const field_type_names[] = {
	[DEF_STRING] = "a string",
	[DEF_INTEGER] = "a whole number",
	[DEF_BOOLEAN] = "true or false",
	[DEF_STRINGS] = "an array of strings",
};

/*
 * 22023 unless entry i (from 1) of section `name` is an object with the
 * first nfields fields of the section, each of its type, the required
 * ones present, and no other field.
 */
static void
check_entry(const DefSection *s, const char *name, int i, JsonbValue *entry, int nfields)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (entry->type != jbvBinary || !JsonContainerIsObject(entry->val.binary.data))
		malformed(psprintf("entry %d of \"%s\" is not a JSON object", i, name));
	it = JsonbIteratorInit(entry->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			f;

		if (tok != WJB_KEY)
			continue;
		for (f = 0; f < nfields; f++)
			if (strlen(s->fields[f].name) == (size_t) v.val.string.len &&
				memcmp(s->fields[f].name, v.val.string.val, v.val.string.len) == 0)
				break;
		if (f == nfields)
			malformed(psprintf("entry %d of \"%s\" has an unknown field \"%.*s\"",
							   i, name, v.val.string.len, v.val.string.val));
	}
	for (int f = 0; f < nfields; f++)
	{
		const DefField *field = &s->fields[f];
		JsonbValue *fv = getKeyJsonValueFromContainer(entry->val.binary.data, field->name,
													  strlen(field->name), NULL);

		if (fv == NULL && field->required)
			malformed(psprintf("entry %d of \"%s\" has no \"%s\"", i, name, field->name));
		if (fv != NULL && !field_type_ok(fv, field->type))
			malformed(psprintf("\"%s\" of entry %d of \"%s\" must be %s",
							   field->name, i, name, field_type_names[field->type]));
	}
}

/* normalize's statement and entry, and what it prints */
typedef struct Normalization
{
	const char *sql;
	Datum		entry;
	Jsonb	   *result;
} Normalization;

/* normalize's work, in its subtransaction. */
static void
normalize_step(void *arg)
{
	Normalization *n = (Normalization *) arg;
	Oid			t[1] = {JSONBOID};

	ws_exec(n->sql, 1, t, &n->entry, NULL, SPI_OK_SELECT);
	n->result = result_jsonb();
}

/*
 * The entry in canonical form, as the section's select prints it, parsed
 * as the calling role.  A value that does not parse (a jsonpath, an
 * interval, a number out of range) is 22P02 naming the entry.
 */
static Jsonb *
normalize(const DefSection *s, int i, Jsonb *entry)
{
	Normalization n = {s->normalize, JsonbPGetDatum(entry), NULL};
	ErrorData  *ed = ws_subxact_try(normalize_step, &n);

	if (ed == NULL)
		return n.result;
	if (ERRCODE_TO_CATEGORY(ed->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
		ed->sqlerrcode != ERRCODE_SYNTAX_ERROR)
		ReThrowError(ed);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("entry %d of \"%s\" has a value that does not parse: %s",
					i, s->name, ed->message),
			 errdetail("The entry is %s.", jsonb_text(entry)),
			 errhint("Write predicates and rules as jsonpath, grace as an interval, versions as whole numbers.")));
}

/* The entries of one section's array: checked, normalized unless removals. */
static List *
read_section(const DefSection *s, JsonbValue *array, bool removals)
{
	const char *name = removals ? s->removed : s->name;
	List	   *out = NIL;
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			i = 0;

	if (array->type != jbvBinary || !JsonContainerIsArray(array->val.binary.data))
		malformed(psprintf("\"%s\" is not a JSON array", name));
	it = JsonbIteratorInit(array->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		Jsonb	   *entry;

		if (tok != WJB_ELEM)
			continue;
		i++;
		check_entry(s, name, i, &elem, removals ? s->nkeys : s->nfields);
		entry = JsonbValueToJsonb(&elem);
		out = lappend(out, removals ? entry : normalize(s, i, entry));
	}
	return out;
}

/* 22023 unless the document's "format" is the one this file reads. */
static void
check_format(JsonbValue *v)
{
	if (v->type != jbvNumeric ||
		strcmp(DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric))),
			   CppAsString2(WS_DEFINITIONS_FORMAT)) != 0)
		malformed("\"format\" must be " CppAsString2(WS_DEFINITIONS_FORMAT));
}

/*
 * Read a document into d: every key known, "format" right, every entry
 * checked and normalized.  Removals (revoked grants, dropped constraints)
 * come only in a peer's catalog events (apply).
 */
static void
read_document(Jsonb *doc, bool apply, DocEntries *d)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		format_seen = false;

	memset(d, 0, sizeof(*d));
	if (!JB_ROOT_IS_OBJECT(doc))
		malformed("it is not a JSON object");
	it = JsonbIteratorInit(&doc->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		JsonbValue	value;
		int			s;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &value, true);
		Assert(tok == WJB_VALUE);
		if (strcmp(key, "format") == 0)
		{
			check_format(&value);
			format_seen = true;
			continue;
		}
		for (s = 0; s < WS_DEF_NSECTIONS; s++)
		{
			if (strcmp(key, sections[s].name) == 0)
			{
				d->entries[s] = read_section(&sections[s], &value, false);
				break;
			}
			if (sections[s].removed && strcmp(key, sections[s].removed) == 0)
			{
				if (!apply)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("ws.import_definitions does not take \"%s\"", key),
							 errdetail("An import creates definitions; revoked grants and dropped constraints travel only as catalog events between nodes."),
							 errhint("Leave \"%s\" out, and revoke or drop with ws.revoke_module or ws.drop_constraint.", key)));
				d->removed[s] = read_section(&sections[s], &value, true);
				break;
			}
		}
		if (s == WS_DEF_NSECTIONS)
			malformed(psprintf("unknown key \"%s\"", key));
	}
	if (!format_seen)
		malformed("it has no \"format\"");
}

/* Run a section's create or remove call on an entry, as the caller. */
static void
run_definition(const char *sql, Jsonb *entry, bool apply)
{
	Oid			t[2] = {JSONBOID, BOOLOID};
	Datum		a[2] = {JsonbPGetDatum(entry), BoolGetDatum(apply)};

	ws_exec(sql, 2, t, a, NULL, SPI_OK_SELECT);
}

/*
 * Define each entry this node lacks (and with apply, redefine each it has
 * differently, remove each removal it has); the number of definitions
 * written.
 */
static int
apply_entries(DocEntries *d, bool apply)
{
	int			count = 0;
	ListCell   *lc;

	for (int s = 0; s < WS_DEF_NSECTIONS; s++)
	{
		foreach(lc, d->entries[s])
		{
			Jsonb	   *entry = lfirst(lc);
			const char *keys[WS_DEF_MAX_KEYS];
			Jsonb	   *here;

			entry_keys(s, entry, keys);
			if (s == WS_DEF_GRANTS && !OidIsValid(get_role_oid(keys[1], true)))
			{
				ereport(NOTICE,
						(errmsg("role \"%s\" does not exist here: its grant of module \"%s\" is skipped",
								keys[1], keys[0]),
						 errhint("Create the role and grant it with ws.grant_module('%s', '%s').",
								 keys[0], keys[1])));
				continue;
			}
			here = entry_lookup(s, keys);
			if (here != NULL && jsonb_same(here, entry))
				continue;
			if (here != NULL && !apply)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s is defined differently here", describe(s, keys)),
						 errdetail("Here it is %s; the document has %s.",
								   jsonb_text(here), jsonb_text(entry)),
						 errhint("Make the two definitions agree, or leave this one out of the document.")));
			run_definition(sections[s].create, entry, apply);
			count++;
		}
	}
	for (int s = 0; s < WS_DEF_NSECTIONS; s++)
	{
		foreach(lc, d->removed[s])
		{
			const char *keys[WS_DEF_MAX_KEYS];

			entry_keys(s, lfirst(lc), keys);
			if (entry_lookup(s, keys) == NULL)
				continue;
			run_definition(sections[s].remove, lfirst(lc), apply);
			count++;
		}
	}
	return count;
}

/* Import or apply a document; the number of definitions written. */
static int
import_document(Jsonb *doc, bool apply)
{
	DocEntries	d;
	int			count;
	int			nest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nest = fixed_styles_begin();
	read_document(doc, apply, &d);
	count = apply_entries(&d, apply);
	fixed_styles_end(nest);
	SPI_finish();
	return count;
}

/* import_document without catalog events */
static int
import_quietly(Jsonb *doc, bool apply)
{
	bool		saved = events_suppressed;
	int			count;

	events_suppressed = true;
	PG_TRY();
	{
		count = import_document(doc, apply);
	}
	PG_FINALLY();
	{
		events_suppressed = saved;
	}
	PG_END_TRY();
	return count;
}

/*
 * What ws.import_definitions does, without appending catalog events: the
 * number of definitions created.  A definition present differently is an
 * error.
 */
int
ws_import_definitions(Jsonb *doc)
{
	return import_quietly(doc, false);
}

/*
 * Apply a peer's catalog event (its patch): create what is missing,
 * define again what differs (the event is a later change made there;
 * constraints without checking local entities, as the origin checked
 * them), revoke and drop what it names.  Appends no catalog event.  The
 * number of definitions written.  Called by the replica trigger, inside a
 * subtransaction.
 */
int
ws_apply_definitions(Jsonb *doc)
{
	return import_quietly(doc, true);
}

/* ws.export_definitions() -> jsonb: the whole catalog as one document */
Datum
definitions_export(PG_FUNCTION_ARGS)
{
	Oid			t[2 * WS_DEF_NSECTIONS];
	Datum		a[2 * WS_DEF_NSECTIONS];
	char		n[2 * WS_DEF_NSECTIONS];
	Datum		result;
	int			nest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nest = fixed_styles_begin();
	for (int s = 0; s < WS_DEF_NSECTIONS; s++)
	{
		Jsonb	   *entries = section_entries(s, NULL);

		t[2 * s] = TEXTOID;
		a[2 * s] = CStringGetTextDatum(sections[s].name);
		n[2 * s] = ' ';
		t[2 * s + 1] = JSONBOID;
		a[2 * s + 1] = entries ? JsonbPGetDatum(entries) : (Datum) 0;
		n[2 * s + 1] = entries ? ' ' : 'n';
	}
	StaticAssertStmt(WS_DEF_NSECTIONS == 5, "one pair of arguments per section");
	ws_exec("SELECT pg_catalog.jsonb_build_object('format', " CppAsString2(WS_DEFINITIONS_FORMAT) ","
			" $1, COALESCE($2, '[]'::pg_catalog.jsonb), $3, COALESCE($4, '[]'::pg_catalog.jsonb),"
			" $5, COALESCE($6, '[]'::pg_catalog.jsonb), $7, COALESCE($8, '[]'::pg_catalog.jsonb),"
			" $9, COALESCE($10, '[]'::pg_catalog.jsonb))",
			2 * WS_DEF_NSECTIONS, t, a, n, SPI_OK_SELECT);
	result = SPI_datumTransfer(JsonbPGetDatum(result_jsonb()), false, -1);
	fixed_styles_end(nest);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* The document argument; 22023 when it is NULL. */
static Jsonb *
doc_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("doc must not be null"),
				 errhint("%s", document_hint)));
	return PG_GETARG_JSONB_P(0);
}

/*
 * ws.import_definitions(doc jsonb) -> int: create the definitions of the
 * document this node lacks, each by its defining function as the calling
 * role (which appends its catalog event on a node of a mesh); the number
 * created.
 */
Datum
definitions_import(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(import_document(doc_arg(fcinfo), false));
}

/*
 * ws._apply_definitions(patch jsonb) -> int: apply a catalog event's patch
 * as the replica trigger does (ws_apply_definitions).  Not granted: for
 * tests and repairs by the owner.
 */
Datum
definitions_apply(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ws_apply_definitions(doc_arg(fcinfo)));
}
