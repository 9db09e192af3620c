/*-------------------------------------------------------------------------
 *
 * vclock_parse.c
 *	  Parse and format the text form of ws.vclock.
 *
 * The text form is a brace-enclosed, comma-separated list of node:counter
 * pairs, e.g. "{1:3,2:5}"; "{}" is the empty clock.  Whitespace may
 * surround any token.  Nodes are 0 .. 2147483647 and counters 0 ..
 * 9223372036854775807, written as plain decimal digits with no sign.
 *
 * The parser normalises as it goes: entries are sorted by node, a node
 * given twice is an error (even if one of the counters is zero), and zero
 * counters are dropped, so "{2:5, 1:3, 7:0}" and "{1:3,2:5}" parse to the
 * same array.  The formatter writes that canonical form back.  Together
 * they make text output a fixed point of text input.
 *
 * This file is deliberately free of PostgreSQL headers so that a fuzzer
 * can link it alone.  It reads the input strictly left to right, never
 * looks past the terminating NUL, writes at most max_out entries, and
 * allocates nothing.
 *
 * src/vclock_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vclock_parse.h"

/* True for the whitespace the text form allows between tokens. */
static bool
vc_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/* Return p advanced past any whitespace. */
static const char *
vc_skip_space(const char *p)
{
	while (vc_isspace(*p))
		p++;
	return p;
}

/*
 * Read an unsigned decimal number of at most "max" at *pp and advance *pp
 * past its digits.  Returns WS_VC_OK, WS_VC_SYNTAX when no digit is there,
 * or range_error when the value exceeds max; on error *pp is unchanged.
 */
static int
vc_read_number(const char **pp, int64_t max, int range_error, int64_t *val)
{
	const char *p = *pp;
	int64_t		v = 0;

	if (*p < '0' || *p > '9')
		return WS_VC_SYNTAX;

	while (*p >= '0' && *p <= '9')
	{
		int			digit = *p - '0';

		if (v > (max - digit) / 10)
			return range_error;
		v = v * 10 + digit;
		p++;
	}

	*pp = p;
	*val = v;
	return WS_VC_OK;
}

/*
 * qsort comparator: by node, then by the entry's position in the input
 * (kept in "reserved" while parsing), so of two equal nodes the later one
 * sorts second.
 */
static int
vc_entry_cmp(const void *a, const void *b)
{
	const WsVclockEntry *ea = (const WsVclockEntry *) a;
	const WsVclockEntry *eb = (const WsVclockEntry *) b;

	if (ea->node != eb->node)
		return ea->node < eb->node ? -1 : 1;
	if (ea->reserved != eb->reserved)
		return ea->reserved < eb->reserved ? -1 : 1;
	return 0;
}

/*
 * Parse the NUL-terminated string s into out[0 .. *nout - 1], sorted by
 * node with zero counters dropped and every "reserved" field zero.
 *
 * Returns WS_VC_OK, or an error code with *errpos pointing into s at the
 * offending text: the unexpected character (or the terminating NUL), the
 * first digit of an out-of-range number, the second occurrence of a
 * duplicate node, or the entry that did not fit in out.  On error *nout
 * is 0 and the contents of out are unspecified.
 */
int
ws_vclock_parse(const char *s, WsVclockEntry *out, int max_out,
				int *nout, const char **errpos)
{
	const char *p = s;
	int			n = 0;
	int			rc;
	int			i;
	int			kept;

	*nout = 0;
	*errpos = NULL;

	p = vc_skip_space(p);
	if (*p != '{')
	{
		*errpos = p;
		return WS_VC_SYNTAX;
	}
	p = vc_skip_space(p + 1);

	if (*p == '}')
		p++;
	else
	{
		for (;;)
		{
			const char *entry = p;
			int64_t		node;
			int64_t		count;
			ptrdiff_t	offset;

			rc = vc_read_number(&p, INT32_MAX, WS_VC_NODE_RANGE, &node);
			if (rc != WS_VC_OK)
			{
				*errpos = p;
				return rc;
			}
			p = vc_skip_space(p);
			if (*p != ':')
			{
				*errpos = p;
				return WS_VC_SYNTAX;
			}
			p = vc_skip_space(p + 1);
			rc = vc_read_number(&p, INT64_MAX, WS_VC_COUNT_RANGE, &count);
			if (rc != WS_VC_OK)
			{
				*errpos = p;
				return rc;
			}
			if (n >= max_out)
			{
				*errpos = entry;
				return WS_VC_TOO_MANY;
			}

			/*
			 * Remember where the entry started so that a duplicate can be
			 * reported at its second occurrence; cleared again below.
			 */
			offset = entry - s;
			out[n].node = (int32_t) node;
			out[n].reserved = offset > INT32_MAX ? INT32_MAX : (int32_t) offset;
			out[n].count = count;
			n++;

			p = vc_skip_space(p);
			if (*p == ',')
			{
				p = vc_skip_space(p + 1);
				continue;
			}
			if (*p == '}')
			{
				p++;
				break;
			}
			*errpos = p;
			return WS_VC_SYNTAX;
		}
	}

	p = vc_skip_space(p);
	if (*p != '\0')
	{
		*errpos = p;
		return WS_VC_SYNTAX;
	}

	if (n > 1)
		qsort(out, (size_t) n, sizeof(WsVclockEntry), vc_entry_cmp);

	for (i = 1; i < n; i++)
	{
		if (out[i].node == out[i - 1].node)
		{
			*errpos = s + out[i].reserved;
			return WS_VC_DUPLICATE;
		}
	}

	kept = 0;
	for (i = 0; i < n; i++)
	{
		if (out[i].count == 0)
			continue;
		out[kept] = out[i];
		out[kept].reserved = 0;
		kept++;
	}

	*nout = kept;
	return WS_VC_OK;
}

/* A short, lowercase description of a ws_vclock_parse() result code. */
const char *
ws_vclock_strerror(int code)
{
	switch (code)
	{
		case WS_VC_OK:
			return "no error";
		case WS_VC_SYNTAX:
			return "unexpected character or end of input";
		case WS_VC_NODE_RANGE:
			return "node number out of range";
		case WS_VC_COUNT_RANGE:
			return "counter out of range";
		case WS_VC_DUPLICATE:
			return "duplicate node";
		case WS_VC_TOO_MANY:
			return "too many entries";
	}
	return "unknown error";
}

/*
 * Append the decimal digits of v to buf at *len, writing only what fits
 * below buflen - 1 but always counting the full length.
 */
static void
vc_put_number(int64_t v, char *buf, size_t buflen, size_t *len)
{
	char		digits[24];
	int			nd = 0;
	uint64_t	u;

	if (v < 0)
	{
		if (*len + 1 < buflen)
			buf[*len] = '-';
		(*len)++;
		u = (uint64_t) 0 - (uint64_t) v;
	}
	else
		u = (uint64_t) v;

	do
	{
		digits[nd++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u != 0);

	while (nd > 0)
	{
		if (*len + 1 < buflen)
			buf[*len] = digits[nd - 1];
		(*len)++;
		nd--;
	}
}

/* Append character c to buf at *len, as vc_put_number() does. */
static void
vc_put_char(char c, char *buf, size_t buflen, size_t *len)
{
	if (*len + 1 < buflen)
		buf[*len] = c;
	(*len)++;
}

/*
 * Write e[0 .. n - 1] as "{node:count,...}" with no spaces, in the order
 * given (a stored vclock is already sorted).  Like snprintf, returns the
 * length of the full text, excluding the NUL, and writes at most
 * buflen - 1 characters plus a NUL when buflen > 0; buf may be NULL when
 * buflen is 0, to measure.  WS_VCLOCK_FORMAT_MAX(n) bytes always suffice.
 */
size_t
ws_vclock_format(const WsVclockEntry *e, int n, char *buf, size_t buflen)
{
	size_t		len = 0;
	int			i;

	vc_put_char('{', buf, buflen, &len);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			vc_put_char(',', buf, buflen, &len);
		vc_put_number(e[i].node, buf, buflen, &len);
		vc_put_char(':', buf, buflen, &len);
		vc_put_number(e[i].count, buf, buflen, &len);
	}
	vc_put_char('}', buf, buflen, &len);

	if (buflen > 0)
		buf[len < buflen ? len : buflen - 1] = '\0';
	return len;
}
