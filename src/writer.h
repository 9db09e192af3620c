/*-------------------------------------------------------------------------
 *
 * writer.h
 *		Direct writes of event and entity rows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_WRITER_H
#define WS_WRITER_H

#include "postgres.h"

#include "access/tableam.h"
#include "executor/executor.h"
#include "storage/itemptr.h"

/* Columns of ws.events, in no particular order: looked up by name. */
typedef enum WsEventCol
{
	EV_EVENT_ID,
	EV_ENTITY_ID,
	EV_VERSION,
	EV_HLC,
	EV_ORIGIN_NODE,
	EV_MODULE,
	EV_KIND,
	EV_EVENT_TYPE,
	EV_PATCH,
	EV_STATE,
	EV_META,
	EV_HANDSHAKE,
	EV_CAUSAL_DEPS,
	EV_VCLOCK,
	EV_SCHEMA_VERSION,
	EV_REQUEST_DIGEST,
	EV_TXID,
	EV_RECORDED_AT,
	/* since 1.1; absent until ALTER EXTENSION worldstate UPDATE */
	EV_ACTOR,
	EV_CALLER_META,
	EV_NCOLS
} WsEventCol;

/* The columns of ws.events that 1.0 has. */
#define EV_NCOLS_1_0 EV_ACTOR

/* Columns of ws.entities. */
typedef enum WsEntityCol
{
	EN_ENTITY_ID,
	EN_KIND,
	EN_MODULE,
	EN_STATE,
	EN_VERSION,
	EN_HLC,
	EN_VCLOCK,
	EN_CREATED_HLC,
	EN_RETIRED,
	EN_NCOLS
} WsEntityCol;

/* An open pair of ws.events and ws.entities, ready for writing. */
typedef struct WsWriter
{
	EState	   *estate;
	Relation	events_rel;
	Relation	entities_rel;
	ResultRelInfo *events;
	ResultRelInfo *entities;
	TupleTableSlot *event_slot;
	TupleTableSlot *entity_slot;
	TupleTableSlot *old_slot;
	AttrNumber	ev_att[EV_NCOLS];
	AttrNumber	en_att[EN_NCOLS];
} WsWriter;

extern void ws_writer_begin(WsWriter *w);
extern Datum ws_actor_datum(Oid role);
extern void ws_writer_begin_events(WsWriter *w);
extern void ws_writer_end(WsWriter *w);
extern void ws_writer_insert_event(WsWriter *w, const Datum *values, const bool *nulls);
extern bool ws_writer_fetch_entity(WsWriter *w, const char *entity_id,
								   Snapshot snapshot, ItemPointer tid);
extern bool ws_writer_lock_latest(WsWriter *w, ItemPointer tid);
extern Datum ws_writer_entity_col(WsWriter *w, int col, bool *isnull);
extern TM_Result ws_writer_try_update_entity(WsWriter *w, ItemPointer tid,
											 const Datum *values, const bool *nulls);

#endif							/* WS_WRITER_H */
