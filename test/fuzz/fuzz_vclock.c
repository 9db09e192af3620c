/*-------------------------------------------------------------------------
 *
 * fuzz_vclock.c
 *		libFuzzer harness for the text form of ws.vclock
 *		(src/vclock_parse.c).
 *
 * Each input is copied into a buffer of exactly its length plus a NUL, so
 * AddressSanitizer catches any read past the terminator, and parsed into
 * an entry array of WS_VCLOCK_MAX_ENTRIES_FOR_LEN(size), which the header
 * promises is always enough.  A value the parser accepts must be
 * canonical: entries strictly sorted by node, no zero counts, fields in
 * range, reserved zero; and format -> parse -> format must give the same
 * entries and the same text.  A rejected input must report an error
 * position inside the string.  Any violation traps, which libFuzzer
 * reports as a crash with the input saved.
 *
 * Built and run by test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vclock_parse.h"

#define CHECK(cond)		do { if (!(cond)) __builtin_trap(); } while (0)

/* Fuzz entry point: parse one input and check the invariants above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			max_out = (int) WS_VCLOCK_MAX_ENTRIES_FOR_LEN(size);
	char	   *str = malloc(size + 1);
	WsVclockEntry *e = malloc(sizeof(WsVclockEntry) * max_out);
	WsVclockEntry *e2 = malloc(sizeof(WsVclockEntry) * max_out);
	char	   *text = NULL;
	char	   *text2 = NULL;
	const char *errpos;
	size_t		buflen;
	size_t		len;
	int			n,
				n2,
				rc;

	if (str == NULL || e == NULL || e2 == NULL)
		goto done;
	memcpy(str, data, size);
	str[size] = '\0';

	rc = ws_vclock_parse(str, e, max_out, &n, &errpos);
	if (rc != WS_VC_OK)
	{
		CHECK(rc != WS_VC_TOO_MANY);
		CHECK(n == 0);
		CHECK(errpos >= str && errpos <= str + strlen(str));
		goto done;
	}

	CHECK(n >= 0 && n <= max_out);
	for (int i = 0; i < n; i++)
	{
		CHECK(e[i].node >= 0);
		CHECK(e[i].reserved == 0);
		CHECK(e[i].count > 0);
		CHECK(i == 0 || e[i - 1].node < e[i].node);
	}

	buflen = WS_VCLOCK_FORMAT_MAX(n);
	text = malloc(buflen);
	text2 = malloc(buflen);
	if (text == NULL || text2 == NULL)
		goto done;
	len = ws_vclock_format(e, n, text, buflen);
	CHECK(len < buflen && strlen(text) == len);

	CHECK(ws_vclock_parse(text, e2, max_out, &n2, &errpos) == WS_VC_OK);
	CHECK(n2 == n);
	CHECK(n == 0 || memcmp(e, e2, sizeof(WsVclockEntry) * n) == 0);

	CHECK(ws_vclock_format(e2, n2, text2, buflen) == len);
	CHECK(strcmp(text, text2) == 0);

done:
	free(str);
	free(e);
	free(e2);
	free(text);
	free(text2);
	return 0;
}
