/*-------------------------------------------------------------------------
 *
 * tables.h
 *		The columns of the tables worldstate reads and writes directly:
 *		ws.events (and ws.events_archive, made LIKE it), ws.entities,
 *		ws.relationships and ws.keyframes, described once.
 *
 * Each table has an enum of its columns and a WsTable naming them.  Code
 * never relies on the tables' column order: it finds the attribute
 * numbers by these names (lookup.c remembers them per backend; the output
 * plugin resolves them under its own invalidations) and passes values in
 * enum order.  The writer, the readers, the output plugin and the
 * functions that return ws.entities rows all use these descriptions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_TABLES_H
#define WS_TABLES_H

#include "postgres.h"

#include "access/attnum.h"
#include "access/tupdesc.h"

/* Columns of ws.events and ws.events_archive. */
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
	EV_INTENT,
	EV_ARRIVAL,
	EV_NCOLS
} WsEventCol;

/* The event type of a retirement (ws.retire_entity). */
#define WS_RETIRED_EVENT "retired"

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

/* Columns of ws.relationships. */
typedef enum WsRelationshipCol
{
	RL_FROM_ID,
	RL_REL,
	RL_TO_ID,
	RL_PROPS,
	RL_HLC,
	RL_NCOLS
} WsRelationshipCol;

/* Columns of ws.keyframes (since 1.1). */
typedef enum WsKeyframeCol
{
	KF_ENTITY_ID,
	KF_HLC,
	KF_VERSION,
	KF_STATE,
	KF_VCLOCK,
	KF_RETIRED,
	KF_NCOLS
} WsKeyframeCol;

/* One column: its name and type. */
typedef struct WsColumn
{
	const char *name;
	Oid			type;			/* InvalidOid: a type of schema ws, whose
								 * OID differs between databases */
	int16		ws_typlen;		/* for those: the type's length */
} WsColumn;

/*
 * A table: its columns in enum order.  The first nrequired exist in every
 * version of the extension; the others were added later and are absent
 * (attribute number InvalidAttrNumber) until the extension is updated.
 */
typedef struct WsTable
{
	const char *name;			/* in schema ws */
	const WsColumn *cols;
	int			ncols;
	int			nrequired;
} WsTable;

extern PGDLLIMPORT const WsTable ws_events_table;
extern PGDLLIMPORT const WsTable ws_entities_table;
extern PGDLLIMPORT const WsTable ws_relationships_table;
extern PGDLLIMPORT const WsTable ws_keyframes_table;

extern void ws_table_attnums(TupleDesc desc, const WsTable *table, AttrNumber *att);
extern void ws_table_spread(const WsTable *table, const AttrNumber *att,
							const Datum *values, const bool *nulls,
							int natts, Datum *outv, bool *outn);
extern char *ws_table_select_list(const WsTable *table, const char *alias);

/*
 * Whether a stored value of attribute a has the bytes of one of attribute
 * b: the same type, length, alignment and passing.  Rows stored alike can
 * be copied as they are from one table's layout to the other's.
 */
static inline bool
ws_attrs_stored_alike(Form_pg_attribute a, Form_pg_attribute b)
{
	return a->atttypid == b->atttypid && a->attlen == b->attlen &&
		a->attalign == b->attalign && a->attbyval == b->attbyval;
}

#endif							/* WS_TABLES_H */
