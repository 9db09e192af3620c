/*-------------------------------------------------------------------------
 *
 * vclock_parse.h
 *	  Text form of ws.vclock: parser and formatter in plain C.
 *
 * This header and vclock_parse.c use nothing from PostgreSQL (no palloc,
 * no ereport), so the same code serves the server's vclock_in/vclock_out
 * and a stand-alone libFuzzer harness.  The caller owns all memory and
 * turns the error codes into whatever error reporting it uses.
 *
 * src/vclock_parse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_VCLOCK_PARSE_H
#define WS_VCLOCK_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * One node's counter.  This is also the on-disk layout of an entry of
 * ws.vclock, so "reserved" must always be zero: byte equality of two
 * values then means logical equality.  The struct is 16 bytes with no
 * padding.
 */
typedef struct WsVclockEntry
{
	int32_t		node;			/* 0 .. INT32_MAX */
	int32_t		reserved;		/* always 0 */
	int64_t		count;			/* 1 .. INT64_MAX once stored */
} WsVclockEntry;

/* Result codes of ws_vclock_parse(); 0 is success. */
typedef enum WsVclockParseError
{
	WS_VC_OK = 0,
	WS_VC_SYNTAX,				/* unexpected character or end of input */
	WS_VC_NODE_RANGE,			/* node number above INT32_MAX */
	WS_VC_COUNT_RANGE,			/* counter above INT64_MAX */
	WS_VC_DUPLICATE,			/* the same node appears twice */
	WS_VC_TOO_MANY				/* more entries than the caller's array */
} WsVclockParseError;

/*
 * Entries a string of "len" bytes can hold at most: every entry takes at
 * least four bytes ("0:0," or "0:0}") after the opening brace.  An "out"
 * array of this size never makes ws_vclock_parse() fail with
 * WS_VC_TOO_MANY.
 */
#define WS_VCLOCK_MAX_ENTRIES_FOR_LEN(len)	((len) / 4 + 1)

/*
 * Bytes ws_vclock_format() needs at most for n entries, including the
 * terminating NUL: braces, and per entry at most 10 + 1 + 19 digits and
 * separators plus a comma.
 */
#define WS_VCLOCK_FORMAT_MAX(n)		((size_t) (n) * 31 + 3)

extern int	ws_vclock_parse(const char *s, WsVclockEntry *out, int max_out,
							int *nout, const char **errpos);
extern const char *ws_vclock_strerror(int code);
extern size_t ws_vclock_format(const WsVclockEntry *e, int n,
							   char *buf, size_t buflen);

#endif							/* WS_VCLOCK_PARSE_H */
