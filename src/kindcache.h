/*-------------------------------------------------------------------------
 *
 * kindcache.h
 *		Per-backend cache of kinds and modules.
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

/* A module: the roles granted it, with their tier, and its settings. */
typedef struct WsModule
{
	char		module[NAMEDATALEN];	/* hash key */
	bool		registered;
	bool		require_event_schemas;
	int			nroles;
	Oid		   *roles;
	bool	   *admin;			/* per role: admin (true) or writer */
} WsModule;

extern Size ws_kindcache_shmem_size(void);
extern void ws_kindcache_shmem_init(void);
extern const WsKind *ws_kind_lookup(const char *kind);
extern const WsModule *ws_module_lookup(const char *module);
extern uint64 ws_catalog_stamp(void);

#endif							/* WS_KINDCACHE_H */
