/*-------------------------------------------------------------------------
 *
 * worldstate.c
 *		Library entry point: settings and shared memory hooks.
 *
 * worldstate keeps node-wide state (the hybrid logical clock, counters) in
 * shared memory, so it must be loaded through shared_preload_libraries.  The
 * library can still be loaded late (CREATE EXTENSION loads it to create the
 * types); then the settings exist but every feature that needs shared
 * memory, and CREATE EXTENSION itself, fail with a hint naming the setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "broadcast.h"
#include "hlc.h"
#include "horizon.h"
#include "kindcache.h"
#include "progress.h"
#include "stats.h"
#include "worker.h"
#include "worldstate.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(ws_check_setup);

void		_PG_init(void);

int			ws_node_id = 0;
int			ws_max_clock_skew_ms = 500;
int			ws_clock_offset_ms = 0;
char	   *ws_required_handshake = NULL;
char	   *ws_handshake = NULL;
int			ws_keyframe_interval = 32;
bool		ws_notify = false;

bool		ws_preloaded = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
ws_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	ws_clock_shmem_request();
	RequestAddinShmemSpace(ws_stats_shmem_size());
	RequestAddinShmemSpace(ws_broadcast_shmem_size());
	RequestAddinShmemSpace(ws_kindcache_shmem_size());
	RequestAddinShmemSpace(ws_progress_shmem_size());
	ws_horizon_shmem_request();
}

static void
ws_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	ws_clock_shmem_init();
	ws_stats_shmem_init();
	ws_broadcast_shmem_init();
	ws_kindcache_shmem_init();
	ws_progress_shmem_init();
	ws_horizon_shmem_init();
}

/*
 * Define the worldstate.* settings.  The node id can only be defined while
 * the postmaster loads the library; a late load goes without it (nothing
 * that needs it can work then anyway).
 */
static void
define_settings(bool preloading)
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
							"Remote timestamps further ahead are refused (SQLSTATE WS508).",
							&ws_max_clock_skew_ms,
							500, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
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
							32, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("worldstate.notify",
							 "Send NOTIFY worldstate with the header of each event written.",
							 NULL,
							 &ws_notify,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	ws_worker_define_settings();

	MarkGUCPrefixReserved("worldstate");
}

void
_PG_init(void)
{
	define_settings(process_shared_preload_libraries_in_progress);

	if (!process_shared_preload_libraries_in_progress)
		return;

	ws_preloaded = true;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ws_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ws_shmem_startup;

	ws_worker_register();
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

/*
 * ws._check_setup(): raise a clear error unless the server is configured as
 * worldstate requires.  The install script calls it first, so CREATE
 * EXTENSION fails early with the setting to change.
 */
Datum
ws_check_setup(PG_FUNCTION_ARGS)
{
	if (!ws_preloaded)
		ws_require_preload("CREATE EXTENSION worldstate");
	if (!XLogLogicalInfoActive())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("worldstate needs wal_level = logical"),
				 errdetail("Broadcasts and replication between nodes use logical decoding."),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
	PG_RETURN_VOID();
}
