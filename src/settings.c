/*-------------------------------------------------------------------------
 *
 * settings.c
 *		The worldstate.* settings, and whether the library was preloaded.
 *
 * Every setting of the library is defined here, those of the background
 * worker included, so that any file can read one without depending on
 * the file that uses it most.  _PG_init (worldstate.c) defines them; the
 * node id only while the postmaster preloads the library.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "settings.h"

int			ws_node_id = 0;
int			ws_max_clock_skew_ms = 500;
int			ws_clock_offset_ms = 0;
int			ws_causal_timeout_ms = 60 * 1000;
char	   *ws_required_handshake = NULL;
char	   *ws_handshake = NULL;
int			ws_keyframe_interval = 16;
bool		ws_notify = false;

bool		ws_preloaded = false;

int			ws_heartbeat_interval_ms = 0;
int			ws_snapshot_interval_ms = 3600 * 1000;
int			ws_horizon_interval_ms = 1000;
int			ws_snapshot_retention = 30;
char	   *ws_worker_database = NULL;

/* check_hook of worldstate.database: a database must be named. */
static bool
check_database(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("The worldstate worker needs a database name.");
		return false;
	}
	return true;
}

/*
 * Define the worker's settings (worker.c).  They can change on reload; a
 * new database takes effect when the worker has restarted.
 */
static void
define_worker_settings(void)
{
	DefineCustomIntVariable("worldstate.heartbeat_interval",
							"Interval between heartbeats broadcast by the worldstate worker (0 = off).",
							"A heartbeat is a logical decoding message that lets idle worldstate slots advance.",
							&ws_heartbeat_interval_ms,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("worldstate.snapshot_interval",
							"Interval between snapshots taken by the worldstate worker (0 = off).",
							"Each cycle takes a snapshot with ws.create_snapshot and keeps the newest worldstate.snapshot_retention.",
							&ws_snapshot_interval_ms,
							3600 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("worldstate.horizon_interval",
							"Interval between horizon events published by the worldstate worker on a node with peers (0 = off).",
							"A horizon event tells the peers that every event of this node at or below its horizon has committed; ws.stable_hlc() is the least of them.",
							&ws_horizon_interval_ms,
							1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("worldstate.snapshot_retention",
							"How many snapshots the worldstate worker keeps.",
							NULL,
							&ws_snapshot_retention,
							30, 1, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("worldstate.database",
							   "Database the worldstate background worker connects to.",
							   "The worker runs its periodic tasks, such as heartbeats, in this database when worldstate is installed there.",
							   &ws_worker_database,
							   "postgres",
							   PGC_SIGHUP, 0,
							   check_database, NULL, NULL);
}

/*
 * Define the worldstate.* settings.  The node id can only be defined while
 * the postmaster loads the library; a late load goes without it (nothing
 * that needs it can work then anyway).
 */
void
ws_define_settings(bool preloading)
{
	if (preloading)
		DefineCustomIntVariable("worldstate.node_id",
								"Id of this node in a worldstate cluster (0 = standalone).",
								"Stamped into every hybrid logical clock value this node issues; "
								"must be unique among the nodes that exchange events.",
								&ws_node_id,
								0, 0, INT_MAX,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);

	DefineCustomIntVariable("worldstate.max_clock_skew",
							"How far a remote clock may be ahead of this node's clock.",
							"Remote timestamps further ahead are refused (SQLSTATE WS508); a peer's event that far ahead waits in ws.pending.",
							&ws_max_clock_skew_ms,
							500, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("worldstate.causal_timeout",
							"How long a peer's event may wait for its causal past before it is reported (0 = never).",
							"A held event older than this is reported once (a WARNING, the counter causal_expired, a "
							"ws.conflicts row of type causal_timeout) and still applied when its prerequisite arrives.",
							&ws_causal_timeout_ms,
							60 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("worldstate.required_handshake",
							   "Handshake every state change must present.",
							   NULL,
							   &ws_required_handshake,
							   "55-45-17",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("worldstate.handshake",
							   "Handshake this session presents when a call gives none.",
							   NULL,
							   &ws_handshake,
							   NULL,
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("worldstate.clock_offset",
							"Offset added to the physical clock reading (for tests).",
							"Lets tests simulate clock skew and backwards steps without sleeping.",
							&ws_clock_offset_ms,
							0, -INT_MAX, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("worldstate.keyframe_interval",
							"Every how many versions an event also stores the entity's full state.",
							"Bounds the patches replayed to answer a past state; takes effect for new events.",
							&ws_keyframe_interval,
							16, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("worldstate.notify",
							 "Send NOTIFY worldstate with the header of each event written.",
							 NULL,
							 &ws_notify,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	define_worker_settings();

	MarkGUCPrefixReserved("worldstate");
}

/*
 * Raise the error for a feature that needs the library preloaded; "what"
 * names the feature.
 */
void
ws_require_preload(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("worldstate is not loaded through shared_preload_libraries"),
			 errdetail("%s needs worldstate's shared memory.", what),
			 errhint("Add 'worldstate' to shared_preload_libraries in postgresql.conf and restart the server.")));
}
