/*-------------------------------------------------------------------------
 *
 * progress.h
 *		Progress of long operations, shown by the view ws.progress.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WS_PROGRESS_H
#define WS_PROGRESS_H

#include "postgres.h"

/* A total that is not known. */
#define WS_PROGRESS_UNKNOWN (-1)

extern Size ws_progress_shmem_size(void);
extern void ws_progress_shmem_init(void);
extern void ws_progress_begin(const char *operation, const char *phase, int64 total);
extern void ws_progress_phase(const char *phase, int64 total);
extern void ws_progress_count(int64 done);
extern void ws_progress_end(void);

#endif							/* WS_PROGRESS_H */
