/*-------------------------------------------------------------------------
 *
 * writer.h
 *		Direct writes of event, entity and relationship rows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_WRITER_H
#define WS_WRITER_H

#include "postgres.h"

#include "access/tableam.h"
#include "executor/executor.h"
#include "storage/itemptr.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "hlc.h"
#include "tables.h"

/*
 * ws.events and ws.entities, open for writing, and ws.relationships and
 * ws.keyframes, opened when first written.
 */
typedef struct WsWriter
{
	EState	   *estate;
	EPQState	epq;			/* for BEFORE ROW triggers, should a table get one */
	Relation	events_rel;
	Relation	entities_rel;
	Relation	relationships_rel;
	Relation	keyframes_rel;
	Oid			keyframes_oid;	/* InvalidOid on a database still at 1.0 */
	ResultRelInfo *events;
	ResultRelInfo *entities;
	ResultRelInfo *relationships;
	ResultRelInfo *keyframes;
	TupleTableSlot *event_slot;
	TupleTableSlot *entity_slot;
	TupleTableSlot *old_slot;
	TupleTableSlot *link_slot;
	TupleTableSlot *old_link_slot;
	TupleTableSlot *keyframe_slot;
	TupleTableSlot *old_keyframe_slot;
	AttrNumber	ev_att[EV_NCOLS];
	AttrNumber	en_att[EN_NCOLS];
	AttrNumber	rl_att[RL_NCOLS];
	AttrNumber	kf_att[KF_NCOLS];
	/* the kept index descriptions each table uses, or NULL (writer.c) */
	struct IndexMemo *events_memo;
	struct IndexMemo *entities_memo;
	struct IndexMemo *relationships_memo;
	struct IndexMemo *keyframes_memo;
} WsWriter;

extern void ws_writer_begin(WsWriter *w);
extern Datum ws_actor_datum(Oid role);
extern void ws_writer_begin_events(WsWriter *w);
extern void ws_writer_end(WsWriter *w);
extern void ws_writer_insert_event(WsWriter *w, const Datum *values, const bool *nulls);
extern void ws_writer_append_unattached(pg_uuid_t *event_id, const char *module,
										const char *event_type, Jsonb *payload,
										const char *handshake, int32 schema_version,
										Oid actor, Jsonb *meta);
extern bool ws_writer_fetch_entity(WsWriter *w, const char *entity_id,
								   Snapshot snapshot, ItemPointer tid);
extern bool ws_writer_lock_latest(WsWriter *w, ItemPointer tid);
extern bool ws_writer_hold_entity(WsWriter *w, const char *entity_id, ItemPointer tid);
extern bool ws_writer_last_entity_write(const char *entity_id, ItemPointer tid);
extern Datum ws_writer_entity_col(WsWriter *w, int col, bool *isnull);
extern TM_Result ws_writer_try_update_entity(WsWriter *w, ItemPointer tid,
											 const Datum *values, const bool *nulls);
extern bool ws_writer_insert_entity(WsWriter *w, const Datum *values, const bool *nulls);
extern void ws_writer_put_entity(WsWriter *w, const Datum *values, const bool *nulls);
extern bool ws_writer_put_entity_if_changed(WsWriter *w, const Datum *values,
											 const bool *nulls);
extern void ws_writer_put_link(WsWriter *w, const Datum *values, const bool *nulls);
extern bool ws_writer_delete_link(WsWriter *w, const char *from_id, const char *rel,
								  const char *to_id, Datum *old_props);
extern bool ws_writer_has_keyframes(WsWriter *w);
extern void ws_writer_put_keyframe(WsWriter *w, const Datum *values, const bool *nulls);
extern int64 ws_writer_delete_keyframes(WsWriter *w, Datum entity_id, const WsHlc *from);

#endif							/* WS_WRITER_H */
