/*-------------------------------------------------------------------------
 *
 * module.c
 *		The module catalog: ws.register_module, ws.grant_module,
 *		ws.define_kind and ws.add_constraint.
 *
 * A module owns kinds, and through them entities.  Who may change a
 * module's state is decided by ws.grant_module, checked against the calling
 * role (canon.c); registering modules and granting them is for ws_admin,
 * defining kinds and constraints for roles holding the module's grant.
 * Writes run as the owner of schema ws, like the transition protocol's.
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

PG_FUNCTION_INFO_V1(module_register);
PG_FUNCTION_INFO_V1(module_grant);
PG_FUNCTION_INFO_V1(kind_define);
PG_FUNCTION_INFO_V1(constraint_add);

/*
 * Run one statement with the given arguments as the owner of schema ws;
 * returns the SPI result code.  Results are left in SPI_tuptable until
 * SPI_finish, which the caller does.
 */
static int
run_as_owner(const char *sql, int nargs, const Oid *types, Datum *args)
{
	WsAsOwner	saved;
	int			rc;

	ws_as_owner_begin(&saved);
	rc = SPI_execute_with_args(sql, nargs, (Oid *) types, args, NULL, false, 0);
	ws_as_owner_end(&saved);
	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	return rc;
}

/* The module a kind belongs to, or NULL when the kind is not defined. */
static char *
kind_module(const char *kind)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1] = {CStringGetTextDatum(kind)};
	bool		isnull;

	run_as_owner("SELECT module FROM ws.kinds WHERE kind OPERATOR(pg_catalog.=) $1", 1, t, a);
	if (SPI_processed == 0)
		return NULL;
	return TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* 22023 unless the module is registered. */
static void
require_module(const char *module)
{
	Oid			t[1] = {TEXTOID};
	Datum		a[1] = {CStringGetTextDatum(module)};

	run_as_owner("SELECT 1 FROM ws.modules WHERE name OPERATOR(pg_catalog.=) $1", 1, t, a);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("module \"%s\" is not registered", module),
				 errhint("A ws_admin registers it with ws.register_module('%s', 1).", module)));
}

/* The module grant check, run as the owner. */
static void
require_grant(Oid caller, const char *module)
{
	WsAsOwner	saved;

	ws_as_owner_begin(&saved);
	ws_check_module_grant(caller, module, NULL);
	ws_as_owner_end(&saved);
}

/* ws.register_module(name, api_version): register, or update api_version */
Datum
module_register(PG_FUNCTION_ARGS)
{
	char	   *name = ws_text_arg(PG_GETARG_DATUM(0), false, "module name");
	int32		api = PG_GETARG_INT32(1);
	Oid			t[2] = {TEXTOID, INT4OID};
	Datum		a[2];

	if (strlen(name) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("module name \"%s\" is longer than 63 bytes", name)));
	if (api <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("api_version must be positive, not %d", api)));
	a[0] = CStringGetTextDatum(name);
	a[1] = Int32GetDatum(api);
	SPI_connect();
	run_as_owner("INSERT INTO ws.modules (name, api_version) VALUES ($1, $2)"
				 " ON CONFLICT (name) DO UPDATE SET api_version = excluded.api_version",
				 2, t, a);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ws.grant_module(module, role): members of role may change the module */
Datum
module_grant(PG_FUNCTION_ARGS)
{
	char	   *module = ws_text_arg(PG_GETARG_DATUM(0), false, "module");
	char	   *role = NameStr(*PG_GETARG_NAME(1));
	Oid			t[2] = {TEXTOID, REGROLEOID};
	Datum		a[2];
	Oid			roleid = get_role_oid(role, true);

	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist", role)));
	SPI_connect();
	require_module(module);
	a[0] = CStringGetTextDatum(module);
	a[1] = ObjectIdGetDatum(roleid);
	run_as_owner("INSERT INTO ws.module_grants (module, role) VALUES ($1, $2)"
				 " ON CONFLICT DO NOTHING", 2, t, a);
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
	char	   *kind = ws_text_arg(PG_GETARG_DATUM(0), false, "kind");
	char	   *module = ws_text_arg(PG_GETARG_DATUM(1), false, "module");
	char	   *policy = TextDatumGetCString(PG_GETARG_DATUM(2));
	ArrayType  *counters = PG_GETARG_ARRAYTYPE_P(3);
	Oid			caller = GetUserId();
	Oid			t[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		a[4];
	char	   *owner;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (strlen(kind) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind name \"%s\" is longer than 63 bytes", kind)));
	if (strcmp(policy, "lww") != 0 && strcmp(policy, "merge") != 0 && strcmp(policy, "manual") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid conflict policy \"%s\"", policy),
				 errhint("Use lww, merge or manual.")));
	if (ARR_NDIM(counters) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("counters must be a one-dimensional array")));
	deconstruct_array(counters, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i] || VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("counter field names must not be null or empty")));

	SPI_connect();
	require_module(module);
	require_grant(caller, module);
	owner = kind_module(kind);
	if (owner && strcmp(owner, module) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind \"%s\" belongs to module \"%s\", not \"%s\"", kind, owner, module)));
	a[0] = CStringGetTextDatum(kind);
	a[1] = CStringGetTextDatum(module);
	a[2] = CStringGetTextDatum(policy);
	a[3] = PointerGetDatum(counters);
	run_as_owner("INSERT INTO ws.kinds (kind, module, policy, counters) VALUES ($1, $2, $3, $4)"
				 " ON CONFLICT (kind) DO UPDATE SET policy = excluded.policy,"
				 " counters = excluded.counters", 4, t, a);
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

/* ws.add_constraint(kind, name, predicate): add or replace a constraint */
Datum
constraint_add(PG_FUNCTION_ARGS)
{
	char	   *kind = ws_text_arg(PG_GETARG_DATUM(0), false, "kind");
	char	   *name = ws_text_arg(PG_GETARG_DATUM(1), false, "constraint name");
	JsonPath   *jp = PG_GETARG_JSONPATH_P(2);
	Oid			caller = GetUserId();
	Oid			t[3] = {TEXTOID, TEXTOID, JSONPATHOID};
	Datum		a[3];
	char	   *module;

	if (!ws_jsonpath_is_predicate(jp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("constraint \"%s\" is not a jsonpath predicate", name),
				 errdetail("The path %s selects values instead of checking a condition.",
						   DatumGetCString(DirectFunctionCall1(jsonpath_out, PointerGetDatum(jp)))),
				 errhint("Write a boolean check such as '$.balance >= 0'.")));
	SPI_connect();
	module = kind_module(kind);
	if (module == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind \"%s\" is not defined", kind),
				 errhint("Define it with ws.define_kind().")));
	require_grant(caller, module);
	a[0] = CStringGetTextDatum(kind);
	a[1] = CStringGetTextDatum(name);
	a[2] = PointerGetDatum(jp);
	run_as_owner("INSERT INTO ws.constraints (kind, name, predicate) VALUES ($1, $2, $3)"
				 " ON CONFLICT (kind, name) DO UPDATE SET predicate = excluded.predicate",
				 3, t, a);
	SPI_finish();
	PG_RETURN_VOID();
}
