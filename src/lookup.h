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
#include "utils/rel.h"

extern Oid	ws_relation_oid(const char *name);
extern void ws_column_numbers(Relation rel, const char *const *names, int n,
							  AttrNumber *att);
extern void ws_init_scan_key(ScanKey key, Relation index, AttrNumber attno,
							 StrategyNumber strat);

#endif							/* WS_LOOKUP_H */
