/*-------------------------------------------------------------------------
 *
 * reader.h
 *		Index and heap reads of the ws tables, with the snapshot of the
 *		calling statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_READER_H
#define WS_READER_H

#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "executor/tuptable.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

#include "hlc.h"
#include "tables.h"

/*
 * The formats of snapshots (ws.snapshots.format_version): the one taken
 * now and the oldest still read.  Their rows are alike; format 2 changed
 * the checksum (snapshot.c).
 */
#define WS_SNAPSHOT_FORMAT		2
#define WS_SNAPSHOT_FORMAT_OLDEST	1

/* Whether snapshots of format version `format` are read by this build. */
static inline bool
ws_snapshot_format_read(int32 format)
{
	return format >= WS_SNAPSHOT_FORMAT_OLDEST && format <= WS_SNAPSHOT_FORMAT;
}

/* A set of entity ids, hashed by their bytes (reader.c). */
typedef struct idset_hash WsIdSet;

extern WsIdSet *ws_idset_create(MemoryContext cxt);
extern void ws_idset_add(WsIdSet *set, text *id);
extern bool ws_idset_has(WsIdSet *set, text *id);

/*
 * What a reader opens up front.  The event log is opened on first use:
 * point queries and world scans read it only for entities that changed
 * after the moment asked for.
 */
#define WS_READ_ENTITIES		0x01	/* ws.entities and its primary key */
#define WS_READ_RELATIONSHIPS	0x02	/* ws.relationships and its primary key */

/*
 * One table of the event log -- ws.events, or ws.events_archive, where
 * ws.archive_events moves old events -- with its index on (entity_id,
 * hlc), opened on first use.
 *
 * Archival moves, for each entity, the events before its last keyframe
 * preceding the archival boundary, and keeps every keyframe in
 * ws.keyframes.  Hence the events between a keyframe and a moment are
 * all in one table: in ws.events when the keyframe is the one archival
 * kept or a later one, in the archive when it is an earlier one.  A state
 * is never folded from both tables.
 */
typedef struct WsLog
{
	const char *table;
	const char *by_hlc_name;
	Relation	rel;
	TupleTableSlot *slot;
	AttrNumber	col[EV_NCOLS];
	Relation	by_hlc;
	IndexScanDesc span_scan;	/* (entity_id = $1, hlc > $2, hlc <= $3)
								 * forwards */
	ScanKeyData span_keys[3];
} WsLog;

/*
 * Open relations, slots and index scans for reading, with the active
 * snapshot.  Scans are begun once and rescanned with new key values, so a
 * probe costs an index descent and nothing else.
 */
typedef struct WsReader
{
	MemoryContext cxt;			/* where scans and slots live */
	Snapshot	snapshot;

	Relation	entities;
	Relation	entities_pk;
	TupleTableSlot *entity_slot;
	IndexScanDesc entity_scan;	/* one entity by id */
	ScanKeyData entity_key;
	AttrNumber	en[EN_NCOLS];

	Relation	keyframes;		/* ws.keyframes, opened on first use */
	Relation	keyframes_pk;
	TupleTableSlot *keyframe_slot;
	IndexScanDesc keyframe_scan;	/* (entity_id = $1, hlc >= $2, hlc <= $3)
									 * backwards */
	ScanKeyData keyframe_keys[3];
	AttrNumber	kf[KF_NCOLS];

	WsLog		log;			/* ws.events */
	WsLog		archive;		/* ws.events_archive */
	Relation	events_links;

	Relation	relationships;
	Relation	relationships_pk;
	TupleTableSlot *rel_slot;
	AttrNumber	rl[RL_NCOLS];

	struct WsBase *base;		/* the snapshot a world scan starts from
								 * (ws_reader_use_snapshot), or NULL */
} WsReader;

/*
 * An entity as of a moment, rebuilt from a keyframe (or a snapshot's row)
 * and the events after it: version is its number of events then, hlc and
 * vclock those of its last event then.
 */
typedef struct WsVersion
{
	int64		version;
	WsHlc	   *hlc;
	Datum		vclock;
	Jsonb	   *state;
	bool		retired;
} WsVersion;

/*
 * A walk of one entity's events in HLC order over both tables of the event
 * log (ws_history_begin); ws.history and ws.causal_graph read with it.
 */
typedef struct WsHistory
{
	WsLog	   *logs[2];		/* ws.events_archive, ws.events */
	IndexScanDesc scans[2];
	bool		more[2];		/* whether logs[i]->slot holds a row not yet
								 * returned */
	int			cur;			/* the log of the event returned last, or -1 */
} WsHistory;

extern void ws_reader_open(WsReader *r, int what);
extern void ws_reader_close(WsReader *r);
extern bool ws_reader_entity(WsReader *r, Datum entity_id);
extern IndexScanDesc ws_reader_all_entities(WsReader *r);
extern bool ws_reader_version_at(WsReader *r, Datum entity_id, const Datum *e,
								 const WsHlc *at, WsVersion *out);
extern void ws_reader_use_snapshot(WsReader *r, const WsHlc *at);
extern bool ws_reader_version_from_snapshot(WsReader *r, const Datum *e, const WsHlc *at,
											WsVersion *out);
extern HeapTuple ws_reader_snapshot_row(WsReader *r, const Datum *e);
extern Jsonb *ws_reader_state_at(WsReader *r, Datum entity_id, const WsHlc *at);
extern void ws_history_begin(WsReader *r, WsHistory *h, Datum entity_id,
							 const WsHlc *from, const WsHlc *to);
extern WsLog *ws_history_next(WsHistory *h);
extern void ws_history_end(WsHistory *h);
extern IndexScanDesc ws_reader_link_scan(WsReader *r, WsLog *log, Datum entity_id,
										 const WsHlc *at);
extern IndexScanDesc ws_reader_edges_scan(WsReader *r, Datum entity_id, text *rel);

/* Column col of the entity row in r->entity_slot. */
static inline Datum
ws_reader_entity_col(WsReader *r, WsEntityCol col, bool *isnull)
{
	return slot_getattr(r->entity_slot, r->en[col], isnull);
}

/* Column col of the event row in log->slot. */
static inline Datum
ws_log_col(WsLog *log, WsEventCol col, bool *isnull)
{
	return slot_getattr(log->slot, log->col[col], isnull);
}

#endif							/* WS_READER_H */
