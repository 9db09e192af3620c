/*-------------------------------------------------------------------------
 *
 * fold.h
 *		The fold: an entity's state from a keyframe and the merge patches
 *		after it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_FOLD_H
#define WS_FOLD_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/palloc.h"

/* Patches a stream holds before folding them onto its state. */
#define WS_FOLD_CHUNK 64

/*
 * A fold fed event by event, in HLC order (ws_fold_begin).  The state
 * and the patches not folded yet live in contexts of their own, so memory
 * stays bounded however long the history.
 */
typedef struct WsFold
{
	MemoryContext state_cxt;	/* holds state */
	MemoryContext spare_cxt;	/* where the next state is built */
	MemoryContext patch_cxt;	/* holds patches[] */
	Jsonb	   *state;			/* folded so far; NULL before a keyframe */
	Jsonb	   *patches[WS_FOLD_CHUNK]; /* to fold onto state, in order */
	int			npatches;
} WsFold;

extern Jsonb *ws_fold_patches(Jsonb *keyframe, Jsonb **patches, int n);

extern void ws_fold_begin(WsFold *f);
extern void ws_fold_keyframe(WsFold *f, Datum state);
extern void ws_fold_patch(WsFold *f, Datum patch);
extern Jsonb *ws_fold_state(WsFold *f);
extern void ws_fold_reset(WsFold *f);
extern void ws_fold_end(WsFold *f);

/* Whether the stream has a state to fold patches onto (a keyframe came). */
static inline bool
ws_fold_started(const WsFold *f)
{
	return f->state != NULL;
}

#endif							/* WS_FOLD_H */
