/*-------------------------------------------------------------------------
 *
 * lookup.h
 *		Catalog lookups of the ws tables, remembered per backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_LOOKUP_H
#define WS_LOOKUP_H

#include "postgres.h"

#include "access/skey.h"
#include "access/htup.h"
#include "utils/rel.h"

#include "tables.h"

extern Oid	ws_relation_oid(const char *name);
extern void ws_column_numbers(Relation rel, const WsTable *table, AttrNumber *att);
extern void ws_row_column_numbers(TupleDesc desc, const WsTable *table, AttrNumber *att);
extern HeapTuple ws_form_row(TupleDesc desc, const WsTable *table, const Datum *values,
							 const bool *nulls);
extern void ws_init_scan_key(ScanKey key, Relation index, AttrNumber attno,
							 StrategyNumber strat);

#endif							/* WS_LOOKUP_H */
