/*-------------------------------------------------------------------------
 *
 * spi.h
 *		Running SQL on the ws tables: as the owner of schema ws, through
 *		SPI, with plans kept for the life of the backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_SPI_H
#define WS_SPI_H

#include "postgres.h"

#include "executor/spi.h"

/* The role switch around table access; see ws_as_owner_begin. */
typedef struct WsAsOwner
{
	Oid			save_userid;
	int			save_sec_context;
} WsAsOwner;

/* ws_exec's `expected` when any SPI result but an error will do */
#define WS_SPI_ANY	0

/* the most arguments of a statement in a table of plans */
#define WS_PLAN_MAX_ARGS	10

/*
 * One statement of a table of plans (see ws_prepare_table): where its kept
 * plan goes, its text, and the qualified names of its argument types
 * ("pg_catalog.text", "ws.hlc"), as many as it has.
 */
typedef struct WsPlanDef
{
	SPIPlanPtr *slot;
	const char *sql;
	const char *argtypes[WS_PLAN_MAX_ARGS];
} WsPlanDef;

extern Oid	ws_namespace(void);
extern Oid	ws_type_oid(const char *name);
extern void ws_as_owner_begin(WsAsOwner *saved);
extern void ws_as_owner_end(const WsAsOwner *saved);

extern void ws_prepare(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *argtypes);
extern void ws_prepare_table(Oid *prepared_for, const WsPlanDef *defs, int ndefs);

extern int	ws_exec(const char *sql, int nargs, const Oid *types, Datum *args,
					const char *nulls, int expected);
extern int	ws_exec_as_owner(const char *sql, int nargs, const Oid *types, Datum *args,
							 const char *nulls, int expected);

extern void ws_require_module(const char *module);

#endif							/* WS_SPI_H */
