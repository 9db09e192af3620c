/*-------------------------------------------------------------------------
 *
 * util.c
 *		Small helpers shared by worldstate's files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "util.h"

/*
 * The text of a bad input value as error messages quote it: whole when
 * short, else its first WS_QUOTE_MAX bytes (cut at a character boundary)
 * followed by "...", so a megabyte of garbage does not become a megabyte of
 * log.
 */
const char *
ws_input_for_message(const char *str)
{
	size_t		len = strlen(str);
	int			cut;

	if (len <= WS_QUOTE_MAX)
		return str;
	cut = pg_mbcliplen(str, (int) len, WS_QUOTE_MAX);
	return psprintf("%.*s...", cut, str);
}

/* The empty jsonb object {}, made once per backend. */
Jsonb *
ws_empty_object(void)
{
	static Jsonb *empty = NULL;

	if (empty == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		empty = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
		MemoryContextSwitchTo(old);
	}
	return empty;
}

/*
 * Whether jsonpath predicate `path` holds for doc: true only when it
 * yields true (false, unknown and a non-boolean result fail), errors in
 * the path silenced as jsonb_path_match(doc, path, '{}', true) does.
 */
bool
ws_jsonpath_holds(Jsonb *doc, Datum path)
{
	LOCAL_FCINFO(fc, 4);
	Datum		ok;

	/* callers loop over rules and constraints that callers define */
	CHECK_FOR_INTERRUPTS();
	InitFunctionCallInfoData(*fc, NULL, 4, InvalidOid, NULL, NULL);
	fc->args[0].value = JsonbPGetDatum(doc);
	fc->args[0].isnull = false;
	fc->args[1].value = path;
	fc->args[1].isnull = false;
	fc->args[2].value = JsonbPGetDatum(ws_empty_object());
	fc->args[2].isnull = false;
	fc->args[3].value = BoolGetDatum(true);
	fc->args[3].isnull = false;
	ok = jsonb_path_match(fc);
	return !fc->isnull && DatumGetBool(ok);
}

/*
 * Append fmt formatted with args to buf, enlarging buf as often as the
 * text needs (appendStringInfo for a va_list; args stays usable).
 */
void
ws_append_vformat(StringInfo buf, const char *fmt, va_list args)
{
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, args);
		needed = appendStringInfoVA(buf, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(buf, needed);
	}
}

/*
 * Run work(arg) in an internal subtransaction.  Returns NULL when it
 * finished (its work is kept in the current transaction), or else the
 * error it raised, copied into the caller's memory context, with its work
 * rolled back and the error state cleared: the caller records, rewrites or
 * rethrows it (ReThrowError).  Either way the caller's memory context and
 * resource owner are current again.
 */
ErrorData *
ws_subxact_try(WsSubxactWork work, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile ed = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		work(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ed;
}
