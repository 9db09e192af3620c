/*-------------------------------------------------------------------------
 *
 * worldstate.c
 *		Library entry point: _PG_init, shared memory hooks, the setup check.
 *
 * worldstate keeps node-wide state (the hybrid logical clock, counters) in
 * shared memory, so it must be loaded through shared_preload_libraries.  The
 * library can still be loaded late (CREATE EXTENSION loads it to create the
 * types); then the settings exist but every feature that needs shared
 * memory, and CREATE EXTENSION itself, fail with a hint naming the setting.
 *
 * This file is the top of the library's layers (README, Development): it
 * may include every header, and it is where services of a lower layer are
 * given what they read from a higher one, such as the gauges of
 * ws.stats().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "broadcast.h"
#include "clock.h"
#include "horizon.h"
#include "kindcache.h"
#include "progress.h"
#include "settings.h"
#include "stats.h"
#include "worker.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(ws_check_setup);

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
request_shmem(void)
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
startup_shmem(void)
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

void
_PG_init(void)
{
	ws_define_settings(process_shared_preload_libraries_in_progress);

	if (!process_shared_preload_libraries_in_progress)
		return;

	ws_preloaded = true;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_shmem;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = startup_shmem;

	/* transactions holding back readers of the event log */
	ws_stats_register_gauge("event_writers_in_flight", ws_events_in_flight);

	ws_worker_register();
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
