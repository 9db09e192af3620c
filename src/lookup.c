/*-------------------------------------------------------------------------
 *
 * lookup.c
 *		Catalog lookups of the ws tables, remembered per backend: the OIDs
 *		of tables and indexes by name, the attribute numbers of the columns
 *		tables.h describes, and the comparison functions of index scan keys.
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

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "lookup.h"
#include "spi.h"
#include "tables.h"

#define MEMO_ENTRIES	48
#define MEMO_COLUMNS	24

typedef enum MemoKind
{
	MEMO_RELID,					/* relation `name` of schema ws is relid */
	MEMO_ATTNUMS,				/* columns of `table` (tables.h) in relid
								 * are att[] */
	MEMO_KEYPROC				/* strategy strat of column attno of index
								 * relid compares with proc */
} MemoKind;

typedef struct MemoEntry
{
	MemoKind	kind;
	Oid			relid;
	const char *name;
	const WsTable *table;
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

/* The remembered attribute numbers of table's columns in relid, if any. */
static bool
memo_find_columns(Oid relid, const WsTable *table, AttrNumber *att)
{
	(void) memo_ready();
	for (int i = 0; i < memo_used; i++)
		if (memo[i].kind == MEMO_ATTNUMS && memo[i].relid == relid && memo[i].table == table)
		{
			memcpy(att, memo[i].att, sizeof(AttrNumber) * table->ncols);
			return true;
		}
	return false;
}

/*
 * Attribute numbers of table's columns (tables.h) in rel, which the caller
 * has open: table describes rel, or rel was made LIKE it.  A column a
 * later version added is InvalidAttrNumber when rel lacks it.
 */
void
ws_column_numbers(Relation rel, const WsTable *table, AttrNumber *att)
{
	Oid			relid = RelationGetRelid(rel);
	MemoEntry  *free_entry;

	StaticAssertStmt(EV_NCOLS <= MEMO_COLUMNS && EN_NCOLS <= MEMO_COLUMNS &&
					 RL_NCOLS <= MEMO_COLUMNS, "MEMO_COLUMNS too small");
	if (memo_find_columns(relid, table, att))
		return;
	ws_table_attnums(RelationGetDescr(rel), table, att);
	if ((free_entry = memo_ready()) != NULL)
	{
		free_entry->kind = MEMO_ATTNUMS;
		free_entry->relid = relid;
		free_entry->table = table;
		memcpy(free_entry->att, att, sizeof(AttrNumber) * table->ncols);
		memo_used++;
	}
}

/*
 * A row of desc, the row type of table (such as the result of a function
 * returning ws.entities), from values and nulls in table's enum order.
 */
HeapTuple
ws_form_row(TupleDesc desc, const WsTable *table, const Datum *values, const bool *nulls)
{
	AttrNumber	att[MEMO_COLUMNS];
	Datum	   *outv = palloc(sizeof(Datum) * desc->natts);
	bool	   *outn = palloc(sizeof(bool) * desc->natts);
	HeapTuple	tuple;

	ws_row_column_numbers(desc, table, att);
	ws_table_spread(table, att, values, nulls, desc->natts, outv, outn);
	tuple = heap_form_tuple(desc, outv, outn);
	pfree(outv);
	pfree(outn);
	return tuple;
}

/*
 * Attribute numbers of table's columns in desc, a row type of table.  The
 * row type of a relation has the relation's attribute numbers, so those
 * remembered for the relation serve; but desc may have been looked up
 * before an invalidation that they have already seen, so they are used
 * only when desc has the columns there, and desc, which may be older than
 * the relation, is never remembered.  Otherwise resolved afresh.
 */
void
ws_row_column_numbers(TupleDesc desc, const WsTable *table, AttrNumber *att)
{
	Oid			relid = InvalidOid;

	if (desc->tdtypeid != RECORDOID)
		relid = get_typ_typrelid(desc->tdtypeid);
	if (OidIsValid(relid) && memo_find_columns(relid, table, att))
	{
		bool		same = true;

		for (int c = 0; c < table->ncols && same; c++)
		{
			Form_pg_attribute a;

			if (att[c] == InvalidAttrNumber)
				continue;
			a = att[c] <= desc->natts ? TupleDescAttr(desc, att[c] - 1) : NULL;
			same = a != NULL && !a->attisdropped &&
				strcmp(NameStr(a->attname), table->cols[c].name) == 0;
		}
		if (same)
			return;
	}
	ws_table_attnums(desc, table, att);
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
