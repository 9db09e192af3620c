/*-------------------------------------------------------------------------
 *
 * merge_patch.h
 *	  RFC 7396 JSON Merge Patch on jsonb, with counter fields.
 *
 * src/merge_patch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_MERGE_PATCH_H
#define WS_MERGE_PATCH_H

#include "utils/jsonb.h"

/*
 * Apply RFC 7396 merge patch `patch` to `target` (target may be NULL =
 * JSON null/absent).  Top-level keys named in counters[0..ncounters-1] take
 * numeric deltas: when the patch gives a number for such a key, the result
 * holds (old value, or 0 when absent or not a number) + delta; `null` still
 * removes the key.  A non-numeric, non-null value for a counter key raises
 * 22023 naming the field.  If effective != NULL, *effective receives the
 * equivalent plain RFC 7396 patch (counter deltas replaced by the resulting
 * absolute values), so that folding effective patches with plain
 * merge-patch reproduces the state.
 *
 * The result (and *effective) may be `target` or `patch` themselves when
 * nothing needs building; everything else is allocated in
 * CurrentMemoryContext.
 */
extern Jsonb *ws_merge_patch(Jsonb *target, Jsonb *patch,
							 const char *const *counters, int ncounters,
							 Jsonb **effective);

/*
 * The counter deltas an object patch gives, as an object {"field":
 * delta}; NULL when it gives none.
 */
extern Jsonb *ws_counter_intent(Jsonb *patch, const char *const *counters,
								int ncounters);

/*
 * Compare two jsonb string keys in the order jsonb stores object keys:
 * shorter first, then bytewise.  Both the merge (merge_patch.c) and the
 * fold (fold.c) walk objects in this order; inline, as they call it for
 * every member.
 */
static inline int
ws_key_cmp(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len ? -1 : 1;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len);
}

#endif							/* WS_MERGE_PATCH_H */
