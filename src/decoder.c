/*-------------------------------------------------------------------------
 *
 * decoder.c
 *		The logical decoding output plugin "worldstate": broadcasts.
 *
 * A slot created with `pg_create_logical_replication_slot('s', 'worldstate')`
 * turns the WAL of one database into one JSON object per line, for every
 * insert into ws.events and every logical decoding message with prefix
 * "worldstate" that worldstate wrote (rejections, heartbeats, snapshot
 * announcements); nothing else of the database is broadcast.
 *
 * Design:
 *
 * - ws.events is recognised by its OID, resolved through the catalogs (the
 *   historic snapshot of the change being decoded) once and then cached --
 *   the table named so that is a member of extension worldstate, so a
 *   look-alike in a database without the extension is never broadcast; the
 *   cache is dropped by relcache and syscache (pg_namespace, pg_class)
 *   invalidations, which the reorder buffer replays as decoding crosses
 *   catalog changes, and checked again at the start of every transaction.
 *   A change of any other relation costs one OID comparison.
 *
 * - Every event is written on its own, from its change callback, with its
 *   own OutputPluginPrepareWrite/OutputPluginWrite; nothing of a transaction
 *   is held back, and the memory used for one change lives in a private
 *   context reset after it.  Large transactions are bounded by the reorder
 *   buffer (logical_decoding_work_mem, spilling to disk), and with the option
 *   stream-changes they are streamed before they commit.
 *
 * - Events that arrived from peers are broadcast like local ones, each line
 *   naming its "origin" node; the option local-only keeps to the events
 *   whose origin_node is this node's worldstate.node_id.
 *
 * - JSON values of the event (patch, state, meta, caller_meta) are written
 *   from the stored jsonb with JsonbToCString, so numbers keep every digit.
 *
 * - Messages are authenticated, never parsed (broadcast.c): any role can
 *   write one with pg_logical_emit_message, so a message becomes a line
 *   only when its HMAC tag checks out with the cluster's key, and its
 *   members, which worldstate wrote, are copied verbatim.  Anything else
 *   with the prefix is dropped, counted and warned of (rate-limited), and
 *   decoding goes on: no message, however deep or large, can stop a slot.
 *   The option pretty re-indents a composed line in one pass without
 *   recursion, for the same reason.
 *
 * - Every line carries "handshake", "format_version", "kind" and
 *   "position".  A position is "<LSN>:<n>": the LSN is the end of the WAL
 *   record that makes the line final (the commit, prepare or message
 *   record) and n the line's ordinal among the lines of that record's
 *   transaction, from 1 (0 for a line that is a record of its own).
 *   Positions increase along the stream of a slot and never repeat, so a
 *   consumer that resumes may drop every line at or below the last position
 *   it processed.  Streamed changes are written before their commit record
 *   exists: they carry "position": null and their ordinal as "seq", and the
 *   stream_commit line that follows gives the LSN.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "catalog/pg_type.h"
#include "nodes/parsenodes.h"
#include "replication/logical.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"
#include "utils/varlena.h"

#include "broadcast.h"
#include "decoder.h"
#include "errcodes.h"
#include "hlc.h"
#include "settings.h"
#include "stats.h"
#include "tables.h"

/* Broadcast kinds the option "kinds" selects from. */
typedef enum WsBroadcastKind
{
	WS_BK_EVENT,
	WS_BK_REJECTED,
	WS_BK_SNAPSHOT_START,
	WS_BK_SNAPSHOT_COMPLETE,
	WS_BK_HEARTBEAT,
	WS_BK_COUNT
} WsBroadcastKind;

static const char *const bk_names[WS_BK_COUNT] = {
	"event", "rejected", "snapshot_start", "snapshot_complete", "heartbeat"
};

/* Options, in the order of the error hint. */
#define WS_OPT_MODULES			0x01
#define WS_OPT_KINDS			0x02
#define WS_OPT_INCLUDE_STATE	0x04
#define WS_OPT_INCLUDE_XIDS		0x08
#define WS_OPT_PRETTY			0x10
#define WS_OPT_FORMAT_VERSION	0x20
#define WS_OPT_STREAM_CHANGES	0x40
#define WS_OPT_LOCAL_ONLY		0x80

/* The plugin's state for one decoding context. */
typedef struct WsDecoderData
{
	MemoryContext context;		/* for one change or message; reset after it */
	List	   *modules;		/* module names to broadcast; NIL: all */
	bits32		kinds;			/* bits of WsBroadcastKind; 0: all */
	bool		include_state;
	bool		include_xids;
	bool		pretty;
	bool		local_only;		/* only events whose origin is this node */
	StringInfoData compact;		/* a line before it is written pretty */
	uint64		seq;			/* lines of the transaction being replayed */
	int			skipped;		/* changes skipped since progress was reported */
	uint64		dropped;		/* messages dropped in this session */
} WsDecoderData;

/* Per streamed transaction (toplevel), across its stream chunks. */
typedef struct WsStreamTxn
{
	uint64		seq;			/* lines written for it so far */
	bool		wrote;			/* any line written for it */
	bool		chunk_open;		/* stream_start written for this chunk */
} WsStreamTxn;

/* Warn of the first dropped message of a session, then every this many. */
#define WS_DROPPED_WARN_EVERY 1000

/* Report progress to the walsender every this many skipped changes. */
#define WS_SKIPPED_PROGRESS_EVERY 100

/* The columns of ws.events (tables.h) a broadcast event must have values in. */
static const WsEventCol event_notnull[] = {
	EV_EVENT_ID, EV_HLC, EV_ORIGIN_NODE, EV_MODULE, EV_EVENT_TYPE, EV_PATCH, EV_HANDSHAKE
};

/*
 * ws.events as of the catalog state being decoded: valid is cleared by
 * invalidations; relid is InvalidOid where the extension is not installed.
 * The column numbers are looked up from the first change of the relation.
 */
static struct
{
	bool		valid;
	Oid			relid;
	bool		cols_valid;
	AttrNumber	attnum[EV_NCOLS];	/* 0: a column of 1.1 absent */
}			ws_events_rel;

static bool callbacks_registered = false;

static void option_error(DefElem *elem, const char *detail) pg_attribute_noreturn();

/* ---------------------------------------------------------------------
 * ws.events: which relation, which columns
 * ---------------------------------------------------------------------
 */

/* Relcache invalidation: forget ws.events when it (or anything) changed. */
static void
events_relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || !OidIsValid(ws_events_rel.relid) ||
		relid == ws_events_rel.relid)
		ws_events_rel.valid = false;
}

/* Syscache invalidation of pg_namespace or pg_class: resolve again. */
static void
events_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	ws_events_rel.valid = false;
}

/*
 * Resolve ws.events through the catalogs, when the cached answer was
 * invalidated.  Runs inside the transaction the reorder buffer opens for
 * replay, so it sees the catalogs as of the change being decoded.
 */
static void
events_resolve(void)
{
	Oid			nsp;
	Oid			relid;
	Oid			ext;

	if (ws_events_rel.valid)
		return;

	/* an invalidation arriving during the lookups makes the next one redo it */
	ws_events_rel.valid = true;
	ws_events_rel.cols_valid = false;
	ws_events_rel.relid = InvalidOid;
	nsp = get_namespace_oid("ws", true);
	relid = OidIsValid(nsp) ? get_relname_relid("events", nsp) : InvalidOid;
	/* only the extension's own table: a look-alike in a database without it is not */
	ext = get_extension_oid("worldstate", true);
	if (OidIsValid(relid) && OidIsValid(ext) &&
		getExtensionOfObject(RelationRelationId, relid) == ext)
		ws_events_rel.relid = relid;
}

/*
 * Look up the columns of ws.events in its descriptor and check their
 * types, so a library and an install script that disagree fail with a
 * clear message instead of writing garbage.
 */
static void
events_columns(Relation rel)
{
	ws_table_attnums(RelationGetDescr(rel), &ws_events_table, ws_events_rel.attnum);
	ws_events_rel.cols_valid = true;
}

/* True when rel is ws.events (and its columns are known). */
static bool
is_events(Relation rel)
{
	events_resolve();
	if (!OidIsValid(ws_events_rel.relid) || RelationGetRelid(rel) != ws_events_rel.relid)
		return false;
	if (!ws_events_rel.cols_valid)
		events_columns(rel);
	return true;
}

/* ---------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------
 */

/* Raise 22023 for a bad value of an option. */
static void
option_error(DefElem *elem, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value \"%s\" for option \"%s\"",
					elem->arg ? strVal(elem->arg) : "", elem->defname),
			 errdetail_internal("%s", detail),
			 errhint("Correct the value of option \"%s\" and start decoding again.", elem->defname)));
}

/* A boolean option; given without a value it means true. */
static bool
option_bool(DefElem *elem)
{
	bool		v;

	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &v))
		option_error(elem, psprintf("Option \"%s\" takes a boolean value: on or off.",
									   elem->defname));
	return v;
}

/*
 * A comma-separated list of names (double quotes keep commas and spaces
 * in a name); at least one.
 */
static List *
option_list(DefElem *elem, const char *what)
{
	List	   *names = NIL;

	if (elem->arg == NULL || strVal(elem->arg)[0] == '\0' ||
		!SplitGUCList(pstrdup(strVal(elem->arg)), ',', &names) || names == NIL)
		option_error(elem, psprintf("Option \"%s\" takes a comma-separated list of one or more %s.",
									   elem->defname, what));
	return names;
}

/* The bits of the broadcast kinds named by the option "kinds". */
static bits32
option_kinds(DefElem *elem)
{
	bits32		kinds = 0;
	ListCell   *lc;

	foreach(lc, option_list(elem, "broadcast kinds"))
	{
		const char *name = lfirst(lc);
		int			k;

		for (k = 0; k < WS_BK_COUNT; k++)
			if (strcmp(name, bk_names[k]) == 0)
				break;
		if (k == WS_BK_COUNT)
			option_error(elem, psprintf("\"%s\" is not a broadcast kind; the kinds are event, rejected, snapshot_start, snapshot_complete and heartbeat.",
										   name));
		kinds |= 1 << k;
	}
	return kinds;
}

/* Check the option "format-version": this library writes version 1. */
static void
option_format_version(DefElem *elem)
{
	long		v;
	char	   *end;

	if (elem->arg != NULL)
	{
		errno = 0;
		v = strtol(strVal(elem->arg), &end, 10);
		if (errno == 0 && end != strVal(elem->arg) && *end == '\0' && v == WS_FORMAT_VERSION)
			return;
	}
	option_error(elem, psprintf("This version of worldstate writes broadcast format version %d only.",
								   WS_FORMAT_VERSION));
}

/* Parse the options of a decoding session into data; 22023 on any error. */
static void
parse_options(LogicalDecodingContext *ctx, WsDecoderData *data, bool *stream_changes)
{
	static const struct
	{
		const char *name;
		bits32		bit;
	}			opts[] =
	{
		{"modules", WS_OPT_MODULES},
		{"kinds", WS_OPT_KINDS},
		{"include-state", WS_OPT_INCLUDE_STATE},
		{"include-xids", WS_OPT_INCLUDE_XIDS},
		{"pretty", WS_OPT_PRETTY},
		{"format-version", WS_OPT_FORMAT_VERSION},
		{"stream-changes", WS_OPT_STREAM_CHANGES},
		{"local-only", WS_OPT_LOCAL_ONLY},
	};
	bits32		seen = 0;
	ListCell   *lc;

	foreach(lc, ctx->output_plugin_options)
	{
		DefElem    *elem = lfirst(lc);
		bits32		bit = 0;

		Assert(elem->arg == NULL || IsA(elem->arg, String));
		for (size_t i = 0; i < lengthof(opts); i++)
			if (strcmp(elem->defname, opts[i].name) == 0)
				bit = opts[i].bit;
		if (bit == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\" for output plugin \"worldstate\"", elem->defname),
					 errhint("The options are modules, kinds, include-state, include-xids, pretty, format-version, stream-changes and local-only.")));
		if (seen & bit)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is given more than once", elem->defname),
					 errhint("Give each option once.")));
		seen |= bit;

		switch (bit)
		{
			case WS_OPT_MODULES:
				data->modules = option_list(elem, "module names");
				break;
			case WS_OPT_KINDS:
				data->kinds = option_kinds(elem);
				break;
			case WS_OPT_INCLUDE_STATE:
				data->include_state = option_bool(elem);
				break;
			case WS_OPT_INCLUDE_XIDS:
				data->include_xids = option_bool(elem);
				break;
			case WS_OPT_PRETTY:
				data->pretty = option_bool(elem);
				break;
			case WS_OPT_FORMAT_VERSION:
				option_format_version(elem);
				break;
			case WS_OPT_STREAM_CHANGES:
				*stream_changes = option_bool(elem);
				break;
			case WS_OPT_LOCAL_ONLY:
				data->local_only = option_bool(elem);
				break;
		}
	}
}

/* True unless the option "kinds" leaves kind k out. */
static inline bool
kind_selected(const WsDecoderData *data, WsBroadcastKind k)
{
	return data->kinds == 0 || (data->kinds & (1 << k)) != 0;
}

/* True unless the option "modules" leaves module out. */
static bool
module_selected(const WsDecoderData *data, const char *module)
{
	ListCell   *lc;

	if (data->modules == NIL)
		return true;
	foreach(lc, data->modules)
		if (strcmp(lfirst(lc), module) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------------
 * JSON writing
 * ---------------------------------------------------------------------
 */

/* Newline and indentation of depth (pretty output). */
static void
indent(StringInfo out, int depth)
{
	appendStringInfoChar(out, '\n');
	appendStringInfoSpaces(out, 4 * depth);
}

/*
 * Write the JSON of a line the plugin composed (valid JSON, strings
 * escaped as escape_json does) again, indented by four spaces a level.
 * One pass over the characters, without recursion, so no nesting depth
 * can exhaust the stack; strings and numbers are copied verbatim.
 */
static void
json_indent(StringInfo out, const char *json, int len)
{
	int			depth = 0;

	for (int i = 0; i < len; i++)
	{
		char		c = json[i];

		switch (c)
		{
			case ' ':
			case '\t':
			case '\n':
			case '\r':
				break;
			case '"':
				{
					int			start = i++;

					for (; i < len && json[i] != '"'; i++)
						if (json[i] == '\\')
							i++;
					appendBinaryStringInfo(out, json + start, Min(i, len - 1) - start + 1);
				}
				break;
			case '{':
			case '[':
				{
					int			next = i + 1;

					while (next < len && (json[next] == ' ' || json[next] == '\n'))
						next++;
					appendStringInfoChar(out, c);
					if (next < len && json[next] == (c == '{' ? '}' : ']'))
					{
						/* empty: {} or [] */
						appendStringInfoChar(out, json[next]);
						i = next;
						break;
					}
					indent(out, ++depth);
				}
				break;
			case '}':
			case ']':
				indent(out, --depth);
				appendStringInfoChar(out, c);
				break;
			case ',':
				appendStringInfoChar(out, ',');
				indent(out, depth);
				break;
			case ':':
				appendStringInfoString(out, ": ");
				break;
			default:
				appendStringInfoChar(out, c);
				break;
		}
	}
}

/* Start a line: the buffer to compose it in. */
static StringInfo
line_begin(LogicalDecodingContext *ctx, WsDecoderData *data)
{
	if (data->pretty)
	{
		resetStringInfo(&data->compact);
		return &data->compact;
	}
	OutputPluginPrepareWrite(ctx, true);
	return ctx->out;
}

/* Send the line composed since line_begin, indented when pretty. */
static void
line_end(LogicalDecodingContext *ctx, WsDecoderData *data)
{
	if (data->pretty)
	{
		OutputPluginPrepareWrite(ctx, true);
		json_indent(ctx->out, data->compact.data, data->compact.len);
	}
	OutputPluginWrite(ctx, true);
}

/* The members every line starts with, up to and including "kind". */
static void
put_header(StringInfo out, const char *handshake, const char *kind)
{
	appendStringInfoString(out, "{\"handshake\":");
	escape_json(out, handshake ? handshake : "");
	appendStringInfo(out, ",\"format_version\":%d,\"kind\":", WS_FORMAT_VERSION);
	escape_json(out, kind);
}

/* ,"position":"<lsn>:<n>" */
static void
put_position(StringInfo out, XLogRecPtr lsn, uint64 n)
{
	appendStringInfo(out, ",\"position\":\"%X/%X:" UINT64_FORMAT "\"", LSN_FORMAT_ARGS(lsn), n);
}

/* ,"key":<transaction id> */
static void
put_xid(StringInfo out, const char *key, TransactionId xid)
{
	appendStringInfo(out, ",\"%s\":%u", key, xid);
}

/* The handshake written on lines that are not events: the required one. */
static const char *
node_handshake(void)
{
	return ws_required_handshake ? ws_required_handshake : "";
}

/* ---------------------------------------------------------------------
 * Streamed transactions
 * ---------------------------------------------------------------------
 */

/* The streaming state of txn's toplevel transaction, created on demand. */
static WsStreamTxn *
stream_txn(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	ReorderBufferTXN *top = txn->toptxn ? txn->toptxn : txn;

	if (top->output_plugin_private == NULL)
		top->output_plugin_private = MemoryContextAllocZero(ctx->context, sizeof(WsStreamTxn));
	return top->output_plugin_private;
}

/* Forget the streaming state of a toplevel transaction. */
static void
stream_txn_done(ReorderBufferTXN *txn)
{
	if (txn->toptxn == NULL && txn->output_plugin_private != NULL)
	{
		pfree(txn->output_plugin_private);
		txn->output_plugin_private = NULL;
	}
}

/*
 * A line marking a transaction boundary: kind, position, xid, gid.  Only
 * called from callbacks, never while an event is being written, so it may
 * use and reset the per-change memory context.
 */
static void
write_marker(LogicalDecodingContext *ctx, const char *kind, XLogRecPtr lsn, uint64 n,
				TransactionId xid, TransactionId subxid, const char *gid)
{
	WsDecoderData *data = ctx->output_plugin_private;
	MemoryContext old = MemoryContextSwitchTo(data->context);
	StringInfo	out = line_begin(ctx, data);

	put_header(out, node_handshake(), kind);
	if (lsn == InvalidXLogRecPtr)
		appendStringInfoString(out, ",\"position\":null");
	else
		put_position(out, lsn, n);
	if (TransactionIdIsValid(xid))
		put_xid(out, "xid", xid);
	if (TransactionIdIsValid(subxid))
		put_xid(out, "subxid", subxid);
	if (gid)
	{
		appendStringInfoString(out, ",\"gid\":");
		escape_json(out, gid);
	}
	appendStringInfoChar(out, '}');
	line_end(ctx, data);
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->context);
}

/*
 * Before the first line of a stream chunk: the stream_start line, written
 * only for chunks that have something to broadcast.
 */
static void
stream_open_chunk(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, WsStreamTxn *st)
{
	WsDecoderData *data = ctx->output_plugin_private;
	StringInfo	out;

	if (st->chunk_open)
		return;
	out = line_begin(ctx, data);
	put_header(out, node_handshake(), "stream_start");
	appendStringInfoString(out, ",\"position\":null");
	put_xid(out, "xid", txn->xid);
	appendStringInfo(out, ",\"first\":%s}", st->wrote ? "false" : "true");
	line_end(ctx, data);
	st->chunk_open = true;
	st->wrote = true;
}

/*
 * The ordinal of the next line of txn, and for streamed transactions the
 * stream_start line it needs.
 */
static uint64
next_line(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, bool streaming)
{
	WsDecoderData *data = ctx->output_plugin_private;
	WsStreamTxn *st;

	if (!streaming)
		return ++data->seq;
	st = stream_txn(ctx, txn);
	stream_open_chunk(ctx, txn, st);
	return ++st->seq;
}

/* Position, or null and "seq" for streamed lines, of a transaction's line. */
static void
put_txn_position(StringInfo out, ReorderBufferTXN *txn, bool streaming, uint64 n)
{
	if (streaming)
		appendStringInfo(out, ",\"position\":null,\"seq\":" UINT64_FORMAT, n);
	else
		put_position(out, txn->end_lsn, n);
}

/* ---------------------------------------------------------------------
 * Events
 * ---------------------------------------------------------------------
 */

/* A jsonb column's value, written as JSON. */
static void
put_jsonb(StringInfo out, Datum d)
{
	Jsonb	   *jb;

	if (VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(d)))
		elog(ERROR, "unexpected on-disk toast pointer in a decoded insert into ws.events");
	jb = DatumGetJsonbP(d);
	(void) JsonbToCString(out, &jb->root, VARSIZE(jb));
}

/* A uuid as a JSON string. */
static void
put_uuid(StringInfo out, const pg_uuid_t *u)
{
	static const char hex[] = "0123456789abcdef";
	char		buf[UUID_LEN * 2 + 6];
	int			j = 0;

	buf[j++] = '"';
	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[j++] = '-';
		buf[j++] = hex[u->data[i] >> 4];
		buf[j++] = hex[u->data[i] & 0x0f];
	}
	buf[j++] = '"';
	appendBinaryStringInfo(out, buf, j);
}

/* A text column's value as a JSON string. */
static void
put_text(StringInfo out, const char *key, const char *value)
{
	appendStringInfo(out, ",\"%s\":", key);
	escape_json(out, value);
}

/*
 * Write the event of one insert into ws.events, unless the options leave
 * it out.  Runs in the per-change memory context.
 */
static void
write_event(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
			   ReorderBufferChange *change, bool streaming)
{
	WsDecoderData *data = ctx->output_plugin_private;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	tuple = &change->data.tp.newtuple->tuple;
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *nulls = palloc(desc->natts * sizeof(bool));
	char	   *module;
	StringInfo	out;
	uint64		n;
	WsHlc		hlc;
	char		hlc_text[WS_HLC_TEXT_MAX];

#define COL(c)		(values[ws_events_rel.attnum[c] - 1])
#define ISNULL(c)	(ws_events_rel.attnum[c] == 0 || nulls[ws_events_rel.attnum[c] - 1])

	heap_deform_tuple(tuple, desc, values, nulls);
	for (size_t i = 0; i < lengthof(event_notnull); i++)
		if (ISNULL(event_notnull[i]))
			elog(ERROR, "decoded insert into ws.events has a null %s",
				 ws_events_table.cols[event_notnull[i]].name);

	module = TextDatumGetCString(COL(EV_MODULE));
	if (!module_selected(data, module))
		return;
	/* local-only: events that arrived from a peer are not broadcast */
	if (data->local_only && DatumGetInt32(COL(EV_ORIGIN_NODE)) != ws_node_id)
		return;

	n = next_line(ctx, txn, streaming);
	out = line_begin(ctx, data);
	put_header(out, TextDatumGetCString(COL(EV_HANDSHAKE)), "event");
	put_txn_position(out, txn, streaming, n);
	appendStringInfoString(out, ",\"event_id\":");
	put_uuid(out, DatumGetUUIDP(COL(EV_EVENT_ID)));
	/* events published to the bus belong to no entity */
	if (ISNULL(EV_ENTITY_ID))
		appendStringInfoString(out, ",\"entity_id\":null,\"entity_kind\":null,\"version\":null");
	else
	{
		put_text(out, "entity_id", TextDatumGetCString(COL(EV_ENTITY_ID)));
		put_text(out, "entity_kind", TextDatumGetCString(COL(EV_KIND)));
		appendStringInfo(out, ",\"version\":" INT64_FORMAT, DatumGetInt64(COL(EV_VERSION)));
	}
	memcpy(&hlc, DatumGetPointer(COL(EV_HLC)), sizeof(hlc));
	ws_hlc_format(&hlc, hlc_text, sizeof(hlc_text));
	appendStringInfo(out, ",\"hlc\":\"%s\",\"origin\":%d", hlc_text, DatumGetInt32(COL(EV_ORIGIN_NODE)));
	put_text(out, "module", module);
	put_text(out, "event_type", TextDatumGetCString(COL(EV_EVENT_TYPE)));
	appendStringInfoString(out, ",\"patch\":");
	put_jsonb(out, COL(EV_PATCH));
	if (!ISNULL(EV_META))
	{
		appendStringInfoString(out, ",\"meta\":");
		put_jsonb(out, COL(EV_META));
	}
	if (!ISNULL(EV_ACTOR))
		put_text(out, "actor", TextDatumGetCString(COL(EV_ACTOR)));
	if (!ISNULL(EV_CALLER_META))
	{
		appendStringInfoString(out, ",\"caller_meta\":");
		put_jsonb(out, COL(EV_CALLER_META));
	}
	if (data->include_state && !ISNULL(EV_STATE))
	{
		appendStringInfoString(out, ",\"state\":");
		put_jsonb(out, COL(EV_STATE));
	}
	if (streaming)
	{
		put_xid(out, "xid", txn->xid);
		if (change->txn != NULL && change->txn->xid != txn->xid)
			put_xid(out, "subxid", change->txn->xid);
	}
	else if (data->include_xids)
		put_xid(out, "xid", txn->xid);
	/* decoded at PREPARE: the gid (streamed lines have their xid instead) */
	if (!streaming && txn->gid != NULL && rbtxn_prepared(txn))
	{
		appendStringInfoString(out, ",\"gid\":");
		escape_json(out, txn->gid);
	}
	appendStringInfoChar(out, '}');
	line_end(ctx, data);

#undef COL
#undef ISNULL
}

/* Tell the walsender that decoding progresses although nothing is written. */
static void
skipped_change(LogicalDecodingContext *ctx, WsDecoderData *data)
{
	if (++data->skipped >= WS_SKIPPED_PROGRESS_EVERY)
	{
		OutputPluginUpdateProgress(ctx, false);
		data->skipped = 0;
	}
}

/* Decode one change: inserts into ws.events are broadcast, nothing else. */
static void
decode_row_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
		  ReorderBufferChange *change, bool streaming)
{
	WsDecoderData *data = ctx->output_plugin_private;
	MemoryContext old;

	if (change->action != REORDER_BUFFER_CHANGE_INSERT ||
		change->data.tp.newtuple == NULL ||
		!kind_selected(data, WS_BK_EVENT) ||
		!is_events(rel))
	{
		skipped_change(ctx, data);
		return;
	}
	old = MemoryContextSwitchTo(data->context);
	write_event(ctx, txn, rel, change, streaming);
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->context);
}

/* ---------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------
 */

/*
 * A message with prefix "worldstate" that worldstate did not write (or not
 * with this cluster's key): counted, and reported with a WARNING for the
 * first of a decoding session and then every WS_DROPPED_WARN_EVERY, so a
 * flood of them cannot flood the log.
 */
static void
message_dropped(WsDecoderData *data, XLogRecPtr lsn, Size size)
{
	ws_stats_count(WS_STAT_BROADCAST_DROPPED);
	if (data->dropped++ % WS_DROPPED_WARN_EVERY != 0)
		return;
	ereport(WARNING,
			(errcode(ERRCODE_WS_HANDSHAKE),
			 errmsg("worldstate output plugin drops a message that worldstate did not write"),
			 errdetail("The message with prefix \"%s\" at %X/%X (%zu bytes) does not carry a valid tag of this cluster's broadcast key; " UINT64_FORMAT " such messages were dropped in this decoding session.",
					   WS_MESSAGE_PREFIX, LSN_FORMAT_ARGS(lsn), size, data->dropped),
			 errhint("Only worldstate writes lines of prefix \"%s\"; find the role that calls pg_logical_emit_message with it (ws.stats() counts these as broadcast_messages_dropped).",
					 WS_MESSAGE_PREFIX)));
}

/*
 * True unless the options leave an authenticated message out: by kind, and
 * by module for lines that have one; node-wide lines pass "modules", a
 * rejection that names no module does not.
 */
static bool
message_selected(const WsDecoderData *data, const WsBroadcastMsg *msg)
{
	int			k;

	for (k = 0; k < WS_BK_COUNT; k++)
		if (strcmp(msg->kind, bk_names[k]) == 0)
			break;
	if (data->kinds != 0 && (k == WS_BK_COUNT || !kind_selected(data, k)))
		return false;
	if (msg->module != NULL)
		return module_selected(data, msg->module);
	return k != WS_BK_REJECTED || data->modules == NIL;
}

/*
 * Broadcast a logical decoding message with prefix "worldstate" that
 * worldstate wrote (broadcast.c): its kind and module are read from its
 * header, and its members follow the handshake, format version, kind and
 * position verbatim.  Anything else with the prefix is dropped; nothing in
 * a message is parsed, so no message can stop decoding.
 */
static void
decode_any_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn,
		   bool transactional, const char *prefix, Size size, const char *message,
		   bool streaming)
{
	WsDecoderData *data = ctx->output_plugin_private;
	MemoryContext old;
	WsBroadcastMsg msg;

	if (strcmp(prefix, WS_MESSAGE_PREFIX) != 0)
		return;
	old = MemoryContextSwitchTo(data->context);
	if (!ws_broadcast_open(message, size, transactional, &msg))
		message_dropped(data, lsn, size);
	else if (message_selected(data, &msg))
	{
		uint64		n = transactional ? next_line(ctx, txn, streaming) : 0;
		StringInfo	out = line_begin(ctx, data);

		put_header(out, node_handshake(), msg.kind);
		if (transactional)
			put_txn_position(out, txn, streaming, n);
		else
			put_position(out, lsn, 0);
		if (msg.members_len > 0)
		{
			appendStringInfoChar(out, ',');
			appendBinaryStringInfo(out, msg.members, msg.members_len);
		}
		if (streaming)
			put_xid(out, "xid", txn->xid);
		else if (data->include_xids && txn != NULL && TransactionIdIsValid(txn->xid))
			put_xid(out, "xid", txn->xid);
		appendStringInfoChar(out, '}');
		line_end(ctx, data);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->context);
}

/* ---------------------------------------------------------------------
 * Callbacks
 * ---------------------------------------------------------------------
 */

/* Set up a decoding session: options, memory, cache invalidation. */
static void
decode_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	WsDecoderData *data = palloc0(sizeof(WsDecoderData));
	bool		stream_changes = false;

	data->context = AllocSetContextCreate(ctx->context, "worldstate change",
										  ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&data->compact);
	ctx->output_plugin_private = data;
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;

	parse_options(ctx, data, &stream_changes);
	ctx->streaming &= stream_changes;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(events_relcache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, events_syscache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(RELNAMENSP, events_syscache_cb, (Datum) 0);
		callbacks_registered = true;
	}
	ws_events_rel.valid = false;
}

/* End of a decoding session. */
static void
decode_shutdown(LogicalDecodingContext *ctx)
{
	WsDecoderData *data = ctx->output_plugin_private;

	MemoryContextDelete(data->context);
}

/* A transaction replayed at its commit: its lines are numbered from 1. */
static void
decode_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	WsDecoderData *data = ctx->output_plugin_private;

	data->seq = 0;
	events_resolve();
}

/*
 * End of a transaction replayed at its commit.  There is no commit line:
 * the lines of the transaction already carry the commit's position.
 */
static void
decode_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	WsDecoderData *data = ctx->output_plugin_private;

	if (data->seq == 0)
		OutputPluginUpdateProgress(ctx, true);
	data->skipped = 0;
}

/* A change of a transaction decoded at its commit (or prepare). */
static void
decode_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
				 ReorderBufferChange *change)
{
	decode_row_change(ctx, txn, rel, change, false);
}

/* A logical decoding message, transactional or not. */
static void
decode_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn,
				  bool transactional, const char *prefix, Size size, const char *message)
{
	decode_any_message(ctx, txn, lsn, transactional, prefix, size, message, false);
}

/* Two-phase decoding: a prepared transaction replayed at its PREPARE. */
static void
decode_begin_prepare(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	decode_begin(ctx, txn);
}

/*
 * The PREPARE of a transaction whose lines were written: a "prepare" line
 * with its gid, numbered after them.
 */
static void
decode_prepare(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr prepare_lsn)
{
	WsDecoderData *data = ctx->output_plugin_private;

	if (data->seq == 0)
	{
		OutputPluginUpdateProgress(ctx, true);
		return;
	}
	write_marker(ctx, "prepare", txn->end_lsn, data->seq + 1,
					data->include_xids ? txn->xid : InvalidTransactionId,
					InvalidTransactionId, txn->gid);
}

/* COMMIT PREPARED: its lines were written at the PREPARE. */
static void
decode_commit_prepared(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						  XLogRecPtr commit_lsn)
{
	WsDecoderData *data = ctx->output_plugin_private;

	write_marker(ctx, "commit_prepared", txn->end_lsn, 0,
					data->include_xids ? txn->xid : InvalidTransactionId,
					InvalidTransactionId, txn->gid);
}

/* ROLLBACK PREPARED: consumers discard the lines written at the PREPARE. */
static void
decode_rollback_prepared(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
							XLogRecPtr prepare_end_lsn, TimestampTz prepare_time)
{
	WsDecoderData *data = ctx->output_plugin_private;

	write_marker(ctx, "rollback_prepared", txn->end_lsn, 0,
					data->include_xids ? txn->xid : InvalidTransactionId,
					InvalidTransactionId, txn->gid);
}

/* A chunk of a streamed transaction starts; its line waits for content. */
static void
decode_stream_start(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	stream_txn(ctx, txn)->chunk_open = false;
	events_resolve();
}

/* A chunk ends: stream_stop, when the chunk had lines. */
static void
decode_stream_stop(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	WsStreamTxn *st = stream_txn(ctx, txn);

	if (st->chunk_open)
		write_marker(ctx, "stream_stop", InvalidXLogRecPtr, 0, txn->xid,
						InvalidTransactionId, NULL);
	st->chunk_open = false;
}

/*
 * A streamed transaction, or one of its subtransactions, aborted: consumers
 * discard its streamed lines (for a subtransaction, those carrying its
 * subxid).
 */
static void
decode_stream_abort(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr abort_lsn)
{
	ReorderBufferTXN *top = txn->toptxn ? txn->toptxn : txn;
	WsStreamTxn *st = top->output_plugin_private;

	if (st != NULL && st->wrote)
		write_marker(ctx, "stream_abort", abort_lsn, 0, top->xid,
						txn != top ? txn->xid : InvalidTransactionId, NULL);
	stream_txn_done(txn);
}

/*
 * A streamed transaction committed: its lines are final, at the position
 * of this line's LSN and their "seq".
 */
static void
decode_stream_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	WsStreamTxn *st = txn->output_plugin_private;

	if (st != NULL && st->wrote)
		write_marker(ctx, "stream_commit", txn->end_lsn, st->seq + 1, txn->xid,
						InvalidTransactionId, NULL);
	else
		OutputPluginUpdateProgress(ctx, true);
	stream_txn_done(txn);
}

/* A streamed transaction was prepared (two-phase decoding). */
static void
decode_stream_prepare(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr prepare_lsn)
{
	WsStreamTxn *st = txn->output_plugin_private;

	if (st != NULL && st->wrote)
		write_marker(ctx, "stream_prepare", txn->end_lsn, st->seq + 1, txn->xid,
						InvalidTransactionId, txn->gid);
	stream_txn_done(txn);
}

/* A change of a streamed transaction, before its commit. */
static void
decode_stream_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
						ReorderBufferChange *change)
{
	decode_row_change(ctx, txn, rel, change, true);
}

/* A transactional message of a streamed transaction. */
static void
decode_stream_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn,
						 bool transactional, const char *prefix, Size size, const char *message)
{
	decode_any_message(ctx, txn, lsn, transactional, prefix, size, message, transactional);
}

/* The plugin's callbacks; PostgreSQL looks this symbol up by name. */
void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = decode_startup;
	cb->shutdown_cb = decode_shutdown;
	cb->begin_cb = decode_begin;
	cb->change_cb = decode_change;
	cb->commit_cb = decode_commit;
	cb->message_cb = decode_message;
	cb->begin_prepare_cb = decode_begin_prepare;
	cb->prepare_cb = decode_prepare;
	cb->commit_prepared_cb = decode_commit_prepared;
	cb->rollback_prepared_cb = decode_rollback_prepared;
	cb->stream_start_cb = decode_stream_start;
	cb->stream_stop_cb = decode_stream_stop;
	cb->stream_abort_cb = decode_stream_abort;
	cb->stream_prepare_cb = decode_stream_prepare;
	cb->stream_commit_cb = decode_stream_commit;
	cb->stream_change_cb = decode_stream_change;
	cb->stream_message_cb = decode_stream_message;
}
