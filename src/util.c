/*-------------------------------------------------------------------------
 *
 * util.c
 *		Small helpers shared by worldstate's files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

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
