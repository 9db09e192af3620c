/*-------------------------------------------------------------------------
 *
 * hlc_parse.c
 *		Parse and format the text form of ws.hlc in plain C.
 *
 * The text form is one fixed ISO 8601 shape in UTC,
 *
 *		YYYY-MM-DDTHH:MM:SS[.ffffff]Z[/counter][@node]
 *
 * with 'T' also accepted as 't' or a space, 'Z' as 'z', 1 to 6 fraction
 * digits, and surrounding white space.  Output always has six fraction
 * digits, the counter and the node, so text sorts like the values within a
 * year range and round-trips exactly.  The parser is a strict hand-written
 * scanner rather than PostgreSQL's timestamp parser because '/' and '@'
 * would be ambiguous there, and because keeping this file free of server
 * code lets the fuzz harness exercise exactly what the server runs.
 *
 *-------------------------------------------------------------------------
 */
#include "hlc_parse.h"

#include <stdbool.h>
#include <string.h>

#define USECS_PER_SEC	INT64_C(1000000)
#define SECS_PER_DAY	INT64_C(86400)

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Read exactly n digits at *p into *val, advancing *p.  False when any of
 * them is not a digit (the NUL terminator included, so this never reads
 * past the end of the string).
 */
static bool
fixed_digits(const char **p, int n, int *val)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*val = v;
	return true;
}

/*
 * Read an unsigned decimal int32 at *p.  Returns WS_HLC_OK, WS_HLC_SYNTAX
 * when there is no digit, or range_err when the value exceeds INT32_MAX or
 * carries a minus sign.
 */
static WsHlcParseError
int32_digits(const char **p, int32_t *val, WsHlcParseError range_err)
{
	const char *s = *p;
	int64_t		v = 0;
	bool		overflow = false;

	if (*s == '-' && is_digit(s[1]))
		return range_err;
	if (!is_digit(*s))
		return WS_HLC_SYNTAX;
	while (is_digit(*s))
	{
		if (!overflow)
		{
			v = v * 10 + (*s - '0');
			if (v > INT32_MAX)
				overflow = true;
		}
		s++;
	}
	if (overflow)
		return range_err;
	*p = s;
	*val = (int32_t) v;
	return WS_HLC_OK;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return (m == 2 && is_leap(y)) ? 29 : mdays[m - 1];
}

/*
 * Days from 1970-01-01 to the given proleptic Gregorian date (the
 * era-based civil calendar algorithm).
 */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t		era;
	int64_t		yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = (int) (yoe + era * 400 + (*m <= 2));
}

/*
 * Write v (0 <= v < 10^width) as exactly width decimal digits; returns the
 * end of what was written.
 */
static char *
put_fixed(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--)
	{
		p[i] = (char) ('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* Write v in decimal with a sign when negative; returns the end. */
static char *
put_int(char *p, int32_t v)
{
	char		digits[10];
	int			n = 0;
	int64_t		u = v;

	if (u < 0)
	{
		*p++ = '-';
		u = -u;
	}
	do
	{
		digits[n++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

/*
 * Parse the text form into *out.  On error *out is left untouched and the
 * returned code says what was wrong.
 */
WsHlcParseError
ws_hlc_parse(const char *str, WsHlc *out)
{
	const char *p = str;
	int			year,
				mon,
				day,
				hour,
				min,
				sec;
	int64_t		frac = 0;
	int32_t		counter = 0;
	int32_t		node = 0;
	WsHlcParseError err;

	while (is_space(*p))
		p++;

	if (!fixed_digits(&p, 4, &year) || *p++ != '-' ||
		!fixed_digits(&p, 2, &mon) || *p++ != '-' ||
		!fixed_digits(&p, 2, &day))
		return WS_HLC_SYNTAX;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return WS_HLC_SYNTAX;
	p++;
	if (!fixed_digits(&p, 2, &hour) || *p++ != ':' ||
		!fixed_digits(&p, 2, &min) || *p++ != ':' ||
		!fixed_digits(&p, 2, &sec))
		return WS_HLC_SYNTAX;
	if (*p == '.')
	{
		int			ndigits = 0;

		p++;
		while (is_digit(*p) && ndigits < 6)
		{
			frac = frac * 10 + (*p - '0');
			ndigits++;
			p++;
		}
		if (ndigits == 0 || is_digit(*p))
			return WS_HLC_SYNTAX;
		for (; ndigits < 6; ndigits++)
			frac *= 10;
	}
	if (*p != 'Z' && *p != 'z')
		return WS_HLC_SYNTAX;
	p++;

	if (*p == '/')
	{
		p++;
		if ((err = int32_digits(&p, &counter, WS_HLC_COUNTER_RANGE)) != WS_HLC_OK)
			return err;
	}
	if (*p == '@')
	{
		p++;
		if ((err = int32_digits(&p, &node, WS_HLC_NODE_RANGE)) != WS_HLC_OK)
			return err;
	}
	while (is_space(*p))
		p++;
	if (*p != '\0')
		return WS_HLC_SYNTAX;

	/* field ranges: a well-formed but impossible date is out of range */
	if (year < 1970 || mon < 1 || mon > 12 || day < 1 ||
		day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 59)
		return WS_HLC_WALL_RANGE;

	out->wall = ((days_from_civil(year, mon, day) * SECS_PER_DAY +
				  hour * 3600 + min * 60 + sec) * USECS_PER_SEC) + frac;
	out->counter = counter;
	out->node = node;
	return WS_HLC_OK;
}

/* A full sentence saying what a parse error means, for errdetail. */
const char *
ws_hlc_parse_error_detail(WsHlcParseError err)
{
	switch (err)
	{
		case WS_HLC_OK:
			return "No error.";
		case WS_HLC_SYNTAX:
			return "Expected the form YYYY-MM-DDTHH:MM:SS[.ffffff]Z[/counter][@node] in UTC.";
		case WS_HLC_WALL_RANGE:
			return "The wall time must be a valid UTC time from 1970-01-01 to 9999-12-31.";
		case WS_HLC_COUNTER_RANGE:
			return "The logical counter must be an integer from 0 to 2147483647.";
		case WS_HLC_NODE_RANGE:
			return "The node id must be an integer from 0 to 2147483647.";
	}
	return "Unknown error.";
}

/*
 * Write the canonical text form of *hlc into buf (at least WS_HLC_TEXT_MAX
 * bytes).  Returns the length written, excluding the NUL.  A wall outside
 * the valid range is clamped for display only; values of the type never
 * hold one.
 */
size_t
ws_hlc_format(const WsHlc *hlc, char *buf, size_t buflen)
{
	int64_t		wall = hlc->wall;
	int64_t		secs,
				days,
				sod;
	int			y,
				m,
				d;
	char		text[WS_HLC_TEXT_MAX];
	char	   *p = text;
	size_t		len;

	if (wall < WS_HLC_WALL_MIN)
		wall = WS_HLC_WALL_MIN;
	if (wall > WS_HLC_WALL_MAX)
		wall = WS_HLC_WALL_MAX;
	secs = wall / USECS_PER_SEC;
	days = secs / SECS_PER_DAY;
	sod = secs % SECS_PER_DAY;
	civil_from_days(days, &y, &m, &d);

	/* digit by digit: this runs for every ws.hlc a query returns */
	p = put_fixed(p, y, 4);
	*p++ = '-';
	p = put_fixed(p, m, 2);
	*p++ = '-';
	p = put_fixed(p, d, 2);
	*p++ = 'T';
	p = put_fixed(p, sod / 3600, 2);
	*p++ = ':';
	p = put_fixed(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_fixed(p, sod % 60, 2);
	*p++ = '.';
	p = put_fixed(p, wall % USECS_PER_SEC, 6);
	*p++ = 'Z';
	*p++ = '/';
	p = put_int(p, hlc->counter);
	*p++ = '@';
	p = put_int(p, hlc->node);
	len = (size_t) (p - text);

	if (buflen > 0)
	{
		size_t		n = len < buflen - 1 ? len : buflen - 1;

		memcpy(buf, text, n);
		buf[n] = '\0';
	}
	return len;
}
