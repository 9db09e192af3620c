/*-------------------------------------------------------------------------
 *
 * merge_patch.c
 *	  RFC 7396 JSON Merge Patch on jsonb, with counter fields.
 *
 * Every change to an entity's state is a merge patch: a patch that is not
 * an object replaces the document; an object patch is merged member by
 * member into the target (a non-object target counting as {}), where null
 * removes the member, an object is merged recursively and anything else
 * replaces it.  On top of the RFC, the top-level members a kind declares
 * as counters take numeric deltas that are added to the current value,
 * so that concurrent increments do not overwrite each other.
 *
 * The merge works on jsonb's binary form directly and never goes through
 * text.  jsonb stores an object's keys sorted (shorter first, then by
 * bytes), so merging two objects is one linear walk over both key lists
 * side by side, like the merge step of a merge sort.  The members are
 * pushed onto a JsonbParseState in that same order, so the final sort
 * that pushJsonbValue does when an object ends finds them already in
 * order.  Members of the target that the patch does not touch are copied
 * as they are; recursion happens only where the patch has an object, so
 * its depth is bounded by the patch's and guarded by check_stack_depth(),
 * and every member checks for interrupts, so statement_timeout and
 * cancellation stop the merge of a wide or deep document.
 *
 * A patch with counter deltas cannot be replayed by plain merge patch, so
 * ws_merge_patch can also return the "effective" patch: the same patch
 * with each delta replaced by the value it produced.  Folding effective
 * patches with plain RFC 7396 rebuilds the state, which is what the event
 * log and replay rely on.
 *
 * src/merge_patch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "merge_patch.h"

PG_FUNCTION_INFO_V1(merge_patch);
PG_FUNCTION_INFO_V1(merge_patch_counters);

/*
 * Start iterating over the members of an object container; returns NULL
 * when the container is NULL or not an object, which then has no members.
 */
static JsonbIterator *
members_begin(JsonbContainer *container)
{
	JsonbIterator *it;
	JsonbValue	v;

	if (container == NULL || !JsonContainerIsObject(container))
		return NULL;
	it = JsonbIteratorInit(container);
	if (JsonbIteratorNext(&it, &v, true) != WJB_BEGIN_OBJECT)
		elog(ERROR, "unexpected jsonb token at start of object");
	return it;
}

/*
 * Fetch the next member of an object, in key order, into *key and *val;
 * nested containers come back as jbvBinary.  Returns false at the end of
 * the object (or when *it is NULL), after which *it must not be used.
 */
static bool
members_next(JsonbIterator **it, JsonbValue *key, JsonbValue *val)
{
	JsonbIteratorToken tok;

	if (*it == NULL)
		return false;
	tok = JsonbIteratorNext(it, key, true);
	if (tok == WJB_END_OBJECT)
	{
		*it = NULL;
		return false;
	}
	if (tok != WJB_KEY || JsonbIteratorNext(it, val, true) != WJB_VALUE)
		elog(ERROR, "unexpected jsonb token in object");
	return true;
}

/* Index of key in counters[0..ncounters-1], or -1 when it is not there. */
static int
counter_index(const JsonbValue *key, const char *const *counters,
				 int ncounters)
{
	int			i;

	for (i = 0; i < ncounters; i++)
	{
		const char *name = counters[i];

		if (strncmp(name, key->val.string.val, key->val.string.len) == 0 &&
			name[key->val.string.len] == '\0')
			return i;
	}
	return -1;
}

/* True when v is an object container (as the iterator returns them). */
static inline bool
is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/*
 * Push onto *state the object that merging the object `patch` into
 * `target` gives; `target` may be NULL or a non-object container, both of
 * which count as {}.  Only the top level passes counters, and `eff` (the
 * parse state of the effective patch, or NULL when none is wanted); the
 * object pushed onto *eff is returned through *eff_result.  Returns what
 * pushJsonbValue returns for the end of the object.
 */
static JsonbValue *
merge_object(JsonbParseState **state, JsonbContainer *target,
				JsonbContainer *patch, const char *const *counters,
				int ncounters, JsonbParseState **eff, JsonbValue **eff_result)
{
	JsonbIterator *tit;
	JsonbIterator *pit;
	JsonbValue	tkey;
	JsonbValue	tval;
	JsonbValue	pkey;
	JsonbValue	pval;
	bool		tmore;
	bool		pmore;

	check_stack_depth();

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	if (eff)
		pushJsonbValue(eff, WJB_BEGIN_OBJECT, NULL);

	tit = members_begin(target);
	pit = members_begin(patch);
	tmore = members_next(&tit, &tkey, &tval);
	pmore = members_next(&pit, &pkey, &pval);

	while (tmore || pmore)
	{
		JsonbValue *old;
		int			cmp;

		/* a wide object is a long loop the caller controls */
		CHECK_FOR_INTERRUPTS();

		if (!pmore)
			cmp = -1;
		else if (!tmore)
			cmp = 1;
		else
			cmp = ws_key_cmp(&tkey, &pkey);

		if (cmp < 0)
		{
			/* a member the patch does not mention is kept as it is */
			pushJsonbValue(state, WJB_KEY, &tkey);
			pushJsonbValue(state, WJB_VALUE, &tval);
			tmore = members_next(&tit, &tkey, &tval);
			continue;
		}

		/* the patch mentions this key; old is its current value, if any */
		old = (cmp == 0) ? &tval : NULL;

		if (eff)
			pushJsonbValue(eff, WJB_KEY, &pkey);

		if (pval.type == jbvNull)
		{
			/* null removes the member (and is a no-op when it is absent) */
			if (eff)
				pushJsonbValue(eff, WJB_VALUE, &pval);
		}
		else if (ncounters > 0 &&
				 counter_index(&pkey, counters, ncounters) >= 0)
		{
			JsonbValue	sum;

			if (pval.type != jbvNumeric)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("counter field \"%s\" takes a number or null",
								pnstrdup(pkey.val.string.val,
										 pkey.val.string.len)),
						 errdetail("The patch gives a value of type %s.",
								   JsonbTypeName(&pval)),
						 errhint("A number is added to the field's current value; null removes the field.")));

			sum.type = jbvNumeric;
			if (old != NULL && old->type == jbvNumeric)
			{
				Datum		d;

				d = DirectFunctionCall2(numeric_add,
										NumericGetDatum(old->val.numeric),
										NumericGetDatum(pval.val.numeric));
				sum.val.numeric = DatumGetNumeric(d);
			}
			else
				sum.val.numeric = pval.val.numeric; /* 0 + delta */

			pushJsonbValue(state, WJB_KEY, &pkey);
			pushJsonbValue(state, WJB_VALUE, &sum);
			if (eff)
				pushJsonbValue(eff, WJB_VALUE, &sum);
		}
		else if (is_object(&pval))
		{
			/* an object merges into the current value, {} if not an object */
			pushJsonbValue(state, WJB_KEY, &pkey);
			merge_object(state,
							(old != NULL && old->type == jbvBinary) ?
							old->val.binary.data : NULL,
							pval.val.binary.data, NULL, 0, NULL, NULL);
			if (eff)
				pushJsonbValue(eff, WJB_VALUE, &pval);
		}
		else
		{
			/* anything else replaces */
			pushJsonbValue(state, WJB_KEY, &pkey);
			pushJsonbValue(state, WJB_VALUE, &pval);
			if (eff)
				pushJsonbValue(eff, WJB_VALUE, &pval);
		}

		if (cmp == 0)
			tmore = members_next(&tit, &tkey, &tval);
		pmore = members_next(&pit, &pkey, &pval);
	}

	if (eff)
		*eff_result = pushJsonbValue(eff, WJB_END_OBJECT, NULL);
	return pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/*
 * True when the object patch gives a number for one of the counters, so
 * that it differs from its effective patch.
 */
static bool
patch_has_delta(Jsonb *patch, const char *const *counters, int ncounters)
{
	int			i;

	for (i = 0; i < ncounters; i++)
	{
		JsonbValue	v;

		if (getKeyJsonValueFromContainer(&patch->root, counters[i],
										 strlen(counters[i]), &v) != NULL &&
			v.type == jbvNumeric)
			return true;
	}
	return false;
}

/*
 * Apply RFC 7396 merge patch `patch` to `target`, with counter fields;
 * see merge_patch.h for the contract.
 */
Jsonb *
ws_merge_patch(Jsonb *target, Jsonb *patch, const char *const *counters,
			   int ncounters, Jsonb **effective)
{
	JsonbParseState *state = NULL;
	JsonbParseState *eff_state = NULL;
	JsonbValue *eff_result = NULL;
	JsonbValue *res;
	bool		want_eff;

	/* a patch that is not an object replaces the whole document */
	if (!JB_ROOT_IS_OBJECT(patch))
	{
		if (effective)
			*effective = patch;
		return patch;
	}

	want_eff = (effective != NULL && ncounters > 0 &&
				patch_has_delta(patch, counters, ncounters));
	if (effective != NULL && !want_eff)
		*effective = patch;

	/* an empty object patch leaves an object target as it is */
	if (JsonContainerSize(&patch->root) == 0 &&
		target != NULL && JB_ROOT_IS_OBJECT(target))
		return target;

	res = merge_object(&state, target ? &target->root : NULL,
						  &patch->root, counters, ncounters,
						  want_eff ? &eff_state : NULL, &eff_result);

	if (want_eff)
		*effective = JsonbValueToJsonb(eff_result);
	return JsonbValueToJsonb(res);
}

/*
 * The intent of a patch: an object {"field": delta} of the numbers the
 * object patch gives the counters, in jsonb key order; NULL when it gives
 * none (a patch that is not an object gives none).  A merge of concurrent
 * changes sums these, so no increment is lost (DESIGN.md section 9).
 */
Jsonb *
ws_counter_intent(Jsonb *patch, const char *const *counters, int ncounters)
{
	JsonbParseState *state = NULL;

	if (patch == NULL || !JB_ROOT_IS_OBJECT(patch) || JB_ROOT_IS_SCALAR(patch) ||
		!patch_has_delta(patch, counters, ncounters))
		return NULL;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < ncounters; i++)
	{
		JsonbValue	key;
		JsonbValue	v;

		if (getKeyJsonValueFromContainer(&patch->root, counters[i],
										 strlen(counters[i]), &v) == NULL ||
			v.type != jbvNumeric)
			continue;
		key.type = jbvString;
		key.val.string.val = (char *) counters[i];
		key.val.string.len = strlen(counters[i]);
		pushJsonbValue(&state, WJB_KEY, &key);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * ws.merge_patch(target jsonb, patch jsonb) → jsonb: plain RFC 7396.
 *
 * Not strict.  SQL NULL and JSON null mean different things here: a NULL
 * target is an absent document (so an object patch yields the patch with
 * its nulls removed), and a NULL patch is no patch at all, which returns
 * the target unchanged.  The JSON value 'null'::jsonb as patch is a patch
 * like any non-object one and replaces the document, giving 'null'.
 */
Datum
merge_patch(PG_FUNCTION_ARGS)
{
	Jsonb	   *target;
	Jsonb	   *patch;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}

	target = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	patch = PG_GETARG_JSONB_P(1);

	PG_RETURN_JSONB_P(ws_merge_patch(target, patch, NULL, 0, NULL));
}

/*
 * ws._merge_patch_counters(target jsonb, patch jsonb, counters text[],
 *							OUT result jsonb, OUT effective jsonb)
 *
 * Exposes ws_merge_patch with counters to SQL so that the counter rules
 * and the effective patch can be tested on their own.  Strict; NULL
 * elements of the array name no counter.
 */
Datum
merge_patch_counters(PG_FUNCTION_ARGS)
{
	Jsonb	   *target = PG_GETARG_JSONB_P(0);
	Jsonb	   *patch = PG_GETARG_JSONB_P(1);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	const char **counters;
	int			ncounters = 0;
	Jsonb	   *effective;
	Jsonb	   *result;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		isnull[2] = {false, false};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	counters = palloc(sizeof(char *) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
		if (!nulls[i])
			counters[ncounters++] = TextDatumGetCString(elems[i]);

	result = ws_merge_patch(target, patch, counters, ncounters, &effective);

	values[0] = JsonbPGetDatum(result);
	values[1] = JsonbPGetDatum(effective);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, isnull)));
}
