/*-------------------------------------------------------------------------
 *
 * decoder.h
 *		The logical decoding output plugin "worldstate" (decoder.c).
 *
 * PostgreSQL loads an output plugin from the library named like the plugin
 * and calls its _PG_output_plugin_init; worldstate's library is that
 * library, so `pg_create_logical_replication_slot('s', 'worldstate')`
 * needs nothing else.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_DECODER_H
#define WS_DECODER_H

#include "postgres.h"

#include "replication/output_plugin.h"

/* the broadcast format this library writes ("format_version" of every line) */
#define WS_FORMAT_VERSION	1

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

#endif							/* WS_DECODER_H */
