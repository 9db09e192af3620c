/*-------------------------------------------------------------------------
 *
 * args.c
 *		Arguments of the transition and query functions.
 *
 * Every check of what a caller passes that the functions of transition.c
 * and query.c share lives here, so each is written once and says the same
 * thing everywhere: a required text is neither NULL nor empty and fits its
 * documented limit (22023 naming the argument, never 54000 from an index
 * further down); the caller's meta is a JSON object of at most
 * WS_CALLER_META_MAX bytes; a moment is a ws.hlc or, in the overloads of
 * 1.1, a timestamptz read as an HLC.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "args.h"

/*
 * Text argument n, named name: 22023 when NULL, empty, or longer than max
 * bytes (max 0: no limit).  Returns it as a C string.
 */
char *
ws_arg_text(FunctionCallInfo fcinfo, int n, const char *name, int max)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", name),
				 errhint("Pass a non-empty text as %s.", name)));
	s = TextDatumGetCString(PG_GETARG_DATUM(n));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name),
				 errhint("Pass a non-empty text as %s.", name)));
	if (max > 0)
		ws_check_length(s, name, max);
	return s;
}

/* 22023 unless value, the argument name, is at most max bytes long. */
void
ws_check_length(const char *value, const char *name, int max)
{
	size_t		len = strlen(value);

	if (len > (size_t) max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is longer than %d bytes", name, max),
				 errdetail("It is %zu bytes long.", len),
				 errhint("Use a shorter %s; the README lists the limits.", name)));
}

/*
 * The caller's meta, argument n: NULL when SQL NULL or when the function
 * is declared without it (the 1.0 signatures, before ALTER EXTENSION
 * UPDATE).
 */
Jsonb *
ws_arg_meta(FunctionCallInfo fcinfo, int n)
{
	Jsonb	   *meta;

	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	meta = PG_GETARG_JSONB_P(n);
	ws_check_caller_meta(meta, "meta");
	return meta;
}

/*
 * 22023 unless meta (what a caller attaches to an event: correlation and
 * causation ids and the like) is a JSON object of at most
 * WS_CALLER_META_MAX bytes as text.  name names it in the message.
 */
void
ws_check_caller_meta(Jsonb *meta, const char *name)
{
	StringInfoData buf;

	if (!JB_ROOT_IS_OBJECT(meta) || JB_ROOT_IS_SCALAR(meta))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", name),
				 errhint("Pass an object such as '{\"correlation_id\": \"...\"}', or NULL.")));
	initStringInfo(&buf);
	(void) JsonbToCString(&buf, &meta->root, VARSIZE(meta));
	if (buf.len > WS_CALLER_META_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is longer than %d bytes", name, WS_CALLER_META_MAX),
				 errdetail("It is %d bytes as text.", buf.len),
				 errhint("Keep ids and references in meta; put data in the patch or payload.")));
	pfree(buf.data);
}

/*
 * The declared type of argument n: from the call expression, or else (a
 * call without one, e.g. from C) from the function's signature.
 */
static Oid
moment_type(FunctionCallInfo fcinfo, int n)
{
	Oid			type = InvalidOid;
	Oid		   *argtypes;
	int			nargs;

	if (fcinfo->flinfo == NULL)
		return InvalidOid;
	if (fcinfo->flinfo->fn_expr != NULL)
		type = get_fn_expr_argtype(fcinfo->flinfo, n);
	if (!OidIsValid(type))
	{
		(void) get_func_signature(fcinfo->flinfo->fn_oid, &argtypes, &nargs);
		if (n < nargs)
			type = argtypes[n];
	}
	return type;
}

/*
 * Moment argument n (NULL when SQL NULL): a ws.hlc, or a timestamptz in
 * the overloads of 1.1, read as the HLC of that instant -- with upper, the
 * greatest HLC whose wall time it is, (ts, 2147483647, 2147483647), so "as
 * of" and "up to" an instant take in every event stamped at that
 * microsecond; else the least, (ts, 0, 0), for "from" bounds.  Infinite and
 * out-of-range times are clamped to the HLC range.  The argument's type is
 * the one the function was declared with (called directly: ws.hlc).
 */
const WsHlc *
ws_arg_moment(FunctionCallInfo fcinfo, int n, bool upper)
{
	WsHlc		h;
	TimestampTz ts;

	if (PG_ARGISNULL(n))
		return NULL;
	if (moment_type(fcinfo, n) != TIMESTAMPTZOID)
		return PG_GETARG_HLC_P(n);
	ts = PG_GETARG_TIMESTAMPTZ(n);
	if (TIMESTAMP_IS_NOBEGIN(ts) || ts < WS_HLC_WALL_MIN - WS_UNIX_TO_PG_USECS)
		h.wall = WS_HLC_WALL_MIN;
	else if (TIMESTAMP_IS_NOEND(ts) || ts > WS_HLC_WALL_MAX - WS_UNIX_TO_PG_USECS)
		h.wall = WS_HLC_WALL_MAX;
	else
		h.wall = ts + WS_UNIX_TO_PG_USECS;
	h.counter = upper ? PG_INT32_MAX : 0;
	h.node = upper ? PG_INT32_MAX : 0;
	return ws_hlc_copy(h);
}
