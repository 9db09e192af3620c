/*-------------------------------------------------------------------------
 *
 * spi.c
 *		Running SQL on the ws tables: the switch to the owner of schema ws,
 *		statements through SPI, plans kept for the life of the backend, and
 *		the check that a module is registered.
 *
 * Applications hold no privilege on the ws tables.  The C functions that
 * read or change them check the *calling* role first (canon.c), then switch
 * to the owner of schema ws for the table access itself, the way
 * PostgreSQL's referential integrity triggers switch to the table owner.
 * Every statement run here is schema-qualified, operators included, so the
 * caller's search_path plays no part.
 *
 * Every function here runs inside SPI_connect / SPI_finish, which the
 * caller does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "spi.h"

/*
 * Schema ws and its owner, remembered for the life of the backend and
 * forgotten on any change to pg_namespace (dropping, re-creating, renaming
 * the schema or changing its owner all send that invalidation), so the
 * protocol does not look them up by name on every call.
 */
static Oid	cached_nsp = InvalidOid;
static Oid	cached_owner = InvalidOid;

static void
namespace_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	cached_nsp = InvalidOid;
	cached_owner = InvalidOid;
}

/* OID of schema ws in this database; raises if the extension is absent. */
Oid
ws_namespace(void)
{
	static bool callback_registered = false;

	if (!OidIsValid(cached_nsp))
	{
		if (!callback_registered)
		{
			CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_inval, (Datum) 0);
			callback_registered = true;
		}
		cached_nsp = get_namespace_oid("ws", false);
	}
	return cached_nsp;
}

/* The owner of schema ws. */
static Oid
schema_owner(void)
{
	Oid			nsp = ws_namespace();

	if (!OidIsValid(cached_owner))
	{
		HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for schema ws");
		cached_owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
		ReleaseSysCache(tup);
	}
	return cached_owner;
}

/* OID of type ws.<name>. */
Oid
ws_type_oid(const char *name)
{
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum(name),
										ObjectIdGetDatum(ws_namespace()));

	if (!OidIsValid(typid))
		elog(ERROR, "type ws.%s does not exist", name);
	return typid;
}

/*
 * Switch to the owner of schema ws for table access.  The caller's identity
 * comes back with ws_as_owner_end, or with transaction (or subtransaction)
 * abort if an error intervenes.  Switching when already the owner is
 * harmless.
 */
void
ws_as_owner_begin(WsAsOwner *saved)
{
	Oid			owner = schema_owner();

	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	SetUserIdAndSecContext(owner, saved->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

void
ws_as_owner_end(const WsAsOwner *saved)
{
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
}

/*
 * Prepare a statement into *slot and keep its plan for the life of the
 * backend, freeing the plan the slot held before (one prepared for an
 * earlier schema ws).  Callers keep each plan in a slot of its own, so no
 * list of plans needs keeping in step with a count.
 */
void
ws_prepare(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes)
{
	SPIPlanPtr	plan;

	if (*slot != NULL)
	{
		SPI_freeplan(*slot);
		*slot = NULL;
	}
	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	*slot = plan;
}

/*
 * Prepare every statement of a table of plans (ndefs: lengthof the table)
 * into its slot, once per backend and schema ws: *prepared_for is the
 * schema they were prepared for, and nothing is done while it is the
 * current one.  Argument types are named, so types of schema ws resolve
 * anew when the schema is re-created.
 */
void
ws_prepare_table(Oid *prepared_for, const WsPlanDef *defs, int ndefs)
{
	Oid			nsp = ws_namespace();

	if (*prepared_for == nsp)
		return;
	for (int i = 0; i < ndefs; i++)
	{
		Oid			types[WS_PLAN_MAX_ARGS];
		int			nargs = 0;

		while (nargs < WS_PLAN_MAX_ARGS && defs[i].argtypes[nargs] != NULL)
		{
			int32		typmod;

			parseTypeString(defs[i].argtypes[nargs], &types[nargs], &typmod, false);
			nargs++;
		}
		ws_prepare(defs[i].slot, defs[i].sql, nargs, types);
	}
	*prepared_for = nsp;
}

/*
 * Run one statement as the current user, with nargs arguments (nulls as
 * SPI takes them, NULL for none), and return the SPI result code, the rows
 * being left in SPI_tuptable.  Raises unless the result is `expected`
 * (WS_SPI_ANY: any result but an error).
 */
int
ws_exec(const char *sql, int nargs, const Oid *types, Datum *args, const char *nulls,
		int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, (Oid *) types, args, nulls, false, 0);

	if (rc < 0 || (expected != WS_SPI_ANY && rc != expected))
		elog(ERROR, "unexpected result %s for \"%s\"", SPI_result_code_string(rc), sql);
	return rc;
}

/* ws_exec as the owner of schema ws. */
int
ws_exec_as_owner(const char *sql, int nargs, const Oid *types, Datum *args,
				 const char *nulls, int expected)
{
	WsAsOwner	saved;
	int			rc;

	ws_as_owner_begin(&saved);
	rc = ws_exec(sql, nargs, types, args, nulls, expected);
	ws_as_owner_end(&saved);
	return rc;
}

/* 22023 unless the module is registered in ws.modules. */
void
ws_require_module(const char *module)
{
	static SPIPlanPtr plan = NULL;
	static Oid	plan_nsp = InvalidOid;
	Oid			t[1] = {TEXTOID};
	Datum		a[1];
	WsAsOwner	saved;
	int			rc;

	ws_as_owner_begin(&saved);
	if (plan == NULL || plan_nsp != ws_namespace())
	{
		ws_prepare(&plan, "SELECT 1 FROM ws.modules WHERE name OPERATOR(pg_catalog.=) $1", 1, t);
		plan_nsp = ws_namespace();
	}
	a[0] = CStringGetTextDatum(module);
	rc = SPI_execute_plan(plan, a, NULL, false, 1);
	ws_as_owner_end(&saved);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.modules: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("module \"%s\" is not registered", module),
				 errhint("A ws_admin registers it with ws.register_module('%s', 1).", module)));
}
