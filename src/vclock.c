/*-------------------------------------------------------------------------
 *
 * vclock.c
 *	  The ws.vclock vector-clock type: I/O, tick, get, merge, relation.
 *
 * A vector clock maps node numbers to event counters.  We store it as a
 * varlena holding the number of entries followed by an array of
 * WsVclockEntry (node, reserved, count) kept in one canonical form:
 * sorted by node, no node twice, no zero counters, "reserved" always
 * zero.  Every function that builds a value preserves that form, and
 * vclock_in and vclock_recv refuse or normalise anything else.  The
 * payoff is that byte equality is logical equality, so "=" is a memcmp,
 * and that every binary operation is a single linear walk over two
 * sorted arrays.  A missing node and a node with counter 0 mean the same
 * thing, which is why zeros are never stored.
 *
 * The entries are 16 bytes each with an int64 inside, hence the type's
 * double alignment.  The text parser and formatter live in
 * vclock_parse.c, which is plain C shared with the fuzzer.
 *
 * src/vclock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "util.h"
#include "vclock.h"

/* Most entries a value may have, so that its size stays allocatable. */
#define WS_VCLOCK_MAX_ENTRIES \
	((int32) ((MaxAllocSize - WS_VCLOCK_HDRSZ) / sizeof(WsVclockEntry)))

/* Bytes one entry takes in the binary send/receive format. */
#define WS_VCLOCK_WIRE_ENTRY_SIZE	(4 + 8)

PG_FUNCTION_INFO_V1(vclock_in);
PG_FUNCTION_INFO_V1(vclock_out);
PG_FUNCTION_INFO_V1(vclock_recv);
PG_FUNCTION_INFO_V1(vclock_send);
PG_FUNCTION_INFO_V1(vclock_tick);
PG_FUNCTION_INFO_V1(vclock_get);
PG_FUNCTION_INFO_V1(vclock_merge);
PG_FUNCTION_INFO_V1(vclock_relation);
PG_FUNCTION_INFO_V1(vclock_eq);
PG_FUNCTION_INFO_V1(vclock_ne);

/* Allocate a vclock of n entries with its header set and entries unset. */
static WsVclock *
vclock_alloc(int32 n)
{
	WsVclock   *v;

	if (n > WS_VCLOCK_MAX_ENTRIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vclock has too many entries"),
				 errdetail("A vclock can have at most %d entries.",
						   WS_VCLOCK_MAX_ENTRIES),
				 errhint("Keep one entry per node of the cluster.")));

	v = (WsVclock *) palloc(WS_VCLOCK_SIZE(n));
	SET_VARSIZE(v, WS_VCLOCK_SIZE(n));
	v->n = n;
	return v;
}

/* Length of the run of ASCII digits starting at p. */
static int
vclock_digits_len(const char *p)
{
	int			len = 0;

	while (p[len] >= '0' && p[len] <= '9')
		len++;
	return len;
}

static void vclock_parse_error(const char *str, int rc,
								  const char *errpos) pg_attribute_noreturn();

/*
 * Report a ws_vclock_parse() failure on str as an ERROR.  errpos points
 * into str at the offending text, as ws_vclock_parse() documents.
 */
static void
vclock_parse_error(const char *str, int rc, const char *errpos)
{
	int			charpos = pg_mbstrlen_with_len(str, (int) (errpos - str)) + 1;

	switch (rc)
	{
		case WS_VC_SYNTAX:
			if (*errpos == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type %s: \"%s\"",
								"vclock", ws_input_for_message(str)),
						 errdetail("Unexpected end of input."),
						 errhint("A vclock is written as {node:counter, ...}, for example {1:3,2:5}.")));
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid input syntax for type %s: \"%s\"",
								"vclock", ws_input_for_message(str)),
						 errdetail("Unexpected character \"%.*s\" at position %d.",
								   pg_mblen(errpos), errpos, charpos),
						 errhint("A vclock is written as {node:counter, ...}, for example {1:3,2:5}.")));
			break;
		case WS_VC_NODE_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"",
							"vclock", ws_input_for_message(str)),
					 errdetail("Node number %.*s is out of range: nodes must be between 0 and %d.",
							   vclock_digits_len(errpos), errpos,
							   PG_INT32_MAX),
					 errhint("A vclock is written as {node:counter, ...}, for example {1:3,2:5}.")));
			break;
		case WS_VC_COUNT_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"",
							"vclock", ws_input_for_message(str)),
					 errdetail("Counter %.*s is out of range: counters must be between 0 and " INT64_FORMAT ".",
							   vclock_digits_len(errpos), errpos,
							   PG_INT64_MAX),
					 errhint("A vclock is written as {node:counter, ...}, for example {1:3,2:5}.")));
			break;
		case WS_VC_DUPLICATE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s: \"%s\"",
							"vclock", ws_input_for_message(str)),
					 errdetail("Node %.*s appears more than once.",
							   vclock_digits_len(errpos), errpos),
					 errhint("Give each node once.")));
			break;
		case WS_VC_TOO_MANY:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("vclock has too many entries"),
					 errdetail("A vclock can have at most %d entries.",
							   WS_VCLOCK_MAX_ENTRIES),
					 errhint("Keep one entry per node of the cluster.")));
			break;
		default:
			elog(ERROR, "unexpected vclock parse result %d (%s) at position %d",
				 rc, ws_vclock_strerror(rc), charpos);
	}
}

/*
 * Index of the first entry of v whose node is >= node; *found says
 * whether that entry is node itself.
 */
static int32
vclock_find(const WsVclock *v, int32 node, bool *found)
{
	int32		lo = 0;
	int32		hi = v->n;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (v->entries[mid].node < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = (lo < v->n && v->entries[lo].node == node);
	return lo;
}

/* Raise 22023 unless node is a valid node number (0 .. INT32_MAX). */
static void
vclock_check_node(int32 node)
{
	if (node < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vclock node %d is out of range", node),
				 errdetail("Node numbers must be between 0 and %d.",
						   PG_INT32_MAX),
				 errhint("Pass a node id from 0 to 2147483647.")));
}

/*
 * Pointwise maximum of the sorted arrays a[0 .. na - 1] and b[0 .. nb - 1],
 * written to out in node order; with out NULL, only count.  Returns the
 * number of entries of the result.
 */
static int64
vclock_merge_entries(const WsVclockEntry *a, int32 na,
						const WsVclockEntry *b, int32 nb,
						WsVclockEntry *out)
{
	int32		i = 0;
	int32		j = 0;
	int64		k = 0;

	while (i < na || j < nb)
	{
		WsVclockEntry e;

		if (j >= nb || (i < na && a[i].node < b[j].node))
			e = a[i++];
		else if (i >= na || b[j].node < a[i].node)
			e = b[j++];
		else
		{
			e = a[i];
			e.count = Max(a[i].count, b[j].count);
			i++;
			j++;
		}
		if (out != NULL)
			out[k] = e;
		k++;
	}
	return k;
}

/*
 * vclock_in: text form "{node:counter, ...}" to vclock, normalised
 * (sorted by node, zero counters dropped).
 */
Datum
vclock_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len = strlen(str);
	int32		max_out;
	WsVclock   *result;
	const char *errpos;
	int			n;
	int			rc;

	max_out = (int32) Min(WS_VCLOCK_MAX_ENTRIES_FOR_LEN(len),
						  (size_t) WS_VCLOCK_MAX_ENTRIES);
	result = vclock_alloc(max_out);

	rc = ws_vclock_parse(str, result->entries, max_out, &n, &errpos);
	if (rc != WS_VC_OK)
		vclock_parse_error(str, rc, errpos);

	SET_VARSIZE(result, WS_VCLOCK_SIZE(n));
	result->n = n;
	PG_RETURN_WS_VCLOCK_P(result);
}

/* vclock_out: vclock to its canonical text form, e.g. "{1:3,2:5}". */
Datum
vclock_out(PG_FUNCTION_ARGS)
{
	WsVclock   *v = PG_GETARG_WS_VCLOCK_P(0);
	size_t		len;
	char	   *buf;

	len = ws_vclock_format(v->entries, v->n, NULL, 0);
	buf = palloc(len + 1);
	ws_vclock_format(v->entries, v->n, buf, len + 1);
	PG_RETURN_CSTRING(buf);
}

/*
 * vclock_recv: binary form to vclock.  The input must already be
 * canonical (int32 count, then strictly increasing int32 nodes, each with
 * a positive int64 counter); anything else is refused rather than
 * repaired, since a well-behaved sender never produces it.
 */
Datum
vclock_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		n;
	WsVclock   *result;
	int32		i;

	n = pq_getmsgint(buf, 4);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type %s", "vclock"),
				 errdetail("The entry count %d is negative.", n)));
	if (n > (buf->len - buf->cursor) / WS_VCLOCK_WIRE_ENTRY_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type %s", "vclock"),
				 errdetail("The entry count %d needs %lld bytes of entries, but only %d follow.",
						   n, (long long) n * WS_VCLOCK_WIRE_ENTRY_SIZE,
						   buf->len - buf->cursor)));

	result = vclock_alloc(n);
	for (i = 0; i < n; i++)
	{
		WsVclockEntry *e = &result->entries[i];

		e->node = pq_getmsgint(buf, 4);
		e->reserved = 0;
		e->count = pq_getmsgint64(buf);

		if (e->node < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary data for type %s", "vclock"),
					 errdetail("Node %d is out of range: nodes must be between 0 and %d.",
							   e->node, PG_INT32_MAX)));
		if (e->count <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary data for type %s", "vclock"),
					 errdetail("Node %d has counter " INT64_FORMAT ", but a stored counter must be between 1 and " INT64_FORMAT ".",
							   e->node, e->count, PG_INT64_MAX)));
		if (i > 0 && e->node <= result->entries[i - 1].node)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary data for type %s", "vclock"),
					 errdetail("Node %d follows node %d, but entries must be in strictly increasing node order.",
							   e->node, result->entries[i - 1].node)));
	}

	PG_RETURN_WS_VCLOCK_P(result);
}

/*
 * vclock_send: vclock to binary form: int32 entry count, then per entry
 * int32 node and int64 counter, in node order.
 */
Datum
vclock_send(PG_FUNCTION_ARGS)
{
	WsVclock   *v = PG_GETARG_WS_VCLOCK_P(0);
	StringInfoData buf;
	int32		i;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, v->n);
	for (i = 0; i < v->n; i++)
	{
		pq_sendint32(&buf, v->entries[i].node);
		pq_sendint64(&buf, v->entries[i].count);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * vclock_tick(v, node): v with node's counter incremented by one, the
 * local-event rule of vector clocks.
 */
Datum
vclock_tick(PG_FUNCTION_ARGS)
{
	WsVclock   *v = PG_GETARG_WS_VCLOCK_P(0);
	int32		node = PG_GETARG_INT32(1);
	WsVclock   *result;
	int32		pos;
	bool		found;

	vclock_check_node(node);
	pos = vclock_find(v, node, &found);

	if (found)
	{
		if (v->entries[pos].count == PG_INT64_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("vclock counter for node %d is out of range", node),
					 errdetail("The counter is already " INT64_FORMAT ", the largest value a vclock can hold.",
							   PG_INT64_MAX),
					 errhint("A node's counter cannot grow past this; start the node with a new node id.")));
		result = vclock_alloc(v->n);
		memcpy(result->entries, v->entries, v->n * sizeof(WsVclockEntry));
		result->entries[pos].count++;
	}
	else
	{
		result = vclock_alloc(v->n + 1);
		memcpy(result->entries, v->entries, pos * sizeof(WsVclockEntry));
		result->entries[pos].node = node;
		result->entries[pos].reserved = 0;
		result->entries[pos].count = 1;
		memcpy(&result->entries[pos + 1], &v->entries[pos],
			   (v->n - pos) * sizeof(WsVclockEntry));
	}

	PG_RETURN_WS_VCLOCK_P(result);
}

/* node's counter in v, 0 when v has no entry for it. */
int64
ws_vclock_count(const WsVclock *v, int32 node)
{
	bool		found;
	int32		pos = vclock_find(v, node, &found);

	return found ? v->entries[pos].count : 0;
}

/* vclock_get(v, node): node's counter in v, 0 when v has no entry for it. */
Datum
vclock_get(PG_FUNCTION_ARGS)
{
	WsVclock   *v = PG_GETARG_WS_VCLOCK_P(0);
	int32		node = PG_GETARG_INT32(1);

	vclock_check_node(node);
	PG_RETURN_INT64(ws_vclock_count(v, node));
}

/*
 * vclock_merge(a, b): pointwise maximum, the receive rule of vector
 * clocks.  Commutative, associative and idempotent, so it also serves as
 * the transition and combine function of the ws.vclock_merge aggregate.
 */
Datum
vclock_merge(PG_FUNCTION_ARGS)
{
	WsVclock   *a = PG_GETARG_WS_VCLOCK_P(0);
	WsVclock   *b = PG_GETARG_WS_VCLOCK_P(1);
	int64		n;
	WsVclock   *result;

	/*
	 * The result has at most a->n + b->n entries; count exactly first only
	 * when that bound is too large to allocate.
	 */
	n = (int64) a->n + b->n;
	if (n > WS_VCLOCK_MAX_ENTRIES)
		n = vclock_merge_entries(a->entries, a->n, b->entries, b->n, NULL);

	result = vclock_alloc((int32) n);
	n = vclock_merge_entries(a->entries, a->n, b->entries, b->n,
								result->entries);
	SET_VARSIZE(result, WS_VCLOCK_SIZE(n));
	result->n = (int32) n;

	PG_RETURN_WS_VCLOCK_P(result);
}

/*
 * vclock_relation(a, b): the causal relation of a to b as text: "equal",
 * "before" (a happened before b: a <= b pointwise and a <> b), "after"
 * (the reverse) or "concurrent" (neither is <= the other).
 */
Datum
vclock_relation(PG_FUNCTION_ARGS)
{
	WsVclock   *a = PG_GETARG_WS_VCLOCK_P(0);
	WsVclock   *b = PG_GETARG_WS_VCLOCK_P(1);
	bool		a_less = false; /* some counter of a is below b's */
	bool		a_more = false; /* some counter of a is above b's */
	int32		i = 0;
	int32		j = 0;
	const char *rel;

	while ((i < a->n || j < b->n) && !(a_less && a_more))
	{
		if (j >= b->n || (i < a->n && a->entries[i].node < b->entries[j].node))
		{
			/* node only in a, with a positive counter */
			a_more = true;
			i++;
		}
		else if (i >= a->n || b->entries[j].node < a->entries[i].node)
		{
			a_less = true;
			j++;
		}
		else
		{
			if (a->entries[i].count < b->entries[j].count)
				a_less = true;
			else if (a->entries[i].count > b->entries[j].count)
				a_more = true;
			i++;
			j++;
		}
	}

	if (a_less && a_more)
		rel = "concurrent";
	else if (a_less)
		rel = "before";
	else if (a_more)
		rel = "after";
	else
		rel = "equal";

	PG_RETURN_TEXT_P(cstring_to_text(rel));
}

/*
 * Whether the vclocks in arguments 0 and 1 are equal.  Canonical storage
 * makes this a byte comparison, and values of different raw sizes are
 * unequal without detoasting them.
 */
static bool
vclock_args_equal(FunctionCallInfo fcinfo)
{
	Datum		da = PG_GETARG_DATUM(0);
	Datum		db = PG_GETARG_DATUM(1);
	WsVclock   *a;
	WsVclock   *b;
	bool		result;

	if (toast_raw_datum_size(da) != toast_raw_datum_size(db))
		return false;

	a = DatumGetWsVclockP(da);
	b = DatumGetWsVclockP(db);
	result = (memcmp(a, b, VARSIZE(a)) == 0);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

/* vclock_eq(a, b): the "=" operator. */
Datum
vclock_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vclock_args_equal(fcinfo));
}

/* vclock_ne(a, b): the "<>" operator. */
Datum
vclock_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!vclock_args_equal(fcinfo));
}
