/*-------------------------------------------------------------------------
 *
 * bus.c
 *		The event bus: event schemas (ws.register_event_schema), publishing
 *		(ws.publish) and consumption (ws.subscribe, ws.poll, ws.ack,
 *		ws.unsubscribe).
 *
 * Modules talk to each other through versioned, validated events.  An event
 * schema is a list of jsonpath predicates per (module, event type,
 * version); versions are immutable and only ever added.  When a newer
 * version is registered, an older one stays accepted for its own grace
 * period, counted from the newer version's registration, and is refused
 * after it, with an error naming the version.  The time is the node clock's
 * physical reading, so worldstate.clock_offset lets tests move it.
 * Transitions of entities are validated the same way: a schema registered
 * for (module, event type) applies, in its latest version, to the patch of
 * every event of that type on the module's entities.
 *
 * Published events are rows of the one event log, ws.events, with no
 * entity (entity_id, version, kind and vclock are NULL), the payload in
 * `patch` and its schema version in `schema_version`; so they are
 * broadcast, dumped and replicated like every other event, and ws.poll can
 * deliver entity events and bus events in one order.
 *
 * Consumption is pull-based and at-least-once.  A subscriber belongs to a
 * module (its name is the module's, or 'module.something') and needs that
 * module's grant to subscribe, poll and acknowledge; its patterns (SQL LIKE
 * on module and event type) may match any module's events: reading other
 * modules' events is allowed, changing their state is not.  Its position
 * -- every event that arrived at or below it is acknowledged -- is a row
 * of ws.subscribers, so it is durable and transactional.  It is a number
 * of the local arrival order (ws.events.arrival), not an HLC: events of
 * other nodes arrive late, with HLCs older than events already delivered,
 * and an HLC position would pass over them for good.  ws.poll returns
 * matching events above the position in arrival order without moving it,
 * and ws.ack(subscriber, upto) moves it forward (never back) to the
 * arrival of the event with HLC upto.  Pollers sharing one subscriber may
 * each receive an event until it is acknowledged.
 *
 * ws.poll never passes the safe horizon of arrival numbers (horizon.c):
 * it reads the horizon first, then takes the snapshots of its queries, and
 * delivers only events at or below the horizon; ws.ack does not move the
 * position past it either.  An event whose transaction is still open
 * therefore holds back every later event, and cannot be overtaken and
 * acknowledged past.  The poller's own transaction does not hold itself back: it sees
 * its own events, and an acknowledgement past them commits or rolls back
 * with them.  A transaction snapshot (REPEATABLE READ, SERIALIZABLE)
 * predates the horizon, so ws.poll refuses to run under one.
 *
 * A poll first reads the subscriber's position and pairs of patterns, then
 * the events above the position in arrival order (a btree index on
 * ws.events.arrival) through a cursor, matching each against the pairs it
 * read, and stops once it has max of them; so it costs the same however
 * long the log is.  A subscriber whose patterns match few events would
 * read the same non-matching ones on every poll; so each pair of patterns
 * keeps a scan mark (ws.subscriptions.scanned): no event it matches lies
 * above the position and at or below the mark.  A poll starts above the
 * greater of the position and the least mark, and when it stepped over
 * enough events of no interest, before the first it returns or up to the
 * safe horizon (events there are final), it moves the marks past them.
 * The marks never change what a poll returns, only where it starts
 * reading: a new pair starts without a mark, so events only it matches are
 * read again from the position; acknowledgements need not touch the marks.
 *
 * Event schemas are read on every publish and transition, so each backend
 * caches them; the cache is invalidated with the kind cache (kindcache.c),
 * which a trigger on ws.event_schemas drives.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/jsonpath.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "args.h"
#include "bus.h"
#include "canon.h"
#include "clock.h"
#include "definitions.h"
#include "errcodes.h"
#include "hlc.h"
#include "horizon.h"
#include "kindcache.h"
#include "lookup.h"
#include "module.h"
#include "settings.h"
#include "spi.h"
#include "stats.h"
#include "util.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(event_schema_register);
PG_FUNCTION_INFO_V1(bus_publish);
PG_FUNCTION_INFO_V1(bus_subscribe);
PG_FUNCTION_INFO_V1(bus_unsubscribe);
PG_FUNCTION_INFO_V1(bus_poll);
PG_FUNCTION_INFO_V1(bus_ack);

/* longest module name and event type of a schema, as the tables check */
#define WS_NAME_MAX			63
/* longest subscriber name */
#define WS_SUBSCRIBER_MAX	200
/* longest subscription pattern */
#define WS_PATTERN_MAX		200
/* fewest events a poll steps over before it moves the scan marks */
#define WS_POLL_SKIP_MIN	100
/* most rows a poll reads from its cursor at once */
#define WS_POLL_BATCH_MAX	4096
/* most rules of one event schema version */
#define WS_SCHEMA_RULES_MAX	100
/* the cache key of an event schema: two fixed-width, zero-padded fields */
#define WS_SCHEMA_KEY_LEN	(2 * (WS_NAME_MAX + 1))

/* One version of an event schema. */
typedef struct WsSchemaVersion
{
	int32		version;
	int			nrules;
	Datum	   *rules;			/* jsonpath */
	Interval	grace;
	TimestampTz registered_at;
} WsSchemaVersion;

/* The versions of the schema of one (module, event type), oldest first. */
typedef struct WsEventSchema
{
	char		key[WS_SCHEMA_KEY_LEN];	/* see schema_key(); hash key */
	int			nversions;
	WsSchemaVersion *versions;
} WsEventSchema;

/* per-backend cache of event schemas, valid for one catalog stamp */
static MemoryContext schema_cxt = NULL;
static HTAB *schema_cache = NULL;
static uint64 schema_stamp = 0;
static Oid	schema_nsp = InvalidOid;

/* Saved plans of the hot paths; re-prepared when schema ws is re-created. */
static struct
{
	Oid			nsp;
	SPIPlanPtr	load_schema;
	SPIPlanPtr	poll_start;
	SPIPlanPtr	poll_scan;
	SPIPlanPtr	poll_skip;
	SPIPlanPtr	ack_position;
	SPIPlanPtr	ack_event;
	SPIPlanPtr	ack_scan;
	SPIPlanPtr	ack;
}			plans;

static const WsPlanDef plan_defs[] = {
	{&plans.load_schema,
		"SELECT version, rules, grace, registered_at FROM ws.event_schemas"
		" WHERE module OPERATOR(pg_catalog.=) $1 AND event_type OPERATOR(pg_catalog.=) $2"
		" ORDER BY version",
	{"pg_catalog.text", "pg_catalog.text"}},

	/*
	 * Where a poll starts: the subscriber's position, and for each pair of
	 * patterns the patterns, how far polls have found nothing it matches
	 * (see PollStart) and the row version, so that a poll moves only the
	 * marks of the pairs it matched events against.  No row when the
	 * subscriber does not exist.
	 */
	{&plans.poll_start,
		"SELECT s.arrival, p.scanned, p.xmin, p.module_pattern, p.event_type_pattern"
		" FROM ws.subscribers s"
		" LEFT JOIN ws.subscriptions p ON p.subscriber OPERATOR(pg_catalog.=) s.subscriber"
		" WHERE s.subscriber OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.text"}},

	/*
	 * The events above the start and at or below the horizon in arrival
	 * order (the btree index on ws.events.arrival), read through a cursor:
	 * each with the whole row when a pair of patterns ($1, $2 side by side)
	 * matches it, NULL otherwise.  Events are whole rows, so the result has
	 * the row type's exact layout.
	 */
	{&plans.poll_scan,
		"SELECT e.arrival, CASE WHEN EXISTS (SELECT"
		"   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) p (m, t)"
		"   WHERE e.module OPERATOR(pg_catalog.~~) p.m"
		"   AND e.event_type OPERATOR(pg_catalog.~~) p.t) THEN e END"
		" FROM ws.events e"
		" WHERE e.arrival OPERATOR(pg_catalog.>) $3 AND e.arrival OPERATOR(pg_catalog.<=) $4"
		" ORDER BY e.arrival",
	{"pg_catalog.text[]", "pg_catalog.text[]", "pg_catalog.int8", "pg_catalog.int8"}},

	/*
	 * Move the scan mark of the pairs a poll read, unchanged since, and not
	 * locked by another poller's open transaction (it waits for none); a
	 * mark already further stays.
	 */
	{&plans.poll_skip,
		"UPDATE ws.subscriptions p SET scanned = GREATEST(p.scanned, $3)"
		" FROM (SELECT module_pattern, event_type_pattern FROM ws.subscriptions"
		"  WHERE subscriber OPERATOR(pg_catalog.=) $1 AND xmin OPERATOR(pg_catalog.=) ANY ($2)"
		"  FOR NO KEY UPDATE SKIP LOCKED) l"
		" WHERE p.subscriber OPERATOR(pg_catalog.=) $1"
		" AND p.module_pattern OPERATOR(pg_catalog.=) l.module_pattern"
		" AND p.event_type_pattern OPERATOR(pg_catalog.=) l.event_type_pattern",
	{"pg_catalog.text", "pg_catalog.xid[]", "pg_catalog.int8"}},

	{&plans.ack_position,
		"SELECT arrival FROM ws.subscribers WHERE subscriber OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.text"}},

	/* the arrival of the event with an HLC (the btree index on hlc) */
	{&plans.ack_event,
		"SELECT pg_catalog.max(arrival) FROM ws.events WHERE hlc OPERATOR(ws.=) $1",
	{"ws.hlc"}},

	/*
	 * The first event in arrival order above $1 and at or below $2 whose
	 * HLC is above $3 (the btree index on arrival).
	 */
	{&plans.ack_scan,
		"SELECT pg_catalog.min(arrival) FROM ws.events WHERE arrival OPERATOR(pg_catalog.>) $1"
		" AND arrival OPERATOR(pg_catalog.<=) $2 AND hlc OPERATOR(ws.>) $3",
	{"pg_catalog.int8", "pg_catalog.int8", "ws.hlc"}},

	/* the position moves forward only; position keeps the upto that moved it */
	{&plans.ack,
		"UPDATE ws.subscribers SET arrival = GREATEST(arrival, $2),"
		" position = CASE WHEN $2 OPERATOR(pg_catalog.>) arrival THEN $3 ELSE position END,"
		" acked_at = pg_catalog.now() WHERE subscriber OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.text", "pg_catalog.int8", "ws.hlc"}},
};

/* Prepare the statements of the hot paths, once per backend and schema. */
static void
prepare_plans(void)
{
	ws_prepare_table(&plans.nsp, plan_defs, lengthof(plan_defs));
}

/* Connect SPI and switch to the owner of schema ws; see bus_end. */
static void
bus_begin(WsAsOwner *saved)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(saved);
	prepare_plans();
}

/* Switch back to the calling role and disconnect SPI. */
static void
bus_end(WsAsOwner *saved)
{
	ws_as_owner_end(saved);
	SPI_finish();
}

/* The current time by the node clock's physical reading. */
static TimestampTz
clock_timestamp_now(void)
{
	return (TimestampTz) (ws_clock_physical() - WS_UNIX_TO_PG_USECS);
}

/* OID of the sequence of arrival numbers, ws.events_arrival_seq. */
static Oid
arrival_seq(void)
{
	Oid			seq = ws_relation_oid("events_arrival_seq");

	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence ws.events_arrival_seq does not exist"),
				 errhint("Update the extension with ALTER EXTENSION worldstate UPDATE.")));
	return seq;
}

/* Text of a timestamptz, for messages. */
static char *
timestamptz_text(TimestampTz t)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t)));
}

/* Text of a jsonpath, for messages. */
static char *
jsonpath_text(Datum jp)
{
	return DatumGetCString(DirectFunctionCall1(jsonpath_out, jp));
}

/*
 * Read the versions of one schema into *s, allocated in cxt.  Inside SPI,
 * as the owner of schema ws.
 */
static void
load_schema(const char *module, const char *event_type, WsEventSchema *s,
			MemoryContext cxt)
{
	Datum		args[2];
	MemoryContext old;

	args[0] = CStringGetTextDatum(module);
	args[1] = CStringGetTextDatum(event_type);
	if (SPI_execute_plan(plans.load_schema, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.event_schemas");

	old = MemoryContextSwitchTo(cxt);
	s->nversions = (int) SPI_processed;
	s->versions = palloc0(sizeof(WsSchemaVersion) * Max(s->nversions, 1));
	for (int i = 0; i < s->nversions; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		WsSchemaVersion *v = &s->versions[i];
		bool		isnull;
		bool	   *nulls;

		v->version = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		deconstruct_array(DatumGetArrayTypePCopy(SPI_getbinval(tup, desc, 2, &isnull)),
						  JSONPATHOID, -1, false, TYPALIGN_INT,
						  &v->rules, &nulls, &v->nrules);
		v->grace = *DatumGetIntervalP(SPI_getbinval(tup, desc, 3, &isnull));
		v->registered_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	}
	MemoryContextSwitchTo(old);
}

/*
 * The cache key of (module, event_type): each name in a field of its own,
 * zero-padded to the longest name plus one, so no two pairs share a key
 * whatever bytes the names hold.  Both names are at most WS_NAME_MAX bytes.
 */
static void
schema_key(const char *module, const char *event_type, char *key)
{
	memset(key, 0, WS_SCHEMA_KEY_LEN);
	memcpy(key, module, strlen(module));
	memcpy(key + WS_NAME_MAX + 1, event_type, strlen(event_type));
}

/*
 * The schema of (module, event_type), with no versions when none is
 * registered.  Inside SPI, as the owner of schema ws (bus_begin, or the
 * transition protocol's session).  Valid until the next call.
 */
static const WsEventSchema *
schema_lookup(const char *module, const char *event_type)
{
	uint64		stamp = ws_catalog_stamp();
	Oid			nsp = ws_namespace();
	char		key[WS_SCHEMA_KEY_LEN];
	WsEventSchema *s;
	bool		found;

	if (strlen(module) > WS_NAME_MAX || strlen(event_type) > WS_NAME_MAX)
	{
		/* longer than any registered name: there is no schema */
		s = palloc0(sizeof(WsEventSchema));
		return s;
	}
	prepare_plans();
	if (stamp == 0)
	{
		s = palloc0(sizeof(WsEventSchema));
		load_schema(module, event_type, s, CurrentMemoryContext);
		return s;
	}
	if (schema_cache == NULL || stamp != schema_stamp || nsp != schema_nsp)
	{
		HASHCTL		ctl;

		if (schema_cxt == NULL)
			schema_cxt = AllocSetContextCreate(CacheMemoryContext, "worldstate event schemas",
											   ALLOCSET_SMALL_SIZES);
		MemoryContextReset(schema_cxt);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(WsEventSchema);
		ctl.hcxt = schema_cxt;
		schema_cache = hash_create("worldstate event schemas", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		/* noted before anything is loaded, as in kindcache.c */
		schema_stamp = stamp;
		schema_nsp = nsp;
	}
	schema_key(module, event_type, key);
	s = hash_search(schema_cache, key, HASH_FIND, &found);
	if (found)
		return s;
	{
		WsEventSchema loaded;

		memset(&loaded, 0, sizeof(loaded));
		load_schema(module, event_type, &loaded, schema_cxt);
		s = hash_search(schema_cache, key, HASH_ENTER, &found);
		memcpy(loaded.key, s->key, sizeof(loaded.key));
		*s = loaded;
	}
	return s;
}

/* WS422 naming the first rule of version v that payload does not satisfy. */
static void
check_payload(const WsSchemaVersion *v, const char *module, const char *event_type,
			  Jsonb *payload, const char *entity_id)
{
	for (int i = 0; i < v->nrules; i++)
		if (!ws_jsonpath_holds(payload, v->rules[i]))
			ws_reject_module(module, WS_STAT_REJECT_SCHEMA, ERRCODE_WS_SCHEMA_MISMATCH, entity_id,
					  entity_id ? psprintf("The event of entity \"%s\" is checked against the latest version of the schema.", entity_id)
					  : NULL,
					  "Change the payload so that every rule of the schema holds.",
					  "event \"%s\" of module \"%s\" does not match its schema: rule %d of version %d fails: %s",
					  event_type, module, i + 1, v->version, jsonpath_text(v->rules[i]));
}

/*
 * The version of the schema a publisher asked for, if it is accepted: the
 * latest, or an older one within its grace period after the next version
 * was registered.  WS422 otherwise, naming the version.
 */
static const WsSchemaVersion *
accepted_version(const WsEventSchema *s, int32 version, const char *module,
				 const char *event_type)
{
	int			i;

	if (s->nversions == 0)
		ws_reject_module(module, WS_STAT_REJECT_SCHEMA, ERRCODE_WS_SCHEMA_MISMATCH, NULL,
				  "Every published event must match a registered event schema.",
				  psprintf("Register one with ws.register_event_schema('%s', '%s', 1, rules).",
						   module, event_type),
				  "no event schema is registered for \"%s\" of module \"%s\"",
				  event_type, module);
	for (i = 0; i < s->nversions; i++)
		if (s->versions[i].version == version)
			break;
	if (i == s->nversions)
	{
		StringInfoData known;

		initStringInfo(&known);
		for (int j = 0; j < s->nversions; j++)
			appendStringInfo(&known, "%s%d", j ? ", " : "", s->versions[j].version);
		ws_reject_module(module, WS_STAT_REJECT_SCHEMA, ERRCODE_WS_SCHEMA_MISMATCH, NULL,
				  psprintf("Registered versions: %s.", known.data),
				  "Publish with one of the registered versions.",
				  "event schema \"%s\" of module \"%s\" has no version %d",
				  event_type, module, version);
	}
	if (i < s->nversions - 1)
	{
		const WsSchemaVersion *v = &s->versions[i];
		TimestampTz superseded = s->versions[i + 1].registered_at;
		TimestampTz until;

		until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														TimestampTzGetDatum(superseded),
														IntervalPGetDatum(&v->grace)));
		if (clock_timestamp_now() >= until)
			ws_reject_module(module, WS_STAT_REJECT_SCHEMA, ERRCODE_WS_SCHEMA_MISMATCH, NULL,
					  psprintf("Version %d was superseded at %s; its grace period ended at %s.",
							   version, timestamptz_text(superseded), timestamptz_text(until)),
					  psprintf("Publish with schema_version => %d.",
							   s->versions[s->nversions - 1].version),
					  "version %d of event schema \"%s\" of module \"%s\" is no longer accepted",
					  version, event_type, module);
	}
	return &s->versions[i];
}

/*
 * Validate the patch of an entity event against the latest version of the
 * event schema registered for (module, event_type), and return that
 * version; 1 when no schema is registered.  Called by the transition
 * protocol inside SPI, as the owner of schema ws.
 */
int32
ws_event_schema_check(const char *module, const char *event_type, Jsonb *payload,
					  const char *entity_id)
{
	const WsEventSchema *s = schema_lookup(module, event_type);
	const WsSchemaVersion *v;

	if (s->nversions == 0)
	{
		ws_check_event_schema_required(module, event_type, entity_id);
		return 1;
	}
	v = &s->versions[s->nversions - 1];
	check_payload(v, module, event_type, payload, entity_id);
	return v->version;
}

/* 22023 unless name is a valid module or event type name. */
static void
check_name(const char *name, const char *what)
{
	if (strlen(name) > WS_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is longer than %d bytes", what, name, WS_NAME_MAX),
				 errhint("Use a name of at most %d bytes.", WS_NAME_MAX)));
}

/*
 * ws.register_event_schema(module, event_type, version, rules jsonpath[],
 * grace interval): add a version of an event schema.  Versions only grow
 * and never change; registering an existing version again with the same
 * rules and grace does nothing.  A new version is a change of a definition
 * (definitions.c: on a node of a mesh it appends a catalog event).
 */
Datum
event_schema_register(PG_FUNCTION_ARGS)
{
	char	   *module = ws_arg_text(fcinfo, 0, "module", 0);
	char	   *event_type = ws_arg_text(fcinfo, 1, "event_type", 0);
	Oid			caller = GetUserId();
	int32		version;
	ArrayType  *rules;
	Interval   *grace;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	WsAsOwner	saved;
	Oid			t[6] = {TEXTOID, TEXTOID, INT4OID, JSONPATHARRAYOID, INTERVALOID, TIMESTAMPTZOID};
	Datum		a[6];
	bool		isnull;
	WsDefinitionChange change;

	check_name(event_type, "event type");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version must not be null"),
				 errhint("Pass the version number of the schema, 1 for the first.")));
	version = PG_GETARG_INT32(2);
	if (version <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schema version must be positive, not %d", version),
				 errhint("Number versions from 1 upwards.")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rules must not be null"),
				 errhint("Pass '{}' for a schema that accepts any payload.")));
	rules = PG_GETARG_ARRAYTYPE_P(3);
	if (ARR_NDIM(rules) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rules must be a one-dimensional array"),
				 errhint("Pass the rules as a list, such as ARRAY['$.amount > 0']::jsonpath[].")));
	if (ArrayGetNItems(ARR_NDIM(rules), ARR_DIMS(rules)) > WS_SCHEMA_RULES_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an event schema version has at most %d rules", WS_SCHEMA_RULES_MAX),
				 errhint("Combine conditions with && in fewer rules.")));
	deconstruct_array(rules, JSONPATHOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rule %d of event schema \"%s\" must not be null", i + 1, event_type),
					 errhint("Remove the null elements from the rules.")));
		if (!ws_jsonpath_is_predicate(DatumGetJsonPathP(elems[i])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rule %d of event schema \"%s\" is not a jsonpath predicate",
							i + 1, event_type),
					 errdetail("The path %s selects values instead of checking a condition.",
							   jsonpath_text(elems[i])),
					 errhint("Write a boolean check such as '$.amount > 0'.")));
	}
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("grace must not be null"),
				 errhint("Pass '0' for versions that are refused as soon as a newer one exists.")));
	grace = PG_GETARG_INTERVAL_P(4);
	{
		Interval	zero;

		memset(&zero, 0, sizeof(zero));
		if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(grace),
											 IntervalPGetDatum(&zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("grace must not be negative"),
					 errhint("Pass '0' for versions that are refused as soon as a newer one exists.")));
	}

	bus_begin(&saved);
	ws_require_module(module);
	ws_check_module_admin(caller, module);

	a[0] = CStringGetTextDatum(module);
	a[1] = CStringGetTextDatum(event_type);
	a[2] = Int32GetDatum(version);
	a[3] = PointerGetDatum(rules);
	a[4] = IntervalPGetDatum(grace);
	a[5] = TimestampTzGetDatum(clock_timestamp_now());

	/* concurrent registrations of one schema queue here */
	ws_exec("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($1 OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) $2, 5753))",
			2, t, a, NULL, WS_SPI_ANY);

	/* the same version again: nothing to do if it is the same */
	ws_exec("SELECT rules::pg_catalog.text[] OPERATOR(pg_catalog.=) $4::pg_catalog.text[]"
			" AND grace OPERATOR(pg_catalog.=) $5"
			" FROM ws.event_schemas WHERE module OPERATOR(pg_catalog.=) $1"
			" AND event_type OPERATOR(pg_catalog.=) $2 AND version OPERATOR(pg_catalog.=) $3",
			5, t, a, NULL, WS_SPI_ANY);
	if (SPI_processed == 1)
	{
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("version %d of event schema \"%s\" of module \"%s\" is already registered with other rules or grace",
							version, event_type, module),
					 errdetail("Registered versions never change, so events keep the meaning they were validated with."),
					 errhint("Register them as a new version.")));
		bus_end(&saved);
		PG_RETURN_VOID();
	}
	ws_exec("SELECT pg_catalog.max(version) FROM ws.event_schemas"
			" WHERE module OPERATOR(pg_catalog.=) $1 AND event_type OPERATOR(pg_catalog.=) $2",
			2, t, a, NULL, WS_SPI_ANY);
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && DatumGetInt32(d) > version)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("version %d of event schema \"%s\" of module \"%s\" is older than the latest, %d",
							version, event_type, module, DatumGetInt32(d)),
					 errhint("New versions must be numbered above every registered one.")));
	}
	ws_definition_change_begin(&change, WS_DEF_EVENT_SCHEMAS, module, event_type,
							   psprintf("%d", version));
	ws_exec("INSERT INTO ws.event_schemas (module, event_type, version, rules, grace, registered_at)"
			" VALUES ($1, $2, $3, $4, $5, $6)", 6, t, a, NULL, WS_SPI_ANY);
	ws_definition_change_end(&change);
	bus_end(&saved);
	PG_RETURN_VOID();
}

/*
 * ws.publish(module, event_type, payload jsonb, schema_version int,
 * handshake text) -> uuid: validate the payload against the schema
 * version, stamp an HLC and append the event to the log (the writer
 * announces it with NOTIFY worldstate when worldstate.notify is on).
 */
Datum
bus_publish(PG_FUNCTION_ARGS)
{
	char	   *module = ws_arg_text(fcinfo, 0, "module", 0);
	char	   *event_type = ws_arg_text(fcinfo, 1, "event_type", 0);
	Oid			caller = GetUserId();
	pg_uuid_t  *event_id = palloc(sizeof(pg_uuid_t));
	Jsonb	   *payload;
	int32		version;
	char	   *handshake;
	const WsEventSchema *s;
	const WsSchemaVersion *v;
	WsAsOwner	saved;
	Jsonb	   *meta;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload must not be null"),
				 errhint("Pass '{}' for an event without data.")));
	payload = PG_GETARG_JSONB_P(2);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schema_version must not be null"),
				 errhint("Pass the version of the event schema the payload follows.")));
	version = PG_GETARG_INT32(3);
	handshake = PG_ARGISNULL(4) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(4));
	meta = ws_arg_meta(fcinfo, 5);

	ws_check_handshake_module(handshake, NULL, module);

	bus_begin(&saved);
	ws_check_module_grant(caller, module, NULL);
	s = schema_lookup(module, event_type);
	v = accepted_version(s, version, module, event_type);
	check_payload(v, module, event_type, payload, NULL);

	ws_writer_append_unattached(event_id, module, event_type, payload, handshake, version,
								caller, meta);
	ws_stats_count(WS_STAT_EVENTS_PUBLISHED);
	/* later statements of this transaction see the event */
	CommandCounterIncrement();

	bus_end(&saved);
	PG_RETURN_UUID_P(event_id);
}

/*
 * The module a subscriber belongs to: the part of its name before the
 * first '.', or the whole name.  22023 for a malformed name.
 */
static char *
subscriber_module(const char *subscriber)
{
	const char *dot = strchr(subscriber, '.');
	char	   *module;

	if (strlen(subscriber) > WS_SUBSCRIBER_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subscriber name is longer than %d bytes", WS_SUBSCRIBER_MAX),
				 errhint("Name a subscriber 'module' or 'module.name' with at most %d bytes.", WS_SUBSCRIBER_MAX)));
	if (dot == NULL)
		return pstrdup(subscriber);
	if (dot == subscriber || dot[1] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid subscriber name \"%s\"", subscriber),
				 errhint("Name a subscriber after its module: 'module' or 'module.name'.")));
	module = pnstrdup(subscriber, dot - subscriber);
	return module;
}

/* 22023 for a subscriber that does not exist. */
static void
no_such_subscriber(const char *subscriber)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("subscriber \"%s\" does not exist", subscriber),
			 errhint("Create it with ws.subscribe().")));
}

/*
 * ws.subscribe(subscriber, module_pattern, event_type_pattern): the
 * subscriber receives events whose module and event type match the SQL
 * LIKE patterns; one subscriber may hold several pairs.  A new subscriber
 * starts before the first event of the log.
 */
Datum
bus_subscribe(PG_FUNCTION_ARGS)
{
	char	   *subscriber = ws_arg_text(fcinfo, 0, "subscriber", 0);
	char	   *module_pattern = ws_arg_text(fcinfo, 1, "module_pattern", 0);
	char	   *type_pattern = ws_arg_text(fcinfo, 2, "event_type_pattern", 0);
	char	   *module = subscriber_module(subscriber);
	Oid			caller = GetUserId();
	WsAsOwner	saved;
	WsHlc		origin = {0, 0, 0};
	Oid			t[3] = {TEXTOID, TEXTOID, InvalidOid};
	Datum		a[3];

	if (strlen(module_pattern) > WS_PATTERN_MAX || strlen(type_pattern) > WS_PATTERN_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a subscription pattern is longer than %d bytes", WS_PATTERN_MAX),
				 errhint("Match module names and event types with shorter LIKE patterns.")));

	bus_begin(&saved);
	ws_require_module(module);
	ws_check_module_grant(caller, module, NULL);
	/* a new subscriber: at the origin of time, before every event */
	t[2] = ws_type_oid("hlc");
	a[0] = CStringGetTextDatum(subscriber);
	a[1] = CStringGetTextDatum(module);
	a[2] = HlcPGetDatum(&origin);
	ws_exec("INSERT INTO ws.subscribers (subscriber, module, position) VALUES ($1, $2, $3)"
			" ON CONFLICT (subscriber) DO NOTHING", 3, t, a, NULL, WS_SPI_ANY);
	t[2] = TEXTOID;
	a[1] = CStringGetTextDatum(module_pattern);
	a[2] = CStringGetTextDatum(type_pattern);
	ws_exec("INSERT INTO ws.subscriptions (subscriber, module_pattern, event_type_pattern)"
			" VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", 3, t, a, NULL, WS_SPI_ANY);
	bus_end(&saved);
	PG_RETURN_VOID();
}

/* ws.unsubscribe(subscriber): forget the subscriber, its patterns and position. */
Datum
bus_unsubscribe(PG_FUNCTION_ARGS)
{
	char	   *subscriber = ws_arg_text(fcinfo, 0, "subscriber", 0);
	char	   *module = subscriber_module(subscriber);
	Oid			caller = GetUserId();
	WsAsOwner	saved;
	Oid			t[1] = {TEXTOID};
	Datum		a[1];

	bus_begin(&saved);
	ws_check_module_grant(caller, module, NULL);
	a[0] = CStringGetTextDatum(subscriber);
	ws_exec("DELETE FROM ws.subscribers WHERE subscriber OPERATOR(pg_catalog.=) $1",
			1, t, a, NULL, WS_SPI_ANY);
	if (SPI_processed == 0)
		no_such_subscriber(subscriber);
	bus_end(&saved);
	PG_RETURN_VOID();
}

/*
 * Where a poll of one subscriber starts, and what it needs to move the scan
 * marks of the subscriber's pairs of patterns afterwards.
 *
 * Each pair's `scanned` (ws.subscriptions) keeps an invariant: no event the
 * pair matches lies above the subscriber's position and at or below it.
 * The position only moves forward, so the invariant survives every
 * acknowledgement; a new pair starts with NULL.  So no event of the
 * subscriber lies between the position and the least mark of its pairs,
 * and a poll starts at the greater of the two.
 */
typedef struct PollStart
{
	int64		start;			/* the poll reads events above this arrival */
	int			npairs;			/* pairs of patterns read */
	Datum	   *xmins;			/* the row version of each */
	Datum	   *modules;		/* its module pattern */
	Datum	   *types;			/* its event type pattern */
} PollStart;

/* Read where the poll of subscriber starts.  22023 when it does not exist. */
static void
poll_start(const char *subscriber, PollStart *ps)
{
	Datum		arg = CStringGetTextDatum(subscriber);
	TupleDesc	desc;
	bool		all_scanned = true;
	int64		least = 0;

	if (SPI_execute_plan(plans.poll_start, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.subscribers");
	if (SPI_processed == 0)
		no_such_subscriber(subscriber);
	desc = SPI_tuptable->tupdesc;
	ps->start = 0;
	ps->npairs = 0;
	ps->xmins = palloc(sizeof(Datum) * SPI_processed);
	ps->modules = palloc(sizeof(Datum) * SPI_processed);
	ps->types = palloc(sizeof(Datum) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		d;

		if (i == 0)
			ps->start = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		if (isnull)
			break;				/* a subscriber without patterns */
		ps->xmins[ps->npairs] = d;
		ps->modules[ps->npairs] = PointerGetDatum(DatumGetTextPCopy(SPI_getbinval(tup, desc, 4, &isnull)));
		ps->types[ps->npairs] = PointerGetDatum(DatumGetTextPCopy(SPI_getbinval(tup, desc, 5, &isnull)));
		ps->npairs++;
		d = SPI_getbinval(tup, desc, 2, &isnull);
		if (isnull)
			all_scanned = false;
		else if (ps->npairs == 1 || DatumGetInt64(d) < least)
			least = DatumGetInt64(d);
	}
	if (ps->npairs > 0 && all_scanned && least > ps->start)
		ps->start = least;
}

/*
 * Move the scan mark of the pairs read by poll_start to mark: no event of
 * the subscriber lies between its start and mark.  Only pairs whose row is
 * unchanged since poll_start (same row version) move: their invariant held
 * up to the start, and the scan matched events against them.  Pairs locked
 * by another poller's open transaction are left as they are, so a poll
 * never waits; a later poll moves them.
 */
static void
poll_skip(const char *subscriber, const PollStart *ps, int64 mark)
{
	Datum		args[3];

	args[0] = CStringGetTextDatum(subscriber);
	args[1] = PointerGetDatum(construct_array(ps->xmins, ps->npairs, XIDOID,
											  sizeof(TransactionId), true, TYPALIGN_INT));
	args[2] = Int64GetDatum(mark);
	if (SPI_execute_plan(plans.poll_skip, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write ws.subscriptions");
}

/*
 * Read the events above ps->start and at or below horizon in arrival order
 * and put the first max that the subscriber's patterns match into tuples.
 * Returns how many it put; *skipped is the number of events before the
 * first of them (all it read when none matched), and *mark the arrival
 * number at or below which none lies that the subscriber is due: the last
 * skipped event's, or the horizon when the whole log up to it was read.
 *
 * The cursor is read in batches: as many rows as events are still due,
 * doubled (up to WS_POLL_BATCH_MAX) after a batch that matched nothing, so
 * a subscriber matching everything reads no row it does not return, and
 * one matching little does not pay a fetch per row.
 */
static uint64
poll_scan(const PollStart *ps, int64 horizon, int32 max,
		  Tuplestorestate *tuples, uint64 *skipped, int64 *mark)
{
	Datum		args[4];
	Portal		portal;
	uint64		delivered = 0;
	int64		batch = 0;
	bool		exhausted = false;

	args[0] = PointerGetDatum(construct_array(ps->modules, ps->npairs, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(ps->types, ps->npairs, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = Int64GetDatum(ps->start);
	args[3] = Int64GetDatum(horizon);
	portal = SPI_cursor_open(NULL, plans.poll_scan, args, NULL, false);
	*skipped = 0;
	*mark = ps->start;
	while (delivered < (uint64) max && !exhausted)
	{
		uint64		due = (uint64) max - delivered;
		uint64		before = delivered;

		batch = Max((int64) due, Min(batch * 2, WS_POLL_BATCH_MAX));
		SPI_cursor_fetch(portal, true, batch);
		exhausted = SPI_processed < (uint64) batch;
		for (uint64 i = 0; i < SPI_processed && delivered < (uint64) max; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
			HeapTupleHeader row;
			HeapTupleData tuple;

			if (isnull)
			{
				if (delivered == 0)
				{
					(*skipped)++;
					*mark = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
				}
				continue;
			}
			row = DatumGetHeapTupleHeader(d);
			tuple.t_len = HeapTupleHeaderGetDatumLength(row);
			ItemPointerSetInvalid(&tuple.t_self);
			tuple.t_tableOid = InvalidOid;
			tuple.t_data = row;
			tuplestore_puttuple(tuples, &tuple);
			delivered++;
		}
		SPI_freetuptable(SPI_tuptable);
		if (delivered > before)
			batch = 0;
	}
	SPI_cursor_close(portal);
	if (delivered == 0 && exhausted)
		*mark = horizon;
	return delivered;
}

/*
 * ws.poll(subscriber, max) -> SETOF ws.events: up to max events matching
 * the subscriber's patterns, above its position and below the safe
 * horizon, in arrival order.  The position does not move; ws.ack moves it.
 * When the poll stepped over at least WS_POLL_SKIP_MIN events the
 * subscriber is not due, before its first event or up to the horizon, the
 * scan marks of its pairs move past them, so later polls do not read them
 * again (not in a read-only transaction, which cannot write them).
 */
Datum
bus_poll(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *subscriber = ws_arg_text(fcinfo, 0, "subscriber", 0);
	char	   *module = subscriber_module(subscriber);
	Oid			caller = GetUserId();
	int32		max;
	WsAsOwner	saved;
	int64		horizon;
	PollStart	ps;
	uint64		delivered;
	uint64		skipped;
	int64		mark;

	if (PG_ARGISNULL(1) || PG_GETARG_INT32(1) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max must be a positive number of events"),
				 errhint("Pass how many events to receive at most, such as 100.")));
	max = PG_GETARG_INT32(1);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ws.poll cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("Its snapshot must be taken after it has waited for the event writers in flight, which a transaction snapshot is not."),
				 errhint("Poll in a READ COMMITTED transaction.")));

	InitMaterializedSRF(fcinfo, 0);
	bus_begin(&saved);
	ws_check_module_grant(caller, module, NULL);

	/* the horizon first, then the snapshots of the queries */
	horizon = ws_arrival_horizon(arrival_seq());
	poll_start(subscriber, &ps);
	delivered = poll_scan(&ps, horizon, max, rsinfo->setResult, &skipped, &mark);
	if (skipped >= WS_POLL_SKIP_MIN && ps.npairs > 0 && !XactReadOnly)
		poll_skip(subscriber, &ps, mark);

	ws_stats_count(WS_STAT_BUS_POLLS);
	ws_stats_add(WS_STAT_EVENTS_DELIVERED, delivered);
	bus_end(&saved);
	return (Datum) 0;
}

/*
 * The arrival position an acknowledgement up to upto moves to, at most
 * horizon: the arrival of the event with that HLC; for an HLC of no event
 * (such as ws.hlc_now()), the one before the first event above the
 * current position whose HLC is above upto, or the horizon when there is
 * none.  Never past the horizon, so an event of a transaction still open
 * is not acknowledged before it could be polled.
 */
static int64
ack_target(int64 position, Datum upto, int64 horizon)
{
	Datum		args[3];
	bool		isnull;
	int64		target;

	if (SPI_execute_plan(plans.ack_event, &upto, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.events");
	target = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
	{
		args[0] = Int64GetDatum(position);
		args[1] = Int64GetDatum(horizon);
		args[2] = upto;
		if (SPI_execute_plan(plans.ack_scan, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read ws.events");
		target = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		target = isnull ? horizon : target - 1;
	}
	return Min(target, horizon);
}

/*
 * ws.ack(subscriber, upto hlc): every event of the subscriber that arrived
 * up to and including the event with HLC upto is processed (ack_target
 * says what an HLC of no event means).  The position only moves forward,
 * so acknowledgements arriving out of order (from several pollers) do no
 * harm.
 */
Datum
bus_ack(PG_FUNCTION_ARGS)
{
	char	   *subscriber = ws_arg_text(fcinfo, 0, "subscriber", 0);
	char	   *module = subscriber_module(subscriber);
	Oid			caller = GetUserId();
	WsAsOwner	saved;
	Datum		args[3];
	int64		horizon;
	int64		position;
	bool		isnull;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("upto must not be null"),
				 errhint("Pass the hlc of the last event processed.")));
	bus_begin(&saved);
	ws_check_module_grant(caller, module, NULL);
	args[0] = CStringGetTextDatum(subscriber);
	/* the horizon first, then the snapshots of the queries */
	horizon = ws_arrival_horizon(arrival_seq());
	if (SPI_execute_plan(plans.ack_position, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.subscribers");
	if (SPI_processed == 0)
		no_such_subscriber(subscriber);
	position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	args[1] = Int64GetDatum(ack_target(position, PG_GETARG_DATUM(1), horizon));
	args[2] = PG_GETARG_DATUM(1);
	if (SPI_execute_plan(plans.ack, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write ws.subscribers");
	ws_stats_count(WS_STAT_BUS_ACKS);
	bus_end(&saved);
	PG_RETURN_VOID();
}
