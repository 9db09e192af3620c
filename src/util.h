/*-------------------------------------------------------------------------
 *
 * util.h
 *		Small helpers shared by worldstate's files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_UTIL_H
#define WS_UTIL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* work that ws_subxact_try runs in a subtransaction */
typedef void (*WsSubxactWork) (void *arg);

/* how much of a bad input value an error message quotes */
#define WS_QUOTE_MAX	80

extern const char *ws_input_for_message(const char *str);
extern Jsonb *ws_empty_object(void);
extern bool ws_jsonpath_holds(Jsonb *doc, Datum path);
extern void ws_append_vformat(StringInfo buf, const char *fmt, va_list args) pg_attribute_printf(2, 0);
extern ErrorData *ws_subxact_try(WsSubxactWork work, void *arg);

#endif							/* WS_UTIL_H */
