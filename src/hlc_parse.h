/*-------------------------------------------------------------------------
 *
 * hlc_parse.h
 *		Text form of hybrid logical clock timestamps, in plain C.
 *
 * Shared by the server (hlc.c) and the fuzz harness (test/fuzz), so it
 * depends on nothing from PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_HLC_PARSE_H
#define WS_HLC_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * An HLC timestamp: wall time in microseconds since the Unix epoch, a
 * logical counter and the id of the node that issued it.  16 bytes, no
 * padding, so its bytes can be hashed directly.
 */
typedef struct WsHlc
{
	int64_t		wall;
	int32_t		counter;
	int32_t		node;
} WsHlc;

/* 1970-01-01T00:00:00.000000Z .. 9999-12-31T23:59:59.999999Z */
#define WS_HLC_WALL_MIN		INT64_C(0)
#define WS_HLC_WALL_MAX		INT64_C(253402300799999999)

/* longest text form plus NUL, with room to spare */
#define WS_HLC_TEXT_MAX		64

typedef enum WsHlcParseError
{
	WS_HLC_OK = 0,
	WS_HLC_SYNTAX,
	WS_HLC_WALL_RANGE,
	WS_HLC_COUNTER_RANGE,
	WS_HLC_NODE_RANGE
} WsHlcParseError;

extern WsHlcParseError ws_hlc_parse(const char *str, WsHlc *out);
extern const char *ws_hlc_parse_error_detail(WsHlcParseError err);
extern size_t ws_hlc_format(const WsHlc *hlc, char *buf, size_t buflen);

#endif							/* WS_HLC_PARSE_H */
