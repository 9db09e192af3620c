/*-------------------------------------------------------------------------
 *
 * hlc.c
 *		The ws.hlc type: I/O, comparison, index support and the pure HLC
 *		rules of Kulkarni et al., "Logical Physical Clocks" (2014).
 *
 * A value is 16 bytes passed by reference: wall time (microseconds since the
 * Unix epoch), logical counter, node id.  The total order is (wall, counter,
 * node), which makes the node id the deterministic tie-break between equal
 * clocks of two nodes.  Sorting uses an abbreviated key (the wall time
 * compared as a signed integer), so tuplesort's specialised integer sort does
 * most of the work and the full comparison only breaks ties.
 *
 * The logical counter never wraps: when it would pass INT32_MAX the wall
 * component advances by one microsecond and the counter restarts at zero,
 * which keeps every value strictly greater than its predecessor.
 *
 * The node clock built on these rules lives in clock.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/sortsupport.h"
#include "utils/timestamp.h"

#include "errcodes.h"
#include "hlc.h"
#include "util.h"

PG_FUNCTION_INFO_V1(hlc_in);
PG_FUNCTION_INFO_V1(hlc_out);
PG_FUNCTION_INFO_V1(hlc_recv);
PG_FUNCTION_INFO_V1(hlc_send);
PG_FUNCTION_INFO_V1(hlc_recv_binary);
PG_FUNCTION_INFO_V1(hlc_send_binary);
PG_FUNCTION_INFO_V1(hlc_eq);
PG_FUNCTION_INFO_V1(hlc_ne);
PG_FUNCTION_INFO_V1(hlc_lt);
PG_FUNCTION_INFO_V1(hlc_le);
PG_FUNCTION_INFO_V1(hlc_gt);
PG_FUNCTION_INFO_V1(hlc_ge);
PG_FUNCTION_INFO_V1(hlc_cmp);
PG_FUNCTION_INFO_V1(hlc_sortsupport);
PG_FUNCTION_INFO_V1(hlc_hash);
PG_FUNCTION_INFO_V1(hlc_hash_extended);
PG_FUNCTION_INFO_V1(hlc_larger);
PG_FUNCTION_INFO_V1(hlc_smaller);
PG_FUNCTION_INFO_V1(hlc_make);
PG_FUNCTION_INFO_V1(hlc_wall);
PG_FUNCTION_INFO_V1(hlc_counter);
PG_FUNCTION_INFO_V1(hlc_node);
PG_FUNCTION_INFO_V1(hlc_tick);
PG_FUNCTION_INFO_V1(hlc_merge);

/* Compare two values in (wall, counter, node) order. */
int
ws_hlc_cmp(const WsHlc *a, const WsHlc *b)
{
	if (a->wall != b->wall)
		return a->wall < b->wall ? -1 : 1;
	if (a->counter != b->counter)
		return a->counter < b->counter ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return 0;
}

/* A palloc'd copy of h, for returning by reference. */
WsHlc *
ws_hlc_copy(WsHlc h)
{
	WsHlc	   *r = (WsHlc *) palloc(sizeof(WsHlc));

	*r = h;
	return r;
}

/* The canonical text of h in a palloc'd string. */
char *
ws_hlc_to_cstring(const WsHlc *h)
{
	char	   *buf = palloc(WS_HLC_TEXT_MAX);

	ws_hlc_format(h, buf, WS_HLC_TEXT_MAX);
	return buf;
}

/*
 * Raise an error with the given SQLSTATE unless every field of h is within
 * the type's range.  Used wherever a value is assembled from parts.
 */
void
ws_hlc_check(const WsHlc *h, int sqlstate)
{
	if (h->wall < WS_HLC_WALL_MIN || h->wall > WS_HLC_WALL_MAX)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("hlc wall time out of range: " INT64_FORMAT " microseconds since the Unix epoch",
						h->wall),
				 errdetail("%s", ws_hlc_parse_error_detail(WS_HLC_WALL_RANGE)),
				 errhint("Use a wall time from 1970-01-01 to 9999-12-31.")));
	if (h->counter < 0)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("hlc counter out of range: %d", h->counter),
				 errdetail("%s", ws_hlc_parse_error_detail(WS_HLC_COUNTER_RANGE)),
				 errhint("Use a counter from 0 to 2147483647.")));
	if (h->node < 0)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("hlc node id out of range: %d", h->node),
				 errdetail("%s", ws_hlc_parse_error_detail(WS_HLC_NODE_RANGE)),
				 errhint("Use a node id from 0 to 2147483647.")));
}

/* Text input: the strict form documented in hlc_parse.c. */
Datum
hlc_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	WsHlc		h;
	WsHlcParseError err = ws_hlc_parse(str, &h);

	if (err != WS_HLC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type hlc: \"%s\"",
						ws_input_for_message(str)),
				 errdetail("%s", ws_hlc_parse_error_detail(err)),
				 errhint("Write an hlc as 2026-01-15T10:00:00.123456Z/5@3 (UTC; /counter and @node may be left out).")));
	PG_RETURN_HLC_P(ws_hlc_copy(h));
}

/* Text output: always six fraction digits, the counter and the node. */
Datum
hlc_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(ws_hlc_to_cstring(PG_GETARG_HLC_P(0)));
}

/* Binary input: int64 wall, int32 counter, int32 node; validated. */
Datum
hlc_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	WsHlc		h;

	h.wall = pq_getmsgint64(buf);
	h.counter = (int32) pq_getmsgint(buf, 4);
	h.node = (int32) pq_getmsgint(buf, 4);
	ws_hlc_check(&h, ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_HLC_P(ws_hlc_copy(h));
}

/*
 * Binary output, the layout hlc_recv reads.
 *
 * worldstate 1.0 bound its SQL function ws.hlc_send(prev hlc, wall
 * timestamptz, node int), the tick rule, to this C name, and a 1.0 database
 * loads this library before ALTER EXTENSION UPDATE re-points that function
 * to hlc_tick.  The binary send function is always called with one
 * argument, the tick rule with three: three arguments mean the 1.0 rule.
 */
Datum
hlc_send(PG_FUNCTION_ARGS)
{
	WsHlc	   *h;
	StringInfoData buf;

	if (PG_NARGS() == 3)
		return hlc_tick(fcinfo);

	h = PG_GETARG_HLC_P(0);
	pq_begintypsend(&buf);
	pq_sendint64(&buf, h->wall);
	pq_sendint32(&buf, h->counter);
	pq_sendint32(&buf, h->node);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * The C names of the binary I/O functions in worldstate 1.0, which
 * worldstate--1.0.sql binds ws.hlc_recv(internal) and ws.hlc_send(ws.hlc)
 * to; the update to 1.1 re-points both to hlc_recv and hlc_send.
 */
Datum
hlc_recv_binary(PG_FUNCTION_ARGS)
{
	return hlc_recv(fcinfo);
}

Datum
hlc_send_binary(PG_FUNCTION_ARGS)
{
	return hlc_send(fcinfo);
}

#define HLC_CMP_ARGS ws_hlc_cmp(PG_GETARG_HLC_P(0), PG_GETARG_HLC_P(1))

Datum
hlc_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(HLC_CMP_ARGS == 0);
}

Datum
hlc_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(HLC_CMP_ARGS != 0);
}

Datum
hlc_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(HLC_CMP_ARGS < 0);
}

Datum
hlc_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(HLC_CMP_ARGS <= 0);
}

Datum
hlc_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(HLC_CMP_ARGS > 0);
}

Datum
hlc_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(HLC_CMP_ARGS >= 0);
}

/* btree support function 1 */
Datum
hlc_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(HLC_CMP_ARGS);
}

/* Full comparator for sort support. */
static int
hlc_fastcmp(Datum x, Datum y, SortSupport ssup)
{
	return ws_hlc_cmp(DatumGetHlcP(x), DatumGetHlcP(y));
}

/*
 * Abbreviated key: the wall time, compared as a signed integer.  Equal
 * abbreviations fall back to hlc_fastcmp.
 */
static Datum
hlc_abbrev_convert(Datum original, SortSupport ssup)
{
	return Int64GetDatum(DatumGetHlcP(original)->wall);
}

/* Wall times are rarely all equal; abbreviation always pays. */
static bool
hlc_abbrev_abort(int memtupcount, SortSupport ssup)
{
	return false;
}

/* btree support function 2 */
Datum
hlc_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = hlc_fastcmp;
#if SIZEOF_DATUM >= 8
	if (ssup->abbreviate)
	{
		ssup->abbrev_converter = hlc_abbrev_convert;
		ssup->abbrev_abort = hlc_abbrev_abort;
		ssup->abbrev_full_comparator = hlc_fastcmp;
		ssup->comparator = ssup_datum_signed_cmp;
	}
#endif
	PG_RETURN_VOID();
}

/* hash support; the struct has no padding, so its bytes are the value */
Datum
hlc_hash(PG_FUNCTION_ARGS)
{
	return hash_any((unsigned char *) PG_GETARG_HLC_P(0), sizeof(WsHlc));
}

Datum
hlc_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_any_extended((unsigned char *) PG_GETARG_HLC_P(0),
							 sizeof(WsHlc), PG_GETARG_INT64(1));
}

/* support for max(hlc) */
Datum
hlc_larger(PG_FUNCTION_ARGS)
{
	Datum		a = PG_GETARG_DATUM(0);
	Datum		b = PG_GETARG_DATUM(1);

	PG_RETURN_DATUM(ws_hlc_cmp(DatumGetHlcP(a), DatumGetHlcP(b)) >= 0 ? a : b);
}

/* support for min(hlc) */
Datum
hlc_smaller(PG_FUNCTION_ARGS)
{
	Datum		a = PG_GETARG_DATUM(0);
	Datum		b = PG_GETARG_DATUM(1);

	PG_RETURN_DATUM(ws_hlc_cmp(DatumGetHlcP(a), DatumGetHlcP(b)) <= 0 ? a : b);
}

/*
 * timestamptz -> microseconds since the Unix epoch, or an error with the
 * given SQLSTATE when it lies outside the hlc range (infinity included).
 */
static int64
timestamptz_to_wall(TimestampTz ts, const char *argname)
{
	if (TIMESTAMP_NOT_FINITE(ts) ||
		ts < WS_HLC_WALL_MIN - WS_UNIX_TO_PG_USECS ||
		ts > WS_HLC_WALL_MAX - WS_UNIX_TO_PG_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s out of range for hlc: \"%s\"", argname,
						timestamptz_to_str(ts)),
				 errdetail("%s", ws_hlc_parse_error_detail(WS_HLC_WALL_RANGE)),
				 errhint("Use a finite time from 1970-01-01 to 9999-12-31 UTC.")));
	return ts + WS_UNIX_TO_PG_USECS;
}

/* Raise 22023 unless node is a valid node id. */
static int32
check_node_arg(int32 node)
{
	if (node < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node id out of range: %d", node),
				 errdetail("%s", ws_hlc_parse_error_detail(WS_HLC_NODE_RANGE)),
				 errhint("Use a node id from 0 to 2147483647.")));
	return node;
}

/* ws.hlc(wall timestamptz, counter int, node int) */
Datum
hlc_make(PG_FUNCTION_ARGS)
{
	WsHlc		h;

	h.wall = timestamptz_to_wall(PG_GETARG_TIMESTAMPTZ(0), "wall time");
	h.counter = PG_GETARG_INT32(1);
	h.node = check_node_arg(PG_GETARG_INT32(2));
	ws_hlc_check(&h, ERRCODE_INVALID_PARAMETER_VALUE);
	PG_RETURN_HLC_P(ws_hlc_copy(h));
}

/* ws.hlc_wall(hlc) and the cast hlc::timestamptz */
Datum
hlc_wall(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(PG_GETARG_HLC_P(0)->wall - WS_UNIX_TO_PG_USECS);
}

Datum
hlc_counter(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_HLC_P(0)->counter);
}

Datum
hlc_node(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_HLC_P(0)->node);
}

/*
 * Set h's logical counter to next, carrying into the wall time instead of
 * wrapping when next exceeds INT32_MAX.  Never raises (the clock calls it
 * under a spinlock); callers check the result with ws_hlc_check.
 */
static void
hlc_set_counter(WsHlc *h, int64 next)
{
	if (next > INT32_MAX)
	{
		h->wall += 1;
		h->counter = 0;
	}
	else
		h->counter = (int32) next;
}

/*
 * The send (local event) rule: l' = max(l, pt); the counter increments when
 * l' = l and restarts at 0 otherwise.  pt is microseconds since the Unix
 * epoch; the result carries the given node id.
 */
WsHlc
ws_hlc_tick_rule(WsHlc prev, int64 pt, int32 node)
{
	WsHlc		r;

	r.node = node;
	if (pt > prev.wall)
	{
		r.wall = pt;
		r.counter = 0;
	}
	else
	{
		r.wall = prev.wall;
		hlc_set_counter(&r, (int64) prev.counter + 1);
	}
	return r;
}

/*
 * The receive rule: l' = max(l, l_m, pt); the counter is max(c, c_m) + 1
 * when l' equals both walls, c + 1 or c_m + 1 when it equals only one of
 * them, and 0 when the physical clock is ahead of both.
 */
WsHlc
ws_hlc_merge_rule(WsHlc local, WsHlc remote, int64 pt, int32 node)
{
	WsHlc		r;
	int64		wall = Max(Max(local.wall, remote.wall), pt);

	r.node = node;
	r.wall = wall;
	if (wall == local.wall && wall == remote.wall)
		hlc_set_counter(&r, (int64) Max(local.counter, remote.counter) + 1);
	else if (wall == local.wall)
		hlc_set_counter(&r, (int64) local.counter + 1);
	else if (wall == remote.wall)
		hlc_set_counter(&r, (int64) remote.counter + 1);
	else
		r.counter = 0;
	return r;
}

/*
 * ws.hlc_tick(prev hlc, wall timestamptz, node int): the pure send (local
 * event) rule; ws.hlc_send(prev, wall, node) is its 1.0 name.
 */
Datum
hlc_tick(PG_FUNCTION_ARGS)
{
	WsHlc	   *prev = PG_GETARG_HLC_P(0);
	int64		pt = timestamptz_to_wall(PG_GETARG_TIMESTAMPTZ(1), "wall time");
	int32		node = check_node_arg(PG_GETARG_INT32(2));

	WsHlc		r = ws_hlc_tick_rule(*prev, pt, node);

	ws_hlc_check(&r, ERRCODE_DATETIME_VALUE_OUT_OF_RANGE);
	PG_RETURN_HLC_P(ws_hlc_copy(r));
}

/* ws.hlc_merge(local, remote, wall, node): the pure receive rule */
Datum
hlc_merge(PG_FUNCTION_ARGS)
{
	WsHlc	   *local = PG_GETARG_HLC_P(0);
	WsHlc	   *remote = PG_GETARG_HLC_P(1);
	int64		pt = timestamptz_to_wall(PG_GETARG_TIMESTAMPTZ(2), "wall time");
	int32		node = check_node_arg(PG_GETARG_INT32(3));

	WsHlc		r = ws_hlc_merge_rule(*local, *remote, pt, node);

	ws_hlc_check(&r, ERRCODE_DATETIME_VALUE_OUT_OF_RANGE);
	PG_RETURN_HLC_P(ws_hlc_copy(r));
}
