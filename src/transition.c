/*-------------------------------------------------------------------------
 *
 * transition.c
 *		The transition protocol: create_entity, transition, transition_many,
 *		retire_entity, link and unlink.
 *
 * Every change of an entity runs the same steps, in this order:
 *
 *	1. handshake (WS401): the argument, else the session's
 *	   worldstate.handshake, must equal worldstate.required_handshake;
 *	2. read the entity's current version (WS404 if absent);
 *	3. the caller's module grant (42501); a change with consistency strong
 *	   only on the entity's home node, the node that created it (WS421);
 *	4. idempotency: an event_id already in the log returns the result of
 *	   that event (same entity, type and request) or fails with WS412 --
 *	   checked before the version, so a retry succeeds after the version
 *	   has moved on.  Concurrent uses of one event_id queue on a
 *	   transaction-level advisory lock;
 *	5. retired entities refuse changes (WS410); the expected version must
 *	   match (WS409);
 *	6. RFC 7396 merge patch, with numeric deltas for the kind's counters;
 *	7. every constraint of the kind (WS422, naming it), and every rule of
 *	   the latest version of the module's event schema for the event type,
 *	   when one is registered (WS422, naming the rule; bus.c);
 *	8. the node clock (ws.hlc_now) and a vclock tick;
 *	9. replace the entity row, version + 1, with a conditional update that
 *	   locks it until the transaction ends.  If a concurrent transaction
 *	   replaced it since step 2, the update waits for that transaction and
 *	   steps 2 to 9 run again on the new version (READ COMMITTED), so every
 *	   check holds for the version actually replaced; with a transaction
 *	   snapshot that is a serialization failure, as for UPDATE;
 *	10. append the event -- this insert is what logical decoding
 *	   broadcasts -- and at the first version and every
 *	   worldstate.keyframe_interval-th its keyframe row in ws.keyframes;
 *	   for a link or unlink, write or delete the relationship.
 *
 * Creation is a change of kind WS_CHANGE_CREATE and runs the same steps,
 * with these differences:
 *
 *	1. a rejected handshake is counted against the module being created in;
 *	3. comes before 2: the module must be registered and the caller hold its
 *	   grant, and the kind must be defined for that module (22023);
 *	2. and 4. the entity must not exist: if it does, an event_id naming the
 *	   same create (same request) returns version 1 as that create left it,
 *	   anything else is 23505; an event_id already used by another entity's
 *	   event is WS412;
 *	5. and 6. do nothing: the state given is the new state, and the first
 *	   event's patch;
 *	8. counts from version 0 and an empty vclock, and sets created_hlc;
 *	9. inserts the row by speculative insertion (writer.c): a concurrent
 *	   create of the same id is waited for, and if it committed, steps 2 to
 *	   9 run again and find it -- a retry or 23505, never a duplicate row --
 *	   in READ COMMITTED; with a transaction snapshot that is a
 *	   serialization failure, as for INSERT ... ON CONFLICT;
 *	10. the event is at a keyframe (a row of ws.keyframes).
 *
 * The event stores the *effective* patch, with counter deltas resolved to
 * absolute values, so folding an entity's patches in HLC order gives its
 * state whatever its kind's counters are later.  The deltas as requested
 * are kept too, as the event's intent (ws.events.intent, {"field": delta};
 * a create's counter values are deltas from nothing): a merge of
 * concurrent changes on several nodes sums them, so no increment is lost.
 * The request itself is remembered as a digest for the idempotency check.
 *
 * Each event also records its actor -- the calling role, current_user of
 * the call, whose grant step 3 checked, not the owner the writes run as --
 * and the caller's optional meta (ws.events.caller_meta), which is not part
 * of the request an idempotency key stands for.  Arguments are checked up
 * front (args.c): NULL, empty and over-long ids and event types, meta, and
 * every key and value of a transition_many update, so bad input never
 * leaves anything half-written.
 *
 * Every row is written through the writer (writer.c): entities, events and
 * relationships.  Entity rows are read through it too; kinds and grants
 * come from a per-backend cache (kindcache.c); the rarer reads (idempotent
 * replays, a link's target, causal checks) run through SPI with plans
 * prepared once per backend -- all as the owner of schema ws (spi.c),
 * after the calling role's grant was checked.  A relationship is written
 * while the change holds its from-entity's row (step 9 came first), which
 * is what makes the writer's plain lookup-then-write of it safe.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/md5.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/jsonpath.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
#include "utils/xid8.h"
#include "storage/itemptr.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "common/hashfn.h"

#include "args.h"
#include "bus.h"
#include "canon.h"
#include "errcodes.h"
#include "hlc.h"
#include "horizon.h"
#include "kindcache.h"
#include "lookup.h"
#include "merge_patch.h"
#include "module.h"
#include "reader.h"
#include "replication.h"
#include "settings.h"
#include "spi.h"
#include "transition.h"
#include "util.h"
#include "vclock.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(entity_create);
PG_FUNCTION_INFO_V1(entity_transition);
PG_FUNCTION_INFO_V1(entity_transition_many);
PG_FUNCTION_INFO_V1(entity_retire);
PG_FUNCTION_INFO_V1(entity_link);
PG_FUNCTION_INFO_V1(entity_unlink);
PG_FUNCTION_INFO_V1(events_immutable);

/* most causal_deps of one change */
#define WS_CAUSAL_DEPS_MAX 1000

/* What a change does besides applying its patch. */
typedef enum WsChangeKind
{
	WS_CHANGE_CREATE,
	WS_CHANGE_UPDATE,
	WS_CHANGE_RETIRE,
	WS_CHANGE_LINK,
	WS_CHANGE_UNLINK
} WsChangeKind;

/* One requested change of one entity. */
typedef struct WsChange
{
	WsChangeKind what;
	char	   *entity_id;
	Jsonb	   *patch;			/* as requested (counters as deltas) */
	bool		has_expected;
	int64		expected_version;
	char	   *handshake;		/* NULL: the session's setting */
	bool		has_event_id;
	pg_uuid_t	event_id;
	char	   *event_type;
	ArrayType  *causal_deps;	/* NULL if none */
	char	   *consistency;	/* NULL, strong, causal, eventual */
	Jsonb	   *caller_meta;	/* the caller's meta, or NULL */
	/* creates: the new entity's kind and module (patch: its state) */
	char	   *kind;
	char	   *module;
	/* links */
	char	   *rel;
	char	   *to_id;
	Jsonb	   *props;
} WsChange;

/* An entity row, in the caller's memory context. */
typedef struct WsEntity
{
	char	   *entity_id;
	char	   *kind;
	char	   *module;
	Jsonb	   *state;
	int64		version;
	WsHlc		hlc;
	Datum		vclock;
	WsHlc		created_hlc;
	bool		retired;
} WsEntity;

/* Saved plans; re-prepared when schema ws is re-created. */
static struct
{
	Oid			nsp;
	SPIPlanPtr	event_by_id;
	SPIPlanPtr	deps_present;
	SPIPlanPtr	deps_held;
	SPIPlanPtr	entity_live;
}			plans;

static const WsPlanDef plan_defs[] = {
	{&plans.entity_live,
		"SELECT retired FROM ws.entities"
		" WHERE entity_id OPERATOR(pg_catalog.=) $1 FOR KEY SHARE",
	{"pg_catalog.text"}},

	{&plans.event_by_id,
		"SELECT entity_id, version, request_digest, hlc, vclock, event_type"
		" FROM ws.events WHERE event_id OPERATOR(pg_catalog.=) $1",
	{"pg_catalog.uuid"}},

	{&plans.deps_present,
		"SELECT pg_catalog.count(*) FROM ws.events"
		" WHERE event_id OPERATOR(pg_catalog.=) ANY ($1)",
	{"pg_catalog.uuid[]"}},
	{&plans.deps_held,
		"SELECT pg_catalog.count(*) FROM ws.pending"
		" WHERE event_id OPERATOR(pg_catalog.=) ANY ($1)"
		" AND reason OPERATOR(pg_catalog.=) ANY ('{causal,clock_skew}')",
	{"pg_catalog.uuid[]"}},

};

/* Prepare every statement, once per backend and schema. */
static void
prepare_plans(void)
{
	ws_prepare_table(&plans.nsp, plan_defs, lengthof(plan_defs));
}

/* Column n (1-based) of row r of the last SPI result. */
static Datum
spi_col(uint64 r, int n, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, n, isnull);
}

/* A datum copied into context cxt. */
static Datum
copy_to(MemoryContext cxt, Datum d, bool byval, int len)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum		r = datumCopy(d, byval, len);

	MemoryContextSwitchTo(old);
	return r;
}

/* Append one field of a request to buf: its length, a colon, its bytes. */
static void
digest_field(StringInfo buf, const char *data, int len)
{
	appendStringInfo(buf, "%d:", len);
	appendBinaryStringInfo(buf, data, len);
}

/*
 * Digest of what a request asks for, so a retry with the same event_id can
 * be told from a different update reusing it: SHA-256, in hex, of the
 * entity id, the event type, the patch and the link details (or "-" when
 * there are none), each field prefixed with its length, so no two
 * different requests encode alike whatever bytes their strings hold.
 */
static char *
request_digest(const char *entity_id, const char *event_type, Jsonb *patch, Jsonb *meta)
{
	StringInfoData buf;
	StringInfoData json;
	uint8		raw[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	pg_cryptohash_ctx *ctx;

	initStringInfo(&buf);
	initStringInfo(&json);
	digest_field(&buf, entity_id, strlen(entity_id));
	digest_field(&buf, event_type, strlen(event_type));
	(void) JsonbToCString(&json, &patch->root, VARSIZE(patch));
	digest_field(&buf, json.data, json.len);
	if (meta)
	{
		resetStringInfo(&json);
		(void) JsonbToCString(&json, &meta->root, VARSIZE(meta));
		digest_field(&buf, json.data, json.len);
	}
	else
		appendStringInfoChar(&buf, '-');
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) buf.data, buf.len) < 0 ||
		pg_cryptohash_final(ctx, raw, sizeof(raw)) < 0)
		elog(ERROR, "could not compute digest: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex_encode((const char *) raw, sizeof(raw), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * The digest worldstate 1.0 stored: MD5 of the fields joined with 0x1f.
 * Ambiguous on its own (an id or type holding 0x1f can shift a field
 * boundary), so it is compared only for events whose entity id and event
 * type equal the request's: then the rest -- the patch and link details,
 * JSON text in which 0x1f never appears unescaped -- splits one way only.
 */
static char *
legacy_request_digest(const char *entity_id, const char *event_type, Jsonb *patch, Jsonb *meta)
{
	StringInfoData buf;
	char	   *hex = palloc(33);
	const char *errstr = NULL;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s%c%s%c", entity_id, '\x1f', event_type, '\x1f');
	(void) JsonbToCString(&buf, &patch->root, VARSIZE(patch));
	if (meta)
	{
		appendStringInfoChar(&buf, '\x1f');
		(void) JsonbToCString(&buf, &meta->root, VARSIZE(meta));
	}
	if (!pg_md5_hash(buf.data, buf.len, hex, &errstr))
		elog(ERROR, "could not compute digest: %s", errstr);
	return hex;
}

/*
 * Whether the event stored with ev_digest, of entity ev_entity and type
 * ev_type, was the request c (with link details meta) whose digest is
 * digest.  Generated ids have no digest and never match.
 */
static bool
same_request(const WsChange *c, Jsonb *meta, const char *digest, const char *ev_digest,
			 const char *ev_entity, const char *ev_type)
{
	if (strcmp(ev_entity, c->entity_id) != 0 || strcmp(ev_type, c->event_type) != 0)
		return false;
	if (strlen(ev_digest) == 32)
		return strcmp(ev_digest, legacy_request_digest(c->entity_id, c->event_type,
													   c->patch, meta)) == 0;
	return strcmp(ev_digest, digest) == 0;
}

/* Whether the change asks for consistency level strong. */
static bool
is_strong(const WsChange *c)
{
	return c->consistency != NULL && strcmp(c->consistency, "strong") == 0;
}

/*
 * Apply the requested consistency level to the current transaction: off
 * for eventual; for strong, at least on (durable here before the commit
 * returns), and remote_apply on a node with peers, so that the commit also
 * waits until the synchronous peers synchronous_standby_names lists
 * (ws.synchronous_standby_names) have applied it.  Runs inside SPI.
 */
static void
apply_consistency(const WsChange *c)
{
	const char *level = NULL;

	if (c->consistency == NULL || strcmp(c->consistency, "causal") == 0)
		return;
	if (strcmp(c->consistency, "eventual") == 0)
		level = "off";
	else if (is_strong(c))
	{
		if (synchronous_commit < SYNCHRONOUS_COMMIT_REMOTE_APPLY && ws_has_peers())
			level = "remote_apply";
		else if (synchronous_commit < SYNCHRONOUS_COMMIT_ON)
			level = "on";
	}
	if (level != NULL)
		(void) set_config_option("synchronous_commit", level, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * WS421 unless this node is the entity's home, where it was created (the
 * node of its created_hlc), for a strong change: one node orders all
 * strong changes of an entity.  A standalone node, and an entity created
 * while its node was standalone (node 0), have no other home.  Runs
 * inside SPI.
 */
static void
check_home(const WsEntity *e)
{
	int			home = e->created_hlc.node;
	char	   *name;

	if (ws_node_id == 0 || home == 0 || home == ws_node_id)
		return;
	name = ws_peer_name(home);
	ws_reject(WS_STAT_REJECT_NOT_HOME, ERRCODE_WS_NOT_HOME, e->entity_id,
			  psprintf("Entity \"%s\" was created on node %d, the only node that accepts its strong changes.",
					   e->entity_id, home),
			  name ? psprintf("Send strong changes of this entity to node %d (\"%s\").", home, name)
			  : psprintf("Send strong changes of this entity to node %d.", home),
			  "strong change of entity \"%s\" refused on node %d: its home is node %d",
			  e->entity_id, ws_node_id, home);
}

/* Raise 22023 unless consistency is NULL or one of the three levels. */
static void
check_consistency(const char *consistency)
{
	if (consistency == NULL)
		return;
	if (strcmp(consistency, "strong") != 0 && strcmp(consistency, "causal") != 0 &&
		strcmp(consistency, "eventual") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid consistency level \"%s\"", consistency),
				 errhint("Use strong, causal or eventual.")));
}

/* qsort order of causal dependencies (uuid datums) */
static int
dep_cmp(const void *a, const void *b)
{
	return memcmp(DatumGetUUIDP(*(const Datum *) a), DatumGetUUIDP(*(const Datum *) b), UUID_LEN);
}

/*
 * 22023 unless causal_deps is a list of at most WS_CAUSAL_DEPS_MAX ids
 * without nulls; checked for every change, since they are stored with the
 * event whatever the consistency level.
 */
static void
check_causal_deps_arg(ArrayType *deps)
{
	int			n;

	if (deps == NULL)
		return;
	n = ArrayGetNItems(ARR_NDIM(deps), ARR_DIMS(deps));
	if (ARR_NDIM(deps) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("causal_deps must be a one-dimensional array"),
				 errhint("Pass a list of event ids, such as ARRAY[event_id].")));
	if (n > WS_CAUSAL_DEPS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("causal_deps must list at most %d event ids", WS_CAUSAL_DEPS_MAX),
				 errdetail("It lists %d.", n),
				 errhint("Name only the events this change directly depends on; their own dependencies are implied.")));
	if (array_contains_nulls(deps))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("causal_deps must not contain null"),
				 errhint("Remove the null elements.")));
}

/* WS425 unless every event in deps is in the log. */
static void
check_causal_deps(ArrayType *deps, const char *entity_id)
{
	Datum		args[1];
	bool		isnull;
	int64		present;
	int			ndistinct;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (deps == NULL)
		return;
	deconstruct_array(deps, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
	/* count distinct ids: sorted, in n log n */
	qsort(elems, n, sizeof(Datum), dep_cmp);
	ndistinct = 0;
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i == 0 || dep_cmp(&elems[i - 1], &elems[i]) != 0)
			ndistinct++;
	}
	args[0] = PointerGetDatum(deps);
	if (SPI_execute_plan(plans.deps_present, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check causal dependencies");
	present = DatumGetInt64(spi_col(0, 1, &isnull));
	if (present < ndistinct)
	{
		int64		held;

		/* those that arrived from a peer but wait for their own past */
		if (SPI_execute_plan(plans.deps_held, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not check causal dependencies");
		held = DatumGetInt64(spi_col(0, 1, &isnull));
		ws_reject(WS_STAT_REJECT_CAUSAL, ERRCODE_WS_CAUSAL, entity_id,
				  held > 0 ?
				  psprintf("%lld of the %d events it depends on are not in the log; %lld of them arrived "
						   "from a peer and are buffered in ws.pending until their own causal past arrives.",
						   (long long) (ndistinct - present), ndistinct, (long long) held) :
				  psprintf("%lld of the %d events it depends on are not in the log.",
						   (long long) (ndistinct - present), ndistinct),
				  "Retry once the prerequisite events have arrived.",
				  "causal prerequisite missing for entity \"%s\"", entity_id);
	}
}

/*
 * Evaluate every constraint of the kind against state; WS422 naming the
 * first that does not hold (false, unknown, or not a boolean).
 */
static void
check_constraints(const WsKind *k, Jsonb *state, const char *entity_id)
{
	for (int i = 0; i < k->nconstraints; i++)
	{
		if (!ws_jsonpath_holds(state, k->constraint_paths[i]))
			ws_reject_module(k->module, WS_STAT_REJECT_CONSTRAINT, ERRCODE_WS_CONSTRAINT, entity_id,
					  psprintf("The new state does not satisfy %s.",
							   DatumGetCString(DirectFunctionCall1(jsonpath_out,
																   k->constraint_paths[i]))),
					  "Change the update so that the state satisfies the constraint; ws.constraints lists the constraints of each kind.",
					  "constraint violation: \"%s\" on entity \"%s\" of kind \"%s\"",
					  k->constraint_names[i], entity_id, k->kind);
	}
}

/* The kind's definition; it exists for every entity (foreign key). */
static const WsKind *
kind_of(const char *kind)
{
	const WsKind *k = ws_kind_lookup(kind);

	if (k == NULL)
		elog(ERROR, "kind \"%s\" is not defined", kind);
	return k;
}

/*
 * Serialise, until the end of the transaction, every change that uses the
 * same idempotency key, so a concurrent reuse waits, then sees the event
 * and replays or refuses it.  (Concurrent creates of one entity id are
 * serialised by the writer's speculative insertion instead.)  Advisory
 * locks in a field of their own, out of the way of applications' advisory
 * locks.
 */
static void
lock_key(const char *prefix, const void *key, size_t len)
{
	LOCKTAG		tag;
	uint64		h;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, prefix);
	appendBinaryStringInfo(&buf, key, (int) len);
	h = DatumGetUInt64(hash_any_extended((unsigned char *) buf.data, buf.len, 0));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h, 0x5753);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * The entity's state at its event with HLC `at`, allocated in cxt: its
 * last keyframe at or before the event plus the patches after it, read by
 * the reader and folded by the fold.  Read as a statement run now would
 * read them (the snapshot SPI would take), so that the event just found by
 * its event_id is visible.
 */
static Jsonb *
state_at_event(const char *entity_id, const WsHlc *at, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemoryContext work;
	WsReader	r;
	Jsonb	   *state;
	Jsonb	   *result;

	/* the reader's scans and the fold's intermediate states die with it */
	work = AllocSetContextCreate(CurrentMemoryContext, "worldstate state at event",
								 ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(work);
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	ws_reader_open(&r, 0);
	state = ws_reader_state_at(&r, CStringGetTextDatum(entity_id), at);
	MemoryContextSwitchTo(cxt);
	result = DatumGetJsonbPCopy(JsonbPGetDatum(state));
	ws_reader_close(&r);
	PopActiveSnapshot();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return result;
}

/*
 * Idempotency: if the change's event_id is already in the log, return true
 * and fill *out with the entity as that event left it (current kind,
 * module and creation time; that event's version, state, clock values);
 * WS412 when the event was a different request.
 */
static bool
replay_if_done(const WsChange *c, Jsonb *meta, const char *digest, const WsEntity *current,
			   WsEntity *out, MemoryContext outcxt)
{
	Datum		args[1];
	bool		isnull;
	char	   *ev_entity;
	char	   *ev_digest;
	int64		ev_version;
	WsHlc		ev_hlc;
	Datum		ev_vclock;
	char	   *ev_type;
	MemoryContext old;

	if (!c->has_event_id)
		return false;
	args[0] = UUIDPGetDatum(&c->event_id);
	if (SPI_execute_plan(plans.event_by_id, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.events");
	if (SPI_processed == 0)
		return false;

	{
		Datum		d = spi_col(0, 1, &isnull);

		/* an event published on the bus has no entity */
		if (isnull)
			ws_reject(WS_STAT_REJECT_IDEMPOTENCY, ERRCODE_WS_IDEMPOTENCY, c->entity_id,
					  psprintf("Event %s was published on the event bus.",
							   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&c->event_id)))),
					  "Use a new event_id for a new update.",
					  "idempotency key reused with a different update");
		ev_entity = TextDatumGetCString(d);
	}
	ev_version = DatumGetInt64(spi_col(0, 2, &isnull));
	{
		Datum		d = spi_col(0, 3, &isnull);

		/* generated ids have no digest: they never match a request */
		ev_digest = isnull ? "" : TextDatumGetCString(d);
	}
	ev_hlc = *DatumGetHlcP(spi_col(0, 4, &isnull));
	ev_vclock = copy_to(outcxt, spi_col(0, 5, &isnull), false, -1);
	ev_type = TextDatumGetCString(spi_col(0, 6, &isnull));

	if (!same_request(c, meta, digest, ev_digest, ev_entity, ev_type))
		ws_reject(WS_STAT_REJECT_IDEMPOTENCY, ERRCODE_WS_IDEMPOTENCY, c->entity_id,
				  psprintf("Event %s was a different update (%s of entity \"%s\" at version " INT64_FORMAT ").",
						   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&c->event_id))),
						   ev_type, ev_entity, ev_version),
				  "Use a new event_id for a new update.",
				  "idempotency key reused with a different update");

	*out = *current;
	out->state = state_at_event(c->entity_id, &ev_hlc, outcxt);
	old = MemoryContextSwitchTo(outcxt);
	out->version = ev_version;
	out->hlc = ev_hlc;
	out->vclock = ev_vclock;
	out->retired = strcmp(ev_type, "retired") == 0;
	MemoryContextSwitchTo(old);
	return true;
}

/* Append one event row (the writer announces it). */
static void
insert_event(WsWriter *w, const pg_uuid_t *event_id, const WsEntity *e,
			 const char *event_type, Jsonb *patch, bool keyframe, Jsonb *meta,
			 const char *handshake, ArrayType *deps, const char *digest,
			 int32 schema_version, Oid actor, Jsonb *caller_meta, Jsonb *intent)
{
	Datum		v[EV_NCOLS];
	bool		n[EV_NCOLS];

	memset(n, 0, sizeof(n));
	v[EV_EVENT_ID] = UUIDPGetDatum(event_id);
	v[EV_ENTITY_ID] = CStringGetTextDatum(e->entity_id);
	v[EV_VERSION] = Int64GetDatum(e->version);
	v[EV_HLC] = HlcPGetDatum(&e->hlc);
	v[EV_ORIGIN_NODE] = Int32GetDatum(ws_node_id);
	v[EV_MODULE] = CStringGetTextDatum(e->module);
	v[EV_KIND] = CStringGetTextDatum(e->kind);
	v[EV_EVENT_TYPE] = CStringGetTextDatum(event_type);
	v[EV_PATCH] = JsonbPGetDatum(patch);
	v[EV_STATE] = keyframe ? JsonbPGetDatum(e->state) : (Datum) 0;
	n[EV_STATE] = !keyframe;
	v[EV_META] = meta ? JsonbPGetDatum(meta) : (Datum) 0;
	n[EV_META] = meta == NULL;
	v[EV_HANDSHAKE] = CStringGetTextDatum(handshake);
	v[EV_CAUSAL_DEPS] = deps ? PointerGetDatum(deps) : (Datum) 0;
	n[EV_CAUSAL_DEPS] = deps == NULL;
	v[EV_VCLOCK] = e->vclock;
	v[EV_SCHEMA_VERSION] = Int32GetDatum(schema_version);
	v[EV_REQUEST_DIGEST] = digest ? CStringGetTextDatum(digest) : (Datum) 0;
	n[EV_REQUEST_DIGEST] = digest == NULL;
	v[EV_TXID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	v[EV_RECORDED_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	v[EV_ACTOR] = ws_actor_datum(actor);
	v[EV_CALLER_META] = caller_meta ? JsonbPGetDatum(caller_meta) : (Datum) 0;
	n[EV_CALLER_META] = caller_meta == NULL;
	v[EV_INTENT] = intent ? JsonbPGetDatum(intent) : (Datum) 0;
	n[EV_INTENT] = intent == NULL;
	/* the writer takes the arrival */
	n[EV_ARRIVAL] = true;
	ws_writer_insert_event(w, v, n);
	ws_stats_count(WS_STAT_EVENTS_WRITTEN);
}

/*
 * Put e's keyframe row in ws.keyframes, at its new event: e's version is
 * the event's position, the number of the entity's events on this node.
 * Nothing on a database still at 1.0 (its events keep their states).
 */
static void
put_keyframe(WsWriter *w, const WsEntity *e)
{
	Datum		v[KF_NCOLS];
	bool		n[KF_NCOLS];

	if (!ws_writer_has_keyframes(w))
		return;
	memset(n, 0, sizeof(n));
	v[KF_ENTITY_ID] = CStringGetTextDatum(e->entity_id);
	v[KF_HLC] = HlcPGetDatum(&e->hlc);
	v[KF_VERSION] = Int64GetDatum(e->version);
	v[KF_STATE] = JsonbPGetDatum(e->state);
	v[KF_VCLOCK] = e->vclock;
	v[KF_RETIRED] = BoolGetDatum(e->retired);
	ws_writer_put_keyframe(w, v, n);
}

/* Column values of an entity row, in WsEntityCol order. */
static void
entity_values(const WsEntity *e, Datum *v, bool *n)
{
	memset(n, 0, sizeof(bool) * EN_NCOLS);
	v[EN_ENTITY_ID] = CStringGetTextDatum(e->entity_id);
	v[EN_KIND] = CStringGetTextDatum(e->kind);
	v[EN_MODULE] = CStringGetTextDatum(e->module);
	v[EN_STATE] = JsonbPGetDatum(e->state);
	v[EN_VERSION] = Int64GetDatum(e->version);
	v[EN_HLC] = HlcPGetDatum(&e->hlc);
	v[EN_VCLOCK] = e->vclock;
	v[EN_CREATED_HLC] = HlcPGetDatum(&e->created_hlc);
	v[EN_RETIRED] = BoolGetDatum(e->retired);
}

/* The vclock v with this node's entry ticked. */
static Datum
tick_vclock(Datum v)
{
	return DirectFunctionCall2(vclock_tick, v, Int32GetDatum(ws_node_id));
}

/* Build the link details stored in a link or unlink event. */
static Jsonb *
link_meta(const WsChange *c, Jsonb *props)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"rel\":");
	escape_json(&buf, c->rel);
	appendStringInfoString(&buf, ",\"to\":");
	escape_json(&buf, c->to_id);
	if (props)
	{
		appendStringInfoString(&buf, ",\"props\":");
		(void) JsonbToCString(&buf, &props->root, VARSIZE(props));
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* WS404 / WS410 unless the link target exists and is live; locks it in share mode. */
static void
check_link_target(const WsChange *c)
{
	Datum		args[1];
	bool		isnull;

	args[0] = CStringGetTextDatum(c->to_id);
	if (SPI_execute_plan(plans.entity_live, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read ws.entities");
	if (SPI_processed == 0)
		ws_reject(WS_STAT_REJECT_NO_ENTITY, ERRCODE_WS_NO_ENTITY, c->to_id,
				  "The target of a link must exist.",
				  "Create the target first with ws.create_entity().",
				  "entity \"%s\" does not exist", c->to_id);
	if (DatumGetBool(spi_col(0, 1, &isnull)))
		ws_reject(WS_STAT_REJECT_RETIRED, ERRCODE_WS_RETIRED, c->to_id,
				  "A retired entity can no longer be linked to.",
				  "Link to a live entity; retirement is final.",
				  "entity \"%s\" is retired", c->to_id);
}

/* Copy the row last read by the writer into *e, allocated in cxt. */
static void
entity_from_writer(WsWriter *w, const char *entity_id, WsEntity *e, MemoryContext cxt)
{
	bool		isnull;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	e->entity_id = pstrdup(entity_id);
	e->kind = TextDatumGetCString(ws_writer_entity_col(w, EN_KIND, &isnull));
	e->module = TextDatumGetCString(ws_writer_entity_col(w, EN_MODULE, &isnull));
	e->state = DatumGetJsonbPCopy(ws_writer_entity_col(w, EN_STATE, &isnull));
	e->version = DatumGetInt64(ws_writer_entity_col(w, EN_VERSION, &isnull));
	e->hlc = *DatumGetHlcP(ws_writer_entity_col(w, EN_HLC, &isnull));
	e->vclock = PointerGetDatum(PG_DETOAST_DATUM_COPY(ws_writer_entity_col(w, EN_VCLOCK, &isnull)));
	e->created_hlc = *DatumGetHlcP(ws_writer_entity_col(w, EN_CREATED_HLC, &isnull));
	e->retired = DatumGetBool(ws_writer_entity_col(w, EN_RETIRED, &isnull));
	MemoryContextSwitchTo(old);
}

/*
 * Read entity_id's current row through the writer into *e (in cxt) and its
 * tid into *tid; false when there is none.  READ COMMITTED reads the
 * latest committed version, as UPDATE does; a transaction snapshot reads
 * what the transaction sees.
 */
static bool
fetch_entity(WsWriter *w, const char *entity_id, WsEntity *e, ItemPointer tid,
			 MemoryContext cxt)
{
	Snapshot	snap;
	bool		found;

	snap = RegisterSnapshot(IsolationUsesXactSnapshot() ? GetTransactionSnapshot()
							: GetLatestSnapshot());
	found = ws_writer_fetch_entity(w, entity_id, snap, tid);
	UnregisterSnapshot(snap);
	if (found)
		entity_from_writer(w, entity_id, e, cxt);
	return found;
}

/*
 * The 23505 of a create whose entity id is taken (and that is not a retry).
 */
static void
refuse_duplicate(const char *entity_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("entity \"%s\" already exists", entity_id),
			 errhint("Change it with ws.transition().")));
}

/*
 * Steps 2 to 6 of a create (see the file header): the module, the grant
 * and the kind; then the id must be free -- an existing entity makes this
 * a retry (true, *out filled) or a duplicate -- and the event_id unused.
 * Sets *kind and *next, the entity before the change: version 0, an empty
 * vclock, the given state.
 */
static bool
create_steps(Oid caller, const WsChange *c, WsWriter *w, const char *digest,
			 const WsKind **kind, WsEntity *next, WsEntity *out, MemoryContext outcxt)
{
	WsEntity	cur;
	ItemPointerData tid;
	const WsKind *k;
	MemoryContext old;

	/* 3. the module, the caller's grant on it, and the kind defined for it */
	ws_require_module(c->module);
	ws_check_module_grant(caller, c->module, c->entity_id);
	ws_check_identifier(c->kind, "kind");
	k = ws_kind_lookup(c->kind);
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind \"%s\" is not defined", c->kind),
				 errhint("An admin of module \"%s\" defines it with ws.define_kind('%s', '%s').",
						 c->module, c->kind, c->module)));
	if (strcmp(k->module, c->module) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kind \"%s\" belongs to module \"%s\", not \"%s\"",
						c->kind, k->module, c->module),
				 errhint("Create the entity in module \"%s\", or use a kind of module \"%s\".",
						 k->module, c->module)));

	/* 2 and 4. an existing entity: a retried create returns version 1 */
	if (fetch_entity(w, c->entity_id, &cur, &tid, outcxt))
	{
		if (replay_if_done(c, NULL, digest, &cur, out, outcxt))
			return true;
		refuse_duplicate(c->entity_id);
	}
	if (c->has_event_id)
	{
		Datum		args[1];

		/* the key may be in use on another entity */
		args[0] = UUIDPGetDatum(&c->event_id);
		if (SPI_execute_plan(plans.event_by_id, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read ws.events");
		if (SPI_processed == 1)
			ws_reject_module(c->module, WS_STAT_REJECT_IDEMPOTENCY, ERRCODE_WS_IDEMPOTENCY,
							 c->entity_id,
							 "The event_id belongs to an event of another entity.",
							 "Use a new event_id for a new update.",
							 "idempotency key reused with a different update");
	}

	/*
	 * 6. The initial state is taken as given (members with value null
	 * included); it is also the first event's patch, from which folds start.
	 */
	memset(next, 0, sizeof(*next));
	next->entity_id = c->entity_id;
	next->kind = c->kind;
	next->module = c->module;
	next->state = c->patch;
	old = MemoryContextSwitchTo(outcxt);
	next->vclock = DirectFunctionCall1(vclock_in, CStringGetDatum("{}"));
	MemoryContextSwitchTo(old);
	*kind = k;
	return false;
}

/*
 * Steps 2 to 6 of any other change: read the entity (already read and
 * locked when locked), check the grant, replay a done request (true, *out
 * filled), check retirement, version, causal dependencies and a link's
 * target, and merge the patch.  Sets *kind, *cur, *next and *effective.
 */
static bool
change_steps(Oid caller, const WsChange *c, WsWriter *w, bool locked, ItemPointer tid,
			 Jsonb *meta, const char *digest, const WsKind **kind, WsEntity *cur,
			 WsEntity *next, Jsonb **effective, WsEntity *out, MemoryContext outcxt)
{
	const WsKind *k;
	MemoryContext old;

	/* 2. the current version (already read and locked on a rerun) */
	if (locked)
		entity_from_writer(w, c->entity_id, cur, outcxt);
	else if (!fetch_entity(w, c->entity_id, cur, tid, outcxt))
		ws_reject(WS_STAT_REJECT_NO_ENTITY, ERRCODE_WS_NO_ENTITY, c->entity_id, NULL,
				  "Create it first with ws.create_entity().",
				  "entity \"%s\" does not exist", c->entity_id);
	k = kind_of(cur->kind);

	/* 3. the caller's grant on the entity's module; a strong change at home */
	ws_check_module_grant(caller, cur->module, c->entity_id);
	if (is_strong(c))
		check_home(cur);

	/* 4. idempotency, before the version check */
	if (c->has_event_id && replay_if_done(c, meta, digest, cur, out, outcxt))
		return true;

	/* 5. retired, expected version */
	if (cur->retired)
		ws_reject(WS_STAT_REJECT_RETIRED, ERRCODE_WS_RETIRED, c->entity_id, NULL,
				  "Retirement is final; create a new entity instead.",
				  "entity \"%s\" is retired", c->entity_id);
	if (c->has_expected && c->expected_version != cur->version)
		ws_reject(WS_STAT_REJECT_VERSION, ERRCODE_WS_VERSION_CONFLICT, c->entity_id,
				  psprintf("Expected version " INT64_FORMAT ", actual version " INT64_FORMAT ".",
						   c->expected_version, cur->version),
				  "Read the entity again and retry with its current version.",
				  "version conflict on entity \"%s\": expected " INT64_FORMAT ", actual " INT64_FORMAT,
				  c->entity_id, c->expected_version, cur->version);
	if (c->consistency && strcmp(c->consistency, "causal") == 0)
		check_causal_deps(c->causal_deps, c->entity_id);
	if (c->what == WS_CHANGE_LINK)
		check_link_target(c);

	/* 6. merge patch */
	*next = *cur;
	old = MemoryContextSwitchTo(outcxt);
	next->state = ws_merge_patch(cur->state, c->patch,
								 (const char *const *) k->counters, k->ncounters,
								 effective);
	MemoryContextSwitchTo(old);
	if (!JB_ROOT_IS_OBJECT(next->state) || JB_ROOT_IS_SCALAR(next->state))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the state of entity \"%s\" must remain a JSON object", c->entity_id),
				 errdetail("A merge patch that is not an object replaces the whole state."),
				 errhint("Pass the patch as a JSON object of the members to change.")));
	*kind = k;
	return false;
}

/*
 * Step 9: write the entity row, the new one of a create or the next
 * version of an existing one.  False when a concurrent transaction was
 * first: it created the id, or replaced the row since step 2 (the writer
 * waited for it; *tid then locates the newest version, locked).
 */
static bool
write_entity(const WsChange *c, WsWriter *w, ItemPointer tid, const WsEntity *next)
{
	Datum		v[EN_NCOLS];
	bool		n[EN_NCOLS];

	entity_values(next, v, n);
	if (c->what == WS_CHANGE_CREATE)
	{
		if (ws_writer_insert_entity(w, v, n))
			return true;
	}
	else if (ws_writer_try_update_entity(w, tid, v, n) == TM_Ok)
		return true;
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update of entity \"%s\"",
						c->entity_id),
				 errhint("Retry the transaction.")));
	if (c->what != WS_CHANGE_CREATE && !ws_writer_lock_latest(w, tid))
		elog(ERROR, "entity \"%s\" vanished while it was being changed", c->entity_id);
	return false;
}

/*
 * Step 10 for links: write the relationship of a link, or delete that of
 * an unlink (WS404 when there is none) and return its props in *props.
 */
static void
write_link(const WsChange *c, WsWriter *w, const WsHlc *hlc, Jsonb **props,
		   MemoryContext outcxt)
{
	Datum		old_props;
	MemoryContext old;

	if (c->what == WS_CHANGE_LINK)
	{
		Datum		v[RL_NCOLS];
		bool		n[RL_NCOLS] = {false};

		v[RL_FROM_ID] = CStringGetTextDatum(c->entity_id);
		v[RL_REL] = CStringGetTextDatum(c->rel);
		v[RL_TO_ID] = CStringGetTextDatum(c->to_id);
		v[RL_PROPS] = JsonbPGetDatum(*props);
		v[RL_HLC] = HlcPGetDatum(hlc);
		ws_writer_put_link(w, v, n);
		return;
	}
	if (!ws_writer_delete_link(w, c->entity_id, c->rel, c->to_id, &old_props))
		ws_reject(WS_STAT_REJECT_NO_ENTITY, ERRCODE_WS_NO_ENTITY, c->entity_id, NULL,
				  "List the entity's relationships with ws.neighbors().",
				  "no relationship \"%s\" -%s-> \"%s\"", c->entity_id, c->rel, c->to_id);
	old = MemoryContextSwitchTo(outcxt);
	*props = DatumGetJsonbPCopy(old_props);
	MemoryContextSwitchTo(old);
}

/*
 * Run the protocol for one change, inside SPI and as the table owner,
 * writing through w.  Fills *out (in outcxt) with the entity after the
 * change; for links, *link_props with the relationship's properties.
 *
 * The entity is read, checked and changed, then written: replaced with a
 * conditional update, or for a create inserted unless the id is taken.  If
 * a concurrent transaction was first, the writer waits for it and every
 * step from the read on runs again (steps 2 to 9 of the file header), so
 * checks always hold for the version actually replaced.
 */
static void
apply_change(Oid caller, const WsChange *c, WsWriter *w, WsEntity *out,
			 MemoryContext outcxt, Jsonb **link_props)
{
	WsEntity	cur;
	WsEntity	next;
	ItemPointerData tid;
	const WsKind *kind;
	Jsonb	   *effective = c->patch;
	Jsonb	   *meta = NULL;
	Jsonb	   *props = NULL;
	pg_uuid_t	event_id;
	const char *event_type = c->event_type;
	char	   *digest = NULL;
	int32		schema_version = 1;
	bool		done;
	bool		keyframe;
	MemoryContext old;

	/* 1. handshake (a create's rejection counts against its module) */
	ws_check_handshake_module(c->handshake, c->entity_id, c->module);

	if (c->what == WS_CHANGE_LINK || c->what == WS_CHANGE_UNLINK)
	{
		props = c->what == WS_CHANGE_LINK ? (c->props ? c->props : ws_empty_object()) : NULL;
		meta = link_meta(c, props);
	}
	if (c->has_event_id)
	{
		/* a concurrent use of the key waits here for the other to finish */
		lock_key("event:", &c->event_id, UUID_LEN);
		digest = request_digest(c->entity_id, event_type, c->patch, meta);
	}

	for (bool rerun = false;; rerun = true)
	{
		/* 2 to 6: the entity before and after the change, or a replay */
		if (c->what == WS_CHANGE_CREATE)
			done = create_steps(caller, c, w, digest, &kind, &cur, out, outcxt);
		else
			done = change_steps(caller, c, w, rerun, &tid, meta, digest, &kind, &cur,
								&next, &effective, out, outcxt);
		if (done)
		{
			if (link_props)
				*link_props = props;
			return;
		}
		if (c->what == WS_CHANGE_CREATE)
			next = cur;

		/* 7. constraints, and the event schema of the module, if any */
		check_constraints(kind, next.state, c->entity_id);
		schema_version = ws_event_schema_check(next.module, event_type, effective,
											   c->entity_id);

		/* 8. clocks */
		next.version = cur.version + 1;
		next.hlc = ws_hlc_for_event();
		if (c->what == WS_CHANGE_CREATE)
			next.created_hlc = next.hlc;
		old = MemoryContextSwitchTo(outcxt);
		next.vclock = tick_vclock(cur.vclock);
		MemoryContextSwitchTo(old);
		next.retired = c->what == WS_CHANGE_RETIRE;

		/* 9. the new version, unless someone was first */
		if (write_entity(c, w, &tid, &next))
			break;
	}

	/*
	 * 10. the event, and at a keyframe (the first version, and every K-th)
	 * the keyframe row; the event keeps the state there too, for the
	 * output plugin's include-state
	 */
	if (c->has_event_id)
		event_id = c->event_id;
	else
		ws_new_event_id(&event_id);
	keyframe = next.version == 1 || next.version % ws_keyframe_interval == 0;
	insert_event(w, &event_id, &next, event_type, effective, keyframe,
				 meta, ws_presented_handshake(c->handshake), c->causal_deps, digest,
				 schema_version, caller, c->caller_meta,
				 ws_counter_intent(c->patch, (const char *const *) kind->counters,
								   kind->ncounters));
	if (keyframe)
		put_keyframe(w, &next);
	if (c->what == WS_CHANGE_LINK || c->what == WS_CHANGE_UNLINK)
		write_link(c, w, &next.hlc, &props, outcxt);

	apply_consistency(c);
	/* later changes in this transaction see this one */
	CommandCounterIncrement();

	*out = next;
	if (link_props)
		*link_props = props;
}

/* Form a ws.entities composite value from e. */
static HeapTuple
entity_tuple(TupleDesc tupdesc, const WsEntity *e)
{
	Datum		v[EN_NCOLS];
	bool		n[EN_NCOLS];

	entity_values(e, v, n);
	return ws_form_row(tupdesc, &ws_entities_table, v, n);
}

/* The composite result descriptor of the calling function. */
static TupleDesc
result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning a row called in a context that cannot accept it");
	return BlessTupleDesc(tupdesc);
}

/*
 * A run of changes -- one call of a protocol function: the SPI connection
 * (for the statements that still read through SPI), the switch to the
 * owner of schema ws, and the open writer.  change_run_begin sets them up,
 * change_run_end undoes them in reverse order.  Not session state: that
 * is session.c's.
 */
typedef struct WsChangeRun
{
	WsAsOwner	saved;
	WsWriter	writer;
} WsChangeRun;

static void
change_run_begin(WsChangeRun *run)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&run->saved);
	prepare_plans();
	ws_writer_begin(&run->writer);
}

static void
change_run_end(WsChangeRun *run)
{
	ws_writer_end(&run->writer);
	ws_as_owner_end(&run->saved);
	SPI_finish();
}

/*
 * Run one change in a run of its own; *out (and *link_props for
 * links) in the caller's memory context.
 */
static void
run_one(WsChange *c, WsEntity *out, Jsonb **link_props)
{
	MemoryContext outcxt = CurrentMemoryContext;
	Oid			caller = GetUserId();
	WsChangeRun run;

	change_run_begin(&run);
	apply_change(caller, c, &run.writer, out, outcxt, link_props);
	change_run_end(&run);
}

/* Run one change and return the entity row. */
static Datum
run_change(FunctionCallInfo fcinfo, WsChange *c)
{
	TupleDesc	tupdesc = result_desc(fcinfo);
	WsEntity	out;

	check_consistency(c->consistency);
	run_one(c, &out, NULL);
	return HeapTupleGetDatum(entity_tuple(tupdesc, &out));
}

/*
 * 22023 for an event type the protocol writes itself: replays, recovery
 * and the graph read meaning into these.
 */
static void
check_event_type(const char *event_type)
{
	static const char *const reserved[] = {"created", "retired", "linked", "unlinked"};

	ws_check_length(event_type, "event_type", WS_EVENT_TYPE_MAX);
	for (size_t i = 0; i < lengthof(reserved); i++)
		if (strcmp(event_type, reserved[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event type \"%s\" is reserved", event_type),
					 errhint("ws.create_entity, ws.retire_entity, ws.link and ws.unlink write it.")));
}

/* Fill the common fields of a change from nullable arguments. */
static void
init_change(WsChange *c, WsChangeKind what, FunctionCallInfo fcinfo, int entity_arg)
{
	memset(c, 0, sizeof(*c));
	c->what = what;
	c->entity_id = ws_arg_text(fcinfo, entity_arg, "entity_id", WS_ENTITY_ID_MAX);
}

/* NULL-able text argument. */
static char *
opt_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(n));
}

/*
 * ws.transition(entity_id, patch, expected_version, handshake, event_id,
 *				 event_type, causal_deps, consistency) -> ws.entities
 */
Datum
entity_transition(PG_FUNCTION_ARGS)
{
	WsChange	c;

	init_change(&c, WS_CHANGE_UPDATE, fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("patch must not be null"),
				 errhint("Pass '{}' for a change that touches no field.")));
	c.patch = PG_GETARG_JSONB_P(1);
	c.has_expected = !PG_ARGISNULL(2);
	c.expected_version = c.has_expected ? PG_GETARG_INT64(2) : 0;
	c.handshake = opt_text(fcinfo, 3);
	c.has_event_id = !PG_ARGISNULL(4);
	if (c.has_event_id)
		c.event_id = *PG_GETARG_UUID_P(4);
	c.event_type = ws_arg_text(fcinfo, 5, "event_type", 0);
	check_event_type(c.event_type);
	c.causal_deps = PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6);
	check_causal_deps_arg(c.causal_deps);
	c.consistency = opt_text(fcinfo, 7);
	c.caller_meta = ws_arg_meta(fcinfo, 8);
	return run_change(fcinfo, &c);
}

/* ws.retire_entity(entity_id, expected_version, handshake) -> ws.entities */
Datum
entity_retire(PG_FUNCTION_ARGS)
{
	WsChange	c;

	init_change(&c, WS_CHANGE_RETIRE, fcinfo, 0);
	c.patch = ws_empty_object();
	c.has_expected = !PG_ARGISNULL(1);
	c.expected_version = c.has_expected ? PG_GETARG_INT64(1) : 0;
	c.handshake = opt_text(fcinfo, 2);
	c.caller_meta = ws_arg_meta(fcinfo, 3);
	c.event_type = "retired";
	return run_change(fcinfo, &c);
}

/* Run a link or unlink and return the relationship row. */
static Datum
run_link(FunctionCallInfo fcinfo, WsChange *c)
{
	TupleDesc	tupdesc = result_desc(fcinfo);
	WsEntity	out;
	Jsonb	   *props = NULL;
	Datum		v[5];
	bool		n[5] = {false};

	run_one(c, &out, &props);
	v[0] = CStringGetTextDatum(c->entity_id);
	v[1] = CStringGetTextDatum(c->rel);
	v[2] = CStringGetTextDatum(c->to_id);
	v[3] = props ? JsonbPGetDatum(props) : JsonbPGetDatum(ws_empty_object());
	v[4] = HlcPGetDatum(ws_hlc_copy(out.hlc));
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n));
}

/* ws.link(from_id, rel, to_id, props, handshake) -> ws.relationships */
Datum
entity_link(PG_FUNCTION_ARGS)
{
	WsChange	c;

	init_change(&c, WS_CHANGE_LINK, fcinfo, 0);
	c.rel = ws_arg_text(fcinfo, 1, "rel", WS_REL_MAX);
	c.to_id = ws_arg_text(fcinfo, 2, "to_id", WS_ENTITY_ID_MAX);
	c.props = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	if (c.props && !JB_ROOT_IS_OBJECT(c.props))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("props must be a JSON object"),
				 errhint("Pass an object such as '{\"since\": 2020}', or '{}' for none.")));
	c.handshake = opt_text(fcinfo, 4);
	c.caller_meta = ws_arg_meta(fcinfo, 5);
	c.patch = ws_empty_object();
	c.event_type = "linked";
	return run_link(fcinfo, &c);
}

/* ws.unlink(from_id, rel, to_id, handshake) -> ws.relationships */
Datum
entity_unlink(PG_FUNCTION_ARGS)
{
	WsChange	c;

	init_change(&c, WS_CHANGE_UNLINK, fcinfo, 0);
	c.rel = ws_arg_text(fcinfo, 1, "rel", WS_REL_MAX);
	c.to_id = ws_arg_text(fcinfo, 2, "to_id", WS_ENTITY_ID_MAX);
	c.handshake = opt_text(fcinfo, 3);
	c.caller_meta = ws_arg_meta(fcinfo, 4);
	c.patch = ws_empty_object();
	c.event_type = "unlinked";
	return run_link(fcinfo, &c);
}

/*
 * ws.create_entity(entity_id, kind, module, state, handshake, event_id,
 * meta) -> ws.entities: a change of kind create.  The module must be
 * registered and the kind defined for it (ws.define_kind).
 */
Datum
entity_create(PG_FUNCTION_ARGS)
{
	WsChange	c;

	init_change(&c, WS_CHANGE_CREATE, fcinfo, 0);
	c.kind = ws_arg_text(fcinfo, 1, "kind", 0);
	c.module = ws_arg_text(fcinfo, 2, "module", 0);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("state must not be null"),
				 errhint("Pass '{}' for an entity with no fields yet.")));
	c.patch = PG_GETARG_JSONB_P(3);
	if (!JB_ROOT_IS_OBJECT(c.patch) || JB_ROOT_IS_SCALAR(c.patch))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the state of an entity must be a JSON object"),
				 errhint("Pass the state as a JSON object, e.g. '{}'.")));
	c.handshake = opt_text(fcinfo, 4);
	c.has_event_id = !PG_ARGISNULL(5);
	if (c.has_event_id)
		c.event_id = *PG_GETARG_UUID_P(5);
	c.caller_meta = ws_arg_meta(fcinfo, 6);
	c.event_type = "created";
	return run_change(fcinfo, &c);
}

/* strcmp order of two changes by entity id, stable by input position */
typedef struct WsManyItem
{
	int			pos;
	WsChange	change;
} WsManyItem;

static int
many_cmp(const void *a, const void *b)
{
	const WsManyItem *x = a;
	const WsManyItem *y = b;
	int			r = strcmp(x->change.entity_id, y->change.entity_id);

	if (r != 0)
		return r;
	return x->pos - y->pos;
}

/* The keys an update object of ws.transition_many may have. */
static const char *const update_keys[] = {
	"entity_id", "patch", "expected_version", "handshake", "event_id",
	"event_type", "meta"
};

/* 22023 unless every key of update pos + 1 is one of update_keys. */
static void
check_update_keys(Jsonb *obj, int pos)
{
	JsonbIterator *it = JsonbIteratorInit(&obj->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		for (size_t i = 0; i < lengthof(update_keys) && !known; i++)
			known = strlen(update_keys[i]) == (size_t) v.val.string.len &&
				memcmp(update_keys[i], v.val.string.val, v.val.string.len) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("update %d has an unknown key \"%.*s\"", pos + 1,
							v.val.string.len, v.val.string.val),
					 errhint("The keys of an update are entity_id, patch, expected_version, "
							 "handshake, event_id, event_type and meta.")));
	}
}

/* A string member of an update object, or NULL when absent or null. */
static char *
member_text(Jsonb *obj, const char *key, int pos, bool required)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("update %d has no \"%s\"", pos + 1, key),
					 errhint("Every update needs an entity_id and a patch.")));
		return NULL;
	}
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of update %d must be a string", key, pos + 1),
				 errhint("Write it as a JSON string.")));
	if (required && v->val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of update %d must not be empty", key, pos + 1),
				 errhint("Give the id of an existing entity.")));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * "expected_version" of update pos + 1: a JSON number with an integer
 * value (3, 3.0, 3e0) that fits bigint.
 */
static int64
member_version(JsonbValue *v, int pos)
{
	char	   *text = NULL;
	char	   *end = NULL;
	int64		version = 0;
	bool		ok = false;

	if (v->type == jbvNumeric)
	{
		/* numeric_out writes no exponent: digits, then any fraction */
		text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		errno = 0;
		version = strtoi64(text, &end, 10);
		ok = errno == 0 && end != text;
		if (ok && *end == '.')
			while (*++end == '0')
				;
		ok = ok && *end == '\0';
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"expected_version\" of update %d must be an integer", pos + 1),
				 errdetail("It is %s.", text ? text : "not a number"),
				 errhint("Give the version read from the entity, e.g. 3, or null for no check.")));
	return version;
}

/* Parse one element of transition_many's array into a change. */
static void
parse_update(JsonbValue *elem, int pos, WsChange *c)
{
	Jsonb	   *obj;
	JsonbValue *v;
	char	   *s;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("update %d must be a JSON object", pos + 1),
				 errhint("Each update is an object such as {\"entity_id\": \"p1\", \"patch\": {}}.")));
	obj = JsonbValueToJsonb(elem);
	check_update_keys(obj, pos);
	memset(c, 0, sizeof(*c));
	c->what = WS_CHANGE_UPDATE;
	c->entity_id = member_text(obj, "entity_id", pos, true);
	ws_check_length(c->entity_id, "entity_id", WS_ENTITY_ID_MAX);

	v = getKeyJsonValueFromContainer(&obj->root, "patch", 5, NULL);
	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("update %d has no \"patch\"", pos + 1),
				 errhint("Every update needs an entity_id and a patch.")));
	c->patch = JsonbValueToJsonb(v);

	v = getKeyJsonValueFromContainer(&obj->root, "expected_version", 16, NULL);
	if (v && v->type != jbvNull)
	{
		c->has_expected = true;
		c->expected_version = member_version(v, pos);
	}
	c->handshake = member_text(obj, "handshake", pos, false);
	s = member_text(obj, "event_id", pos, false);
	if (s)
	{
		c->has_event_id = true;
		c->event_id = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
	}
	s = member_text(obj, "event_type", pos, false);
	c->event_type = s ? s : "update";
	check_event_type(c->event_type);
	if (c->event_type[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"event_type\" of update %d must not be empty", pos + 1),
				 errhint("Leave it out for the default, update.")));
	v = getKeyJsonValueFromContainer(&obj->root, "meta", 4, NULL);
	if (v && v->type != jbvNull)
	{
		c->caller_meta = JsonbValueToJsonb(v);
		ws_check_caller_meta(c->caller_meta, psprintf("\"meta\" of update %d", pos + 1));
	}
}

/*
 * ws.transition_many(updates jsonb) -> SETOF ws.entities: an array of
 * {"entity_id", "patch", "expected_version", "event_id", "event_type",
 * "handshake", "meta"} applied all-or-nothing; any other key is refused.  Entities are locked and changed in
 * entity id order (updates of one entity in the order given), so two
 * batches over overlapping sets never deadlock; rows come back in that
 * order.
 */
Datum
entity_transition_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext outcxt = CurrentMemoryContext;
	Oid			caller = GetUserId();
	Jsonb	   *updates;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	WsManyItem *items;
	int			n = 0;
	int			cap;
	WsChangeRun run;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("updates must not be null"),
				 errhint("Pass a JSON array of update objects, '[]' for none.")));
	updates = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(updates) || JB_ROOT_IS_SCALAR(updates))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("updates must be a JSON array of objects"),
				 errhint("Pass an array such as '[{\"entity_id\": \"p1\", \"patch\": {}}]'.")));

	cap = Max(JB_ROOT_COUNT(updates), 1);
	items = palloc(sizeof(WsManyItem) * cap);
	it = JsonbIteratorInit(&updates->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_ELEM)
			continue;
		items[n].pos = n;
		parse_update(&v, n, &items[n].change);
		n++;
	}
	qsort(items, n, sizeof(WsManyItem), many_cmp);

	InitMaterializedSRF(fcinfo, 0);
	change_run_begin(&run);
	for (int i = 0; i < n; i++)
	{
		WsEntity	out;
		HeapTuple	tup;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		apply_change(caller, &items[i].change, &run.writer, &out, outcxt, NULL);
		old = MemoryContextSwitchTo(outcxt);
		tup = entity_tuple(rsinfo->setDesc, &out);
		MemoryContextSwitchTo(old);
		tuplestore_puttuple(rsinfo->setResult, tup);
	}
	change_run_end(&run);
	return (Datum) 0;
}

/* Set while ws.archive_events moves events to the archive. */
static bool events_guard_suspended = false;

/*
 * Let the next DELETEs of ws.events through (archival moves rows to
 * ws.events_archive); the caller resets it, also on error.
 */
void
ws_events_guard_suspend(bool suspend)
{
	events_guard_suspended = suspend;
}

/*
 * Trigger on ws.events and ws.events_archive: the event log is append-only
 * for every role, including its owner, and also under
 * session_replication_role = replica.  The one exception is archival's own
 * move of rows, inside ws.archive_events.
 */
Datum
events_immutable(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *op = "change";

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "events_immutable: not called as a trigger");
	if (events_guard_suspended && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		op = "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("ws.%s is append-only: %s is not allowed",
					RelationGetRelationName(trigdata->tg_relation), op),
			 errdetail("Events are immutable; every change of an entity appends a new event."),
			 errhint("Change entities with ws.transition(); move old events with ws.archive_events().")));
	PG_RETURN_NULL();
}
