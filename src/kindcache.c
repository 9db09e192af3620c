/*-------------------------------------------------------------------------
 *
 * kindcache.c
 *		Per-backend cache of kinds (module, counters, constraints) and
 *		modules (grants and their tiers, the event schema requirement),
 *		read by every transition.
 *
 * Kinds, constraints and grants change rarely and are read on every change
 * of an entity, so each backend keeps them in memory.  Validity rests on a
 * generation counter in shared memory:
 *
 *	- a statement trigger on ws.modules, ws.module_grants, ws.kinds and
 *	  ws.constraints (and ws.event_schemas, which bus.c caches the same
 *	  way through ws_catalog_stamp) -- whatever writes them: the functions,
 *	  a restore, a superuser -- marks the transaction; when it commits, the
 *	  counter is bumped, *after* the change became visible;
 *	- a backend notes the counter before it loads an entry, so an entry
 *	  loaded from data older than a committed change carries an older
 *	  generation and is dropped on next use;
 *	- the writing backend drops its own cache at once, so it sees its
 *	  uncommitted change, and again if that transaction aborts.
 *
 * Transactions using a transaction snapshot (REPEATABLE READ, SERIALIZABLE)
 * may see older data than the counter promises, so they bypass the cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "kindcache.h"
#include "spi.h"

PG_FUNCTION_INFO_V1(catalog_changed);

typedef struct WsKindCacheShared
{
	pg_atomic_uint64 generation;
} WsKindCacheShared;

static WsKindCacheShared *shared = NULL;

/* backend state */
static MemoryContext cache_cxt = NULL;
static HTAB *kinds = NULL;		/* kind name -> WsKind */
static HTAB *modules = NULL;	/* module name -> WsModule */
static uint64 cache_generation = 0;
static Oid	cache_nsp = InvalidOid;
static bool changed_in_xact = false;
static bool callback_registered = false;
static uint64 local_resets = 0;	/* times this backend dropped its cache */


Size
ws_kindcache_shmem_size(void)
{
	return MAXALIGN(sizeof(WsKindCacheShared));
}

/* Called from the shmem_startup hook. */
void
ws_kindcache_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("worldstate kind cache", ws_kindcache_shmem_size(), &found);
	if (!found)
		pg_atomic_init_u64(&shared->generation, 1);
	LWLockRelease(AddinShmemInitLock);
}

/* Forget everything cached in this backend. */
static void
cache_reset(void)
{
	if (cache_cxt)
		MemoryContextReset(cache_cxt);
	kinds = NULL;
	modules = NULL;
	cache_generation = 0;
	local_resets++;
}

/*
 * A stamp for caches of other files built from the same tables (the event
 * schemas of bus.c): it changes whenever this file's cache is invalidated,
 * by another backend's commit or in this backend.  0 means "do not cache"
 * (no shared memory, or a transaction snapshot).  Note it before loading.
 */
uint64
ws_catalog_stamp(void)
{
	if (shared == NULL || IsolationUsesXactSnapshot())
		return 0;
	return pg_atomic_read_u64(&shared->generation) + local_resets;
}

/* Bump the shared generation at commit; drop our own cache on abort. */
static void
xact_callback(XactEvent event, void *arg)
{
	if (!changed_in_xact)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (shared)
				pg_atomic_fetch_add_u64(&shared->generation, 1);
			cache_reset();
			changed_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			cache_reset();
			changed_in_xact = false;
			break;
		default:
			break;
	}
}

/*
 * Statement trigger on the catalog tables: the cached copies are stale from
 * now on, for this backend at once and for the others at commit.
 */
Datum
catalog_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "catalog_changed: not called as a trigger");
	if (!callback_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		callback_registered = true;
	}
	changed_in_xact = true;
	cache_reset();
	return PointerGetDatum(NULL);
}

/*
 * Make the cache usable for this call: valid for the current generation
 * and schema, or emptied.  Returns false when it must not be used.
 */
static bool
cache_ready(void)
{
	uint64		gen;
	Oid			nsp = ws_namespace();
	HASHCTL		ctl;

	if (shared == NULL || IsolationUsesXactSnapshot())
		return false;
	gen = pg_atomic_read_u64(&shared->generation);
	if (kinds != NULL && gen == cache_generation && nsp == cache_nsp)
		return true;

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "worldstate kind cache",
										  ALLOCSET_DEFAULT_SIZES);
	cache_reset();

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(WsKind);
	ctl.hcxt = cache_cxt;
	kinds = hash_create("worldstate kinds", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.entrysize = sizeof(WsModule);
	modules = hash_create("worldstate modules", 16, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	/* noted before anything is loaded: see the file header */
	cache_generation = gen;
	cache_nsp = nsp;
	return true;
}

/* The text[] column n of the first SPI result row as a C string array. */
static int
text_array_col(int n, char ***out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	char	  **strs;

	if (isnull)
	{
		*out = NULL;
		return 0;
	}
	deconstruct_array(DatumGetArrayTypePCopy(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &count);
	strs = palloc(sizeof(char *) * (count + 1));
	for (int i = 0; i < count; i++)
		strs[i] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	*out = strs;
	return count;
}

/*
 * Read a kind from the tables into *k, allocated in cxt.  (SPI calls return
 * in SPI's own context, so the copies are made after switching.)
 */
static bool
load_kind(const char *kind, WsKind *k, MemoryContext cxt)
{
	MemoryContext old;
	static SPIPlanPtr plan = NULL;
	static Oid	plan_nsp = InvalidOid;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum	   *paths;
	bool	   *nulls;
	int			npaths;

	if (plan == NULL || plan_nsp != ws_namespace())
	{
		ws_prepare(&plan, "SELECT k.module, k.counters,"
				   " ARRAY(SELECT c.name FROM ws.constraints c"
				   "  WHERE c.kind OPERATOR(pg_catalog.=) k.kind ORDER BY c.name),"
				   " ARRAY(SELECT c.predicate FROM ws.constraints c"
				   "  WHERE c.kind OPERATOR(pg_catalog.=) k.kind ORDER BY c.name)"
				   " FROM ws.kinds k WHERE k.kind OPERATOR(pg_catalog.=) $1",
				   1, argtypes);
		plan_nsp = ws_namespace();
	}
	args[0] = CStringGetTextDatum(kind);
	if (SPI_execute_plan(plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.kinds");
	if (SPI_processed == 0)
		return false;

	old = MemoryContextSwitchTo(cxt);
	strlcpy(k->kind, kind, NAMEDATALEN);
	k->module = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	k->ncounters = text_array_col(2, &k->counters);
	k->nconstraints = text_array_col(3, &k->constraint_names);
	deconstruct_array(DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 4, &isnull)),
					  JSONPATHOID, -1, false, TYPALIGN_INT, &paths, &nulls, &npaths);
	Assert(npaths == k->nconstraints);
	k->constraint_paths = paths;
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The kind's definition, or NULL when it is not defined.  Must run inside
 * SPI, as the owner of schema ws.  The result stays valid until the next
 * call into this file.
 */
const WsKind *
ws_kind_lookup(const char *kind)
{
	WsKind	   *k;
	bool		found;

	if (strlen(kind) >= NAMEDATALEN)
		return NULL;			/* longer than any kind name */
	if (!cache_ready())
	{
		k = palloc0(sizeof(WsKind));
		return load_kind(kind, k, CurrentMemoryContext) ? k : NULL;
	}
	k = hash_search(kinds, kind, HASH_FIND, &found);
	if (found)
		return k;
	{
		WsKind		loaded;

		memset(&loaded, 0, sizeof(loaded));
		if (!load_kind(kind, &loaded, cache_cxt))
			return NULL;
		k = hash_search(kinds, kind, HASH_ENTER, &found);
		*k = loaded;
	}
	return k;
}

/*
 * Read a module into *m, allocated in cxt: whether it is registered,
 * whether it requires event schemas, and the roles granted it with their
 * tiers.
 */
static void
load_module(const char *module, WsModule *m, MemoryContext cxt)
{
	static SPIPlanPtr plan = NULL;
	static Oid	plan_nsp = InvalidOid;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	if (plan == NULL || plan_nsp != ws_namespace())
	{
		ws_prepare(&plan, "SELECT m.require_event_schemas, g.role::pg_catalog.oid, g.admin"
				   " FROM ws.modules m LEFT JOIN ws.module_grants g"
				   "  ON g.module OPERATOR(pg_catalog.=) m.name"
				   " WHERE m.name OPERATOR(pg_catalog.=) $1",
				   1, argtypes);
		plan_nsp = ws_namespace();
	}
	args[0] = CStringGetTextDatum(module);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.modules");
	memset(m, 0, sizeof(*m));
	strlcpy(m->module, module, NAMEDATALEN);
	m->registered = SPI_processed > 0;
	m->roles = MemoryContextAlloc(cxt, sizeof(Oid) * (SPI_processed + 1));
	m->admin = MemoryContextAlloc(cxt, sizeof(bool) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		role;

		m->require_event_schemas = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		role = SPI_getbinval(tup, desc, 2, &isnull);
		if (isnull)
			continue;			/* registered, granted to nobody */
		m->roles[m->nroles] = DatumGetObjectId(role);
		m->admin[m->nroles] = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		m->nroles++;
	}
}

/*
 * The module: registered or not, its event schema requirement and the
 * roles granted it.  Must run inside SPI, as the owner of schema ws.  The
 * result stays valid until the next call into this file.
 */
const WsModule *
ws_module_lookup(const char *module)
{
	WsModule   *m;
	bool		found;

	if (strlen(module) >= NAMEDATALEN || !cache_ready())
	{
		m = palloc(sizeof(WsModule));
		load_module(module, m, CurrentMemoryContext);
		return m;
	}
	m = hash_search(modules, module, HASH_FIND, &found);
	if (!found)
	{
		WsModule	loaded;

		load_module(module, &loaded, cache_cxt);
		m = hash_search(modules, module, HASH_ENTER, &found);
		*m = loaded;
	}
	return m;
}
