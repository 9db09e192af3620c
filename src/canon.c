/*-------------------------------------------------------------------------
 *
 * canon.c
 *		Who may change what (module grants, ws_admin, the handshake),
 *		refusing a change, and new event ids.
 *
 * Applications hold no privilege on the ws tables.  The C functions that
 * change state check the *calling* role against the module's grants, then
 * switch to the owner of schema ws for the table access itself (spi.c),
 * so no SECURITY DEFINER function and no search_path is involved in
 * deciding who may do what.  Every statement the functions run is
 * schema-qualified, operators included, and the functions also carry
 * SET search_path = pg_catalog, pg_temp.
 *
 * A refused change is reported twice: as the caller's ERROR, and, before
 * that, as an authenticated non-transactional logical decoding message
 * (broadcast.c) naming the module, so consumers of the broadcast see the
 * rejection although the caller's transaction rolls back.  PostgreSQL 15
 * does not flush WAL when a transaction aborts, so the message is flushed
 * before the error is raised: otherwise it would wait for some later
 * commit.  Rejections are also counted in shared memory for ws.stats().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "broadcast.h"
#include "canon.h"
#include "errcodes.h"
#include "hlc.h"
#include "kindcache.h"
#include "settings.h"
#include "spi.h"
#include "util.h"

/* Whether the role is a superuser or has the privileges of ws_admin. */
static bool
is_ws_admin(Oid role)
{
	Oid			ws_admin;

	if (superuser_arg(role))
		return true;
	ws_admin = get_role_oid("ws_admin", true);
	return OidIsValid(ws_admin) && has_privs_of_role(role, ws_admin);
}

/*
 * Whether the role may act on the module: ws_admin may on every module; a
 * member of a role granted the module may write it, and administer it when
 * that grant is an admin grant.  Must run inside SPI, as the table owner.
 */
static bool
module_allows(Oid caller, const char *module, bool admin)
{
	const WsModule *m;

	if (is_ws_admin(caller))
		return true;
	m = ws_module_lookup(module);
	for (int i = 0; i < m->nroles; i++)
		if ((m->admin[i] || !admin) && has_privs_of_role(caller, m->roles[i]))
			return true;
	return false;
}

/*
 * Raise 42501 unless the calling role may change the module's entities and
 * publish its events (a writer of the module, an admin of it, ws_admin).
 * Must run inside SPI, as the table owner.
 */
void
ws_check_module_grant(Oid caller, const char *module, const char *entity_id)
{
	if (module_allows(caller, module, false))
		return;
	ws_reject_module(module, WS_STAT_REJECT_PERMISSION, ERRCODE_INSUFFICIENT_PRIVILEGE, entity_id,
					 psprintf("Role \"%s\" holds no grant of module \"%s\".",
							  GetUserNameFromId(caller, false), module),
					 psprintf("A ws_admin can allow it with ws.grant_module('%s', role).", module),
					 "permission denied for module \"%s\"", module);
}

/*
 * Raise 42501 unless the calling role may define the module's kinds,
 * constraints and event schemas (an admin of the module, ws_admin).  Must
 * run inside SPI, as the table owner.
 */
void
ws_check_module_admin(Oid caller, const char *module)
{
	if (module_allows(caller, module, true))
		return;
	ws_reject_module(module, WS_STAT_REJECT_PERMISSION, ERRCODE_INSUFFICIENT_PRIVILEGE, NULL,
					 psprintf("Role \"%s\" is not an admin of module \"%s\": kinds, constraints and event schemas are for its admins.",
							  GetUserNameFromId(caller, false), module),
					 psprintf("A ws_admin can make a role an admin with ws.grant_module('%s', role, admin => true).", module),
					 "permission denied to administer module \"%s\"", module);
}

/* Raise 42501 unless the calling role is ws_admin (or a superuser). */
void
ws_require_ws_admin(const char *function)
{
	Oid			caller = GetUserId();

	if (is_ws_admin(caller))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s", function),
			 errdetail("Role \"%s\" is not a member of ws_admin.", GetUserNameFromId(caller, false)),
			 errhint("Ask a ws_admin to run it, or to GRANT ws_admin TO the role.")));
}

/*
 * The hint of a refused change whose caller gave none: what to do about it.
 */
static const char *
reject_default_hint(WsStat stat)
{
	switch (stat)
	{
		case WS_STAT_REJECT_HANDSHAKE:
			return "Present the handshake that worldstate.required_handshake names, with handshake => '...' or SET worldstate.handshake.";
		case WS_STAT_REJECT_NO_ENTITY:
			return "Check the ids given; ws.get_entity and ws.neighbors show what exists.";
		case WS_STAT_REJECT_VERSION:
			return "Read the entity again with ws.get_entity and retry with its current version.";
		case WS_STAT_REJECT_RETIRED:
			return "A retired entity accepts no change; create a new entity instead.";
		case WS_STAT_REJECT_IDEMPOTENCY:
			return "Use a new event_id for a new update.";
		case WS_STAT_REJECT_CONSTRAINT:
			return "Change the update so that every constraint of the kind (ws.constraints) holds.";
		case WS_STAT_REJECT_CAUSAL:
			return "Retry once the events it depends on have arrived on this node.";
		case WS_STAT_REJECT_PERMISSION:
			return "Ask a ws_admin to grant the module to your role with ws.grant_module.";
		case WS_STAT_REJECT_NOT_HOME:
			return "Send strong changes of the entity to the node that created it.";
		case WS_STAT_REJECT_SCHEMA:
			return "Make the payload match the module's registered event schema (ws.event_schemas).";
		default:
			return "Correct the request and retry.";
	}
}

/*
 * The module of an existing entity, for a rejection that names no module;
 * NULL when there is no such entity.  Reads ws.entities as the owner.
 */
static char *
entity_module(const char *entity_id)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	WsAsOwner	owner;
	MemoryContext caller = CurrentMemoryContext;
	char	   *module = NULL;

	if (entity_id == NULL || SPI_connect() != SPI_OK_CONNECT)
		return NULL;
	ws_as_owner_begin(&owner);
	if (plan == NULL)
		ws_prepare(&plan, "SELECT module FROM ws.entities"
				   " WHERE entity_id OPERATOR(pg_catalog.=) $1", 1, argtypes);
	args[0] = CStringGetTextDatum(entity_id);
	if (SPI_execute_plan(plan, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *m = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (m != NULL)
			module = MemoryContextStrdup(caller, m);
	}
	ws_as_owner_end(&owner);
	SPI_finish();
	return module;
}

static void reject_v(const char *module, WsStat stat, int sqlerrcode,
						const char *entity_id, const char *detail, const char *hint,
						const char *fmt, va_list args) pg_attribute_printf(7, 0) pg_attribute_noreturn();

/*
 * Refuse a change: broadcast a "rejected" message (non-transactional, so it
 * survives the rollback) and flush it, so that consumers see it now
 * although nothing else may be written for a long time; count it, and
 * raise the error.  module NULL: the module of entity_id, when it exists.
 */
static void
reject_v(const char *module, WsStat stat, int sqlerrcode, const char *entity_id,
			const char *detail, const char *hint, const char *fmt, va_list args)
{
	StringInfoData msg;
	StringInfoData json;

	initStringInfo(&msg);
	ws_append_vformat(&msg, fmt, args);
	if (module == NULL)
		module = entity_module(entity_id);

	initStringInfo(&json);
	appendStringInfoString(&json, "\"sqlstate\":");
	escape_json(&json, unpack_sql_state(sqlerrcode));
	appendStringInfoString(&json, ",\"entity_id\":");
	if (entity_id)
		escape_json(&json, entity_id);
	else
		appendStringInfoString(&json, "null");
	appendStringInfoString(&json, ",\"module\":");
	if (module)
		escape_json(&json, module);
	else
		appendStringInfoString(&json, "null");
	appendStringInfoString(&json, ",\"reason\":");
	escape_json(&json, msg.data);
	appendStringInfo(&json, ",\"origin\":%d", ws_node_id);
	XLogFlush(ws_broadcast_emit("rejected", module, json.data, false));

	ws_stats_count(stat);

	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("%s", msg.data),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("%s", hint ? hint : reject_default_hint(stat))));
}

/*
 * Refuse a change of module's state (NULL: the module of entity_id, when
 * it exists); see reject_v.  ws_reject is this with module NULL.
 */
void
ws_reject_module(const char *module, WsStat stat, int sqlerrcode, const char *entity_id,
				 const char *detail, const char *hint, const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	reject_v(module, stat, sqlerrcode, entity_id, detail, hint, fmt, args);
	va_end(args);
}

/*
 * Raise WS401 unless the presented handshake is the required one; the
 * rejection names module, or (NULL) the module of entity_id.
 */
void
ws_check_handshake_module(const char *given, const char *entity_id, const char *module)
{
	const char *h = given ? given : ws_handshake;
	const char *required = ws_required_handshake ? ws_required_handshake : "";

	if (required[0] == '\0')
		return;
	if (h == NULL || h[0] == '\0')
		ws_reject_module(module, WS_STAT_REJECT_HANDSHAKE, ERRCODE_WS_HANDSHAKE, entity_id,
						 "Every change must present the handshake.",
						 "Pass handshake => '...' or SET worldstate.handshake.",
						 "missing handshake");
	if (strcmp(h, required) != 0)
		ws_reject_module(module, WS_STAT_REJECT_HANDSHAKE, ERRCODE_WS_HANDSHAKE, entity_id,
						 "The handshake presented does not match worldstate.required_handshake.",
						 NULL,
						 "invalid handshake \"%s\"", h);
}

/* Raise WS401 unless the presented handshake is the required one. */
void
ws_check_handshake(const char *given, const char *entity_id)
{
	ws_check_handshake_module(given, entity_id, NULL);
}

/* The handshake stored with an event: what was presented. */
const char *
ws_presented_handshake(const char *given)
{
	if (given)
		return given;
	return ws_handshake ? ws_handshake : "";
}

/*
 * A new time-ordered (version 7, RFC 9562) uuid: 48 bits of Unix time in
 * milliseconds, then random bits.  Ids generated close in time sort close
 * together, so the primary key of ws.events grows at its right edge
 * instead of touching a random leaf page on every insert.
 */
void
ws_new_event_id(pg_uuid_t *u)
{
	/*
	 * Random bytes are drawn from the strong source 32 ids at a time: one
	 * call costs about as much as the rest of the id.  The pool belongs to
	 * the process that filled it, so a forked child never reuses its
	 * parent's bytes.
	 */
	static uint8 pool[32 * (UUID_LEN - 6)];
	static int	pool_left = 0;
	static int	pool_pid = 0;
	uint64		ms = (uint64) ((GetCurrentTimestamp() + WS_UNIX_TO_PG_USECS) / 1000);

	if (pool_left == 0 || pool_pid != MyProcPid)
	{
		if (!pg_strong_random(pool, sizeof(pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values")));
		pool_left = sizeof(pool);
		pool_pid = MyProcPid;
	}
	pool_left -= UUID_LEN - 6;
	memcpy(u->data + 6, pool + pool_left, UUID_LEN - 6);
	/* used bytes do not stay in memory */
	memset(pool + pool_left, 0, UUID_LEN - 6);
	for (int i = 0; i < 6; i++)
		u->data[i] = (uint8) (ms >> (40 - 8 * i));
	u->data[6] = (u->data[6] & 0x0f) | 0x70;
	u->data[8] = (u->data[8] & 0x3f) | 0x80;
}
