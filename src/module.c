/*-------------------------------------------------------------------------
 *
 * module.c
 *		The module catalog: ws.register_module, ws.grant_module,
 *		ws.revoke_module, ws.define_kind, ws.add_constraint and
 *		ws.drop_constraint.
 *
 * A module owns kinds, and through them entities.  Roles act on a module
 * in two tiers, granted by ws.grant_module and checked against the calling
 * role (canon.c): a writer changes its entities and publishes its events;
 * an admin also defines its kinds, constraints and event schemas, which
 * decide what every writer may write.  Registering modules and granting
 * them is for ws_admin, which may also do everything a module admin may.
 * Writes run as the owner of schema ws, like the transition protocol's.
 *
 * Every argument is required: NULL is refused (22023, naming it), never
 * taken as "do nothing".  A constraint is checked before it is stored: it
 * must be a predicate that can be evaluated (no variables), and the
 * kind's live entities must satisfy it unless the caller says not_valid,
 * as ALTER TABLE ... NOT VALID does.
 *
 * Each function that changes a definition notes it before and after the
 * change (definitions.c), which on a node of a mesh appends the catalog
 * event that carries the change to the other nodes.  The module name "ws"
 * is reserved: those events are its events.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonpath.h"
#include "utils/lsyscache.h"

#include "canon.h"
#include "definitions.h"
#include "errcodes.h"
#include "kindcache.h"
#include "module.h"
#include "spi.h"
#include "util.h"

PG_FUNCTION_INFO_V1(module_register);
PG_FUNCTION_INFO_V1(module_grant);
PG_FUNCTION_INFO_V1(module_revoke);
PG_FUNCTION_INFO_V1(kind_define);
PG_FUNCTION_INFO_V1(constraint_add);
PG_FUNCTION_INFO_V1(constraint_drop);

/* the longest module, kind, constraint or event type name, in bytes */
#define WS_IDENT_MAX	63

/* how many violating entities an add_constraint error names */
#define WS_VIOLATORS_NAMED	3

/* Run a DELETE of two arguments as the owner; whether it deleted a row. */
static bool
deleted(const char *sql, const Oid *types, Datum *args)
{
	ws_exec_as_owner(sql, 2, types, args, NULL, WS_SPI_ANY);
	return SPI_processed > 0;
}

/* A required argument: 22023 naming it when it is NULL. */
static void
require_arg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	if (n < PG_NARGS() && PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", argname),
				 errhint("Pass a value for %s.", argname)));
}

/* A required name argument: not NULL, not empty, at most WS_IDENT_MAX bytes. */
static char *
ident_arg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	char	   *s;

	require_arg(fcinfo, n, argname);
	s = TextDatumGetCString(PG_GETARG_DATUM(n));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname),
				 errhint("Pass a %s of 1 to %d bytes.", argname, WS_IDENT_MAX)));
	ws_check_identifier(s, argname);
	return s;
}

/* An optional boolean argument added in 1.1: its value, or false. */
static bool
bool_arg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	if (n >= PG_NARGS())
		return false;			/* called through the 1.0 declaration */
	require_arg(fcinfo, n, argname);
	return PG_GETARG_BOOL(n);
}

/*
 * 22023 unless name fits a module, kind, constraint or event type name:
 * at most WS_IDENT_MAX bytes.
 */
void
ws_check_identifier(const char *name, const char *what)
{
	if (strlen(name) > WS_IDENT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is longer than %d bytes", what,
						ws_input_for_message(name), WS_IDENT_MAX),
				 errhint("Choose a %s of at most %d bytes.", what, WS_IDENT_MAX)));
}

/* The module a kind belongs to, or NULL when the kind is not defined. */
static char *
kind_module(const char *kind)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1] = {CStringGetTextDatum(kind)};
	bool		isnull;

	ws_exec_as_owner("SELECT module FROM ws.kinds WHERE kind OPERATOR(pg_catalog.=) $1",
					 1, t, a, NULL, WS_SPI_ANY);
	if (SPI_processed == 0)
		return NULL;
	return TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The module of a defined kind; 22023 naming ws.define_kind otherwise. */
static char *
defined_kind_module(const char *kind)
{
	char	   *module = kind_module(kind);

	if (module == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind \"%s\" is not defined", kind),
				 errhint("An admin of its module defines it with ws.define_kind('%s', module).", kind)));
	return module;
}

/* The module admin check, run as the owner. */
static void
require_admin(Oid caller, const char *module)
{
	WsAsOwner	saved;

	ws_as_owner_begin(&saved);
	ws_check_module_admin(caller, module);
	ws_as_owner_end(&saved);
}

/* The OID of an existing role; 42704 otherwise. */
static Oid
existing_role(const char *role)
{
	Oid			roleid = get_role_oid(role, true);

	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", role),
				 errhint("Create it with CREATE ROLE first.")));
	return roleid;
}

/* name with its dots replaced by underscores, for a hint */
static char *
undotted(const char *name)
{
	char	   *s = pstrdup(name);

	for (char *p = s; *p; p++)
		if (*p == '.')
			*p = '_';
	return s;
}

/*
 * ws.register_module(name, api_version, require_event_schemas): register,
 * or update api_version and the event schema requirement.  Module names
 * contain no dot, so a subscriber name (module or module.name) always
 * says which module it belongs to.
 */
Datum
module_register(PG_FUNCTION_ARGS)
{
	char	   *name = ident_arg(fcinfo, 0, "module name");
	int32		api;
	bool		require = bool_arg(fcinfo, 2, "require_event_schemas");
	Oid			t[3] = {TEXTOID, INT4OID, BOOLOID};
	Datum		a[3];
	WsDefinitionChange change;

	ws_require_ws_admin("ws.register_module");
	require_arg(fcinfo, 1, "api_version");
	api = PG_GETARG_INT32(1);
	if (strchr(name, '.') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("module name \"%s\" contains a dot", name),
				 errdetail("Subscribers are named module or module.name, so a dot would make them ambiguous."),
				 errhint("Choose a name without a dot, such as \"%s\".", undotted(name))));
	if (strcmp(name, WS_CATALOG_MODULE) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("module name \"%s\" is reserved", name),
				 errdetail("Module \"%s\" is worldstate's own: its events carry catalog changes between nodes.",
						   name),
				 errhint("Choose another name.")));
	if (api <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("api_version must be positive, not %d", api),
				 errhint("Pass 1 for the first version of the module's API.")));
	a[0] = CStringGetTextDatum(name);
	a[1] = Int32GetDatum(api);
	a[2] = BoolGetDatum(require);
	SPI_connect();
	ws_definition_change_begin(&change, WS_DEF_MODULES, name, NULL, NULL);
	if (PG_NARGS() > 2)
		ws_exec_as_owner("INSERT INTO ws.modules (name, api_version, require_event_schemas)"
						 " VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE"
						 " SET api_version = excluded.api_version,"
						 " require_event_schemas = excluded.require_event_schemas",
						 3, t, a, NULL, WS_SPI_ANY);
	else
		ws_exec_as_owner("INSERT INTO ws.modules (name, api_version) VALUES ($1, $2)"
						 " ON CONFLICT (name) DO UPDATE SET api_version = excluded.api_version",
						 2, t, a, NULL, WS_SPI_ANY);
	ws_definition_change_end(&change);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ws.grant_module(module, role, admin): members of role may write the
 * module, and with admin also define its kinds, constraints and event
 * schemas.  Granting again sets the tier to the one given.
 */
Datum
module_grant(PG_FUNCTION_ARGS)
{
	char	   *module = ident_arg(fcinfo, 0, "module");
	bool		admin = bool_arg(fcinfo, 2, "admin");
	Oid			t[3] = {TEXTOID, REGROLEOID, BOOLOID};
	Datum		a[3];
	Oid			roleid;
	char	   *role;
	WsDefinitionChange change;

	ws_require_ws_admin("ws.grant_module");
	require_arg(fcinfo, 1, "role");
	role = NameStr(*PG_GETARG_NAME(1));
	roleid = existing_role(role);
	SPI_connect();
	ws_require_module(module);
	ws_definition_change_begin(&change, WS_DEF_GRANTS, module, role, NULL);
	a[0] = CStringGetTextDatum(module);
	a[1] = ObjectIdGetDatum(roleid);
	a[2] = BoolGetDatum(admin);
	if (PG_NARGS() > 2)
		ws_exec_as_owner("INSERT INTO ws.module_grants (module, role, admin) VALUES ($1, $2, $3)"
						 " ON CONFLICT (module, role) DO UPDATE SET admin = excluded.admin",
						 3, t, a, NULL, WS_SPI_ANY);
	else
		ws_exec_as_owner("INSERT INTO ws.module_grants (module, role) VALUES ($1, $2)"
						 " ON CONFLICT DO NOTHING", 2, t, a, NULL, WS_SPI_ANY);
	ws_definition_change_end(&change);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ws.revoke_module(module, role): take the role's grant of the module away */
Datum
module_revoke(PG_FUNCTION_ARGS)
{
	char	   *module = ident_arg(fcinfo, 0, "module");
	char	   *role;
	Oid			t[2] = {TEXTOID, REGROLEOID};
	Datum		a[2];
	WsDefinitionChange change;

	ws_require_ws_admin("ws.revoke_module");
	require_arg(fcinfo, 1, "role");
	role = NameStr(*PG_GETARG_NAME(1));
	a[1] = ObjectIdGetDatum(existing_role(role));
	a[0] = CStringGetTextDatum(module);
	SPI_connect();
	ws_require_module(module);
	ws_definition_change_begin(&change, WS_DEF_GRANTS, module, role, NULL);
	if (!deleted("DELETE FROM ws.module_grants WHERE module OPERATOR(pg_catalog.=) $1"
				 " AND role OPERATOR(pg_catalog.=) $2", t, a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("role \"%s\" holds no grant of module \"%s\"", role, module),
				 errdetail("Grants held through membership in another role are revoked from that role."),
				 errhint("ws.module_grants lists the roles granted each module.")));
	ws_definition_change_end(&change);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * ws.define_kind(kind, module, policy, counters): define a kind, or change
 * the policy and counters of one the module already owns.
 */
Datum
kind_define(PG_FUNCTION_ARGS)
{
	char	   *kind = ident_arg(fcinfo, 0, "kind");
	char	   *module = ident_arg(fcinfo, 1, "module");
	char	   *policy;
	ArrayType  *counters;
	Oid			caller = GetUserId();
	Oid			t[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		a[4];
	char	   *owner;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	WsDefinitionChange change;

	require_arg(fcinfo, 2, "policy");
	require_arg(fcinfo, 3, "counters");
	policy = TextDatumGetCString(PG_GETARG_DATUM(2));
	counters = PG_GETARG_ARRAYTYPE_P(3);
	if (strcmp(policy, "lww") != 0 && strcmp(policy, "merge") != 0 && strcmp(policy, "manual") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid conflict policy \"%s\"", policy),
				 errhint("Use lww, merge or manual.")));
	if (ARR_NDIM(counters) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("counters must be a one-dimensional array"),
				 errhint("Pass the counter field names as a text array such as '{score}'.")));
	deconstruct_array(counters, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i] || VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("counter field names must not be null or empty"),
					 errhint("Pass '{}' for a kind without counters.")));

	SPI_connect();
	ws_require_module(module);
	require_admin(caller, module);
	owner = kind_module(kind);
	if (owner && strcmp(owner, module) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind \"%s\" belongs to module \"%s\", not \"%s\"", kind, owner, module),
				 errhint("Redefine it as ws.define_kind('%s', '%s', ...), or choose another kind name.",
						 kind, owner)));
	a[0] = CStringGetTextDatum(kind);
	a[1] = CStringGetTextDatum(module);
	a[2] = CStringGetTextDatum(policy);
	a[3] = PointerGetDatum(counters);
	ws_definition_change_begin(&change, WS_DEF_KINDS, kind, NULL, NULL);
	ws_exec_as_owner("INSERT INTO ws.kinds (kind, module, policy, counters) VALUES ($1, $2, $3, $4)"
					 " ON CONFLICT (kind) DO UPDATE SET policy = excluded.policy,"
					 " counters = excluded.counters", 4, t, a, NULL, WS_SPI_ANY);
	ws_definition_change_end(&change);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * True when the jsonpath is a predicate (a boolean check such as
 * $.balance >= 0), which is what jsonb_path_match needs.
 */
bool
ws_jsonpath_is_predicate(JsonPath *jp)
{
	JsonPathItem v;

	jspInit(&v, jp);
	switch (v.type)
	{
		case jpiAnd:
		case jpiOr:
		case jpiNot:
		case jpiIsUnknown:
		case jpiEqual:
		case jpiNotEqual:
		case jpiLess:
		case jpiGreater:
		case jpiLessOrEqual:
		case jpiGreaterOrEqual:
		case jpiExists:
		case jpiStartsWith:
		case jpiLikeRegex:
			return true;
		default:
			return false;
	}
}

/*
 * The name of the first variable ($name) in the path starting at v, or
 * NULL when it has none.  Constraints are evaluated without variables, so
 * a path that names one fails on every state.
 */
static char *
jsonpath_variable(JsonPathItem *v)
{
	JsonPathItem a;
	JsonPathItem b;
	char	   *found = NULL;

	check_stack_depth();
	switch (v->type)
	{
		case jpiVariable:
			{
				int32		len;
				char	   *name = jspGetString(v, &len);

				return pnstrdup(name, len);
			}
		case jpiAnd:
		case jpiOr:
		case jpiEqual:
		case jpiNotEqual:
		case jpiLess:
		case jpiGreater:
		case jpiLessOrEqual:
		case jpiGreaterOrEqual:
		case jpiStartsWith:
		case jpiAdd:
		case jpiSub:
		case jpiMul:
		case jpiDiv:
		case jpiMod:
			jspGetLeftArg(v, &a);
			found = jsonpath_variable(&a);
			if (found == NULL)
			{
				jspGetRightArg(v, &b);
				found = jsonpath_variable(&b);
			}
			break;
		case jpiNot:
		case jpiIsUnknown:
		case jpiExists:
		case jpiPlus:
		case jpiMinus:
		case jpiFilter:
			jspGetArg(v, &a);
			found = jsonpath_variable(&a);
			break;
		case jpiDatetime:
			if (v->content.arg)
			{
				jspGetArg(v, &a);
				found = jsonpath_variable(&a);
			}
			break;
		case jpiLikeRegex:
			jspInitByBuffer(&a, v->base, v->content.like_regex.expr);
			found = jsonpath_variable(&a);
			break;
		case jpiIndexArray:
			for (int i = 0; i < v->content.array.nelems && found == NULL; i++)
			{
				bool		range = jspGetArraySubscript(v, &a, &b, i);

				found = jsonpath_variable(&a);
				if (found == NULL && range)
					found = jsonpath_variable(&b);
			}
			break;
		default:
			break;
	}
	if (found == NULL && jspGetNext(v, &a))
		found = jsonpath_variable(&a);
	return found;
}

/* jsonpath as text, for messages */
static char *
jsonpath_text(JsonPath *jp)
{
	return DatumGetCString(DirectFunctionCall1(jsonpath_out, PointerGetDatum(jp)));
}

/*
 * 22023 unless the predicate can be evaluated on a state: a boolean check
 * without variables.
 */
static void
check_predicate(const char *name, JsonPath *jp)
{
	JsonPathItem v;
	char	   *var;

	if (!ws_jsonpath_is_predicate(jp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" is not a jsonpath predicate", name),
				 errdetail("The path %s selects values instead of checking a condition.",
						   jsonpath_text(jp)),
				 errhint("Write a boolean check such as '$.balance >= 0'.")));
	jspInit(&v, jp);
	var = jsonpath_variable(&v);
	if (var != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" uses the variable $%s", name, var),
				 errdetail("Constraints are evaluated on the state alone, without variables, so %s could never be evaluated.",
						   jsonpath_text(jp)),
				 errhint("Write the value into the predicate, such as '$.balance >= 0'.")));
}

/*
 * WS422 when live entities of the kind do not satisfy the predicate, naming
 * the first few.  "Satisfy" is what a transition checks
 * (ws_jsonpath_holds): true, not false, unknown or a non-boolean.  Writers
 * are held off (SHARE lock on ws.entities) until the transaction ends, so
 * none changes an entity behind the check.
 */
static void
check_existing(const char *kind, const char *name, JsonPath *jp)
{
	Oid			t[2] = {TEXTOID, JSONPATHOID};
	Datum		a[2] = {CStringGetTextDatum(kind), PointerGetDatum(jp)};
	bool		isnull;
	int64		count;
	char	   *some;

	ws_exec_as_owner("LOCK TABLE ws.entities IN SHARE MODE", 0, NULL, NULL, NULL, WS_SPI_ANY);
	ws_exec_as_owner("SELECT pg_catalog.count(*),"
					 " pg_catalog.string_agg(pg_catalog.format('\"%s\"', entity_id), ', ' ORDER BY entity_id)"
					 "  FILTER (WHERE n OPERATOR(pg_catalog.<=) " CppAsString2(WS_VIOLATORS_NAMED) ")"
					 " FROM (SELECT entity_id, pg_catalog.row_number() OVER (ORDER BY entity_id) AS n"
					 "  FROM ws.entities WHERE kind OPERATOR(pg_catalog.=) $1 AND NOT retired"
					 "  AND pg_catalog.jsonb_path_match(state, $2, '{}', true) IS NOT TRUE) v",
					 2, t, a, NULL, WS_SPI_ANY);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (count == 0)
		return;
	some = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	ereport(ERROR,
			(errcode(ERRCODE_WS_CONSTRAINT),
			 errmsg_plural("constraint \"%s\" is violated by %lld entity of kind \"%s\"",
						   "constraint \"%s\" is violated by %lld entities of kind \"%s\"",
						   (unsigned long) count, name, (long long) count, kind),
			 errdetail("Entities not satisfying %s include %s.", jsonpath_text(jp), some),
			 errhint("Fix those entities first, or pass not_valid => true to check only later changes.")));
}

/*
 * ws.add_constraint(kind, name, predicate, not_valid): add or replace a
 * constraint; unless not_valid, the kind's live entities must satisfy it.
 */
Datum
constraint_add(PG_FUNCTION_ARGS)
{
	char	   *kind = ident_arg(fcinfo, 0, "kind");
	char	   *name = ident_arg(fcinfo, 1, "constraint name");
	JsonPath   *jp;
	bool		not_valid = bool_arg(fcinfo, 3, "not_valid");
	Oid			caller = GetUserId();
	Oid			t[3] = {TEXTOID, TEXTOID, JSONPATHOID};
	Datum		a[3];
	char	   *module;
	WsDefinitionChange change;

	require_arg(fcinfo, 2, "predicate");
	jp = PG_GETARG_JSONPATH_P(2);
	check_predicate(name, jp);
	SPI_connect();
	module = defined_kind_module(kind);
	require_admin(caller, module);
	if (!not_valid)
		check_existing(kind, name, jp);
	a[0] = CStringGetTextDatum(kind);
	a[1] = CStringGetTextDatum(name);
	a[2] = PointerGetDatum(jp);
	ws_definition_change_begin(&change, WS_DEF_CONSTRAINTS, kind, name, NULL);
	ws_exec_as_owner("INSERT INTO ws.constraints (kind, name, predicate) VALUES ($1, $2, $3)"
					 " ON CONFLICT (kind, name) DO UPDATE SET predicate = excluded.predicate",
					 3, t, a, NULL, WS_SPI_ANY);
	ws_definition_change_end(&change);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ws.drop_constraint(kind, name): drop a constraint of a kind */
Datum
constraint_drop(PG_FUNCTION_ARGS)
{
	char	   *kind = ident_arg(fcinfo, 0, "kind");
	char	   *name = ident_arg(fcinfo, 1, "constraint name");
	Oid			caller = GetUserId();
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		a[2] = {CStringGetTextDatum(kind), CStringGetTextDatum(name)};
	char	   *module;
	WsDefinitionChange change;

	SPI_connect();
	module = defined_kind_module(kind);
	require_admin(caller, module);
	ws_definition_change_begin(&change, WS_DEF_CONSTRAINTS, kind, name, NULL);
	if (!deleted("DELETE FROM ws.constraints WHERE kind OPERATOR(pg_catalog.=) $1"
				 " AND name OPERATOR(pg_catalog.=) $2", t, a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind \"%s\" has no constraint \"%s\"", kind, name),
				 errhint("ws.constraints lists the constraints of each kind.")));
	ws_definition_change_end(&change);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * WS422 when the module requires a registered event schema for every
 * event type it writes and event_type has none.  Called by the writers of
 * events (bus.c's schema check) inside SPI, as the owner.
 */
void
ws_check_event_schema_required(const char *module, const char *event_type,
							   const char *entity_id)
{
	const WsModule *m = ws_module_lookup(module);

	if (!m->require_event_schemas)
		return;
	ws_reject(WS_STAT_REJECT_SCHEMA, ERRCODE_WS_SCHEMA_MISMATCH, entity_id,
			  psprintf("Module \"%s\" requires a registered event schema for every event type it writes.",
					   module),
			  psprintf("An admin of the module registers one with ws.register_event_schema('%s', '%s', 1, '{}').",
					   module, event_type),
			  "event type \"%s\" of module \"%s\" has no registered schema", event_type, module);
}
