/*-------------------------------------------------------------------------
 *
 * fold.c
 *		The fold: an entity's state from a keyframe and the merge patches
 *		of the versions after it.
 *
 * Every part of worldstate that needs a state the log implies rebuilds it
 * here: point queries and ws.entities_at (query.c, through reader.c), the
 * idempotent replay of a transition (transition.c), restore's replay and
 * ws.verify (snapshot.c).  One fold means one reading of the log: every
 * path, and every node, turns the same events into the same state.
 *
 * Patches are folded as RFC 7396 merge patches.  The log stores effective
 * patches -- counter deltas already resolved to the values they produced
 * (merge_patch.c) -- so no kind's counters are needed here.
 *
 * Applying K patches one after the other with ws_merge_patch would
 * rebuild the whole document K times.  Instead the fold computes each
 * member's final value directly from the base's value and the values the
 * patches give it, in order, which is what RFC 7396 applied patch by
 * patch amounts to:
 *
 *	- the last patch value that is not an object decides the base: null
 *	  removes the member, a scalar or array replaces it; without one, the
 *	  base is the target's value;
 *	- the object values after that are merged into the base (a base that is
 *	  not an object counting as {}), member by member, recursively;
 *	- with no object after it, the member is the base (or absent).
 *
 * Two ways in:
 *	- ws_fold_patches folds a keyframe and the patches after it, all known
 *	  up front (a point query reads at most K - 1 of them);
 *	- a WsFold is fed a history in HLC order (replay, verification):
 *	  a keyframe restarts it, patches are kept until WS_FOLD_CHUNK of them
 *	  are waiting and then folded in one pass, so an entity with a million
 *	  versions needs the memory of one state and one chunk, and
 *	  ws_fold_state gives the state folded so far at any point (what
 *	  verification compares each stored keyframe with).
 *
 * ws.merge_patches, the SQL aggregate, keeps applying ws_merge_patch patch
 * by patch: it is the reference that the regression tests
 * (query_random_histories, query_merge_patches) compare this fold against.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "fold.h"
#include "merge_patch.h"

/* A member (key, value) of one of the objects being merged. */
typedef struct WsMember
{
	JsonbValue	key;
	JsonbValue	val;
} WsMember;

/* The members of one object, in the order jsonb stores them (sorted by key). */
typedef struct WsMembers
{
	WsMember   *m;
	int			n;
	int			pos;			/* next member to merge */
} WsMembers;

/* Whether v is a JSON object. */
static bool
value_is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/*
 * The value of child `index` of container c, `len` bytes at offset `off`
 * of the children's data area `data`: the decoding that jsonb's own
 * iterator does, without the iterator's state (jsonb.h describes the
 * layout; numbers and containers start at an int-aligned offset).
 */
static void
child_value(JsonbContainer *c, int index, char *data, uint32 off, uint32 len,
			JsonbValue *v)
{
	JEntry		entry = c->children[index];

	if (JBE_ISNULL(entry))
		v->type = jbvNull;
	else if (JBE_ISSTRING(entry))
	{
		v->type = jbvString;
		v->val.string.val = data + off;
		v->val.string.len = len;
	}
	else if (JBE_ISNUMERIC(entry))
	{
		v->type = jbvNumeric;
		v->val.numeric = (Numeric) (data + INTALIGN(off));
	}
	else if (JBE_ISBOOL_TRUE(entry) || JBE_ISBOOL_FALSE(entry))
	{
		v->type = jbvBool;
		v->val.boolean = JBE_ISBOOL_TRUE(entry);
	}
	else
	{
		v->type = jbvBinary;
		v->val.binary.data = (JsonbContainer *) (data + INTALIGN(off));
		v->val.binary.len = len - (INTALIGN(off) - off);
	}
}

/*
 * The members of object container c (NULL: none), in key order, into
 * out->m, which has room for them.  An object's children are its keys,
 * sorted, then its values in the same order; they are read in place, in
 * one pass, each child's length following from its JEntry and the running
 * offset.
 */
static void
collect_members(JsonbContainer *c, WsMembers *out)
{
	int			n = c ? JsonContainerSize(c) : 0;
	char	   *data;
	uint32		off = 0;

	out->n = n;
	out->pos = 0;
	if (n == 0)
		return;
	data = (char *) &c->children[2 * n];
	for (int i = 0; i < 2 * n; i++)
	{
		JEntry		entry = c->children[i];
		uint32		end = JBE_HAS_OFF(entry) ? JBE_OFFLENFLD(entry) : off + JBE_OFFLENFLD(entry);

		child_value(c, i, data, off, end - off, i < n ? &out->m[i].key : &out->m[i - n].val);
		off = end;
	}
}

static bool fold_value(JsonbParseState **ps, JsonbValue *key, JsonbValue *target,
					   JsonbValue **vals, int n);

/*
 * Push onto *ps the members of object `base` (NULL: {}) with the object
 * patches objs[0..n-1] applied in order.  Every object's keys are sorted,
 * so the members are merged key by key, like the merge step of a merge
 * sort over n + 1 lists: list 0 is the base, list i + 1 patch i.
 */
static void
fold_members(JsonbParseState **ps, JsonbContainer *base, JsonbValue **objs, int n)
{
	WsMembers  *lists = palloc(sizeof(WsMembers) * (n + 1));
	JsonbValue **vals = palloc(sizeof(JsonbValue *) * Max(n, 1));
	WsMember   *members;
	int			total = base ? JsonContainerSize(base) : 0;

	check_stack_depth();
	/* one array holds the members of the base and of every patch */
	for (int i = 0; i < n; i++)
		total += JsonContainerSize(objs[i]->val.binary.data);
	members = palloc(sizeof(WsMember) * Max(total, 1));
	lists[0].m = members;
	collect_members(base, &lists[0]);
	for (int i = 0; i < n; i++)
	{
		lists[i + 1].m = lists[i].m + lists[i].n;
		collect_members(objs[i]->val.binary.data, &lists[i + 1]);
	}

	for (;;)
	{
		JsonbValue *key = NULL;
		JsonbValue *target = NULL;
		int			nvals = 0;

		/* the least key not merged yet */
		for (int i = 0; i <= n; i++)
			if (lists[i].pos < lists[i].n &&
				(key == NULL || ws_key_cmp(&lists[i].m[lists[i].pos].key, key) < 0))
				key = &lists[i].m[lists[i].pos].key;
		if (key == NULL)
			break;
		/* its value in the base and in each patch that has it, in order */
		for (int i = 0; i <= n; i++)
		{
			WsMember   *cur;

			if (lists[i].pos >= lists[i].n)
				continue;
			cur = &lists[i].m[lists[i].pos];
			if (cur->key.val.string.val != key->val.string.val && ws_key_cmp(&cur->key, key) != 0)
				continue;
			if (i == 0)
				target = &cur->val;
			else
				vals[nvals++] = &cur->val;
			lists[i].pos++;
		}
		(void) fold_value(ps, key, target, vals, nvals);
	}
	pfree(members);
	pfree(lists);
	pfree(vals);
}

/*
 * Push onto *ps the member `key` with the value that patch values
 * vals[0..n-1], applied in order, make of `target` (NULL: absent).
 * Returns false, pushing nothing, when the member ends up absent.
 */
static bool
fold_value(JsonbParseState **ps, JsonbValue *key, JsonbValue *target,
		   JsonbValue **vals, int n)
{
	JsonbValue *base = target;
	int			first = 0;

	for (int i = n - 1; i >= 0; i--)
		if (!value_is_object(vals[i]))
		{
			base = vals[i]->type == jbvNull ? NULL : vals[i];
			first = i + 1;
			break;
		}
	if (first == n)
	{
		if (base == NULL)
			return false;
		pushJsonbValue(ps, WJB_KEY, key);
		pushJsonbValue(ps, WJB_VALUE, base);
		return true;
	}
	pushJsonbValue(ps, WJB_KEY, key);
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	fold_members(ps, base && value_is_object(base) ? base->val.binary.data : NULL,
				 vals + first, n - first);
	pushJsonbValue(ps, WJB_END_OBJECT, NULL);
	return true;
}

/* A whole document as a JsonbValue: its scalar, or its container. */
static void
document_value(Jsonb *jb, JsonbValue *v)
{
	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, v))
			elog(ERROR, "could not extract jsonb scalar");
		return;
	}
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

/*
 * The document `base` (a keyframe, or a state folded so far) with merge
 * patches patches[0..n-1] applied in order (RFC 7396), built in
 * CurrentMemoryContext.  The result may be `base` or one of the patches
 * itself when nothing needs building.
 */
Jsonb *
ws_fold_patches(Jsonb *base, Jsonb **patches, int n)
{
	JsonbValue	target;
	JsonbValue *vals = palloc(sizeof(JsonbValue) * Max(n, 1));
	JsonbValue **pv = palloc(sizeof(JsonbValue *) * Max(n, 1));
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	int			first = 0;

	document_value(base, &target);
	for (int i = 0; i < n; i++)
	{
		document_value(patches[i], &vals[i]);
		pv[i] = &vals[i];
	}
	/* a patch that is not an object replaces the whole document */
	for (int i = n - 1; i >= 0; i--)
		if (!value_is_object(pv[i]))
		{
			base = patches[i];
			target = vals[i];
			first = i + 1;
			break;
		}
	if (first == n)
		return base;
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	fold_members(&ps, value_is_object(&target) ? target.val.binary.data : NULL,
				 pv + first, n - first);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}


/*
 * Start a stream fold, its memory in contexts below CurrentMemoryContext;
 * pair with ws_fold_end.
 */
void
ws_fold_begin(WsFold *f)
{
	f->state_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate fold state",
										 ALLOCSET_DEFAULT_SIZES);
	f->spare_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate fold state",
										 ALLOCSET_DEFAULT_SIZES);
	f->patch_cxt = AllocSetContextCreate(CurrentMemoryContext, "worldstate fold patches",
										 ALLOCSET_DEFAULT_SIZES);
	f->state = NULL;
	f->npatches = 0;
}

/* Make the state built in f->spare_cxt the stream's, freeing the old one. */
static void
swap_state(WsFold *f, Jsonb *state)
{
	MemoryContext cxt = f->state_cxt;

	f->state_cxt = f->spare_cxt;
	f->spare_cxt = cxt;
	f->state = state;
	MemoryContextReset(f->spare_cxt);
}

/* Fold the patches waiting onto the state. */
static void
fold_waiting(WsFold *f)
{
	MemoryContext old;
	Jsonb	   *state;

	if (f->npatches == 0)
		return;
	old = MemoryContextSwitchTo(f->spare_cxt);
	state = ws_fold_patches(f->state, f->patches, f->npatches);
	/* a patch that replaced the whole document dies with the patches */
	for (int i = 0; i < f->npatches; i++)
		if (state == f->patches[i])
		{
			state = DatumGetJsonbPCopy(JsonbPGetDatum(state));
			break;
		}
	MemoryContextSwitchTo(old);
	f->npatches = 0;
	MemoryContextReset(f->patch_cxt);
	if (state != f->state)
		swap_state(f, state);
	else
		MemoryContextReset(f->spare_cxt);
}

/*
 * Restart the stream from a full state (a keyframe, or a row restored
 * from a snapshot): what was folded or waiting before is forgotten.  The
 * state is copied (and detoasted) into the stream's memory.
 */
void
ws_fold_keyframe(WsFold *f, Datum state)
{
	MemoryContext old;
	Jsonb	   *copy;

	f->npatches = 0;
	MemoryContextReset(f->patch_cxt);
	MemoryContextReset(f->spare_cxt);
	old = MemoryContextSwitchTo(f->spare_cxt);
	copy = DatumGetJsonbPCopy(state);
	MemoryContextSwitchTo(old);
	swap_state(f, copy);
}

/*
 * Add the next version's patch, copied (and detoasted) into the stream's
 * memory; folded with the others waiting once WS_FOLD_CHUNK are.  The
 * stream must have a state (ws_fold_started).
 */
void
ws_fold_patch(WsFold *f, Datum patch)
{
	MemoryContext old;

	if (f->state == NULL)
		elog(ERROR, "merge patch folded before a keyframe");
	if (f->npatches == WS_FOLD_CHUNK)
		fold_waiting(f);
	old = MemoryContextSwitchTo(f->patch_cxt);
	f->patches[f->npatches++] = DatumGetJsonbPCopy(patch);
	MemoryContextSwitchTo(old);
}

/*
 * The state folded so far (NULL before a keyframe), valid until the next
 * call on the stream.
 */
Jsonb *
ws_fold_state(WsFold *f)
{
	fold_waiting(f);
	return f->state;
}

/* Forget the state and the patches waiting, to fold another entity. */
void
ws_fold_reset(WsFold *f)
{
	f->state = NULL;
	f->npatches = 0;
	MemoryContextReset(f->state_cxt);
	MemoryContextReset(f->spare_cxt);
	MemoryContextReset(f->patch_cxt);
}

/* End a stream fold and free its memory. */
void
ws_fold_end(WsFold *f)
{
	MemoryContextDelete(f->state_cxt);
	MemoryContextDelete(f->spare_cxt);
	MemoryContextDelete(f->patch_cxt);
	f->state = NULL;
}
