/*-------------------------------------------------------------------------
 *
 * broadcast.c
 *		Authenticated logical decoding messages: what worldstate writes for
 *		its rejected, heartbeat and snapshot_* lines, and how the output
 *		plugin tells them from anything else.
 *
 * pg_logical_emit_message is executable by every role, so the prefix
 * "worldstate" proves nothing.  Each message worldstate writes carries an
 * HMAC-SHA256 tag made with a per-cluster key that only the server can
 * read: 32 random bytes in $PGDATA/worldstate.key (mode 0600), created by
 * the postmaster when it first starts with the library preloaded, written
 * durably and kept across restarts, and held in shared memory.  The output
 * plugin broadcasts a message only when its tag checks out; anything else
 * with the prefix is dropped with a warning and counted.
 *
 * A message is a small text header the plugin reads without parsing JSON,
 * then the line's members, which the plugin copies verbatim:
 *
 *		WS1:<tag, 64 hex digits>:<kind>:<length of module>:<module>:<members>
 *
 * The module's length is decimal, 0 for node-wide lines (heartbeats,
 * snapshots); the message is text, so any client that prints messages
 * (test_decoding, pg_waldump) shows it whole.  The tag
 * covers a domain string, whether the message is transactional, and
 * everything after the second colon, so neither kind, module, members nor
 * the transactional flag can be changed without the key.  Checking costs
 * one HMAC over the message and a constant-time comparison; no message,
 * however large or deeply nested, is parsed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hmac.h"
#include "common/sha2.h"
#include "replication/message.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/resowner.h"

#include "broadcast.h"
#include "settings.h"

#define WS_KEY_FILE		"worldstate.key"
#define WS_KEY_FILE_TMP	"worldstate.key.tmp"
#define WS_KEY_LEN		32

/* "WS1:" + tag + ":" */
#define WS_MSG_MAGIC		"WS1:"
#define WS_MSG_MAGIC_LEN	4
#define WS_MSG_TAG_HEX		(PG_SHA256_DIGEST_LENGTH * 2)
#define WS_MSG_SIGNED_AT	(WS_MSG_MAGIC_LEN + WS_MSG_TAG_HEX + 1)

/* what the tag covers first: separates these tags from any other use */
#define WS_MSG_DOMAIN		"worldstate broadcast v1"

typedef struct WsBroadcastShared
{
	bool		valid;
	uint8		key[WS_KEY_LEN];
} WsBroadcastShared;

static WsBroadcastShared *broadcast_shared = NULL;

/* the key of a process where the library was not preloaded */
static WsBroadcastShared broadcast_local;
static bool broadcast_local_tried = false;

Size
ws_broadcast_shmem_size(void)
{
	return MAXALIGN(sizeof(WsBroadcastShared));
}

/* Read the key file into key; false when it is absent or not a key. */
static bool
key_file_read(uint8 *key)
{
	int			fd = OpenTransientFile(WS_KEY_FILE, O_RDONLY | PG_BINARY);
	int			n;
	uint8		extra;

	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", WS_KEY_FILE)));
		return false;
	}
	n = read(fd, key, WS_KEY_LEN);
	if (n == WS_KEY_LEN && read(fd, &extra, 1) == 0)
	{
		CloseTransientFile(fd);
		return true;
	}
	CloseTransientFile(fd);
	ereport(LOG,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("file \"%s\" does not hold a worldstate broadcast key", WS_KEY_FILE)));
	return false;
}

/* Create a new random key and store it durably, readable by the owner only. */
static void
key_file_create(uint8 *key)
{
	int			fd;

	if (!pg_strong_random(key, WS_KEY_LEN))
		ereport(FATAL,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate the worldstate broadcast key")));
	fd = OpenTransientFilePerm(WS_KEY_FILE_TMP, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
							   S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", WS_KEY_FILE_TMP),
				 errhint("The server's OS user must be able to write the data directory; worldstate keeps its broadcast key there.")));
	errno = 0;
	if (write(fd, key, WS_KEY_LEN) != WS_KEY_LEN)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", WS_KEY_FILE_TMP),
				 errhint("The server's OS user must be able to write the data directory; worldstate keeps its broadcast key there.")));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", WS_KEY_FILE_TMP),
				 errhint("The server's OS user must be able to write the data directory; worldstate keeps its broadcast key there.")));
	/* fsyncs the file, renames it and fsyncs the directory */
	durable_rename(WS_KEY_FILE_TMP, WS_KEY_FILE, FATAL);
	ereport(LOG,
			(errmsg("worldstate created its broadcast key in \"%s\"", WS_KEY_FILE)));
}

/*
 * Called from the shmem_startup hook, in the postmaster: load the key, or
 * create it on the first start.  A damaged key file is replaced, which
 * only makes messages written with the old key unverifiable.
 */
void
ws_broadcast_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	broadcast_shared = ShmemInitStruct("worldstate broadcast key",
										  ws_broadcast_shmem_size(), &found);
	if (!found)
	{
		if (!key_file_read(broadcast_shared->key))
			key_file_create(broadcast_shared->key);
		broadcast_shared->valid = true;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The cluster's key, or NULL when there is none: from shared memory, or,
 * in a process that did not preload the library, from the key file.
 */
static const uint8 *
broadcast_key(void)
{
	if (broadcast_shared != NULL)
		return broadcast_shared->valid ? broadcast_shared->key : NULL;
	if (!broadcast_local_tried)
	{
		broadcast_local.valid = key_file_read(broadcast_local.key);
		broadcast_local_tried = true;
	}
	return broadcast_local.valid ? broadcast_local.key : NULL;
}

/*
 * The tag of a message's signed part (len bytes at signed).  A walsender
 * decodes non-transactional messages outside any transaction, with no
 * resource owner, which the HMAC implementation registers with: then a
 * resource owner of the process's own is used, empty between calls.
 */
static void
broadcast_tag(const uint8 *key, bool transactional, const char *signed_part,
				 Size len, uint8 *tag)
{
	static ResourceOwner own = NULL;
	ResourceOwner saved = CurrentResourceOwner;
	pg_hmac_ctx *ctx;
	uint8		flag = transactional ? 't' : 'n';
	bool		ok;

	if (CurrentResourceOwner == NULL)
	{
		if (own == NULL)
			own = ResourceOwnerCreate(NULL, "worldstate broadcast tag");
		CurrentResourceOwner = own;
	}
	ctx = pg_hmac_create(PG_SHA256);
	ok = ctx != NULL &&
		pg_hmac_init(ctx, key, WS_KEY_LEN) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) WS_MSG_DOMAIN, sizeof(WS_MSG_DOMAIN)) == 0 &&
		pg_hmac_update(ctx, &flag, 1) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) signed_part, len) == 0 &&
		pg_hmac_final(ctx, tag, PG_SHA256_DIGEST_LENGTH) == 0;
	pg_hmac_free(ctx);
	CurrentResourceOwner = saved;
	if (!ok)
		elog(ERROR, "could not compute HMAC-SHA256");
}

/*
 * Write a worldstate message: kind, module (NULL: none) and the line's
 * members after the position ("\"a\":1,\"b\":2", or ""), which must be
 * valid JSON members written by worldstate.  Returns the end of its WAL
 * record.  Needs the key, so the library must be preloaded.
 */
XLogRecPtr
ws_broadcast_emit(const char *kind, const char *module, const char *members,
				  bool transactional)
{
	static const char hex[] = "0123456789abcdef";
	const uint8 *key = broadcast_key();
	StringInfoData msg;
	uint8		tag[PG_SHA256_DIGEST_LENGTH];
	XLogRecPtr	end;

	if (key == NULL)
		ws_require_preload("worldstate broadcasts");
	initStringInfo(&msg);
	appendStringInfoString(&msg, WS_MSG_MAGIC);
	appendStringInfoSpaces(&msg, WS_MSG_TAG_HEX);
	appendStringInfoChar(&msg, ':');
	appendStringInfo(&msg, "%s:%zu:%s:%s", kind, module ? strlen(module) : 0,
					 module ? module : "", members);

	broadcast_tag(key, transactional, msg.data + WS_MSG_SIGNED_AT,
					 msg.len - WS_MSG_SIGNED_AT, tag);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		msg.data[WS_MSG_MAGIC_LEN + 2 * i] = hex[tag[i] >> 4];
		msg.data[WS_MSG_MAGIC_LEN + 2 * i + 1] = hex[tag[i] & 0x0f];
	}
	end = LogLogicalMessage(WS_MESSAGE_PREFIX, msg.data, msg.len, transactional);
	pfree(msg.data);
	return end;
}

/* The value of one hex digit, or -1. */
static inline int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Check a message with prefix "worldstate": true, with its kind and module
 * (NULL when none) copied and its members pointing into message, when
 * worldstate wrote it with this cluster's key; false for anything else.
 * Never raises for bad input and never parses JSON.
 */
bool
ws_broadcast_open(const char *message, Size size, bool transactional, WsBroadcastMsg *out)
{
	const uint8 *key = broadcast_key();
	uint8		given[PG_SHA256_DIGEST_LENGTH];
	uint8		tag[PG_SHA256_DIGEST_LENGTH];
	uint8		diff = 0;
	const char *end = message + size;
	const char *p;
	const char *field_end;
	Size		module_len;

	if (key == NULL || size < WS_MSG_SIGNED_AT ||
		memcmp(message, WS_MSG_MAGIC, WS_MSG_MAGIC_LEN) != 0 ||
		message[WS_MSG_SIGNED_AT - 1] != ':')
		return false;
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
	{
		int			hi = hex_value(message[WS_MSG_MAGIC_LEN + 2 * i]);
		int			lo = hex_value(message[WS_MSG_MAGIC_LEN + 2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		given[i] = (uint8) (hi << 4 | lo);
	}
	broadcast_tag(key, transactional, message + WS_MSG_SIGNED_AT,
					 size - WS_MSG_SIGNED_AT, tag);
	/* constant time: how much of a forged tag matches tells nothing */
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		diff |= given[i] ^ tag[i];
	if (diff != 0)
		return false;

	/* authentic: the layout is worldstate's own */
	p = message + WS_MSG_SIGNED_AT;
	field_end = memchr(p, ':', end - p);
	if (field_end == NULL || field_end == p)
		return false;
	out->kind = pnstrdup(p, field_end - p);
	p = field_end + 1;
	for (module_len = 0; p < end && *p >= '0' && *p <= '9' && module_len <= size; p++)
		module_len = module_len * 10 + (*p - '0');
	if (p >= end || *p != ':' || (Size) (end - p - 1) < module_len + 1 ||
		p[1 + module_len] != ':')
		return false;
	out->module = module_len > 0 ? pnstrdup(p + 1, module_len) : NULL;
	out->members = p + 1 + module_len + 1;
	out->members_len = end - out->members;
	return true;
}
