/*-------------------------------------------------------------------------
 *
 * kindcache.h
 *		Per-backend cache of kinds and module grants.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_KINDCACHE_H
#define WS_KINDCACHE_H

#include "postgres.h"

/* A kind: its module, counter fields and constraints (in name order). */
typedef struct WsKind
{
	char		kind[NAMEDATALEN];	/* hash key */
	char	   *module;
	int			ncounters;
	char	  **counters;
	int			nconstraints;
	char	  **constraint_names;
	Datum	   *constraint_paths;	/* jsonpath */
} WsKind;

extern Size ws_kindcache_shmem_size(void);
extern void ws_kindcache_shmem_init(void);
extern const WsKind *ws_kind_lookup(const char *kind);
extern int	ws_module_grant_roles(const char *module, Oid **roles);
extern uint64 ws_catalog_stamp(void);

#endif							/* WS_KINDCACHE_H */
