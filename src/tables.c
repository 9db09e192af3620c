/*-------------------------------------------------------------------------
 *
 * tables.c
 *		The column descriptions of tables.h, and what every user of them
 *		needs: attribute numbers by name, values spread into a row.
 *
 * Resolving by name also checks each column's type, so a library and an
 * install script that disagree fail with a clear message instead of
 * reading or writing garbage.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "hlc_parse.h"
#include "tables.h"

/* ws.hlc: fixed length, by reference; ws.vclock: varlena */
#define WS_HLC		InvalidOid, (int16) sizeof(WsHlc)
#define WS_VCLOCK	InvalidOid, -1

static const WsColumn event_cols[EV_NCOLS] = {
	[EV_EVENT_ID] = {"event_id", UUIDOID},
	[EV_ENTITY_ID] = {"entity_id", TEXTOID},
	[EV_VERSION] = {"version", INT8OID},
	[EV_HLC] = {"hlc", WS_HLC},
	[EV_ORIGIN_NODE] = {"origin_node", INT4OID},
	[EV_MODULE] = {"module", TEXTOID},
	[EV_KIND] = {"kind", TEXTOID},
	[EV_EVENT_TYPE] = {"event_type", TEXTOID},
	[EV_PATCH] = {"patch", JSONBOID},
	[EV_STATE] = {"state", JSONBOID},
	[EV_META] = {"meta", JSONBOID},
	[EV_HANDSHAKE] = {"handshake", TEXTOID},
	[EV_CAUSAL_DEPS] = {"causal_deps", UUIDARRAYOID},
	[EV_VCLOCK] = {"vclock", WS_VCLOCK},
	[EV_SCHEMA_VERSION] = {"schema_version", INT4OID},
	[EV_REQUEST_DIGEST] = {"request_digest", TEXTOID},
	[EV_TXID] = {"txid", XID8OID},
	[EV_RECORDED_AT] = {"recorded_at", TIMESTAMPTZOID},
	[EV_ACTOR] = {"actor", TEXTOID},
	[EV_CALLER_META] = {"caller_meta", JSONBOID},
	[EV_INTENT] = {"intent", JSONBOID},
	[EV_ARRIVAL] = {"arrival", INT8OID},
};

static const WsColumn entity_cols[EN_NCOLS] = {
	[EN_ENTITY_ID] = {"entity_id", TEXTOID},
	[EN_KIND] = {"kind", TEXTOID},
	[EN_MODULE] = {"module", TEXTOID},
	[EN_STATE] = {"state", JSONBOID},
	[EN_VERSION] = {"version", INT8OID},
	[EN_HLC] = {"hlc", WS_HLC},
	[EN_VCLOCK] = {"vclock", WS_VCLOCK},
	[EN_CREATED_HLC] = {"created_hlc", WS_HLC},
	[EN_RETIRED] = {"retired", BOOLOID},
};

static const WsColumn relationship_cols[RL_NCOLS] = {
	[RL_FROM_ID] = {"from_id", TEXTOID},
	[RL_REL] = {"rel", TEXTOID},
	[RL_TO_ID] = {"to_id", TEXTOID},
	[RL_PROPS] = {"props", JSONBOID},
	[RL_HLC] = {"hlc", WS_HLC},
};

static const WsColumn keyframe_cols[KF_NCOLS] = {
	[KF_ENTITY_ID] = {"entity_id", TEXTOID},
	[KF_HLC] = {"hlc", WS_HLC},
	[KF_VERSION] = {"version", INT8OID},
	[KF_STATE] = {"state", JSONBOID},
	[KF_VCLOCK] = {"vclock", WS_VCLOCK},
	[KF_RETIRED] = {"retired", BOOLOID},
};

const WsTable ws_events_table = {"events", event_cols, EV_NCOLS, EV_NCOLS_1_0};
const WsTable ws_entities_table = {"entities", entity_cols, EN_NCOLS, EN_NCOLS};
const WsTable ws_relationships_table = {"relationships", relationship_cols, RL_NCOLS, RL_NCOLS};
const WsTable ws_keyframes_table = {"keyframes", keyframe_cols, KF_NCOLS, KF_NCOLS};

/* True when attribute a has the type of column c. */
static bool
type_matches(Form_pg_attribute a, const WsColumn *c)
{
	if (OidIsValid(c->type))
		return a->atttypid == c->type;
	return a->attlen == c->ws_typlen && (c->ws_typlen == -1 || !a->attbyval);
}

/*
 * Attribute numbers of the columns of table (in enum order) in desc, the
 * descriptor of that table or of its row type; InvalidAttrNumber for a
 * column added by a later version that desc does not have.
 */
void
ws_table_attnums(TupleDesc desc, const WsTable *table, AttrNumber *att)
{
	for (int c = 0; c < table->ncols; c++)
	{
		const WsColumn *col = &table->cols[c];

		att[c] = InvalidAttrNumber;
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (a->attisdropped || strcmp(NameStr(a->attname), col->name) != 0)
				continue;
			if (!type_matches(a, col))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("column \"%s\" of ws.%s has an unexpected type",
								col->name, table->name),
						 errhint("The worldstate library and the extension installed in this database are of different versions.")));
			att[c] = a->attnum;
			break;
		}
		if (att[c] == InvalidAttrNumber && c < table->nrequired)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("ws.%s has no column \"%s\"", table->name, col->name),
					 errhint("The worldstate library and the extension installed in this database are of different versions.")));
	}
}

/*
 * Spread values and nulls given in table's enum order into a row of natts
 * attributes (outv, outn), the columns at att; attributes that are not
 * columns of table, and columns absent from the row, are left NULL.
 */
void
ws_table_spread(const WsTable *table, const AttrNumber *att,
				const Datum *values, const bool *nulls,
				int natts, Datum *outv, bool *outn)
{
	for (int i = 0; i < natts; i++)
	{
		outv[i] = (Datum) 0;
		outn[i] = true;
	}
	for (int c = 0; c < table->ncols; c++)
	{
		if (att[c] == InvalidAttrNumber)
			continue;
		outv[att[c] - 1] = values[c];
		outn[att[c] - 1] = nulls[c];
	}
}

/*
 * "alias.col1, alias.col2, ..." for the required columns of table in enum
 * order, so that column c of a query's result is value c.
 */
char *
ws_table_select_list(const WsTable *table, const char *alias)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int c = 0; c < table->nrequired; c++)
		appendStringInfo(&buf, "%s%s.%s", c > 0 ? ", " : "", alias,
						 quote_identifier(table->cols[c].name));
	return buf.data;
}
