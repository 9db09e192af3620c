/*-------------------------------------------------------------------------
 *
 * lookup.c
 *		Catalog lookups of the ws tables, remembered per backend: the OIDs
 *		of tables and indexes by name, the attribute numbers of columns, and
 *		the comparison functions of index scan keys.
 *
 * The writer (writer.c) and the readers (query.c) run these lookups on
 * every call; done afresh each time they cost about as much as a small
 * query.  A relcache invalidation of any relation remembered (ALTER TABLE,
 * DROP, CREATE INDEX on it, VACUUM's statistics) or of every relation
 * forgets them all, as does another schema ws.  Column numbers and scan
 * keys are read off relations the caller has opened and locked, so a
 * concurrent ALTER TABLE, which must wait for that lock, has either
 * committed -- and its invalidation has been processed when the lock was
 * taken -- or not begun.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "parser/parse_relation.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "canon.h"
#include "lookup.h"

#define MEMO_ENTRIES	48
#define MEMO_COLUMNS	24

typedef enum MemoKind
{
	MEMO_RELID,					/* relation `name` of schema ws is relid */
	MEMO_ATTNUMS,				/* columns `names` of relid are att[] */
	MEMO_KEYPROC				/* strategy strat of column attno of index
								 * relid compares with proc */
} MemoKind;

typedef struct MemoEntry
{
	MemoKind	kind;
	Oid			relid;
	const char *name;
	const char *const *names;
	AttrNumber	attno;
	StrategyNumber strat;
	FmgrInfo	proc;			/* in TopMemoryContext */
	AttrNumber	att[MEMO_COLUMNS];
} MemoEntry;

static MemoEntry memo[MEMO_ENTRIES];
static int	memo_used = 0;
static Oid	memo_nsp = InvalidOid;

static void
memo_inval(Datum arg, Oid relid)
{
	for (int i = 0; i < memo_used; i++)
		if (relid == InvalidOid || memo[i].relid == relid)
		{
			memo_used = 0;
			return;
		}
}

/*
 * Make the memo usable for the current schema ws; the free entry, or NULL
 * when there is no room left (the lookup is then simply not remembered).
 */
static MemoEntry *
memo_ready(void)
{
	static bool callback_registered = false;
	Oid			nsp = ws_namespace();

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(memo_inval, (Datum) 0);
		callback_registered = true;
	}
	if (memo_nsp != nsp)
	{
		memo_used = 0;
		memo_nsp = nsp;
	}
	return memo_used < MEMO_ENTRIES ? &memo[memo_used] : NULL;
}

/* The OID of relation ws.<name> (a static string), InvalidOid if none. */
Oid
ws_relation_oid(const char *name)
{
	MemoEntry  *free_entry = memo_ready();
	Oid			relid;

	for (int i = 0; i < memo_used; i++)
		if (memo[i].kind == MEMO_RELID && strcmp(memo[i].name, name) == 0)
			return memo[i].relid;
	relid = get_relname_relid(name, memo_nsp);
	/* the lookup may have processed invalidations: ask for room again */
	if (OidIsValid(relid) && (free_entry = memo_ready()) != NULL)
	{
		free_entry->kind = MEMO_RELID;
		free_entry->relid = relid;
		free_entry->name = name;
		memo_used++;
	}
	return relid;
}

/*
 * Attribute numbers of the named columns of rel, which the caller has open
 * (names is a static array); an error names a column that is missing.
 */
void
ws_column_numbers(Relation rel, const char *const *names, int n, AttrNumber *att)
{
	Oid			relid = RelationGetRelid(rel);
	MemoEntry  *free_entry = memo_ready();

	for (int i = 0; i < memo_used; i++)
		if (memo[i].kind == MEMO_ATTNUMS && memo[i].relid == relid && memo[i].names == names)
		{
			memcpy(att, memo[i].att, sizeof(AttrNumber) * n);
			return;
		}
	for (int i = 0; i < n; i++)
	{
		att[i] = attnameAttNum(rel, names[i], false);
		if (att[i] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of ws.%s does not exist", names[i],
				 RelationGetRelationName(rel));
	}
	if (n <= MEMO_COLUMNS && (free_entry = memo_ready()) != NULL)
	{
		free_entry->kind = MEMO_ATTNUMS;
		free_entry->relid = relid;
		free_entry->names = names;
		memcpy(free_entry->att, att, sizeof(AttrNumber) * n);
		memo_used++;
	}
}

/*
 * A scan key comparing column attno of index (open) with strategy strat
 * (one of the btree strategies), using the index's own operator family, so
 * that the comparison is exactly the one the index is ordered by.
 */
void
ws_init_scan_key(ScanKey key, Relation index, AttrNumber attno, StrategyNumber strat)
{
	Oid			relid = RelationGetRelid(index);
	Oid			collation = index->rd_indcollation[attno - 1];
	MemoEntry  *free_entry = memo_ready();
	Oid			opfamily;
	Oid			type;
	Oid			op;

	for (int i = 0; i < memo_used; i++)
		if (memo[i].kind == MEMO_KEYPROC && memo[i].relid == relid &&
			memo[i].attno == attno && memo[i].strat == strat)
		{
			ScanKeyEntryInitializeWithInfo(key, 0, attno, strat, InvalidOid, collation,
										   &memo[i].proc, (Datum) 0);
			return;
		}

	opfamily = index->rd_opfamily[attno - 1];
	type = index->rd_opcintype[attno - 1];
	op = get_opfamily_member(opfamily, type, type, strat);
	if (!OidIsValid(op))
		elog(ERROR, "missing operator %d for column %d of index %s", strat, attno,
			 RelationGetRelationName(index));
	ScanKeyInit(key, attno, strat, get_opcode(op), (Datum) 0);
	key->sk_collation = collation;
	/* the catalog lookups may have processed invalidations */
	if ((free_entry = memo_ready()) != NULL)
	{
		free_entry->kind = MEMO_KEYPROC;
		free_entry->relid = relid;
		free_entry->attno = attno;
		free_entry->strat = strat;
		fmgr_info_copy(&free_entry->proc, &key->sk_func, TopMemoryContext);
		memo_used++;
	}
}
