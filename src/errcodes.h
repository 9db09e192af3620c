/*-------------------------------------------------------------------------
 *
 * errcodes.h
 *		worldstate's own SQLSTATEs (the README's "Error codes" lists them all).
 *
 * Class "WS" is not used by PostgreSQL, so applications can match these
 * codes exactly; the three digits echo the HTTP status of the same idea.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_ERRCODES_H
#define WS_ERRCODES_H

#include "utils/elog.h"

#define ERRCODE_WS_HANDSHAKE			MAKE_SQLSTATE('W','S','4','0','1')
#define ERRCODE_WS_NO_ENTITY			MAKE_SQLSTATE('W','S','4','0','4')
#define ERRCODE_WS_VERSION_CONFLICT		MAKE_SQLSTATE('W','S','4','0','9')
#define ERRCODE_WS_RETIRED				MAKE_SQLSTATE('W','S','4','1','0')
#define ERRCODE_WS_IDEMPOTENCY			MAKE_SQLSTATE('W','S','4','1','2')
#define ERRCODE_WS_NOT_HOME				MAKE_SQLSTATE('W','S','4','2','1')
#define ERRCODE_WS_CONSTRAINT			MAKE_SQLSTATE('W','S','4','2','2')
/* the same code: an event that does not match its schema */
#define ERRCODE_WS_SCHEMA_MISMATCH		ERRCODE_WS_CONSTRAINT
#define ERRCODE_WS_CAUSAL				MAKE_SQLSTATE('W','S','4','2','5')
#define ERRCODE_WS_CLOCK_SKEW			MAKE_SQLSTATE('W','S','5','0','8')

#endif							/* WS_ERRCODES_H */
