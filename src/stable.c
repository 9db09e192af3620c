/*-------------------------------------------------------------------------
 *
 * stable.c
 *		The stable past of a node with peers: horizon events,
 *		ws.stable_hlc(), the tentative signal of time travel above it, and
 *		the bound it puts on ws.archive_events.
 *
 * A node's safe horizon (horizon.c) is an HLC at or below which every event
 * of the node belongs to a transaction that has ended; every event the
 * node writes later lies above it.  On a node with peers the background
 * worker publishes it every worldstate.horizon_interval as a horizon event:
 * an event of the reserved module "ws", type "horizon", without an entity,
 * whose patch is {"horizon": "<hlc>"}.  It travels like every other event
 * of the node, through its publication, so a peer applies it after every
 * event of the node that committed before it -- after every event at or
 * below the horizon -- and records it in ws.nodes.horizon (converge.c calls
 * ws_stable_record_horizon from the integrate trigger).
 *
 * The event has an HLC of its own, taken like any event's, not the
 * horizon: an event's HLC is unique in the log (ws.ack finds an event by
 * it), and the horizon is often the HLC of the node's last event.  Its
 * HLC lies above the horizon, as the event is written after the horizon
 * was read.
 *
 * ws.stable_hlc() is the least of this node's safe horizon and every
 * peer's last horizon; NULL while a peer has sent none.  Every event at or
 * below it is here and no event at or below it can come later, from any
 * node: so the world at or below it -- time travel, ws.state_hash(at), a
 * snapshot -- is final, and the same on every node that has the same
 * events.  Above it a result is tentative: a query with a moment above it
 * raises a NOTICE (once per statement), and ws.archive_events refuses to
 * archive past it.  On a standalone node (worldstate.node_id 0, or no
 * peers) it is the node's safe horizon and nothing is tentative.
 *
 * Bounding the log.  A horizon event is written only when the horizon has
 * passed the node clock as it was after the previous one -- when some
 * other event was written or received, or a value was taken from the
 * clock, since -- or when the node holds an event of another node above
 * the horizon it last published (then it takes a value from its clock: a
 * node that only reads must not hold the stable past of the others back).
 * So an idle mesh writes none, and a busy node one small event per
 * interval.  A peer's horizon event does not move the
 * receiving node's clock (converge.c skips the receive rule for it), or
 * two idle nodes would answer each other's horizon events for ever.
 * ws.archive_events moves the horizon events before its boundary to the
 * archive with the rest.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "definitions.h"
#include "horizon.h"
#include "settings.h"
#include "spi.h"
#include "stable.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(stable_hlc);
PG_FUNCTION_INFO_V1(stable_publish_horizon);

/* ws.stable_hlc() as last computed, for the statement of `key` */
static struct
{
	LocalTransactionId lxid;
	TimestampTz statement;
	bool		valid;
	bool		peers;			/* the node has peers */
	bool		stable_null;	/* a peer has sent no horizon yet */
	WsHlc		stable;
	bool		noticed;		/* the statement was told it is tentative */
} cached;

bool
ws_is_horizon_event(const char *module, const char *event_type)
{
	return module != NULL && event_type != NULL &&
		strcmp(module, WS_CATALOG_MODULE) == 0 &&
		strcmp(event_type, WS_HORIZON_EVENT_TYPE) == 0;
}

/*
 * How many peers this node has, how many of them have sent a horizon, and
 * the least of those horizons (into *least).  Inside SPI, as the owner.
 */
static int64
peer_horizons(int64 *with_horizon, WsHlc *least)
{
	bool		isnull;
	int64		peers;
	Datum		d;

	ws_exec("SELECT pg_catalog.count(*), pg_catalog.count(horizon), ws.min(horizon) FROM ws.nodes",
			0, NULL, NULL, NULL, SPI_OK_SELECT);
	peers = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*with_horizon = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (!isnull)
		*least = *DatumGetHlcP(d);
	return peers;
}

/*
 * The stable HLC into *stable (false: NULL, a peer has sent no horizon
 * yet), and whether the node has peers into *peers.
 */
static bool
stable_compute(WsHlc *stable, bool *peers)
{
	WsHlc		own = ws_event_horizon();
	WsHlc		least = {0};
	int64		npeers;
	int64		with_horizon;
	WsAsOwner	saved;

	*stable = own;
	*peers = false;
	/* a standalone node cannot have peers (ws.add_peer refuses) */
	if (ws_node_id == 0)
		return true;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	npeers = peer_horizons(&with_horizon, &least);
	ws_as_owner_end(&saved);
	SPI_finish();
	if (npeers == 0)
		return true;
	*peers = true;
	if (with_horizon < npeers)
		return false;
	if (ws_hlc_cmp(&least, stable) < 0)
		*stable = least;
	return true;
}

bool
ws_stable_hlc_get(WsHlc *stable)
{
	bool		peers;

	return stable_compute(stable, &peers);
}

/* ws.stable_hlc() -> ws.hlc: see the file header. */
Datum
stable_hlc(PG_FUNCTION_ARGS)
{
	WsHlc		stable;

	if (!ws_stable_hlc_get(&stable))
		PG_RETURN_NULL();
	PG_RETURN_HLC_P(ws_hlc_copy(stable));
}

/*
 * Raise a NOTICE when a result as of `at`, of the function `what`, is
 * tentative: the node has peers and `at` lies above ws.stable_hlc(), or a
 * peer has sent no horizon yet.  Once per statement: the stable HLC is
 * computed for the statement's first query with a moment, so a query
 * calling ws.get_state for many rows at or below it pays for it once; a
 * moment above it computes it again, as it may have moved, until the
 * NOTICE is raised.
 */
void
ws_stable_note_tentative(const WsHlc *at, const char *what)
{
	LocalTransactionId lxid = MyProc->lxid;
	TimestampTz statement = GetCurrentStatementStartTimestamp();
	char		stable_text[WS_HLC_TEXT_MAX];

	if (at == NULL || ws_node_id == 0)
		return;
	if (!cached.valid || cached.lxid != lxid || cached.statement != statement)
	{
		cached.valid = false;
		cached.stable_null = !stable_compute(&cached.stable, &cached.peers);
		cached.lxid = lxid;
		cached.statement = statement;
		cached.noticed = false;
		cached.valid = true;
	}
	if (!cached.peers || cached.noticed)
		return;
	if (!cached.stable_null && ws_hlc_cmp(at, &cached.stable) <= 0)
		return;
	/* the stable HLC only moves forward: it may have passed `at` since */
	cached.stable_null = !stable_compute(&cached.stable, &cached.peers);
	if (!cached.peers || (!cached.stable_null && ws_hlc_cmp(at, &cached.stable) <= 0))
		return;
	cached.noticed = true;
	if (!cached.stable_null)
		ws_hlc_format(&cached.stable, stable_text, sizeof(stable_text));
	ereport(NOTICE,
			(errmsg("%s as of %s is tentative", what, ws_hlc_to_cstring(at)),
			 cached.stable_null ?
			 errdetail("A peer of this node has not published its horizon yet, so no moment is stable.") :
			 errdetail("It lies above the stable HLC %s: events of peers at or below it may still arrive and change the result.",
					   stable_text),
			 errhint("Results as of ws.stable_hlc() or earlier are final and the same on every converged node.")));
}

void
ws_stable_check_archive(const WsHlc *before)
{
	WsHlc		stable;
	bool		known = ws_stable_hlc_get(&stable);

	if (known && ws_hlc_cmp(before, &stable) <= 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("cannot archive events before %s, which lies above the stable HLC",
					ws_hlc_to_cstring(before)),
			 known ?
			 errdetail("The stable HLC is %s; events at or below a later moment may still be written or arrive.",
					   ws_hlc_to_cstring(&stable)) :
			 errdetail("A peer of this node has not published its horizon yet, so no moment is stable."),
			 errhint("Archive before a moment at or below ws.stable_hlc().")));
}

/*
 * Record the horizon event of peer `origin` in its ws.nodes row, unless the
 * row has a later horizon already.  Inside SPI, as the owner (the
 * integrate trigger).  22P02 when the patch has no valid "horizon".
 */
void
ws_stable_record_horizon(int32 origin, Jsonb *patch)
{
	JsonbValue *v = NULL;
	WsHlc		h;
	WsHlcParseError err = WS_HLC_SYNTAX;
	Oid			types[2] = {INT4OID, ws_type_oid("hlc")};
	Datum		args[2];

	if (patch != NULL && JB_ROOT_IS_OBJECT(patch))
		v = getKeyJsonValueFromContainer(&patch->root, "horizon", 7, NULL);
	if (v != NULL && v->type == jbvString && v->val.string.len < WS_HLC_TEXT_MAX)
	{
		err = ws_hlc_parse(pnstrdup(v->val.string.val, v->val.string.len), &h);
	}
	if (err != WS_HLC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed horizon event of node %d", origin),
				 errdetail("Its patch must be an object whose member \"horizon\" is an HLC: %s",
						   ws_hlc_parse_error_detail(err)),
				 errhint("The horizon of the node stays where it was.")));
	args[0] = Int32GetDatum(origin);
	args[1] = HlcPGetDatum(&h);
	ws_exec("UPDATE ws.nodes SET horizon = $2 WHERE node_id OPERATOR(pg_catalog.=) $1"
			" AND (horizon IS NULL OR horizon OPERATOR(ws.<) $2)",
			2, types, args, NULL, SPI_OK_UPDATE);
}

/*
 * The HLC of this node's last horizon event, into *last; false when it has
 * written none.  Inside SPI (a partial index holds horizon events).
 */
static bool
last_horizon_event(WsHlc *last)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(ws_node_id)};
	bool		isnull;
	Datum		d;

	ws_exec("SELECT hlc FROM ws.events WHERE origin_node OPERATOR(pg_catalog.=) $1"
			" AND module OPERATOR(pg_catalog.=) 'ws' AND event_type OPERATOR(pg_catalog.=) 'horizon'"
			" ORDER BY origin_node DESC, hlc USING OPERATOR(ws.>) LIMIT 1",
			1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*last = *DatumGetHlcP(d);
	return true;
}

/*
 * Whether this node holds an event above the horizon its last horizon
 * event published, other than a horizon event: in ws.events, or held in
 * ws.pending (an event of a peer whose causal past has not arrived).
 * Inside SPI.
 */
static bool
events_above_last_horizon(void)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(ws_node_id)};
	bool		isnull;

	ws_exec("WITH l AS (SELECT (patch OPERATOR(pg_catalog.->>) 'horizon')::ws.hlc AS h FROM ws.events"
			"   WHERE origin_node OPERATOR(pg_catalog.=) $1 AND module OPERATOR(pg_catalog.=) 'ws'"
			"     AND event_type OPERATOR(pg_catalog.=) 'horizon'"
			"   ORDER BY origin_node DESC, hlc USING OPERATOR(ws.>) LIMIT 1)"
			" SELECT EXISTS (SELECT FROM ws.events, l WHERE hlc OPERATOR(ws.>) l.h"
			"   AND NOT (module OPERATOR(pg_catalog.=) 'ws' AND event_type OPERATOR(pg_catalog.=) 'horizon'))"
			" OR EXISTS (SELECT FROM ws.pending, l WHERE (held).hlc OPERATOR(ws.>) l.h)",
			1, types, args, NULL, SPI_OK_SELECT);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* {"horizon": "<h>"} */
static Jsonb *
horizon_patch(const WsHlc *h)
{
	char		buf[WS_HLC_TEXT_MAX];

	ws_hlc_format(h, buf, sizeof(buf));
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(psprintf("{\"horizon\": \"%s\"}", buf))));
}

/*
 * Publish this node's safe horizon as a horizon event, when the node has
 * peers and the horizon lies above this node's last horizon event (see the
 * file header); the horizon into *published.  Returns whether it wrote.
 */
bool
ws_horizon_publish(WsHlc *published)
{
	Oid			caller = GetUserId();
	WsAsOwner	saved;
	WsHlc		h;
	WsHlc		last;
	WsHlc		least;
	int64		with_horizon;
	bool		write = false;

	if (ws_node_id == 0)
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ws_as_owner_begin(&saved);
	if (peer_horizons(&with_horizon, &least) > 0)
	{
		/* the horizon first, then the snapshot of the query below */
		h = ws_event_horizon();
		write = !last_horizon_event(&last) || ws_hlc_cmp(&h, &last) > 0;
		/*
		 * An idle node whose clock has not moved still holds back the
		 * stable past of every node while events of others lie above its
		 * last horizon: it takes a value from its clock, so that its
		 * horizon passes them.  Once every node's horizon is above the
		 * last event, none does: an idle mesh stays quiet.
		 */
		if (!write && events_above_last_horizon())
		{
			(void) ws_clock_now();
			h = ws_event_horizon();
			write = ws_hlc_cmp(&h, &last) > 0;
		}
		if (write)
		{
			pg_uuid_t	event_id;

			ws_writer_append_unattached(&event_id, WS_CATALOG_MODULE, WS_HORIZON_EVENT_TYPE,
										horizon_patch(&h), NULL, 1, caller, NULL);
			*published = h;
		}
	}
	ws_as_owner_end(&saved);
	SPI_finish();
	return write;
}

/*
 * ws._publish_horizon() -> ws.hlc: what the worker does every
 * worldstate.horizon_interval, now (tests, operators): the horizon
 * published, or NULL when none was (a standalone node, or the horizon has
 * not advanced).
 */
Datum
stable_publish_horizon(PG_FUNCTION_ARGS)
{
	WsHlc		h;

	if (!ws_horizon_publish(&h))
		PG_RETURN_NULL();
	PG_RETURN_HLC_P(ws_hlc_copy(h));
}
